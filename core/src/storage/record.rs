//! Framed, checksummed records: the shared format of log segments and manifests.
//!
//! A file starts with a 24-byte header: magic (u32), format version (u16), checksum
//! algorithm id (u8), a reserved zero byte, the file's number (u64), and the checksum
//! of those 16 bytes (u64). Records follow, each:
//! payload length (u32), a 32-bit check of the length, the payload checksum (u64),
//! then the payload. The separate length check lets a reader tell a damaged length
//! from a real one without trusting it to size an allocation.

use crate::checksum::ChecksumAlgorithm;
use crate::checksum::{checksum64, checksum64_parts};
use crate::storage::coding::{get_u32, get_u64};

/// Bytes in a file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Bytes in front of every record's payload.
pub const RECORD_HEADER_LEN: usize = 16;

/// The fields of a file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Which kind of file this is.
    pub magic: u32,
    /// Format version that wrote it.
    pub version: u16,
    /// Checksum algorithm of every record in the file.
    pub checksum: ChecksumAlgorithm,
    /// The file's number.
    pub number: u64,
}

/// Encodes a file header.
pub fn encode_file_header(h: &FileHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_HEADER_LEN);
    out.extend_from_slice(&h.magic.to_le_bytes());
    out.extend_from_slice(&h.version.to_le_bytes());
    out.push(h.checksum.id());
    out.push(0);
    out.extend_from_slice(&h.number.to_le_bytes());
    let sum = checksum64(h.checksum, &out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Why a file header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than a header.
    Truncated,
    /// Not this kind of file.
    BadMagic,
    /// Unknown checksum algorithm id.
    UnknownChecksum(u8),
    /// The header's checksum does not match.
    Checksum,
}

/// Decodes and verifies a file header.
pub fn decode_file_header(data: &[u8], magic: u32) -> Result<FileHeader, HeaderError> {
    if data.len() < FILE_HEADER_LEN {
        return Err(HeaderError::Truncated);
    }
    if get_u32(data, 0) != Some(magic) {
        return Err(HeaderError::BadMagic);
    }
    let algo_id = data[6];
    let checksum =
        ChecksumAlgorithm::from_id(algo_id).ok_or(HeaderError::UnknownChecksum(algo_id))?;
    if get_u64(data, 16) != Some(checksum64(checksum, &data[..16])) {
        return Err(HeaderError::Checksum);
    }
    Ok(FileHeader {
        magic,
        version: u16::from_le_bytes([data[4], data[5]]),
        checksum,
        number: get_u64(data, 8).unwrap_or(0),
    })
}

#[inline]
fn length_check(algorithm: ChecksumAlgorithm, len: u32) -> u32 {
    checksum64(algorithm, &len.to_le_bytes()) as u32
}

