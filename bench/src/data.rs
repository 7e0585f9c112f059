//! The benchmark's data: random 24-byte keys and 150-byte values from a seeded generator, the
//! same for every engine. The value-size phases use the same keys with longer values.

/// Key length in bytes.
pub const KEY_LEN: usize = 24;
/// Value length in bytes.
pub const VALUE_LEN: usize = 150;

/// A key.
pub type Key = [u8; KEY_LEN];
/// A value: the default 150 bytes inline (as before, no allocation per pair), or any other
/// length on the heap (the value-size phases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// The default length.
    Small([u8; VALUE_LEN]),
    /// Any other length.
    Large(Box<[u8]>),
}

impl Value {
    /// The value's bytes.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Value::Small(v) => v,
            Value::Large(v) => v,
        }
    }
}

impl Value {
    /// The value's bytes, to change.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            Value::Small(v) => v,
            Value::Large(v) => v,
        }
    }
}

impl std::ops::Deref for Value {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Value {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// SplitMix64: tiny, fast and good enough to make incompressible test data.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `out` with random bytes.
    #[inline]
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }
}

/// Every key of a run, generated up front (24 bytes each), and values made on demand from
/// the key's index, so a run holds 24 MB of keys per million rather than 174 MB of pairs.
#[derive(Debug)]
pub struct Data {
    seed: u64,
    keys: Vec<Key>,
    value_len: usize,
}

impl Data {
    /// `count` random keys from `seed`, with values of the default length.
    pub fn new(seed: u64, count: usize) -> Self {
        Self::with_value_len(seed, count, VALUE_LEN)
    }

    /// `count` random keys from `seed` (the first `count` keys of [`Data::new`]), with
    /// values of `value_len` bytes.
    pub fn with_value_len(seed: u64, count: usize, value_len: usize) -> Self {
        let mut rng = SplitMix::new(seed);
        let mut keys = vec![[0u8; KEY_LEN]; count];
        for key in &mut keys {
            rng.fill(key);
        }
        Data {
            seed,
            keys,
            value_len,
        }
    }

    /// Key number `i`.
    #[inline]
    pub fn key(&self, i: usize) -> &Key {
        &self.keys[i]
    }

    /// The value of key number `i`.
    #[inline]
    pub fn value(&self, i: usize) -> Value {
        let mut rng = SplitMix::new(self.seed ^ (i as u64).wrapping_mul(0xd6e8_feb8_6659_fd93));
        if self.value_len == VALUE_LEN {
            let mut v = [0u8; VALUE_LEN];
            rng.fill(&mut v);
            Value::Small(v)
        } else {
            let mut v = vec![0u8; self.value_len].into_boxed_slice();
            rng.fill(&mut v);
            Value::Large(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_deterministic_and_distinct() {
        let a = Data::new(3, 100);
        let b = Data::new(3, 100);
        assert_eq!(a.key(7), b.key(7));
        assert_eq!(a.value(7), b.value(7));
        assert_ne!(a.key(7), a.key(8));
        assert_ne!(a.value(7), a.value(8));
        assert_ne!(Data::new(4, 1).key(0), a.key(0));
        let big = Data::with_value_len(3, 10, 4096);
        assert_eq!(big.key(7), a.key(7));
        assert_eq!(big.value(7).len(), 4096);
        assert_eq!(big.value(7)[..VALUE_LEN], a.value(7)[..]);
    }
}
