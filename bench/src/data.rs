//! The benchmark's data: random 24-byte keys and 150-byte values from a seeded generator, the
//! same for every engine.

/// Key length in bytes.
pub const KEY_LEN: usize = 24;
/// Value length in bytes.
pub const VALUE_LEN: usize = 150;

/// A key.
pub type Key = [u8; KEY_LEN];
/// A value.
pub type Value = [u8; VALUE_LEN];

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
}

impl Data {
    /// `count` random keys from `seed`.
    pub fn new(seed: u64, count: usize) -> Self {
        let mut rng = SplitMix::new(seed);
        let mut keys = vec![[0u8; KEY_LEN]; count];
        for key in &mut keys {
            rng.fill(key);
        }
        Data { seed, keys }
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
        let mut v = [0u8; VALUE_LEN];
        rng.fill(&mut v);
        v
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
    }
}
