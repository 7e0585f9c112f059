//! The write-ahead log: every acknowledged write is a record here before it is
//! anywhere else.
//!
//! Segments are named `NNNNNN.log` and use the framing of [`super::record`]. One record
//! holds one atomic batch: first sequence number (u64), operation count (u32), then per
//! operation a kind byte (0 delete, 1 put), the key and, for puts, the value (both
//! varint-length-prefixed). A batch is replayed whole or not at all.

use std::path::{Path, PathBuf};

use super::coding::{put_len_prefixed, Reader};
use super::fs::{FileSystem, WritableFile};
use super::record::{
    any_good_record_after, decode_file_header, encode_file_header, encode_record,
    encode_record_patched, read_record, FileHeader, RecordRead, FILE_HEADER_LEN,
};
use crate::config::ChecksumAlgorithm;
use crate::error::DatabaseError;

/// Magic number of log segments ("LWAL").
pub const WAL_MAGIC: u32 = 0x4c41_574c;
/// Current log format version.
pub const WAL_FORMAT_VERSION: u16 = 1;

/// The file name of log segment `n`.
pub fn wal_file_name(n: u64) -> String {
    format!("{n:06}.log")
}

/// One operation of a batch, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value, `None` for a delete.
    pub value: Option<&'a [u8]>,
}

/// Bytes before the first operation of a batch payload: sequence (u64) and count (u32).
pub const BATCH_HEADER_LEN: usize = 12;

/// Appends one operation in the batch encoding.
#[inline]
pub fn encode_op(out: &mut Vec<u8>, op: OpRef<'_>) {
    out.push(u8::from(op.value.is_some()));
    put_len_prefixed(out, op.key);
    if let Some(v) = op.value {
        put_len_prefixed(out, v);
    }
}

/// Encodes a batch payload.
pub fn encode_batch<'a>(first_seq: u64, ops: impl ExactSizeIterator<Item = OpRef<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        encode_op(&mut out, op);
    }
    out
}

/// Writes the first sequence number into an encoded batch payload.
pub fn set_batch_seq(payload: &mut [u8], first_seq: u64) {
    if let Some(head) = payload.get_mut(..8) {
        head.copy_from_slice(&first_seq.to_le_bytes());
    }
}

/// Writes the operation count into an encoded batch payload.
pub fn set_batch_count(payload: &mut [u8], count: u32) {
    if let Some(head) = payload.get_mut(8..BATCH_HEADER_LEN) {
        head.copy_from_slice(&count.to_le_bytes());
    }
}

/// The operation count of an encoded batch payload.
pub fn batch_count(payload: &[u8]) -> u32 {
    crate::storage::coding::get_u32(payload, 8).unwrap_or(0)
}

/// Walks the operations of a payload this process encoded itself (so well formed);
/// stops at the first malformed byte rather than trusting it.
pub struct BatchOps<'a> {
    reader: Reader<'a>,
}

impl<'a> BatchOps<'a> {
    /// Operations of `ops`, the payload after its header.
    pub fn new(ops: &'a [u8]) -> Self {
        Self {
            reader: Reader::new(ops),
        }
    }
}

impl<'a> Iterator for BatchOps<'a> {
    type Item = OpRef<'a>;

    fn next(&mut self) -> Option<OpRef<'a>> {
        let kind = self.reader.u8()?;
        let key = self.reader.len_prefixed()?;
        let value = match kind {
            1 => Some(self.reader.len_prefixed()?),
            _ => None,
        };
        Some(OpRef { key, value })
    }
}

/// Decodes a batch payload: first sequence number and the operations.
pub fn decode_batch(payload: &[u8]) -> Option<(u64, Vec<OpRef<'_>>)> {
    let mut r = Reader::new(payload);
    let first_seq = r.u64()?;
    let count = r.u32()? as usize;
    // Every operation takes at least two bytes: bounds the allocation.
    if count > r.remaining() / 2 + 1 {
        return None;
    }
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = r.u8()?;
        let key = r.len_prefixed()?;
        let value = match kind {
            0 => None,
            1 => Some(r.len_prefixed()?),
            _ => return None,
        };
        ops.push(OpRef { key, value });
    }
    (r.remaining() == 0).then_some((first_seq, ops))
}