/// Appends one framed record to `out`.
pub fn encode_record(out: &mut Vec<u8>, algorithm: ChecksumAlgorithm, payload: &[u8]) {
    let len = payload.len() as u32;
    let len_bytes = len.to_le_bytes();
    out.extend_from_slice(&len_bytes);
    out.extend_from_slice(&length_check(algorithm, len).to_le_bytes());
    let sum = checksum64_parts(algorithm, &[&len_bytes, payload]);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Appends one framed record whose payload is `payload` after `patch` has edited it in
/// place (the log uses this to stamp a batch's sequence number without a second copy).
pub fn encode_record_patched(
    out: &mut Vec<u8>,
    algorithm: ChecksumAlgorithm,
    payload: &[u8],
    patch: impl FnOnce(&mut [u8]),
) {
    let len = payload.len() as u32;
    let len_bytes = len.to_le_bytes();
    let header_at = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    out.extend_from_slice(payload);
    let body = &mut out[header_at + RECORD_HEADER_LEN..];
    patch(body);
    let sum = checksum64_parts(algorithm, &[&len_bytes, body]);
    let header = &mut out[header_at..header_at + RECORD_HEADER_LEN];
    header[..4].copy_from_slice(&len_bytes);
    header[4..8].copy_from_slice(&length_check(algorithm, len).to_le_bytes());
    header[8..].copy_from_slice(&sum.to_le_bytes());
}

/// How far an append-only file (a log segment, the manifest) has been written by
/// appends that have returned. A reader that checks the file while it is being appended
/// to may see the append in progress half done; bytes below this mark never change again,
/// so a live check stops there instead of reporting the half as damage.
#[derive(Debug, Default)]
pub struct FinishedExtent {
    /// File number and length; one lock so the two are always seen together.
    at: parking_lot::Mutex<(u64, u64)>,
}

impl FinishedExtent {
    /// Records that file `number` has `len` finished bytes (it is the newest such file).
    pub fn publish(&self, number: u64, len: u64) {
        *self.at.lock() = (number, len);
    }

    /// What a reader may check of file `number`, asked before reading it: `Some(None)`
    /// for all of it (an older file, no longer appended to), `Some(Some(len))` for its
    /// first `len` bytes (the file being appended to), `None` when the file is newer than
    /// the last publication (created while the reader was busy; nothing in it is settled).
    pub fn settled(&self, number: u64) -> Option<Option<u64>> {
        let (newest, len) = *self.at.lock();
        match number.cmp(&newest) {
            std::cmp::Ordering::Less => Some(None),
            std::cmp::Ordering::Equal => Some(Some(len)),
            std::cmp::Ordering::Greater => None,
        }
    }
}

/// The outcome of reading one record at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordRead<'a> {
    /// A good record and the offset just past it.
    Ok(&'a [u8], usize),
    /// No bytes left: a clean end.
    End,
    /// Bytes that are not a good record.
    Bad(&'static str),
}

/// Reads the record starting at `pos` in `data`.
pub fn read_record(data: &[u8], pos: usize, algorithm: ChecksumAlgorithm) -> RecordRead<'_> {
    if pos >= data.len() {
        return RecordRead::End;
    }
    let (Some(len), Some(check), Some(sum)) = (
        get_u32(data, pos),
        get_u32(data, pos + 4),
        get_u64(data, pos + 8),
    ) else {
        return RecordRead::Bad("truncated record header");
    };
    if check != length_check(algorithm, len) {
        return RecordRead::Bad("record length check mismatch");
    }
    let start = pos + RECORD_HEADER_LEN;
    let Some(end) = start.checked_add(len as usize).filter(|&e| e <= data.len()) else {
        return RecordRead::Bad("record runs past the end of the file");
    };
    let payload = &data[start..end];
    if checksum64_parts(algorithm, &[&len.to_le_bytes(), payload]) != sum {
        return RecordRead::Bad("record checksum mismatch");
    }
    RecordRead::Ok(payload, end)
}

/// True when some good record starts anywhere after `pos`: what separates damage in
/// the middle of a file (reported) from a torn tail left by a crash (cut off).
pub fn any_good_record_after(data: &[u8], pos: usize, algorithm: ChecksumAlgorithm) -> bool {
    (pos + 1..data.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .any(|p| matches!(read_record(data, p, algorithm), RecordRead::Ok(..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_extent_settles_older_files_whole_and_newer_ones_not_at_all() {
        let x = FinishedExtent::default();
        x.publish(7, 100);
        assert_eq!(x.settled(6), Some(None));
        assert_eq!(x.settled(7), Some(Some(100)));
        assert_eq!(x.settled(8), None);
        x.publish(8, 24);
        assert_eq!(x.settled(7), Some(None));
        assert_eq!(x.settled(8), Some(Some(24)));
    }

    #[test]
    fn records_round_trip_and_damage_is_seen() {
        let algo = ChecksumAlgorithm::Crc32;
        let mut buf = encode_file_header(&FileHeader {
            magic: 7,
            version: 1,
            checksum: algo,
            number: 42,
        });
        assert_eq!(decode_file_header(&buf, 7).expect("header").number, 42);
        assert_eq!(decode_file_header(&buf, 8), Err(HeaderError::BadMagic));
        let start = buf.len();
        encode_record(&mut buf, algo, b"first");
        encode_record(&mut buf, algo, b"");
        encode_record(&mut buf, algo, b"third");
        let mut pos = start;
        let mut seen = Vec::new();
        while let RecordRead::Ok(p, next) = read_record(&buf, pos, algo) {
            seen.push(p.to_vec());
            pos = next;
        }
        assert_eq!(seen, vec![b"first".to_vec(), Vec::new(), b"third".to_vec()]);
        assert_eq!(read_record(&buf, pos, algo), RecordRead::End);

        // Damage to the first record is in the middle: good records follow it.
        let mut damaged = buf.clone();
        damaged[start + RECORD_HEADER_LEN] ^= 1;
        assert!(matches!(
            read_record(&damaged, start, algo),
            RecordRead::Bad(_)
        ));
        assert!(any_good_record_after(&damaged, start, algo));
        // A cut-off last record is a torn tail: nothing good follows.
        let torn = &buf[..buf.len() - 2];
        let last = buf.len() - RECORD_HEADER_LEN - 5;
        assert!(matches!(read_record(torn, last, algo), RecordRead::Bad(_)));
        assert!(!any_good_record_after(torn, last, algo));
    }
}
