//! Who may join a cluster: every node holds the cluster key and proves it at each handshake
//! without sending it. The connecting node sends a fresh nonce in its `Hello`; the accepting
//! node answers with a nonce of its own and a MAC (HMAC-SHA-256 under the key) over the hello
//! and its nonce, which proves it holds the key; the connecting node then answers with a MAC
//! over the hello and the acceptor's nonce, which proves it does. Each side's MAC covers a
//! nonce the other just chose, so no recorded handshake can be replayed, and the two MACs carry
//! different labels, so neither can be reflected as the other. Only after both proofs does the
//! acceptor compare what else the ends must agree on (`Identity`), so a stranger learns nothing
//! from a refusal but "authentication failed".
//!
//! The key authenticates membership, not each node: any holder of it may claim any node id,
//! which is why a node also checks that every message kind comes from a node that may send it
//! (`Message::may_travel`). Frames after the handshake are neither encrypted nor signed: run
//! the node ports on a network an attacker cannot write to (see README, "Security").

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// The shortest secret accepted (after trimming whitespace): 128 bits as hex.
pub const MIN_SECRET: usize = 32;

/// The cluster's shared secret (a digest of the key file's contents). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey([u8; 32]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

impl ClusterKey {
    /// A key from a secret (e.g. a key file's text; surrounding whitespace is ignored), which
    /// must be at least `MIN_SECRET` bytes.
    pub fn from_secret(secret: &[u8]) -> Result<ClusterKey, String> {
        let secret = secret.trim_ascii();
        if secret.len() < MIN_SECRET {
            return Err(format!(
                "a cluster key must be at least {MIN_SECRET} characters (it has {}); \
                 e.g. `openssl rand -hex 32 > cluster.key`",
                secret.len()
            ));
        }
        let mut digest = Sha256::new();
        digest.update(b"vmodb cluster key\0");
        digest.update(secret);
        Ok(ClusterKey(digest.finalize().into()))
    }

    /// The key in file `path`; errors name the file, never its contents.
    pub fn read(path: &Path) -> Result<ClusterKey, String> {
        let text = std::fs::read(path)
            .map_err(|e| format!("cannot read the cluster key file {}: {e}", path.display()))?;
        ClusterKey::from_secret(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A fresh random key (for clusters started by one program, e.g. tests and
    /// `vbench run --deploy processes`, which writes it to a key file for its nodes).
    pub fn random() -> ClusterKey {
        ClusterKey(random_bytes())
    }

    /// A fresh random secret as hex text, for a key or token file.
    pub fn random_secret() -> String {
        random_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The MAC of `parts` (each length-prefixed, so no two lists collide) under `label`.
    pub(crate) fn prove(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        self.mac(label, parts).finalize().into_bytes().into()
    }

    /// Whether `proof` is the MAC of `parts` under `label` (compared in constant time).
    pub(crate) fn verify(&self, label: &str, parts: &[&[u8]], proof: &[u8]) -> bool {
        self.mac(label, parts).verify_slice(proof).is_ok()
    }

    fn mac(&self, label: &str, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(label.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac
    }
}

/// 32 bytes from the operating system's generator (nonces, keys, tokens).
pub fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // Without the OS generator nothing here can be secure: stop rather than go on with zeros.
    getrandom::fill(&mut bytes).expect("the operating system's random generator is unavailable");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_holds_only_for_its_key_label_and_parts() {
        let key = ClusterKey::from_secret(b"  0123456789abcdef0123456789abcdef\n").expect("key");
        let same = ClusterKey::from_secret(b"0123456789abcdef0123456789abcdef").expect("key");
        let other = ClusterKey::random();
        let proof = key.prove("accept", &[b"hello", b"nonce"]);
        assert!(same.verify("accept", &[b"hello", b"nonce"], &proof));
        assert!(!other.verify("accept", &[b"hello", b"nonce"], &proof));
        assert!(!key.verify("connect", &[b"hello", b"nonce"], &proof));
        assert!(!key.verify("accept", &[b"hellon", b"once"], &proof));
        assert!(!key.verify("accept", &[b"hello", b"nonce"], &proof[..31]));
    }

    #[test]
    fn short_secrets_are_refused_and_keys_never_print() {
        let e = ClusterKey::from_secret(b"hunter2").expect_err("too short");
        assert!(e.contains("at least 32"), "{e}");
        let key = ClusterKey::from_secret(ClusterKey::random_secret().as_bytes()).expect("key");
        assert_eq!(format!("{key:?}"), "ClusterKey(..)");
        assert_ne!(ClusterKey::random(), ClusterKey::random());
    }
}
