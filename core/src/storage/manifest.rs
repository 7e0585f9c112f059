//! The manifest: a log of version edits saying which table files make up the
//! database, and `CURRENT`, which names the live manifest.
//!
//! Manifests use the framing of [`super::record`] (magic "LMAN"). Each record is one
//! [`VersionEdit`]; the first record of a manifest is a full snapshot of the state.
//! An encrypted database's manifests (format version 2) seal every record's payload,
//! since edits hold the tables' smallest and largest keys.

use std::path::Path;
use std::sync::Arc;

use super::coding::{put_len_prefixed, put_varint, Reader};
use super::crypto::{key_needed, FileKind, KeyRing, SealPlace};
use super::fs::{write_file_atomic, FileSystem, WritableFile};
use super::record::{
    any_good_record_after, decode_file_header, encode_file_header, encode_record, read_record,
    FileHeader, FinishedExtent, RecordRead, FILE_HEADER_LEN,
};
use super::table::builder::TableMeta;
use crate::checksum::ChecksumAlgorithm;
use crate::error::DatabaseError;

/// Magic number of manifests ("LMAN").
pub const MANIFEST_MAGIC: u32 = 0x4e41_4d4c;
/// Current manifest format version.
pub const MANIFEST_FORMAT_VERSION: u16 = 1;
/// The manifest format version of an encrypted database: version 1 with every record
/// (they hold the tables' smallest and largest keys) sealed for its manifest and offset;
/// the checksum covers the sealed bytes.
pub const MANIFEST_SEALED_VERSION: u16 = 2;

/// Where the record at `offset` of manifest `number` is sealed for.
pub(crate) fn manifest_place(number: u64, offset: u64) -> SealPlace {
    SealPlace {
        kind: FileKind::Manifest,
        file: number,
        offset,
        format_version: u32::from(MANIFEST_SEALED_VERSION),
        // Manifest numbers are file numbers, never reused.
        instance: 0,
    }
}
/// The pointer file's name.
pub const CURRENT_FILE: &str = "CURRENT";

/// The file name of manifest `n`.
pub fn manifest_file_name(n: u64) -> String {
    format!("MANIFEST-{n:06}")
}

const TAG_LOG_NUMBER: u8 = 1;
const TAG_NEXT_FILE: u8 = 2;
const TAG_LAST_SEQ: u8 = 3;
const TAG_DELETE_FILE: u8 = 4;
const TAG_NEW_FILE: u8 = 5;

/// One change to the set of live files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Log segments below this number are no longer needed.
    pub log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The largest sequence number made durable in tables.
    pub last_sequence: Option<u64>,
    /// (level, file number) of removed tables.
    pub deleted: Vec<(usize, u64)>,
    /// (level, metadata) of added tables.
    pub added: Vec<(usize, TableMeta)>,
}

impl VersionEdit {
    /// Encodes the edit as a record payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(n) = self.log_number {
            out.push(TAG_LOG_NUMBER);
            put_varint(&mut out, n);
        }
        if let Some(n) = self.next_file_number {
            out.push(TAG_NEXT_FILE);
            put_varint(&mut out, n);
        }
        if let Some(n) = self.last_sequence {
            out.push(TAG_LAST_SEQ);
            put_varint(&mut out, n);
        }
        for &(level, number) in &self.deleted {
            out.push(TAG_DELETE_FILE);
            put_varint(&mut out, level as u64);
            put_varint(&mut out, number);
        }
        for (level, m) in &self.added {
            out.push(TAG_NEW_FILE);
            put_varint(&mut out, *level as u64);
            put_varint(&mut out, m.number);
            put_varint(&mut out, m.file_size);
            put_len_prefixed(&mut out, &m.smallest);
            put_len_prefixed(&mut out, &m.largest);
            put_varint(&mut out, m.min_seq);
            put_varint(&mut out, m.max_seq);
            put_varint(&mut out, m.entries);
            put_varint(&mut out, m.tombstones);
        }
        out
    }

    /// Decodes a record payload; `None` when malformed.
    pub fn decode(data: &[u8]) -> Option<VersionEdit> {
        let mut r = Reader::new(data);
        let mut e = VersionEdit::default();
        while r.remaining() > 0 {
            match r.u8()? {
                TAG_LOG_NUMBER => e.log_number = Some(r.varint()?),
                TAG_NEXT_FILE => e.next_file_number = Some(r.varint()?),
                TAG_LAST_SEQ => e.last_sequence = Some(r.varint()?),
                TAG_DELETE_FILE => {
                    let level = usize::try_from(r.varint()?).ok()?;
                    e.deleted.push((level, r.varint()?));
                }
                TAG_NEW_FILE => {
                    let level = usize::try_from(r.varint()?).ok()?;
                    let meta = TableMeta {
                        number: r.varint()?,
                        file_size: r.varint()?,
                        smallest: r.len_prefixed()?.to_vec(),
                        largest: r.len_prefixed()?.to_vec(),
                        min_seq: r.varint()?,
                        max_seq: r.varint()?,
                        entries: r.varint()?,
                        tombstones: r.varint()?,
                    };
                    e.added.push((level, meta));
                }
                _ => return None,
            }
        }
        Some(e)
    }
}

