//! A bloom filter over a table's user keys, so most point reads of absent keys
//! never touch a data block.

/// Hash used both to build and to probe filters. Stable on disk: never change it.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Last byte of a cache-line-blocked filter; the byte before it holds the probe count.
/// A filter whose last byte is 1..=30 is the older layout (that byte is the probe
/// count, bits spread over the whole filter), still read. Any other last byte is an
/// unknown layout, and such a filter never excludes a key, so a newer file stays
/// readable (only slower) by an older reader.
const BLOCKED: u8 = 0x81;
/// Bits in one block: a cache line.
const LINE_BITS: u32 = 512;

/// Builds a filter from the key hashes of one table. Every probe of one key lands in
/// the same 64-byte line, so a lookup costs one cache miss instead of one per probe;
/// the price is a slightly higher false-positive rate at the same size.
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return Vec::new();
    }
    // ln(2) * bits per key probes minimise the false-positive rate.
    let probes = ((f64::from(bits_per_key) * 0.69) as u32).clamp(1, 30);
    let bits = hashes.len() as u64 * u64::from(bits_per_key);
    let lines = bits.div_ceil(u64::from(LINE_BITS)).max(1);
    let mut filter = vec![0u8; lines as usize * 64 + 2];
    for &h in hashes {
        let line = line_of(h, lines);
        let mut h2 = (h >> 32) as u32;
        let delta = h2.rotate_right(17) | 1;
        for _ in 0..probes {
            let bit = (h2 % LINE_BITS) as usize;
            filter[line + bit / 8] |= 1 << (bit % 8);
            h2 = h2.wrapping_add(delta);
        }
    }
    let n = filter.len();
    filter[n - 2] = probes as u8;
    filter[n - 1] = BLOCKED;
    filter
}

/// Byte offset of the line a hash maps to (multiply-shift: no division).
#[inline]
fn line_of(h: u64, lines: u64) -> usize {
    (((h & 0xFFFF_FFFF) * lines) >> 32) as usize * 64
}

/// True for an empty filter or one laid out as [`build`] (or the older layout) writes it.
pub fn is_well_formed(filter: &[u8]) -> bool {
    let n = filter.len();
    match filter.last() {
        None => true,
        Some(&BLOCKED) => {
            n >= 66 && (n - 2).is_multiple_of(64) && (1..=30).contains(&filter[n - 2])
        }
        Some(&p) => n >= 2 && (1..=30).contains(&p),
    }
}

/// False when the key whose [`key_hash`] is `hash` is certainly not in the filter.
/// An empty or unrecognised filter never excludes.
#[inline]
pub fn may_contain(filter: &[u8], hash: u64) -> bool {
    match filter.last() {
        Some(&BLOCKED) => may_contain_blocked(filter, hash),
        Some(1..=30) => may_contain_spread(filter, hash),
        _ => true,
    }
}

#[inline]
fn may_contain_blocked(filter: &[u8], hash: u64) -> bool {
    let body = &filter[..filter.len() - 2];
    let probes = filter[filter.len() - 2];
    if body.is_empty() || !body.len().is_multiple_of(64) || probes == 0 || probes > 30 {
        return true;
    }
    let line_start = line_of(hash, (body.len() / 64) as u64);
    let Some(line) = body.get(line_start..line_start + 64) else {
        return true;
    };
    let mut h2 = (hash >> 32) as u32;
    let delta = h2.rotate_right(17) | 1;
    for _ in 0..probes {
        let bit = (h2 % LINE_BITS) as usize;
        if line[bit / 8] & (1 << (bit % 8)) == 0 {
            return false;
        }
        h2 = h2.wrapping_add(delta);
    }
    true
}

/// The older layout: probes spread over the whole filter, probe count in the last byte.
fn may_contain_spread(filter: &[u8], hash: u64) -> bool {
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
        assert!(may_contain(&[0, 0, 0, 0, BLOCKED], 42));
        assert!(may_contain(&[0, 0, 0, 0, 0, BLOCKED], 42));
    }

    /// The layout written before blocked filters, kept here to prove it is still read.
    fn build_spread(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
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

    #[test]
    fn older_spread_filters_still_work() {
        let hashes: Vec<u64> = (0..5_000u32).map(|i| key_hash(&i.to_le_bytes())).collect();
        let filter = build_spread(&hashes, 10);
        assert!(is_well_formed(&filter));
        assert!(!is_well_formed(&[0, 0, 0, 0, BLOCKED]));
        assert!(!is_well_formed(&[0, 31]));
        assert!(hashes.iter().all(|&h| may_contain(&filter, h)));
        let false_positives = (5_000..15_000u32)
            .filter(|i| may_contain(&filter, key_hash(&i.to_le_bytes())))
            .count();
        assert!(false_positives < 300, "{false_positives} false positives");
    }

    #[test]
    fn blocked_filters_of_every_size_have_no_false_negatives() {
        for n in [1u32, 2, 7, 51, 52, 1_000, 33_333] {
            let hashes: Vec<u64> = (0..n).map(|i| key_hash(&i.to_be_bytes())).collect();
            let filter = build(&hashes, 10);
            assert_eq!((filter.len() - 2) % 64, 0);
            assert!(is_well_formed(&filter));
            assert!(hashes.iter().all(|&h| may_contain(&filter, h)), "{n} keys");
        }
    }
}
