//! `Chars<N>`: a text column of at most `N` bytes, stored inside its row.
//!
//! Every TPC-C text column has a maximum length (clause 1.3: `w_name` 10, `c_data` 500, the
//! `s_dist_xx` 24, ...), so a row can hold its text inline, as a database page does. Why it
//! matters: a multi-version store copies a row on every update and drops the old version later.
//! With heap strings a Customer update made eleven allocations and freed them again, and a Stock
//! update touched eleven reference counts, each on a cache line of its own; inline, copying a row
//! is one `memcpy` and dropping it is free. Both systems share the model.

use arrayvec::ArrayString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
pub fn prefix_within(s: &str, max: usize) -> &str {
    let mut cut = s.len().min(max);
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// At most `N` bytes of UTF-8, inline. Serializes as a plain string; deserializing a longer one
/// fails (a value that does not fit its column never reaches a row).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Chars<const N: usize>(ArrayString<N>);

impl<const N: usize> Chars<N> {
    /// `s`, cut to at most `N` bytes at a character boundary.
    pub fn truncated(s: &str) -> Self {
        let mut a = ArrayString::new();
        a.push_str(prefix_within(s, N));
        Chars(a)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Generated values are built to fit; one that does not is cut, never a panic.
impl<const N: usize> From<&str> for Chars<N> {
    fn from(s: &str) -> Self {
        Self::truncated(s)
    }
}

impl<const N: usize> From<String> for Chars<N> {
    fn from(s: String) -> Self {
        Self::truncated(&s)
    }
}

impl<const N: usize> Deref for Chars<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl<const N: usize> AsRef<str> for Chars<N> {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl<const N: usize> PartialEq<str> for Chars<N> {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for Chars<N> {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl<const N: usize> PartialEq<String> for Chars<N> {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other
    }
}

impl<const N: usize> fmt::Display for Chars<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<const N: usize> fmt::Debug for Chars<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::Chars;

    #[test]
    fn a_longer_value_is_cut_at_a_character_boundary() {
        assert_eq!(Chars::<4>::from("abcdef").as_str(), "abcd");
        // "é" is two bytes: cutting at 4 would split the second one.
        assert_eq!(Chars::<4>::from("aéé").as_str(), "aé");
        assert_eq!(Chars::<4>::from("ab").as_str(), "ab");
    }

    #[test]
    fn it_travels_as_a_plain_string_and_refuses_one_that_does_not_fit() {
        let c = Chars::<8>::from("GC");
        let bytes = postcard::to_allocvec(&c).expect("encodes");
        assert_eq!(bytes, postcard::to_allocvec("GC").expect("encodes"));
        assert_eq!(
            postcard::from_bytes::<Chars<8>>(&bytes).expect("decodes"),
            c
        );
        let long = postcard::to_allocvec("longer than eight").expect("encodes");
        assert!(postcard::from_bytes::<Chars<8>>(&long).is_err());
        assert_eq!(serde_json::to_string(&c).expect("json"), "\"GC\"");
    }
}