/// An open manifest being appended to.
pub struct ManifestWriter {
    file: Box<dyn WritableFile>,
    /// Manifest number.
    pub number: u64,
    checksum: ChecksumAlgorithm,
    path: std::path::PathBuf,
    /// Where the finished length is published for live integrity checks.
    extent: Option<Arc<FinishedExtent>>,
    /// The data keys of an encrypted database: every record is sealed.
    keys: Option<Arc<KeyRing>>,
}

impl ManifestWriter {
    /// Writes a new manifest whose first record is `snapshot`, syncs it, then points
    /// `CURRENT` at it (temporary name, sync, rename, directory sync).
    /// Every record is sealed by `keys` when set (an encrypted database's manifest,
    /// format version 2).
    pub fn create_keyed(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
        snapshot: &VersionEdit,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<Self, DatabaseError> {
        let writer = Self::create_unlinked_keyed(fs, dir, number, checksum, snapshot, keys)?;
        set_current(fs, dir, number)?;
        Ok(writer)
    }

    /// Writes and syncs a new manifest whose first record is `snapshot` without pointing
    /// `CURRENT` at it, sealing every record with `keys` when set: a migration builds its
    /// manifest so, and switches `CURRENT` once everything the manifest names is durable
    /// (see [`set_current`]).
    pub fn create_unlinked_keyed(
        fs: &dyn FileSystem,
        dir: &Path,
        number: u64,
        checksum: ChecksumAlgorithm,
        snapshot: &VersionEdit,
        keys: Option<Arc<KeyRing>>,
    ) -> Result<Self, DatabaseError> {
        let path = dir.join(manifest_file_name(number));
        let mut buf = encode_file_header(&FileHeader {
            magic: MANIFEST_MAGIC,
            version: if keys.is_some() {
                MANIFEST_SEALED_VERSION
            } else {
                MANIFEST_FORMAT_VERSION
            },
            checksum,
            number,
        });
        let at = buf.len() as u64;
        encode_record(
            &mut buf,
            checksum,
            &seal_edit(keys.as_deref(), number, at, snapshot)?,
        );
        let mut file = fs
            .create(&path)
            .map_err(|e| DatabaseError::io("create manifest", &path, &e))?;
        file.append(&buf)
            .and_then(|()| file.sync_data())
            .map_err(|e| DatabaseError::io("write manifest", &path, &e))?;
        Ok(Self {
            file,
            number,
            checksum,
            path,
            extent: None,
            keys,
        })
    }

    /// Appends an edit and makes it durable before returning.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<(), DatabaseError> {
        let mut buf = Vec::new();
        let at = self.file.len();
        let record = seal_edit(self.keys.as_deref(), self.number, at, edit)?;
        encode_record(&mut buf, self.checksum, &record);
        self.file
            .append(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| DatabaseError::io("append to manifest", &self.path, &e))?;
        if let Some(x) = &self.extent {
            x.publish(self.number, self.file.len());
        }
        Ok(())
    }

    /// Publishes the finished length to `extent` from now on (the open database's, read
    /// by live integrity checks).
    /// Seals the records appended from now on with `keys` (a rotated ring, already
    /// written to `KEYS`). A plain manifest stays plain.
    pub fn set_keys(&mut self, keys: Arc<KeyRing>) {
        if self.keys.is_some() {
            self.keys = Some(keys);
        }
    }

