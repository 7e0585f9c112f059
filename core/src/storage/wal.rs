//! The write-ahead log: every acknowledged write is a record here before it is
//! anywhere else.
//!
//! Segments are named `NNNNNN.log` and use the framing of [`super::record`]. One record
//! holds one atomic batch: first sequence number (u64), operation count (u32), then per
//! operation a kind byte (0 delete, 1 put), the key and, for puts, the value (both
//! varint-length-prefixed). A batch is replayed whole or not at all.
//!
//! # Pre-extension (format version 2)
//!
//! A durable commit is one write and one `fdatasync`. If every write also grew the file,
//! every sync would have to commit the new file size to the file system's journal as
//! well. So the writer lays down real zeros ahead of its records (not `fallocate`: its
//! extents are "unwritten", and converting them on first write costs a journal commit
//! again), in chunks that grow with the segment ([`PREEXTEND_MIN`] to [`PREEXTEND_MAX`])
//! and always end on a multiple of [`PREEXTEND_ALIGN`]. The zeros are written right after
//! the record that needs them and become durable with the next sync (for a durable commit,
//! its own: one journal commit per chunk); the commits after it overwrite them in place
//! and their syncs write data only, as LMDB's do. When a segment stops being the active
//! one (a memtable switch, a clean close) the zeros are cut off before the next segment
//! is created, so only the newest segment can still end in them.
//!
//! Version 2 marks a segment whose writer does this. Its reader treats a run of zeros from
//! a record boundary to an end of file on a [`PREEXTEND_ALIGN`] boundary as the unused
//! rest of a chunk: a clean end of the log, in any segment, never corruption. Everything
//! else reads as in version 1: a bad record with no good record after it in the newest
//! segment is a torn tail and is cut off; any other bad record is `WalCorrupted`. Zeros
//! never parse as a record (a zero length fails the length check), so a hole of zeros
//! before intact records is still damage, reported as before. Version 1 segments are read
//! with the version 1 rules only.
//!
//! # Sealed records (format version 3)
//!
//! An encrypted database writes version 3 segments: version 2 (pre-extended), with every
//! record's payload sealed by `storage::crypto` for its segment and the offset of its
//! record header, so the framing's checksum covers the sealed bytes. A torn or damaged
//! record is therefore still found by its checksum, without the key, and read as in
//! version 2 (a torn tail is cut off, damage elsewhere is `WalCorrupted`); a record whose
//! checksum holds but which fails authentication was tampered with (moved, swapped,
//! rolled back, forged with a recomputed checksum) and stops replay with
//! `SecurityError::DecryptionFailed` naming the segment and offset, whatever
//! `corruption_action` says: it is never cut off as a torn tail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::coding::{put_len_prefixed, Reader};
use super::crypto::{key_needed, FileKind, KeyRing, SealPlace};
use super::fs::{FileSystem, WritableFile};
#[cfg(test)]
use super::record::encode_record;
use super::record::{
    any_good_record_after, decode_file_header, encode_file_header, encode_record_patched,
    read_record, FileHeader, FinishedExtent, RecordRead, FILE_HEADER_LEN,
};
use crate::checksum::ChecksumAlgorithm;
use crate::error::DatabaseError;

/// Where the record at `offset` of log segment `number` is sealed for.
pub(crate) fn log_place(number: u64, offset: u64) -> SealPlace {
    SealPlace {
        kind: FileKind::Log,
        file: number,
        offset,
        format_version: u32::from(WAL_SEALED_VERSION),
        // Segment numbers are never reused, so the number alone names the file.
        instance: 0,
    }
}

/// Magic number of log segments ("LWAL").
pub const WAL_MAGIC: u32 = 0x4c41_574c;
/// Current log format version (see the [module documentation](self) for what 2 adds).
pub const WAL_FORMAT_VERSION: u16 = 2;
/// The log format version of an encrypted database: version 2 with sealed records.
pub const WAL_SEALED_VERSION: u16 = 3;
/// The newest log format version this build reads.
pub const NEWEST_WAL_VERSION: u16 = WAL_SEALED_VERSION;
/// The first log format version whose segments may end in pre-extension zeros.
pub const WAL_PREEXTENDED_VERSION: u16 = 2;
/// Pre-extended segment files always end on a multiple of this many bytes; a zero tail
/// ending elsewhere is not the writer's and reads by the version 1 rules (a torn tail).
pub const PREEXTEND_ALIGN: u64 = 4096;
/// Smallest chunk of zeros laid down ahead of the records: a fresh segment starts small,
/// so a database that writes little keeps small log files.
pub const PREEXTEND_MIN: u64 = 4096;
/// Largest chunk of zeros laid down at once. Each chunk costs one journal commit (with
/// the commit that lays it down) and is written twice (zeros, then records), so bigger
/// chunks save journal commits but make that one commit slower.
pub const PREEXTEND_MAX: u64 = 1 << 20;

