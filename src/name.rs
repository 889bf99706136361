//! Symbol names owned by long-lived tables (the session's symbol table): names of up to
//! [`INLINE`] bytes are stored in the key itself, longer ones in one allocation. Publishing a
//! large set therefore allocates nothing per symbol for the names C and Rust linkers see most,
//! and comparing a probed key with a name reads the table's own memory, not the input it came
//! from.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest name stored inline.
pub const INLINE: usize = 22;

/// An owned symbol name that hashes and compares as the `[u8]` it holds, so a map keyed by
/// `Name` is looked up with `&[u8]`.
#[derive(Clone)]
pub enum Name {
    /// Up to [`INLINE`] bytes: the length, then the bytes.
    Inline(u8, [u8; INLINE]),
    /// Longer names.
    Boxed(Box<[u8]>),
}

impl Name {
    /// The name's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            // The length is at most INLINE by construction; `get` keeps this total anyway.
            Name::Inline(len, bytes) => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            Name::Boxed(b) => b,
        }
    }
}

impl From<&[u8]> for Name {
    #[inline]
    fn from(s: &[u8]) -> Self {
        if s.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..s.len()].copy_from_slice(s);
            Name::Inline(s.len() as u8, bytes)
        } else {
            Name::Boxed(s.into())
        }
    }
}

impl Borrow<[u8]> for Name {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Name {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Exactly as `[u8]` hashes, which `Borrow` requires.
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustc_hash::FxHashMap;

    #[test]
    fn short_and_long_names_hash_and_compare_as_their_bytes() {
        let long = b"a_name_longer_than_twenty_two_bytes".as_slice();
        let edge = b"exactly_twenty_two_byt".as_slice();
        assert_eq!(edge.len(), INLINE);
        let mut m: FxHashMap<Name, u32> = FxHashMap::default();
        for (i, n) in [b"".as_slice(), b"f_1", edge, long].into_iter().enumerate() {
            m.insert(n.into(), i as u32);
        }
        assert!(matches!(Name::from(edge), Name::Inline(22, _)));
        assert!(matches!(Name::from(long), Name::Boxed(_)));
        assert_eq!(m.get(b"".as_slice()), Some(&0));
        assert_eq!(m.get(b"f_1".as_slice()), Some(&1));
        assert_eq!(m.get(edge), Some(&2));
        assert_eq!(m.get(long), Some(&3));
        assert_eq!(m.get(b"f_2".as_slice()), None);
        assert_eq!(Name::from(long).as_bytes(), long);
    }
}
