//! A bloom filter over a table's user keys, so most point reads of absent keys
//! never touch a data block.

/// Hash used both to build and to probe filters. Stable on disk: never change it.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Builds a filter from the key hashes of one table.
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return Vec::new();
    }
    // ln(2) * bits per key probes minimise the false-positive rate.
    let probes = ((f64::from(bits_per_key) * 0.69) as u32).clamp(1, 30);
    let bits = (hashes.len() as u64 * u64::from(bits_per_key)).max(64);
    let bytes = bits.div_ceil(8) as usize;
    let bits = bytes as u64 * 8;
    let mut filter = vec![0u8; bytes + 1];
    for &h in hashes {
        let mut h1 = h as u32;
        let delta = (h >> 32) as u32 | 1;
        for _ in 0..probes {
            let bit = u64::from(h1) % bits;
            filter[(bit / 8) as usize] |= 1 << (bit % 8);
            h1 = h1.wrapping_add(delta);
        }
    }
    filter[bytes] = probes as u8;
    filter
}

/// True when the key may be in the set; false means certainly absent.
/// An empty or malformed filter answers true, so it can only cost a read, never a miss.
#[inline]
pub fn may_contain(filter: &[u8], hash: u64) -> bool {
    let Some((&probes, body)) = filter.split_last() else {
        return true;
    };
    if body.is_empty() || probes == 0 || probes > 30 {
        return true;
    }
    let bits = body.len() as u64 * 8;
    let mut h1 = hash as u32;
    let delta = (hash >> 32) as u32 | 1;
    for _ in 0..probes {
        let bit = u64::from(h1) % bits;
        if body[(bit / 8) as usize] & (1 << (bit % 8)) == 0 {
            return false;
        }
        h1 = h1.wrapping_add(delta);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        let filter = build(&hashes, 10);
        assert!(hashes.iter().all(|&h| may_contain(&filter, h)));
        let false_positives = (10_000..20_000u32)
            .filter(|i| may_contain(&filter, key_hash(&i.to_be_bytes())))
            .count();
        assert!(false_positives < 300, "{false_positives} false positives");
    }

    #[test]
    fn empty_or_garbage_filter_never_excludes() {
        assert!(may_contain(&[], 42));
        assert!(may_contain(&[0, 0, 0, 200], 42));
    }
}