/// The zeros chunks are written from. Allocated once and kept, so laying down a chunk
/// allocates nothing: a fresh megabyte from the allocator is a new mapping, page-faulted
/// in on every use, which measurably slowed the first commits of a process. (Only ever
/// read, its pages map the shared zero page: it costs no memory. Not a `static` array,
/// which would put a megabyte of zeros in the binary.)
static ZEROS: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| vec![0; PREEXTEND_MAX as usize]);

/// Writes zeros over `from..to` of `file`.
fn write_zeros(file: &mut dyn WritableFile, from: u64, to: u64) -> std::io::Result<()> {
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZEROS.len() as u64);
        file.write_at(at, &ZEROS[..n as usize])?;
        at += n;
    }
    Ok(())
}

/// Where the zeros laid down for a record ending at `end` should stop: about as many
/// bytes again as the segment holds (so the number of chunks grows with the logarithm of
/// its size), within [`PREEXTEND_MIN`]..=[`PREEXTEND_MAX`], rounded up to
/// [`PREEXTEND_ALIGN`].
pub fn preextend_target(end: u64) -> u64 {
    let ahead = end.clamp(PREEXTEND_MIN, PREEXTEND_MAX);
    (end + ahead).div_ceil(PREEXTEND_ALIGN) * PREEXTEND_ALIGN
}

/// True when `data[pos..]` is what a version-`version` writer leaves unused after its
/// last record: zeros up to an end of file on a [`PREEXTEND_ALIGN`] boundary, in a format
/// that pre-extends. Readers check it where a record fails to read, before deciding
/// between a torn tail and corruption.
pub fn is_preextension_tail(version: u16, data: &[u8], pos: usize) -> bool {
    version >= WAL_PREEXTENDED_VERSION
        && pos < data.len()
        && (data.len() as u64).is_multiple_of(PREEXTEND_ALIGN)
        && data[pos..].iter().all(|&b| b == 0)
}

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
    /// End of the last record: where the next one goes.
    written: u64,
    /// Size of the file: `written` plus the zeros laid down ahead of it.
    extended_to: u64,
    /// Where `written` is published for live integrity checks.
    extent: Option<Arc<FinishedExtent>>,
    /// Whether zeros are laid down ahead of the records (format 2 and later): a format 1
    /// segment, which a database keeps writing until it is migrated, grows with each write.
    preextend: bool,
    /// The data keys of an encrypted database: every record is sealed (version 3).
    keys: Option<Arc<KeyRing>>,
}