    pub fn publish_to(&mut self, extent: Arc<FinishedExtent>) {
        extent.publish(self.number, self.file.len());
        self.extent = Some(extent);
    }
}

/// Points `CURRENT` at manifest `number` (temporary name, sync, rename, directory sync):
/// the one rename that makes a new manifest the live one.
/// The record payload of `edit` at `offset` of manifest `number`: sealed with `keys`
/// when set, plain otherwise.
fn seal_edit(
    keys: Option<&KeyRing>,
    number: u64,
    offset: u64,
    edit: &VersionEdit,
) -> Result<Vec<u8>, DatabaseError> {
    let plain = edit.encode();
    match keys {
        Some(k) => k.seal(manifest_place(number, offset), &plain),
        None => Ok(plain),
    }
}

pub fn set_current(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<(), DatabaseError> {
    let current = dir.join(CURRENT_FILE);
    write_file_atomic(
        fs,
        &current,
        format!("{}\n", manifest_file_name(number)).as_bytes(),
    )
    .map_err(|e| DatabaseError::io("write CURRENT", &current, &e))
}

fn manifest_corrupted(path: &Path, offset: usize, what: &str) -> DatabaseError {
    DatabaseError::ManifestCorrupted {
        details: format!("{} at offset {offset}: {what}", path.display()),
        suggested_action: "run `lightning repair` to rebuild the manifest from the table files"
            .to_string(),
    }
}

/// Reads `CURRENT` and returns the live manifest's number, or `None` for a new database.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<u64>, DatabaseError> {
    let current = dir.join(CURRENT_FILE);
    if !fs.exists(&current) {
        return Ok(None);
    }
    let data = fs
        .read_all(&current)
        .map_err(|e| DatabaseError::io("read CURRENT", &current, &e))?;
    let text = std::str::from_utf8(&data).unwrap_or("");
    let number = text
        .strip_suffix('\n')
        .and_then(|t| t.strip_prefix("MANIFEST-"))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| DatabaseError::CurrentFileInvalid {
            details: format!("{} does not name a manifest: {text:?}", current.display()),
        })?;
    if !fs.exists(&dir.join(manifest_file_name(number))) {
        return Err(DatabaseError::CurrentFileInvalid {
            details: format!(
                "{} names {} which does not exist",
                current.display(),
                manifest_file_name(number)
            ),
        });
    }
    Ok(Some(number))
}

/// Reads every edit of manifest `number`. A torn last record (a crash during an
/// append that was never acknowledged) is ignored; other damage is `ManifestCorrupted`.
#[cfg(any(test, feature = "testing"))]
pub fn read_manifest(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
) -> Result<Vec<VersionEdit>, DatabaseError> {
    read_manifest_keyed(fs, dir, number, None)
}

