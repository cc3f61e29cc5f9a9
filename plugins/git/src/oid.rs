//! [`Oid`]: a SHA-1 object id.

use std::fmt;

use sha1::{Digest, Sha1};

/// A git object id (SHA-1, the only object format the plugin speaks).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(pub [u8; 20]);

impl Oid {
    /// The all-zero id, which the protocol uses for "no such ref".
    pub const ZERO: Oid = Oid([0; 20]);

    /// Parse 40 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Oid> {
        let bytes = text.as_bytes();
        if bytes.len() != 40 {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, pair) in bytes.chunks(2).enumerate() {
            out[i] = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
        }
        Some(Oid(out))
    }

    /// From 20 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Oid> {
        bytes.try_into().ok().map(Oid)
    }

    /// The id of an object of `kind` with `data`: SHA-1 of `<kind> <len>\0<data>`.
    pub fn of_object(kind: &str, data: &[u8]) -> Oid {
        let mut hasher = Sha1::new();
        hasher.update(kind.as_bytes());
        hasher.update(b" ");
        hasher.update(data.len().to_string().as_bytes());
        hasher.update([0]);
        hasher.update(data);
        Oid(hasher.finalize().into())
    }

    /// 40 lower-case hex digits.
    pub fn to_hex(self) -> String {
        self.to_string()
    }
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// SHA-1 of `bytes`, for pack and index trailers.
pub fn sha1(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_like_git() {
        // `git hash-object -t blob --stdin <<< ''` hashes one newline; the empty blob is well known.
        assert_eq!(Oid::of_object("blob", b"").to_hex(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
        let oid = Oid::of_object("blob", b"hello\n");
        assert_eq!(oid.to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(Oid::from_hex(&oid.to_hex()), Some(oid));
        assert_eq!(Oid::from_hex("zz"), None);
    }
}
