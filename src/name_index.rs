//! A name index for large batches: names → `u32` indices into a table of its user's (the stub
//! pool's stubs, the session's symbol entries).
//!
//! An open-addressing table of 8-byte slots (a 32-bit hash and an index), linear probing, at
//! most half full. Names are stored once, by index, by the user (the pool's `name_of`, the
//! session's entries); the table compares a name only when the 32-bit hashes agree. Batched operations hash every name first
//! (reading the caller's names in order) and prefetch each name's slot some names ahead, so that
//! the cache misses of a large table overlap instead of adding up: creating or redirecting a
//! million named stubs costs a few tens of nanoseconds per name instead of several hundred with a
//! general-purpose map keyed by owned strings.

use std::hash::Hasher;

use rustc_hash::FxHasher;

/// A slot with no entry.
const EMPTY: u32 = u32::MAX;

/// How many names ahead a batch prefetches.
const AHEAD: usize = 16;

#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    index: u32,
}

const VACANT: Slot = Slot {
    hash: 0,
    index: EMPTY,
};

/// Names → indices.
pub(crate) struct NameIndex {
    slots: Vec<Slot>,
    len: usize,
}

/// The 32-bit hash of a name.
#[inline]
pub(crate) fn hash(name: &[u8]) -> u32 {
    let mut h = FxHasher::default();
    h.write(name);
    let h = h.finish();
    // The high half of Fx's result is the better mixed one; fold the low half in.
    ((h >> 32) ^ (h & 0xffff_ffff).rotate_left(15)) as u32
}

impl Default for NameIndex {
    fn default() -> Self {
        NameIndex::new()
    }
}

impl NameIndex {
    pub(crate) fn new() -> Self {
        NameIndex {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// Makes room for `more` entries without growing during the next `more` insertions.
    pub(crate) fn reserve(&mut self, more: usize) {
        let need = self.len.saturating_add(more).saturating_mul(2).max(16);
        if need <= self.slots.len() {
            return;
        }
        let cap = need.next_power_of_two();
        let old = std::mem::replace(&mut self.slots, vec![VACANT; cap]);
        let mask = cap - 1;
        for s in old.into_iter().filter(|s| s.index != EMPTY) {
            let mut pos = s.hash as usize & mask;
            while self.slots[pos].index != EMPTY {
                pos = (pos + 1) & mask;
            }
            self.slots[pos] = s;
        }
    }

    /// Hints that `hash` is looked up soon.
    #[inline]
    pub(crate) fn prefetch(&self, hash: u32) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(hash as usize & self.mask()) {
            // SAFETY: a prefetch hint has no effect on memory or program state; the address is
            // a slot of this table.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (slot as *const Slot).cast::<i8>(),
                )
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = hash;
    }

    /// The index whose name `is(index)` says is the one hashed to `hash`.
    #[inline]
    pub(crate) fn get(&self, hash: u32, is: impl Fn(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        loop {
            let s = self.slots[pos];
            if s.index == EMPTY {
                return None;
            }
            if s.hash == hash && is(s.index) {
                return Some(s.index);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Enters `index` under `hash` unless `is` recognizes an entry with the same name; then
    /// returns that entry's index. Room must have been reserved.
    #[inline]
    pub(crate) fn insert(
        &mut self,
        hash: u32,
        index: u32,
        is: impl Fn(u32) -> bool,
    ) -> Result<(), u32> {
        if (self.len + 1) * 2 > self.slots.len() {
            self.reserve(1);
        }
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        loop {
            let s = self.slots[pos];
            if s.index == EMPTY {
                self.slots[pos] = Slot { hash, index };
                self.len += 1;
                return Ok(());
            }
            if s.hash == hash && is(s.index) {
                return Err(s.index);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Removes the entry of `index`, entered under `hash`.
    pub(crate) fn remove(&mut self, hash: u32, index: u32) {
        if self.len == 0 {
            return;
        }
        let mask = self.mask();
        let mut pos = hash as usize & mask;
        loop {
            let s = self.slots[pos];
            if s.index == EMPTY {
                return;
            }
            if s.index == index {
                break;
            }
            pos = (pos + 1) & mask;
        }
        // Backward-shift deletion: move later entries of the probe run into the hole when
        // their home position allows it, so that lookups never need tombstones.
        let mut hole = pos;
        let mut next = (pos + 1) & mask;
        loop {
            let s = self.slots[next];
            if s.index == EMPTY {
                break;
            }
            let home = s.hash as usize & mask;
            // The entry may move to the hole if the hole lies on its probe path, that is
            // cyclically in [home, next).
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.slots[hole] = VACANT;
        self.len -= 1;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Batches smaller than this are hashed name by name, without prefetching: their table and
/// names are in cache anyway, and the separate pass would cost more than it saves.
const PREFETCH_FROM: usize = 4096;

/// Hashes of `names` (`n` of them), in order, for a batch large enough to prefetch; empty for a
/// small one (see [`hash_at`]).
pub(crate) fn hashes<'n>(n: usize, names: impl Iterator<Item = &'n [u8]>) -> Vec<u32> {
    if n < PREFETCH_FROM {
        return Vec::new();
    }
    names.map(hash).collect()
}

/// The hash of the `i`th name of a batch: precomputed by [`hashes`], or computed now.
#[inline]
pub(crate) fn hash_at(hashes: &[u32], i: usize, name: &[u8]) -> u32 {
    match hashes.get(i) {
        Some(&h) => h,
        None => hash(name),
    }
}

/// Visits `hashes` in order, prefetching the slot of the hash [`AHEAD`] positions later.
#[inline]
pub(crate) fn ahead(index: &NameIndex, hashes: &[u32], i: usize) {
    if let Some(&h) = hashes.get(i + AHEAD) {
        index.prefetch(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a reference map: inserts, duplicate detection, lookups and removals (with
    /// backward shifts across a wrapped table) agree, including under forced hash collisions.
    #[test]
    fn agrees_with_a_map() {
        for collide in [false, true] {
            let mut t = NameIndex::new();
            let mut names: Vec<Option<String>> = Vec::new();
            let mut reference = std::collections::HashMap::new();
            let h = |n: &str| {
                if collide {
                    hash(n.as_bytes()) & 7
                } else {
                    hash(n.as_bytes())
                }
            };
            let mut x = 12345u64;
            for step in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let name = format!("n{}", x % 3000);
                let hv = h(&name);
                if x.is_multiple_of(3) {
                    if let Some(i) = reference.remove(&name) {
                        t.remove(hv, i);
                        names[i as usize] = None;
                    }
                } else {
                    let idx = names.len() as u32;
                    let got = t.insert(hv, idx, |i| names[i as usize].as_deref() == Some(&name));
                    match reference.get(&name) {
                        Some(&old) => assert_eq!(got, Err(old), "step {step}"),
                        None => {
                            assert_eq!(got, Ok(()), "step {step}");
                            reference.insert(name.clone(), idx);
                            names.push(Some(name.clone()));
                        }
                    }
                }
                assert_eq!(t.len(), reference.len());
            }
            for (name, &i) in &reference {
                let found = t.get(h(name), |j| names[j as usize].as_deref() == Some(name));
                assert_eq!(found, Some(i), "{name}");
            }
            assert_eq!(
                t.get(h("absent"), |j| names[j as usize].as_deref()
                    == Some("absent")),
                None
            );
        }
    }
}
