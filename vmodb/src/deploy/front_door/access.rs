//! Who may use the front door: bearer tokens (`Authorization: Bearer <token>`) in two roles.
//! A *client* submits transactions, runs queries, reads `/status` and follows commits (and
//! uses the application's routes); an *operator* may also read everything the cluster holds
//! (`/state`, `/inputs`, `/tables/..`, `/nodes`, `/config`) and stop it (`/shutdown`). No token
//! or an unknown one is a 401, a client token on an operator route a 403. Tokens are kept only
//! as digests and compared by digest, so neither their values nor their timing leak.
//!
//! A front door may also let requests without any `Authorization` header in, in a role of its
//! choice (`Access::anonymous`): for clients that cannot send a token, such as the Online
//! Marketplace benchmark's own driver. A request that carries an unknown token is still a 401.
//! Every request let in carries its `Role` as a request extension, so that application routes
//! can ask for more than the table here says (`needed_role`).

use super::ApiError;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// The shortest token accepted: 128 bits as hex.
pub const MIN_TOKEN: usize = 32;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Client,
    Operator,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "client" => Some(Role::Client),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// The tokens the front door accepts. Empty: every request is refused (401).
#[derive(Clone, Default)]
pub struct Access {
    tokens: HashMap<[u8; 32], Role>,
    anonymous: Option<Role>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access({} tokens)", self.tokens.len())
    }
}

impl Access {
    /// Adds `token` in `role` (at least `MIN_TOKEN` characters, printable ASCII).
    pub fn allow(mut self, role: Role, token: &str) -> Result<Access, String> {
        let token = token.trim();
        if token.len() < MIN_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "a front-door token must be at least {MIN_TOKEN} printable characters without \
                 spaces (e.g. `openssl rand -hex 32`)"
            ));
        }
        self.tokens.insert(digest(token), role);
        Ok(self)
    }

    /// Reads a tokens file: one `client <token>` or `operator <token>` per line; blank lines
    /// and lines starting with `#` are ignored. Errors name the file and line, never a token.
    pub fn read(self, path: &Path) -> Result<Access, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        let mut access = self;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{} line {}", path.display(), i + 1);
            let (role, token) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{at}: expected `client <token>` or `operator <token>`"))?;
            let role = Role::parse(role).ok_or_else(|| {
                format!("{at}: unknown role `{role}` (expected client or operator)")
            })?;
            access = access
                .allow(role, token)
                .map_err(|e| format!("{at}: {e}"))?;
        }
        Ok(access)
    }

    /// Adds the tokens in the environment variables `VMODB_CLIENT_TOKEN` and
    /// `VMODB_OPERATOR_TOKEN`, when set.
    pub fn from_env(self) -> Result<Access, String> {
        let mut access = self;
        for (var, role) in [
            ("VMODB_CLIENT_TOKEN", Role::Client),
            ("VMODB_OPERATOR_TOKEN", Role::Operator),
        ] {
            if let Ok(token) = std::env::var(var) {
                access = access
                    .allow(role, &token)
                    .map_err(|e| format!("{var}: {e}"))?;
            }
        }
        Ok(access)
    }

    /// Lets requests without an `Authorization` header in, in `role`.
    pub fn anonymous(mut self, role: Role) -> Access {
        self.anonymous = Some(role);
        self
    }

    /// No request can get in: no token, and no anonymous role.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.anonymous.is_none()
    }

    /// The role of a request's `Authorization` header, if it carries a known bearer token.
    fn role_of(&self, authorization: Option<&HeaderValue>) -> Option<Role> {
        let value = authorization?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.tokens.get(&digest(token.trim())).copied()
    }

    /// Lets a request through if its token's role may use its route.
    pub(crate) async fn check(
        self: std::sync::Arc<Self>,
        request: Request,
        next: Next,
    ) -> Response {
        let needed = needed_role(request.uri().path());
        let mut request = request;
        let role = match request.headers().get(header::AUTHORIZATION) {
            None => self.anonymous,
            authorization => self.role_of(authorization),
        };
        match role {
            Some(role) if role >= needed => {
                request.extensions_mut().insert(role);
                next.run(request).await
            }
            Some(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "this route is for the operator's token",
            )
            .into_response(),
            None => {
                let mut r = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "a bearer token is required (Authorization: Bearer <token>)",
                )
                .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
        }
    }
}

/// The role a route needs: the operator's for reading what the cluster holds and stopping it,
/// a client's for everything else (the application's routes included).
pub fn needed_role(path: &str) -> Role {
    let operator = ["/state", "/inputs", "/nodes", "/config", "/shutdown"];
    if operator.contains(&path) || path.starts_with("/tables/") || path == "/tables" {
        Role::Operator
    } else {
        Role::Client
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "client-token-0123456789abcdef0123456789";
    const OPERATOR: &str = "operator-token-0123456789abcdef012345678";

    #[test]
    fn tokens_map_to_roles_and_routes_to_the_roles_they_need() {
        let access = Access::default()
            .allow(Role::Client, CLIENT)
            .and_then(|a| a.allow(Role::Operator, OPERATOR))
            .expect("tokens");
        let header = |t: &str| HeaderValue::from_str(t).expect("header");
        assert_eq!(
            access.role_of(Some(&header(&format!("Bearer {CLIENT}")))),
            Some(Role::Client)
        );
        assert_eq!(
            access.role_of(Some(&header(&format!("bearer  {OPERATOR}")))),
            Some(Role::Operator)
        );
        assert_eq!(
            access.role_of(Some(&header(&format!("Basic {CLIENT}")))),
            None
        );
        assert_eq!(access.role_of(Some(&header("Bearer nope"))), None);
        assert_eq!(access.role_of(None), None);
        assert_eq!(needed_role("/shutdown"), Role::Operator);
        assert_eq!(needed_role("/tables/cart/carts"), Role::Operator);
        assert_eq!(needed_role("/state"), Role::Operator);
        assert_eq!(needed_role("/transactions"), Role::Client);
        assert_eq!(needed_role("/status"), Role::Client);
        assert_eq!(needed_role("/cart/1/add"), Role::Client);
        assert!(Access::default().allow(Role::Client, "short").is_err());
    }

    #[test]
    fn a_tokens_file_is_read_line_by_line_and_errors_never_show_a_token() {
        let dir = std::env::temp_dir().join(format!("vmodb-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("tokens");
        std::fs::write(
            &file,
            format!("# who\nclient {CLIENT}\n\noperator {OPERATOR}\n"),
        )
        .expect("write");
        let access = Access::default().read(&file).expect("reads");
        assert_eq!(access.tokens.len(), 2);
        std::fs::write(&file, format!("admin {OPERATOR}\n")).expect("write");
        let e = Access::default().read(&file).expect_err("unknown role");
        assert!(e.contains("line 1") && e.contains("unknown role"), "{e}");
        assert!(!e.contains(OPERATOR), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