impl WalWriter {
    /// Creates segment `number` in `dir` and makes its header and directory entry durable.
    ///
    /// Only the header is written here: the first chunk of zeros comes with the first
    /// record, so its size change rides on that commit's sync instead of costing one more,
    /// and a crash while creating can only ever leave a short header, as before.
    #[cfg(test)]
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
    ) -> Result<Self, DatabaseError> {
        Self::create_with_version(fs, dir, number, checksum, WAL_FORMAT_VERSION)
    }

    /// [`create`](Self::create) in log format `version` (1 or 2): a database of an older
    /// format keeps its segments readable by the releases that wrote it.
    #[cfg(test)]
    pub fn create_with_version(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
        version: u16,
    ) -> Result<Self, DatabaseError> {
        Self::create_keyed(fs, dir, number, checksum, version, None)
    }

    /// Creates segment `number` in log format `version` (1 or 2: a database of an older
    /// format keeps its segments readable by the releases that wrote it); with `keys` (an
    /// encrypted database) it is a version 3 segment whose records are sealed, whatever
    /// `version` says.
    pub fn create_keyed(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
        version: u16,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<Self, DatabaseError> {
        debug_assert!((1..=WAL_FORMAT_VERSION).contains(&version));
        let version = if keys.is_some() {
            WAL_SEALED_VERSION
        } else {
            version
        };
        let path = dir.join(wal_file_name(number));
        let mut file = fs
            .create(&path)
            .map_err(|e| DatabaseError::io("create log segment", &path, &e))?;
        let header = encode_file_header(&FileHeader {
            magic: WAL_MAGIC,
            version,
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
            written: FILE_HEADER_LEN as u64,
            extended_to: FILE_HEADER_LEN as u64,
            extent: None,
            preextend: version >= WAL_PREEXTENDED_VERSION,
            keys,
        })
    }

    /// Publishes this segment's finished length to `extent` from now on (the open
    /// database's, read by live integrity checks).
    pub fn publish_to(&mut self, extent: Arc<FinishedExtent>) {
        extent.publish(self.number, self.written);
        self.extent = Some(extent);
    }

    /// Frames `payload` as one record into `out`.
    #[cfg(test)]
    pub fn frame(&self, out: &mut Vec<u8>, payload: &[u8]) {
        encode_record(out, self.checksum, payload);
    }

    /// Frames an encoded batch into `out`, stamping `first_seq` into the copy. In an
    /// encrypted database the batch is sealed for the place the record will land at:
    /// `out` must be appended at the segment's current end (as the write group does), and
    /// sealing can fail (`EncryptionFailed`) before anything is written.
    pub fn frame_batch(
        &self,
        out: &mut Vec<u8>,
        payload: &[u8],
        first_seq: u64,
    ) -> Result<(), DatabaseError> {
        match &self.keys {
            None => {
                encode_record_patched(out, self.checksum, payload, |body| {
                    set_batch_seq(body, first_seq)
                });
                Ok(())
            }
            Some(keys) => {
                // `out` is appended at the segment's end, so this record starts there.
                let offset = self.written + out.len() as u64;
                let mut body = payload.to_vec();
                set_batch_seq(&mut body, first_seq);
                let sealed = keys.seal(log_place(self.number, offset), &body)?;
                encode_record_patched(out, self.checksum, &sealed, |_| {});
                Ok(())
            }
        }
    }

    /// Writes already-framed records after the last one. They go over the zeros laid
    /// down earlier; when they reach past them, a new chunk of zeros follows them in the
    /// same go, so the next [`sync`](Self::sync) makes both durable together.
    pub fn append(&mut self, framed: &[u8]) -> Result<(), DatabaseError> {
        self.dirty = true;
        let end = self.written + framed.len() as u64;
        // Records first, zeros after: a crash that keeps only some of the two writes
        // leaves the records' prefix, a torn record, or zeros from a record boundary.
        let target = (self.preextend && end > self.extended_to).then(|| preextend_target(end));
        self.file
            .write_at(self.written, framed)
            .and_then(|()| match target {
                Some(t) => write_zeros(self.file.as_mut(), end, t),
                None => Ok(()),
            })
            .map_err(|e| DatabaseError::io("append to log", &self.path, &e))?;
        self.written = end;
        if let Some(x) = &self.extent {
            x.publish(self.number, end);
        }
        if let Some(t) = target {
            self.extended_to = t;
        }
        Ok(())
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

    /// Makes the segment durable as it will stay once it is no longer the active one:
    /// cuts the unused zeros off, then syncs (one sync for the records and the new size).
    /// Called before the next segment is created and on a clean close, so a segment that
    /// is not the newest never ends in zeros (the integrity checker reads any bad bytes
    /// there as damage), and closed databases keep log files no bigger than their records.
    pub fn seal(&mut self) -> Result<(), DatabaseError> {
        if self.extended_to > self.written {
            self.file
                .set_len(self.written)
                .map_err(|e| DatabaseError::io("trim log segment", &self.path, &e))?;
            self.extended_to = self.written;
            self.dirty = true;
        }
        self.sync()
    }

    /// Bytes of the header and the records written: what the segment holds, not counting
    /// the zeros laid down ahead (see [`file_len`](Self::file_len)).
    /// Seals the records framed from now on with `keys` (a rotated ring, already written
    /// to `KEYS`, holding every generation of the old one). Plain segments stay plain.
    pub fn set_keys(&mut self, keys: Arc<KeyRing>) {
        if self.keys.is_some() {
            self.keys = Some(keys);
        }
    }

    pub fn len(&self) -> u64 {
        self.written
    }

    /// Size of the segment file: [`len`](Self::len) plus the zeros laid down ahead.
    #[cfg(test)]
    pub fn file_len(&self) -> u64 {
        self.extended_to.max(self.written)
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
    /// Zeros after the last record that the writer laid down ahead of its records
    /// (version 2): unused space, not data, so neither torn tail nor damage.
    pub zero_tail_bytes: u64,
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
/// operations. Unused pre-extension zeros end the log cleanly (version 2, see the
/// [module documentation](self)); a bad record with no good record after it in the last
/// segment is a torn tail and is cut off; any other damage is `WalCorrupted` naming file
/// and offset.
#[cfg(any(test, feature = "testing"))]
pub fn replay_segment(
    fs: &dyn FileSystem,
    path: &Path,
    is_last: bool,
    mut apply: impl FnMut(u64, &[OpRef<'_>]) -> Result<(), DatabaseError>,
) -> Result<SegmentReplay, DatabaseError> {
    replay_segment_at(fs, path, is_last, |first_seq, ops, _| apply(first_seq, ops))
}

/// [`replay_segment`], also telling `apply` the offset just past each record (so a
/// caller can report how far a long replay has come).
#[cfg(any(test, feature = "testing"))]
pub fn replay_segment_at(
    fs: &dyn FileSystem,
    path: &Path,
    is_last: bool,
    apply: impl FnMut(u64, &[OpRef<'_>], u64) -> Result<(), DatabaseError>,
) -> Result<SegmentReplay, DatabaseError> {
    replay_segment_keyed(fs, path, is_last, None, apply)
}

/// The error for a plain (unsealed) file found in an encrypted database.
pub(crate) fn unsealed_in_encrypted(path: &Path, what: &str) -> DatabaseError {
    DatabaseError::SecurityError(crate::error::SecurityError::DecryptionFailed {
        reason: format!(
            "{} is an unencrypted {what} in an encrypted database (only someone without the \
             key writes one)",
            path.display()
        ),
    })
}

/// [`replay_segment_at`] with the data keys of an encrypted database: version 3
/// segments' records are opened with `keys` (without them such a segment is refused
/// with the `key_needed` error), and a record that fails authentication is
/// `DecryptionFailed` naming the segment and offset.
pub fn replay_segment_keyed(
    fs: &dyn FileSystem,
    path: &Path,
    is_last: bool,
    keys: Option<&KeyRing>,
    mut apply: impl FnMut(u64, &[OpRef<'_>], u64) -> Result<(), DatabaseError>,
) -> Result<SegmentReplay, DatabaseError> {
    let data = fs
        .read_all(path)
        .map_err(|e| DatabaseError::io("read log segment", path, &e))?;
    let header = match decode_file_header(&data, WAL_MAGIC) {
        Ok(h) => h,
        // A crash while creating the newest segment can leave its header incomplete.
        Err(_) if is_last && data.len() <= FILE_HEADER_LEN => {
            return Ok(SegmentReplay {
                torn_tail_bytes: data.len() as u64,
                ..SegmentReplay::default()
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
    if header.version == 0 || header.version > NEWEST_WAL_VERSION {
        return Err(DatabaseError::UnsupportedFormatVersion {
            component: format!("log segment {}", path.display()),
            found: u32::from(header.version),
            supported_max: u32::from(NEWEST_WAL_VERSION),
        });
    }
    let keys = match (header.version == WAL_SEALED_VERSION, keys) {
        (true, None) => return Err(key_needed(path)),
        (true, Some(k)) => Some(k),
        // An encrypted database writes only sealed segments: a plain one was put there by
        // someone without the key (its checksums are not keyed), and replaying it would
        // let them write data.
        (false, Some(_)) => return Err(unsealed_in_encrypted(path, "log segment")),
        (false, None) => None,
    };
    // The number in the file's name, not the header's (which a copy would keep): a
    // segment copied under another number fails authentication.
    let number = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".log"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(header.number);
    let mut out = SegmentReplay::default();
    let mut pos = FILE_HEADER_LEN;
    loop {
        match read_record(&data, pos, header.checksum) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                let opened;
                let payload = match keys {
                    Some(k) => {
                        opened = k.open(path, log_place(number, pos as u64), payload)?;
                        &opened[..]
                    }
                    None => payload,
                };
                let (first_seq, ops) = decode_batch(payload).ok_or_else(|| {
                    wal_corrupted(path, pos, "record checksum ok but batch malformed")
                })?;
                apply(first_seq, &ops, next as u64)?;
                out.records += 1;
                pos = next;
            }
            RecordRead::Bad(why) => {
                // Checked first: zeros hold no good record, so this only tells the
                // writer's unused space (a clean end) from a torn tail.
                if is_preextension_tail(header.version, &data, pos) {
                    out.zero_tail_bytes = (data.len() - pos) as u64;
                    break;
                }
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
        // As a closed database leaves it: no zeros after the records.
        w.seal().expect("seal");
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

    // ----- pre-extension (format version 2) ------------------------------------------

    use crate::storage::record::RECORD_HEADER_LEN;
    use crate::testing::{CutMode, Fill, PowerCutPolicy, SimFileSystem};

    const ALGORITHMS: [ChecksumAlgorithm; 3] = [
        ChecksumAlgorithm::Blake3,
        ChecksumAlgorithm::Xxh64,
        ChecksumAlgorithm::Crc32,
    ];

    fn framed(w: &WalWriter, seq: u64, value: &[u8]) -> Vec<u8> {
        let payload = encode_batch(
            seq,
            [OpRef {
                key: b"key",
                value: Some(value),
            }]
            .into_iter(),
        );
        let mut buf = Vec::new();
        w.frame(&mut buf, &payload);
        buf
    }

    /// Replays `path`, returning the sequence numbers applied and the outcome.
    fn replay(
        fs: &dyn FileSystem,
        path: &Path,
        is_last: bool,
    ) -> Result<(Vec<u64>, SegmentReplay), DatabaseError> {
        let mut seqs = Vec::new();
        let r = replay_segment(fs, path, is_last, |seq, _| {
            seqs.push(seq);
            Ok(())
        })?;
        Ok((seqs, r))
    }

    /// A segment with `n` synced one-put records, left pre-extended (not sealed), as a
    /// crash leaves it. Returns the writer's record length and the path.
    fn preextended_segment(fs: &dyn FileSystem, dir: &Path, n: u64) -> (u64, PathBuf) {
        let mut w = WalWriter::create(fs, dir, 9, ChecksumAlgorithm::Xxh64).expect("create");
        for seq in 1..=n {
            let rec = framed(&w, seq, &[seq as u8; 40]);
            w.append(&rec).expect("append");
            w.sync().expect("sync");
        }
        (w.len(), w.path.clone())
    }

    #[test]
    fn zeros_never_read_as_a_record() {
        // What makes a zero tail distinguishable at all: a zero length fails its check.
        let zeros = [0u8; 3 * RECORD_HEADER_LEN];
        for algo in ALGORITHMS {
            for pos in 0..RECORD_HEADER_LEN {
                assert!(
                    matches!(read_record(&zeros, pos, algo), RecordRead::Bad(_)),
                    "{algo:?} at {pos}"
                );
            }
            assert!(!any_good_record_after(&zeros, 0, algo), "{algo:?}");
        }
    }

    #[test]
    fn preextension_chunks_grow_with_the_segment_and_stay_aligned() {
        let mut last = 0;
        for end in [
            25,
            100,
            4096,
            4097,
            10_000,
            70_000,
            600_000,
            5 << 20,
            100 << 20,
        ] {
            let t = preextend_target(end);
            assert!(t > end, "{end}");
            assert_eq!(t % PREEXTEND_ALIGN, 0, "{end}");
            assert!(t - end >= PREEXTEND_MIN, "{end}");
            assert!(t - end <= PREEXTEND_MAX + PREEXTEND_ALIGN, "{end}");
            assert!(t >= last);
            last = t;
        }
        // About as much again as the segment holds, while below the cap.
        assert!(preextend_target(100_000) >= 200_000);
    }

    #[test]
    fn zero_tail_is_a_clean_end_and_len_counts_records_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let mut w = WalWriter::create(&fs, dir.path(), 4, ChecksumAlgorithm::Crc32).expect("c");
        assert_eq!(w.len(), FILE_HEADER_LEN as u64);
        assert_eq!(
            w.file_len(),
            FILE_HEADER_LEN as u64,
            "zeros come with the first record"
        );
        let mut expect_len = FILE_HEADER_LEN as u64;
        for seq in 1..=200u64 {
            let rec = framed(&w, seq, &[seq as u8; 100]);
            expect_len += rec.len() as u64;
            w.append(&rec).expect("append");
            w.sync().expect("sync");
            assert_eq!(w.len(), expect_len, "len is the records' bytes");
            let on_disk = fs.file_size(&w.path).expect("size");
            assert_eq!(on_disk, w.file_len());
            assert!(on_disk > w.len() && on_disk.is_multiple_of(PREEXTEND_ALIGN));
        }
        let path = w.path.clone();
        for is_last in [true, false] {
            let (seqs, r) = replay(&fs, &path, is_last).expect("a zero tail is no damage");
            assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
            assert_eq!(r.torn_tail_bytes, 0, "is_last {is_last}");
            assert_eq!(r.valid_len, w.len());
            assert_eq!(r.zero_tail_bytes, w.file_len() - w.len());
        }
        // Sealing cuts the zeros: the file is exactly the records, read as before.
        w.seal().expect("seal");
        assert_eq!(fs.file_size(&path).expect("size"), w.len());
        assert_eq!(w.file_len(), w.len());
        let (seqs, r) = replay(&fs, &path, false).expect("sealed");
        assert_eq!(seqs.len(), 200);
        assert_eq!((r.torn_tail_bytes, r.zero_tail_bytes), (0, 0));
        // A sealed segment still takes records (and zeros again).
        let rec = framed(&w, 201, b"after seal");
        w.append(&rec).expect("append");
        w.sync().expect("sync");
        assert!(w.file_len() > w.len());
        assert_eq!(replay(&fs, &path, true).expect("reopened").0.len(), 201);
    }

    #[test]
    fn damage_before_real_records_is_still_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let (len, path) = preextended_segment(&fs, dir.path(), 5);
        let full = fs.read_all(&path).expect("read");
        let record = (len as usize - FILE_HEADER_LEN) / 5;
        let corrupted = |data: &[u8], is_last: bool| {
            std::fs::write(&path, data).expect("write");
            matches!(
                replay(&fs, &path, is_last),
                Err(DatabaseError::WalCorrupted { .. })
            )
        };
        // A flipped bit, or a hole of zeros, with intact records after it: reported in
        // every segment, zero tail or not.
        for victim in [0, 2, 3] {
            let at = FILE_HEADER_LEN + victim * record;
            let mut flipped = full.clone();
            flipped[at + RECORD_HEADER_LEN + 3] ^= 0x04;
            let mut holed = full.clone();
            holed[at..at + record].fill(0);
            let mut header_zeroed = full.clone();
            header_zeroed[at..at + RECORD_HEADER_LEN].fill(0);
            for data in [&flipped, &holed, &header_zeroed] {
                assert!(corrupted(data, true), "record {victim}");
                assert!(corrupted(data, false), "record {victim}");
            }
        }
        // Damage to the last record followed by the zeros: a torn tail in the newest
        // segment (cut, the zeros with it), corruption in an older one, as in version 1.
        let at = FILE_HEADER_LEN + 4 * record;
        let mut last_flipped = full.clone();
        last_flipped[at + RECORD_HEADER_LEN + 1] ^= 0x80;
        assert!(corrupted(&last_flipped, false));
        let (seqs, r) = replay(&fs, &path, true).expect("torn tail");
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        assert_eq!(r.torn_tail_bytes, (full.len() - at) as u64);
        assert_eq!(r.zero_tail_bytes, 0);
        // Zeros that do not end on the writer's boundary are not its zeros: version 1
        // rules (a torn tail in the newest segment, damage in an older one).
        for cut in [1, 100, PREEXTEND_ALIGN as usize - 1] {
            let short = &full[..full.len() - cut];
            assert!(corrupted(short, false), "cut {cut}");
            let (seqs, r) = replay(&fs, &path, true).expect("torn");
            assert_eq!(seqs.len(), 5);
            assert_eq!(r.torn_tail_bytes, (short.len() - len as usize) as u64);
        }
        // Non-zero bytes anywhere in the tail: not unused space.
        let mut dirty_tail = full.clone();
        *dirty_tail.last_mut().expect("byte") = 1;
        assert!(corrupted(&dirty_tail, false));
        assert_eq!(replay(&fs, &path, true).expect("torn").1.zero_tail_bytes, 0);
    }

    #[test]
    fn version_1_segments_keep_the_version_1_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let algo = ChecksumAlgorithm::Xxh64;
        let mut data = encode_file_header(&FileHeader {
            magic: WAL_MAGIC,
            version: 1,
            checksum: algo,
            number: 3,
        });
        for seq in 1..=3u64 {
            let payload = encode_batch(
                seq,
                [OpRef {
                    key: b"k",
                    value: Some(b"v1"),
                }]
                .into_iter(),
            );
            encode_record(&mut data, algo, &payload);
        }
        let records_end = data.len();
        let path = dir.path().join(wal_file_name(3));
        std::fs::write(&path, &data).expect("write");
        let (seqs, r) = replay(&fs, &path, false).expect("an old segment opens");
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(r.valid_len, records_end as u64);
        // The same zeros a version 2 writer leaves are, in version 1, a torn tail.
        data.resize(PREEXTEND_ALIGN as usize, 0);
        std::fs::write(&path, &data).expect("write");
        let (seqs, r) = replay(&fs, &path, true).expect("torn tail");
        assert_eq!(seqs.len(), 3);
        assert_eq!(r.torn_tail_bytes, (data.len() - records_end) as u64);
        assert_eq!(r.zero_tail_bytes, 0);
        assert!(matches!(
            replay(&fs, &path, false),
            Err(DatabaseError::WalCorrupted { .. })
        ));
        // And a version this build does not know is refused, not guessed at.
        let mut future = encode_file_header(&FileHeader {
            magic: WAL_MAGIC,
            version: NEWEST_WAL_VERSION + 1,
            checksum: algo,
            number: 3,
        });
        future.extend_from_slice(&data[FILE_HEADER_LEN..records_end]);
        std::fs::write(&path, &future).expect("write");
        assert!(matches!(
            replay(&fs, &path, true),
            Err(DatabaseError::UnsupportedFormatVersion { .. })
        ));
    }

    #[test]
    fn sealed_segments_replay_with_the_keys_and_refuse_forgeries() {
        use crate::error::SecurityError;
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let keys = Arc::new(KeyRing::create(1).expect("ring"));
        let algo = ChecksumAlgorithm::Crc32;
        let mut w = WalWriter::create_keyed(
            &fs,
            dir.path(),
            9,
            algo,
            WAL_FORMAT_VERSION,
            Some(Arc::clone(&keys)),
        )
        .expect("create");
        let mut buf = Vec::new();
        for seq in 1..=3u64 {
            let payload = encode_batch(
                0,
                [OpRef {
                    key: b"secret-key",
                    value: Some(b"secret-value"),
                }]
                .into_iter(),
            );
            w.frame_batch(&mut buf, &payload, seq).expect("seal");
        }
        w.append(&buf).expect("append");
        w.seal().expect("seal");
        let path = w.path.clone();
        let data = fs.read_all(&path).expect("read");
        assert_eq!(
            decode_file_header(&data, WAL_MAGIC)
                .expect("header")
                .version,
            WAL_SEALED_VERSION
        );
        assert!(!data.windows(6).any(|x| x == b"secret"));
        let replay = |keys: Option<&KeyRing>, is_last: bool| {
            let mut seqs = Vec::new();
            replay_segment_keyed(&fs, &path, is_last, keys, |seq, ops, _| {
                assert_eq!(ops[0].key, b"secret-key");
                seqs.push(seq);
                Ok(())
            })
            .map(|_| seqs)
        };
        assert_eq!(replay(Some(&keys), true).expect("replay"), vec![1, 2, 3]);
        assert!(matches!(
            replay(None, true),
            Err(DatabaseError::ConfigurationError { ref field, .. }) if field == "security.encryption_key"
        ));
        // A torn tail is still a torn tail (the checksum covers the sealed bytes).
        std::fs::write(&path, &data[..data.len() - 5]).expect("write");
        assert_eq!(replay(Some(&keys), true).expect("torn"), vec![1, 2]);
        // A record forged with a recomputed checksum fails authentication, even last.
        let len = u32::from_le_bytes(
            data[FILE_HEADER_LEN..FILE_HEADER_LEN + 4]
                .try_into()
                .expect("4"),
        ) as usize;
        let second = FILE_HEADER_LEN + RECORD_HEADER_LEN + len;
        let mut forged = data.clone();
        forged[second + RECORD_HEADER_LEN + 10] ^= 1;
        let body = second + RECORD_HEADER_LEN;
        let len_bytes: [u8; 4] = forged[second..second + 4].try_into().expect("4");
        let sum = crate::checksum::checksum64_parts(algo, &[&len_bytes, &forged[body..body + len]]);
        forged[second + 8..second + 16].copy_from_slice(&sum.to_le_bytes());
        std::fs::write(&path, &forged).expect("write");
        match replay(Some(&keys), true) {
            Err(DatabaseError::SecurityError(SecurityError::DecryptionFailed { reason })) => {
                assert!(reason.contains(&format!("offset {second}")), "{reason}")
            }
            other => panic!("expected DecryptionFailed, got {other:?}"),
        }
        // The same segment under another number: every record fails.
        std::fs::write(&path, &data).expect("write");
        let copy = dir.path().join(wal_file_name(10));
        std::fs::copy(&path, &copy).expect("copy");
        assert!(matches!(
            replay_segment_keyed(&fs, &copy, true, Some(&keys), |_, _, _| Ok(())),
            Err(DatabaseError::SecurityError(
                SecurityError::DecryptionFailed { .. }
            ))
        ));
    }

    #[test]
    fn a_version_1_writer_grows_with_its_records_and_writes_version_1() {
        // What a database of format 1 keeps writing until it is migrated: no zeros
        // ahead of the records (the version 1 reader would take them for a torn tail).
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let mut w = WalWriter::create_with_version(&fs, dir.path(), 5, ChecksumAlgorithm::Xxh64, 1)
            .expect("create");
        for seq in 1..=300u64 {
            let rec = framed(&w, seq, &[seq as u8; 70]);
            w.append(&rec).expect("append");
            w.sync().expect("sync");
            assert_eq!(fs.file_size(&w.path).expect("size"), w.len(), "no zeros");
        }
        w.seal().expect("seal");
        let data = fs.read_all(&w.path).expect("read");
        let header = decode_file_header(&data, WAL_MAGIC).expect("header");
        assert_eq!(header.version, 1);
        for is_last in [true, false] {
            let (seqs, r) = replay(&fs, &w.path, is_last).expect("replay");
            assert_eq!(seqs.len(), 300);
            assert_eq!((r.torn_tail_bytes, r.zero_tail_bytes), (0, 0));
        }
    }

    /// Power cuts while a record and the chunk of zeros after it are unsynced, under every
    /// cut mode and fill: the newest segment always reads back (never corruption) as the
    /// synced records plus possibly the unsynced one, and takes new records afterwards.
    #[test]
    fn reopen_after_a_crash_mid_preextension() {
        let dir = PathBuf::from("/wal");
        let modes = [
            CutMode::KeepAll,
            CutMode::DropAll,
            CutMode::Prefix,
            CutMode::Subset,
        ];
        let mut outcomes = [0usize; 3];
        for seed in 0..160u64 {
            let policy = PowerCutPolicy {
                mode: modes[(seed % 4) as usize],
                sector: Some(if seed % 8 < 4 { 512 } else { 4096 }),
                fill: if seed % 16 < 8 {
                    Fill::Zeros
                } else {
                    Fill::Garbage
                },
            };
            let sim = SimFileSystem::new();
            let fs = sim.handle();
            fs.create_dir_all(&dir).expect("mkdir");
            let mut w =
                WalWriter::create(fs.as_ref(), &dir, 1, ChecksumAlgorithm::Crc32).expect("create");
            // Synced records until the next one must lay down a new chunk: the first
            // chunk for some seeds, a later one for others.
            let chunks = 1 + seed % 3;
            let mut seq = 0;
            let mut grown = 0;
            loop {
                seq += 1;
                let rec = framed(&w, seq, &vec![seq as u8; 90 + (seed % 50) as usize]);
                let grows = w.len() + rec.len() as u64 > w.file_len();
                if grows && grown == chunks {
                    let before = w.file_len();
                    w.append(&rec).expect("append");
                    assert!(w.file_len() > before, "a new chunk was laid down");
                    break;
                }
                grown += u64::from(grows);
                w.append(&rec).expect("append");
                w.sync().expect("sync");
            }
            let synced = seq - 1;
            let path = w.path.clone();
            sim.power_cut_with(seed, policy);
            drop(w);
            let fs = sim.handle();
            let (seqs, r) = replay(fs.as_ref(), &path, true).unwrap_or_else(|e| {
                panic!("seed {seed} {policy:?}: a crash mid-extension is not damage: {e}")
            });
            assert!(
                seqs == (1..=synced).collect::<Vec<_>>()
                    || seqs == (1..=synced + 1).collect::<Vec<_>>(),
                "seed {seed} {policy:?}: {} records of {synced} synced",
                seqs.len()
            );
            outcomes[match (r.torn_tail_bytes > 0, r.zero_tail_bytes > 0) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            }] += 1;
            // Recovery never appends to an old segment; a new one next to it works.
            let mut next = WalWriter::create(fs.as_ref(), &dir, 2, ChecksumAlgorithm::Crc32)
                .expect("next segment");
            let rec = framed(&next, seq + 1, b"after the crash");
            next.append(&rec).expect("append");
            next.sync().expect("sync");
            assert_eq!(
                replay(fs.as_ref(), &next.path, true).expect("next").0.len(),
                1
            );
            // Unused zeros end an older segment cleanly too. (A torn one never becomes
            // older: the recovery that cuts it retires it in a fresh manifest.)
            if r.torn_tail_bytes == 0 {
                let (again, _) = replay(fs.as_ref(), &path, false)
                    .unwrap_or_else(|e| panic!("seed {seed} {policy:?}: as an older segment: {e}"));
                assert_eq!(again, seqs, "seed {seed}");
            }
        }
        // Every kind of ending was seen: torn record, unused zeros, exact end.
        assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
    }
}
