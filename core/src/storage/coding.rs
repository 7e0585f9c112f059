//! Little-endian fixed-width and LEB128 varint encoding shared by every on-disk format.

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Decodes a varint at the start of `data`: the value and the bytes it used.
/// `None` for a truncated or over-long (more than 10 bytes) encoding.
#[inline]
pub fn get_varint(data: &[u8]) -> Option<(u64, usize)> {
    // Most lengths and many sequence numbers fit one byte.
    if let Some(&b) = data.first() {
        if b < 0x80 {
            return Some((u64::from(b), 1));
        }
    }
    // Up to eight bytes at once where the slice has them: every table entry's sequence
    // number takes two to four, and a byte loop costs about 15 instructions a byte.
    if let Some(word) = data.first_chunk::<8>() {
        let word = u64::from_le_bytes(*word);
        let stops = !word & 0x8080_8080_8080_8080;
        if stops != 0 {
            let len = (stops.trailing_zeros() / 8 + 1) as usize;
            let mask = if len == 8 {
                u64::MAX
            } else {
                (1u64 << (8 * len)) - 1
            };
            // Gather the 7-bit groups: pairs into 14 bits, then 28, then 56.
            let x = word & mask & 0x7f7f_7f7f_7f7f_7f7f;
            let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
            let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
            let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
            return Some((x, len));
        }
    }
    get_varint_bytewise(data)
}

/// [`get_varint`] one byte at a time: near the end of a buffer and for values above 56 bits.
#[inline(never)]
fn get_varint_bytewise(data: &[u8]) -> Option<(u64, usize)> {
    let mut result = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        result |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((result, i + 1));
        }
    }
    None
}

/// Reads a little-endian u32 at `pos`, `None` when out of bounds.
#[inline]
pub fn get_u32(data: &[u8], pos: usize) -> Option<u32> {
    let bytes = data.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads a little-endian u64 at `pos`, `None` when out of bounds.
#[inline]
pub fn get_u64(data: &[u8], pos: usize) -> Option<u64> {
    let bytes = data.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// The first eight bytes of `key` as a big-endian number, zero-padded. Comparing two
/// prefixes orders keys exactly as bytewise comparison does whenever the prefixes differ,
/// so searches compare one integer and fall back to the full keys only on a tie.
#[inline]
pub fn key_prefix(key: &[u8]) -> u64 {
    if let Some(head) = key.first_chunk::<8>() {
        return u64::from_be_bytes(*head);
    }
    let mut buf = [0u8; 8];
    let n = key.len().min(8);
    buf[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(buf)
}

/// A cursor over a byte slice that decodes fields and reports running off the end as `None`.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `data` at its first byte.
    #[inline]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let v = get_u32(self.data, self.pos)?;
        self.pos += 4;
        Some(v)
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        let v = get_u64(self.data, self.pos)?;
        self.pos += 8;
        Some(v)
    }

    /// Reads a varint.
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = get_varint(self.data.get(self.pos..)?)?;
        self.pos += n;
        Some(v)
    }

    /// Reads `n` raw bytes.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Reads a varint length followed by that many bytes.
    pub fn len_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }
}

/// Appends a varint length and then the bytes.
pub fn put_len_prefixed(buf: &mut Vec<u8>, data: &[u8]) {
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_word_path_matches_the_bytewise_decoder() {
        // Every value length, at every place in a buffer (so both paths run), and
        // random bytes (truncated and over-long encodings included).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for bits in 0..64 {
            for _ in 0..50 {
                let v = next() >> (63 - bits);
                let mut buf = Vec::new();
                put_varint(&mut buf, v);
                let used = buf.len();
                for pad in 0..10 {
                    assert_eq!(
                        get_varint(&buf),
                        Some((v, used)),
                        "{v} with {pad} more bytes"
                    );
                    assert_eq!(get_varint(&buf), get_varint_bytewise(&buf));
                    buf.push((next() & 0xff) as u8);
                }
            }
        }
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| (next() & 0xff) as u8 | (0x80 * (next() & 1) as u8))
                .collect();
            assert_eq!(get_varint(&bytes), get_varint_bytewise(&bytes), "{bytes:?}");
        }
    }

    #[test]
    fn varint_round_trip_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(get_varint(&buf), Some((v, buf.len())));
            assert_eq!(get_varint(&buf[..buf.len() - 1]), None);
        }
        assert_eq!(get_varint(&[0xff; 11]), None);
    }

    #[test]
    fn prefix_order_agrees_with_bytewise_order() {
        let keys: [&[u8]; 9] = [
            b"",
            b"\0",
            b"a",
            b"ab",
            b"ab\0",
            b"ab\0\x01",
            b"abcdefgh",
            b"abcdefgh\0",
            b"b",
        ];
        for a in keys {
            for b in keys {
                let (pa, pb) = (key_prefix(a), key_prefix(b));
                if pa != pb {
                    assert_eq!(pa.cmp(&pb), a.cmp(b), "{a:?} vs {b:?}");
                }
            }
        }
    }

    #[test]
    fn reader_stops_at_end() {
        let mut buf = Vec::new();
        put_len_prefixed(&mut buf, b"abc");
        buf.extend_from_slice(&7u32.to_le_bytes());
        let mut r = Reader::new(&buf);
        assert_eq!(r.len_prefixed(), Some(&b"abc"[..]));
        assert_eq!(r.u32(), Some(7));
        assert_eq!(r.u8(), None);
        let mut r = Reader::new(&[0x05, b'a']);
        assert_eq!(r.len_prefixed(), None);
    }
}