/// An open segment being appended to.
pub struct WalWriter {
    file: Box<dyn WritableFile>,
    /// Segment number.
    pub number: u64,
    /// Full path.
    pub path: PathBuf,
    checksum: ChecksumAlgorithm,
    dirty: bool,
}

impl WalWriter {
    /// Creates segment `number` in `dir` and makes its header and directory entry durable.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
    ) -> Result<Self, DatabaseError> {
        let path = dir.join(wal_file_name(number));
        let mut file = fs
            .create(&path)
            .map_err(|e| DatabaseError::io("create log segment", &path, &e))?;
        let header = encode_file_header(&FileHeader {
            magic: WAL_MAGIC,
            version: WAL_FORMAT_VERSION,
            checksum,
            number,
        });
        file.append(&header)
            .and_then(|()| file.sync_data())
            .map_err(|e| DatabaseError::io("write log header", &path, &e))?;
        fs.sync_dir(dir)
            .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
        Ok(Self {
            file,
            number,
            path,
            checksum,
            dirty: false,
        })
    }

    /// Frames `payload` as one record into `out` (callers gather a group, then append once).
    pub fn frame(&self, out: &mut Vec<u8>, payload: &[u8]) {
        encode_record(out, self.checksum, payload);
    }

    /// Frames an encoded batch into `out`, stamping `first_seq` into the copy.
    pub fn frame_batch(&self, out: &mut Vec<u8>, payload: &[u8], first_seq: u64) {
        encode_record_patched(out, self.checksum, payload, |body| {
            set_batch_seq(body, first_seq)
        });
    }

    /// Appends already-framed records.
    pub fn append(&mut self, framed: &[u8]) -> Result<(), DatabaseError> {
        self.dirty = true;
        self.file
            .append(framed)
            .map_err(|e| DatabaseError::io("append to log", &self.path, &e))
    }

    /// Makes everything appended so far durable.
    pub fn sync(&mut self) -> Result<(), DatabaseError> {
        if !self.dirty {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| DatabaseError::io("sync log", &self.path, &e))?;
        self.dirty = false;
        Ok(())
    }

    /// Bytes in the segment.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// True when only the header was written.
    pub fn is_empty(&self) -> bool {
        self.file.len() <= FILE_HEADER_LEN as u64
    }
}

/// What replaying one segment found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SegmentReplay {
    /// Good records applied.
    pub records: u64,
    /// Bytes of a torn tail cut off (0 when the segment ended cleanly).
    pub torn_tail_bytes: u64,
    /// Length of the good prefix.
    pub valid_len: u64,
}

fn wal_corrupted(path: &Path, offset: usize, what: &str) -> DatabaseError {
    DatabaseError::WalCorrupted {
        details: format!("{} at offset {offset}: {what}", path.display()),
        suggested_action: "restore the database from a backup, or run `lightning repair` to \
                           keep the records before the damage"
            .to_string(),
    }
}