/// [`read_manifest`] with the data keys of an encrypted database: a sealed manifest's
/// records are opened with `keys` (without them it is refused with the `key_needed`
/// error), and a record whose checksum holds but which fails authentication is
/// `DecryptionFailed` naming the manifest and offset (never dropped as a torn tail).
pub fn read_manifest_keyed(
    fs: &dyn FileSystem,
    dir: &Path,
    number: u64,
    keys: Option<&KeyRing>,
) -> Result<Vec<VersionEdit>, DatabaseError> {
    let path = dir.join(manifest_file_name(number));
    let data = fs
        .read_all(&path)
        .map_err(|e| DatabaseError::io("read manifest", &path, &e))?;
    let header = decode_file_header(&data, MANIFEST_MAGIC)
        .map_err(|e| manifest_corrupted(&path, 0, &format!("bad header: {e:?}")))?;
    if header.version == 0 || header.version > MANIFEST_SEALED_VERSION {
        return Err(DatabaseError::UnsupportedFormatVersion {
            component: format!("manifest {}", path.display()),
            found: u32::from(header.version),
            supported_max: u32::from(MANIFEST_SEALED_VERSION),
        });
    }
    let keys = match (header.version == MANIFEST_SEALED_VERSION, keys) {
        (true, None) => return Err(key_needed(&path)),
        (true, Some(k)) => Some(k),
        // An encrypted database writes only sealed manifests (see the log's rule).
        (false, Some(_)) => return Err(super::wal::unsealed_in_encrypted(&path, "manifest")),
        (false, None) => None,
    };
    let mut edits = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    loop {
        match read_record(&data, pos, header.checksum) {
            RecordRead::End => break,
            RecordRead::Ok(payload, next) => {
                let opened;
                let payload = match keys {
                    Some(k) => {
                        opened = k.open(&path, manifest_place(number, pos as u64), payload)?;
                        &opened[..]
                    }
                    None => payload,
                };
                let edit = VersionEdit::decode(payload)
                    .ok_or_else(|| manifest_corrupted(&path, pos, "malformed version edit"))?;
                edits.push(edit);
                pos = next;
            }
            RecordRead::Bad(why) => {
                if !edits.is_empty() && !any_good_record_after(&data, pos, header.checksum) {
                    break;
                }
                return Err(manifest_corrupted(&path, pos, why));
            }
        }
    }
    if edits.is_empty() {
        return Err(manifest_corrupted(
            &path,
            FILE_HEADER_LEN,
            "no snapshot record",
        ));
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::StdFileSystem;

    fn meta(n: u64) -> TableMeta {
        TableMeta {
            number: n,
            file_size: 100,
            smallest: b"a".to_vec(),
            largest: vec![0xff, 0xff],
            min_seq: 1,
            max_seq: 9,
            entries: 5,
            tombstones: 1,
        }
    }

    #[test]
    fn edits_round_trip_through_a_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let snap = VersionEdit {
            log_number: Some(4),
            next_file_number: Some(10),
            last_sequence: Some(99),
            deleted: vec![],
            added: vec![(0, meta(5)), (1, meta(6))],
        };
        let mut w = ManifestWriter::create_keyed(
            &fs,
            dir.path(),
            7,
            ChecksumAlgorithm::Blake3,
            &snap,
            None,
        )
        .expect("create");
        let edit = VersionEdit {
            deleted: vec![(0, 5)],
            added: vec![(1, meta(8))],
            ..Default::default()
        };
        w.append(&edit).expect("append");
        assert_eq!(read_current(&fs, dir.path()).expect("current"), Some(7));
        let edits = read_manifest(&fs, dir.path(), 7).expect("read");
        assert_eq!(edits, vec![snap, edit]);
        assert_eq!(VersionEdit::decode(&[99]), None);
    }

    #[test]
    fn sealed_manifests_need_their_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let keys = Arc::new(KeyRing::create(1).expect("ring"));
        let snap = VersionEdit {
            log_number: Some(4),
            next_file_number: Some(10),
            last_sequence: Some(99),
            deleted: vec![],
            added: vec![(
                0,
                TableMeta {
                    smallest: b"secret-smallest".to_vec(),
                    ..meta(5)
                },
            )],
        };
        let mut w = ManifestWriter::create_keyed(
            &fs,
            dir.path(),
            7,
            ChecksumAlgorithm::Xxh64,
            &snap,
            Some(Arc::clone(&keys)),
        )
        .expect("create");
        let edit = VersionEdit {
            added: vec![(1, meta(8))],
            ..Default::default()
        };
        w.append(&edit).expect("append");
        let raw = std::fs::read(dir.path().join(manifest_file_name(7))).expect("read");
        assert!(!raw.windows(6).any(|x| x == b"secret"), "plaintext key");
        assert_eq!(
            read_manifest_keyed(&fs, dir.path(), 7, Some(&keys)).expect("read"),
            vec![snap, edit]
        );
        assert!(matches!(
            read_manifest(&fs, dir.path(), 7),
            Err(DatabaseError::ConfigurationError { .. })
        ));
        let other = KeyRing::create(1).expect("ring");
        assert!(matches!(
            read_manifest_keyed(&fs, dir.path(), 7, Some(&other)),
            Err(DatabaseError::SecurityError(
                crate::error::SecurityError::DecryptionFailed { .. }
            ))
        ));
    }

    #[test]
    fn bad_current_is_a_typed_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        assert_eq!(read_current(&fs, dir.path()).expect("none"), None);
        std::fs::write(dir.path().join(CURRENT_FILE), b"garbage").expect("write");
        assert!(matches!(
            read_current(&fs, dir.path()),
            Err(DatabaseError::CurrentFileInvalid { .. })
        ));
        std::fs::write(dir.path().join(CURRENT_FILE), b"MANIFEST-000009\n").expect("write");
        assert!(matches!(
            read_current(&fs, dir.path()),
            Err(DatabaseError::CurrentFileInvalid { .. })
        ));
    }
}