/// Reads segment `path`, calling `apply` with each batch's first sequence number and
/// operations. A bad record with no good record after it in the last segment is a torn
/// tail and is cut off; any other damage is `WalCorrupted` naming file and offset.
pub fn replay_segment(
    fs: &dyn FileSystem,
    path: &Path,
    is_last: bool,
    mut apply: impl FnMut(u64, &[OpRef<'_>]) -> Result<(), DatabaseError>,
) -> Result<SegmentReplay, DatabaseError> {
    let data = fs
        .read_all(path)
        .map_err(|e| DatabaseError::io("read log segment", path, &e))?;
    let header = match decode_file_header(&data, WAL_MAGIC) {
        Ok(h) => h,
        // A crash while creating the newest segment can leave its header incomplete.
        Err(_) if is_last && data.len() <= FILE_HEADER_LEN => {
            return Ok(SegmentReplay {
                records: 0,
                torn_tail_bytes: data.len() as u64,
                valid_len: 0,
            })
        }
        Err(e) => {
            return Err(wal_corrupted(
                path,
                0,
                &format!("bad segment header: {e:?}"),
            ))
        }
    };
    if header.version == 0 || header.version > WAL_FORMAT_VERSION {
        return Err(DatabaseError::UnsupportedFormatVersion {
            component: format!("log segment {}", path.display()),
            found: u32::from(header.version),
            supported_max: u32::from(WAL_FORMAT_VERSION),
        });
    }
    let mut out = SegmentReplay::default();
    let mut pos = FILE_HEADER_LEN;
    loop {
        match read_record(&data, pos, header.checksum) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                let (first_seq, ops) = decode_batch(payload).ok_or_else(|| {
                    wal_corrupted(path, pos, "record checksum ok but batch malformed")
                })?;
                apply(first_seq, &ops)?;
                out.records += 1;
                pos = next;
            }
            RecordRead::Bad(why) => {
                if is_last && !any_good_record_after(&data, pos, header.checksum) {
                    out.torn_tail_bytes = (data.len() - pos) as u64;
                    break;
                }
                return Err(wal_corrupted(path, pos, why));
            }
        }
    }
    out.valid_len = pos as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::StdFileSystem;

    #[test]
    fn batch_payload_round_trip() {
        let ops = [
            OpRef {
                key: b"a",
                value: Some(b"1"),
            },
            OpRef {
                key: b"b",
                value: None,
            },
            OpRef {
                key: b"c",
                value: Some(b""),
            },
        ];
        let p = encode_batch(77, ops.iter().copied());
        let (seq, back) = decode_batch(&p).expect("decode");
        assert_eq!(seq, 77);
        assert_eq!(back, ops);
        for len in 0..p.len() {
            assert!(decode_batch(&p[..len]).is_none());
        }
    }

    fn write_segment(dir: &Path, batches: &[&[u8]]) -> PathBuf {
        let fs = StdFileSystem;
        let mut w = WalWriter::create(&fs, dir, 3, ChecksumAlgorithm::Xxh64).expect("create");
        let mut buf = Vec::new();
        for (i, v) in batches.iter().enumerate() {
            let payload = encode_batch(
                i as u64 + 1,
                [OpRef {
                    key: b"k",
                    value: Some(v),
                }]
                .into_iter(),
            );
            w.frame(&mut buf, &payload);
        }
        w.append(&buf).expect("append");
        w.sync().expect("sync");
        w.path.clone()
    }

    #[test]
    fn torn_tail_is_cut_and_middle_damage_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = write_segment(dir.path(), &[b"one", b"two", b"three"]);
        let full = fs.read_all(&path).expect("read");

        let count = |is_last: bool| {
            let mut n = 0;
            replay_segment(&fs, &path, is_last, |_, _| {
                n += 1;
                Ok(())
            })
            .map(|r| (n, r))
        };
        assert_eq!(count(true).expect("clean").0, 3);

        std::fs::write(&path, &full[..full.len() - 3]).expect("truncate");
        let (n, r) = count(true).expect("torn tail tolerated");
        assert_eq!(n, 2);
        assert!(r.torn_tail_bytes > 0);
        assert!(
            count(false).is_err(),
            "a torn non-last segment is corruption"
        );

        let mut damaged = full.clone();
        damaged[FILE_HEADER_LEN + 20] ^= 0x10;
        std::fs::write(&path, &damaged).expect("write");
        assert!(matches!(
            count(true),
            Err(DatabaseError::WalCorrupted { .. })
        ));
    }
}
