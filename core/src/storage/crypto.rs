//! Encryption at rest: the sealing of blocks and records with XChaCha20-Poly1305, and the
//! key file `KEYS` that holds the database's data keys wrapped by the user's
//! key-encryption key (KEK, an [`EncryptionKey`]).
//!
//! Data keys are random, one per *generation*; rotation adds a generation and new writes
//! use it, while older units keep naming the generation that sealed them. The KEK only
//! wraps data keys and is never written; re-wrapping rewrites `KEYS` alone.
//!
//! ```text
//! KEYS (little-endian), written to a temporary name, synced, renamed, directory synced:
//!  0      4     6    7    8            24          28       32
//!  +------+-----+----+----+------------+-----------+--------+---------------------+--------+
//!  |magic | ver |alg | 0  | database id| current   | count  | count x key entry   |checksum|
//!  |LKEY  | 1   | 1  |    | (16 random)| generation|        | (84 bytes each)     |xxh64   |
//!  +------+-----+----+----+------------+-----------+--------+---------------------+--------+
//!
//! key entry:   generation u32 | created (Unix seconds) u64 | nonce (24) | wrapped key (32) | tag (16)
//!              associated data of the wrap: magic | database id | generation | created
//!
//! sealed unit: generation u32 | nonce (24) | ciphertext | tag (16)
//!              associated data: "LDBS" | database id | kind u8 | file u64 | offset u64 |
//!                               format version u32 | generation u32 | file instance u64
//! ```
//!
//! A unit's associated data binds it to its database, the kind and number of its file,
//! its place in that file and the format version, so a unit moved within a file, swapped
//! between files or databases, or replaced by a copy sealed for another place fails
//! authentication (`SecurityError::DecryptionFailed`, naming file and offset) and is
//! never read as data.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::coding::{get_u32, get_u64};
use super::fs::{write_file_atomic, FileSystem};
use crate::checksum::{checksum64, ChecksumAlgorithm};
use crate::config::EncryptionKey;
use crate::error::{DatabaseError, SecurityError};

/// The file holding the wrapped data keys.
pub const KEY_FILE: &str = "KEYS";
/// The key file of a migration that turns encryption on, staged until its format switch
/// commits: [`format::settle_pending_switch`](super::format::settle_pending_switch) renames
/// it to [`KEY_FILE`] when the switch happened and removes it when it did not, so `KEYS`
/// never exists beside a plain manifest.
pub const KEY_FILE_NEXT: &str = "KEYS.next";
/// Magic number of the key file ("LKEY").
pub const KEY_FILE_MAGIC: u32 = 0x5945_4b4c;
/// Version of the key file's layout.
pub const KEY_FILE_VERSION: u16 = 1;
/// Cipher id recorded in the key file: XChaCha20-Poly1305.
pub const CIPHER_XCHACHA20_POLY1305: u8 = 1;
/// The error for a file of an encrypted database read without its keys: a
/// `ConfigurationError` naming `security.encryption_key`, so the caller knows what to
/// supply (the key file `KEYS` beside it says the database is encrypted).
pub fn key_needed(path: &Path) -> DatabaseError {
    DatabaseError::ConfigurationError {
        field: "security.encryption_key".to_string(),
        reason: format!(
            "{} belongs to an encrypted database; open it with its key \
             (enable_encryption and encryption_key, `--key-file` or LIGHTNING_KEY on the \
             command line)",
            path.display()
        ),
    }
}

/// The error for an encrypted database (its `FORMAT` says so) whose key file is gone:
/// its data keys are stored nowhere else.
pub fn key_file_missing(dir: &Path) -> DatabaseError {
    DatabaseError::DataCorruption {
        component: dir.join(KEY_FILE).display().to_string(),
        details: "the database is encrypted but its key file is missing; restore it from a \
                  backup (its data keys are stored nowhere else)"
            .to_string(),
        recovery_possible: false,
    }
}

/// The current key generation recorded in `dir/KEYS`, read without the key (the header
/// is not secret; it is checksummed but not authenticated, so it is for display only).
/// `None` when there is no readable key file.
pub fn recorded_generation(fs: &dyn FileSystem, dir: &Path) -> Option<u32> {
    let data = fs.read_all(&dir.join(KEY_FILE)).ok()?;
    if data.len() < HEADER_LEN + TRAILER_LEN || get_u32(&data, 0) != Some(KEY_FILE_MAGIC) {
        return None;
    }
    let body = &data[..data.len() - TRAILER_LEN];
    (get_u64(&data, body.len()) == Some(checksum64(KEY_FILE_CHECKSUM, body)))
        .then(|| get_u32(&data, 24))
        .flatten()
}

/// The data keys of the closed database in `dir` for a tool that reads it offline
/// (validation, repair, migration): `None` for a plain database (`kek` is ignored); for an
/// encrypted one its ring unwrapped with `kek`, the [`key_needed`] error without a key, and
/// `SecurityError::WrongKey` with a wrong one. Reads only.
pub fn offline_ring(
    fs: &dyn FileSystem,
    dir: &Path,
    kek: Option<&EncryptionKey>,
) -> Result<Option<std::sync::Arc<KeyRing>>, DatabaseError> {
    if !is_encrypted(fs, dir) {
        // Without its key file an encrypted database cannot be read at all: a tool that
        // went on would take every sealed record for damage (and repair would set them
        // all aside).
        if super::format::read_format(fs, dir)?
            .is_some_and(|f| f.version == super::format::ENCRYPTED_FORMAT_NUMBER)
        {
            return Err(key_file_missing(dir));
        }
        return Ok(None);
    }
    let kek = kek.ok_or_else(|| key_needed(dir))?;
    Ok(KeyRing::read(fs, dir, kek)?.map(std::sync::Arc::new))
}

/// True when the database in `dir` is encrypted (it has a key file).
pub fn is_encrypted(fs: &dyn FileSystem, dir: &Path) -> bool {
    fs.exists(&dir.join(KEY_FILE))
}

/// A random 56-bit file instance id (see [`SealPlace::instance`]); never zero.
pub fn random_instance() -> Result<u64, DatabaseError> {
    let bytes = random::<8>()?;
    Ok((u64::from_le_bytes(*bytes) >> 8).max(1))
}

/// Bytes a sealed unit adds to its plaintext: generation, nonce and tag.
pub const SEAL_OVERHEAD: usize = 4 + NONCE_LEN + TAG_LEN;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 4 + 8 + NONCE_LEN + KEY_LEN + TAG_LEN;
const TRAILER_LEN: usize = 8;
/// The key file is checksummed with this algorithm whatever the configuration says.
const KEY_FILE_CHECKSUM: ChecksumAlgorithm = ChecksumAlgorithm::Xxh64;
/// Upper bound on generations, so a damaged count cannot ask for a huge allocation.
const MAX_GENERATIONS: usize = 1 << 16;
const SEAL_AD_MAGIC: &[u8; 4] = b"LDBS";

/// The kind of file a sealed unit belongs to (part of its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FileKind {
    /// A log segment's record.
    Log = 1,
    /// A table file's block (data, filter, index or properties).
    Table = 2,
    /// A manifest record.
    Manifest = 3,
}

/// Where a sealed unit lives: what its associated data binds it to (with the generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealPlace {
    /// The kind of file.
    pub kind: FileKind,
    /// The file's number (table, segment or manifest number).
    pub file: u64,
    /// The unit's offset or number within the file.
    pub offset: u64,
    /// The format version the file is written in.
    pub format_version: u32,
    /// The random id of this incarnation of the file (a table's footer holds it), so a
    /// unit of an older file that had the same number does not open in this one.
    pub instance: u64,
}

/// One data key: its generation, when it was made, and the key itself.
struct DataKey {
    generation: u32,
    created_secs: u64,
    bytes: Zeroizing<[u8; KEY_LEN]>,
    cipher: XChaCha20Poly1305,
}

impl DataKey {
    fn new(generation: u32, created_secs: u64, bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let cipher = XChaCha20Poly1305::new(bytes.as_ref().into());
        Self {
            generation,
            created_secs,
            bytes,
            cipher,
        }
    }
}

/// The database's data keys, unwrapped in memory; what seals and opens every unit.
pub struct KeyRing {
    db_id: [u8; 16],
    current: u32,
    keys: Vec<DataKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current_generation", &self.current)
            .field("generations", &self.keys.len())
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, DatabaseError> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::getrandom(out.as_mut()).map_err(|e| {
        DatabaseError::SecurityError(SecurityError::EncryptionFailed {
            reason: format!("the operating system's random number generator failed: {e}"),
        })
    })?;
    Ok(out)
}

fn kek_cipher(kek: &EncryptionKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(kek.bytes().into())
}

fn wrap_ad(db_id: &[u8; 16], generation: u32, created_secs: u64) -> [u8; 32] {
    let mut ad = [0u8; 32];
    ad[0..4].copy_from_slice(&KEY_FILE_MAGIC.to_le_bytes());
    ad[4..20].copy_from_slice(db_id);
    ad[20..24].copy_from_slice(&generation.to_le_bytes());
    ad[24..32].copy_from_slice(&created_secs.to_le_bytes());
    ad
}

fn damaged(path: &Path, why: impl std::fmt::Display) -> DatabaseError {
    DatabaseError::DataCorruption {
        component: path.display().to_string(),
        details: format!("the key file is damaged: {why}"),
        recovery_possible: false,
    }
}

impl KeyRing {
    /// A new key ring with one random data key (generation 1) made at `now_secs`.
    pub fn create(now_secs: u64) -> Result<KeyRing, DatabaseError> {
        let db_id = *random::<16>()?;
        Ok(KeyRing {
            db_id,
            current: 1,
            keys: vec![DataKey::new(1, now_secs, random::<KEY_LEN>()?)],
        })
    }

    /// A copy of the ring (the same database id and data keys), to rotate without
    /// touching the ring readers hold until the new one is written.
    pub fn duplicate(&self) -> KeyRing {
        KeyRing {
            db_id: self.db_id,
            current: self.current,
            keys: self
                .keys
                .iter()
                .map(|k| DataKey::new(k.generation, k.created_secs, k.bytes.clone()))
                .collect(),
        }
    }

    /// The generation new units are sealed with.
    pub fn current_generation(&self) -> u32 {
        self.current
    }

    /// When the current data key was made (Unix seconds), for the rotation schedule.
    pub fn current_created_secs(&self) -> u64 {
        self.current_key().created_secs
    }

    /// The generations this ring can open, oldest first.
    pub fn generations(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.generation).collect()
    }

    fn current_key(&self) -> &DataKey {
        self.keys
            .iter()
            .find(|k| k.generation == self.current)
            .unwrap_or_else(|| &self.keys[self.keys.len() - 1])
    }

    /// Adds a new random data key, made at `now_secs`, and makes it current; returns its
    /// generation. Nothing is written: the caller writes the ring before sealing with it.
    pub fn rotate(&mut self, now_secs: u64) -> Result<u32, DatabaseError> {
        let generation = self.current.checked_add(1).ok_or_else(|| {
            DatabaseError::SecurityError(SecurityError::KeyRotationFailed {
                reason: "the key generation counter is exhausted".to_string(),
            })
        })?;
        if self.keys.len() >= MAX_GENERATIONS {
            return Err(DatabaseError::SecurityError(
                SecurityError::KeyRotationFailed {
                    reason: format!(
                        "{MAX_GENERATIONS} data keys are kept already; rewrite every file \
                         (rotate_key_now) so older ones can be retired"
                    ),
                },
            ));
        }
        self.keys
            .push(DataKey::new(generation, now_secs, random::<KEY_LEN>()?));
        self.current = generation;
        Ok(generation)
    }

    /// Moves the current key's creation time `secs` seconds back (tests of the rotation
    /// schedule).
    #[cfg(any(test, feature = "testing"))]
    pub fn backdate_current(&mut self, secs: u64) {
        let current = self.current;
        if let Some(k) = self.keys.iter_mut().find(|k| k.generation == current) {
            k.created_secs = k.created_secs.saturating_sub(secs);
        }
    }

    /// Drops every data key of a generation below `generation` (never the current one):
    /// for after every file has been rewritten under `generation` or a later one.
    pub fn retire_below(&mut self, generation: u32) {
        let keep = generation.min(self.current);
        self.keys.retain(|k| k.generation >= keep);
    }

    fn ad(&self, place: SealPlace, generation: u32) -> [u8; 53] {
        let mut ad = [0u8; 53];
        ad[0..4].copy_from_slice(SEAL_AD_MAGIC);
        ad[4..20].copy_from_slice(&self.db_id);
        ad[20] = place.kind as u8;
        ad[21..29].copy_from_slice(&place.file.to_le_bytes());
        ad[29..37].copy_from_slice(&place.offset.to_le_bytes());
        ad[37..41].copy_from_slice(&place.format_version.to_le_bytes());
        ad[41..45].copy_from_slice(&generation.to_le_bytes());
        ad[45..53].copy_from_slice(&place.instance.to_le_bytes());
        ad
    }

    /// Seals `plaintext` for `place` with the current data key, appending the sealed unit
    /// (`SEAL_OVERHEAD` bytes longer than the plaintext) to `out`.
    pub fn seal_into(
        &self,
        place: SealPlace,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DatabaseError> {
        let key = self.current_key();
        let nonce = random::<NONCE_LEN>()?;
        let ad = self.ad(place, key.generation);
        let sealed = key
            .cipher
            .encrypt(
                XNonce::from_slice(nonce.as_ref()),
                Payload {
                    msg: plaintext,
                    aad: &ad,
                },
            )
            .map_err(|_| {
                DatabaseError::SecurityError(SecurityError::EncryptionFailed {
                    reason: format!("sealing {} bytes failed", plaintext.len()),
                })
            })?;
        out.reserve(SEAL_OVERHEAD + plaintext.len());
        out.extend_from_slice(&key.generation.to_le_bytes());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&sealed);
        Ok(())
    }

    /// Seals `plaintext` for `place` into a new buffer.
    pub fn seal(&self, place: SealPlace, plaintext: &[u8]) -> Result<Vec<u8>, DatabaseError> {
        let mut out = Vec::with_capacity(SEAL_OVERHEAD + plaintext.len());
        self.seal_into(place, plaintext, &mut out)?;
        Ok(out)
    }

    /// Opens a unit sealed for `place`; `path` names the file in the error. Any change
    /// to the unit, or a unit sealed for another place, is `DecryptionFailed`.
    pub fn open(
        &self,
        path: &Path,
        place: SealPlace,
        sealed: &[u8],
    ) -> Result<Vec<u8>, DatabaseError> {
        let fail = |why: &str| {
            DatabaseError::SecurityError(SecurityError::DecryptionFailed {
                reason: format!("{} at offset {}: {why}", path.display(), place.offset),
            })
        };
        if sealed.len() < SEAL_OVERHEAD {
            return Err(fail("shorter than a sealed unit"));
        }
        let generation = get_u32(sealed, 0).unwrap_or(0);
        let key = self
            .keys
            .iter()
            .find(|k| k.generation == generation)
            .ok_or_else(|| fail(&format!("no data key of generation {generation}")))?;
        let ad = self.ad(place, generation);
        key.cipher
            .decrypt(
                XNonce::from_slice(&sealed[4..4 + NONCE_LEN]),
                Payload {
                    msg: &sealed[4 + NONCE_LEN..],
                    aad: &ad,
                },
            )
            .map_err(|_| {
                fail(
                    "authentication failed (tampered with, moved, swapped, rolled back or damaged)",
                )
            })
    }

    /// The key file's bytes, every data key wrapped by `kek`.
    pub fn encode(&self, kek: &EncryptionKey) -> Result<Vec<u8>, DatabaseError> {
        let wrapper = kek_cipher(kek);
        let mut out = Vec::with_capacity(HEADER_LEN + self.keys.len() * ENTRY_LEN + TRAILER_LEN);
        out.extend_from_slice(&KEY_FILE_MAGIC.to_le_bytes());
        out.extend_from_slice(&KEY_FILE_VERSION.to_le_bytes());
        out.push(CIPHER_XCHACHA20_POLY1305);
        out.push(0);
        out.extend_from_slice(&self.db_id);
        out.extend_from_slice(&self.current.to_le_bytes());
        out.extend_from_slice(&(self.keys.len() as u32).to_le_bytes());
        for key in &self.keys {
            let nonce = random::<NONCE_LEN>()?;
            let ad = wrap_ad(&self.db_id, key.generation, key.created_secs);
            let wrapped = wrapper
                .encrypt(
                    XNonce::from_slice(nonce.as_ref()),
                    Payload {
                        msg: key.bytes.as_ref(),
                        aad: &ad,
                    },
                )
                .map_err(|_| {
                    DatabaseError::SecurityError(SecurityError::EncryptionFailed {
                        reason: "wrapping a data key failed".to_string(),
                    })
                })?;
            out.extend_from_slice(&key.generation.to_le_bytes());
            out.extend_from_slice(&key.created_secs.to_le_bytes());
            out.extend_from_slice(nonce.as_ref());
            out.extend_from_slice(&wrapped);
        }
        let sum = checksum64(KEY_FILE_CHECKSUM, &out);
        out.extend_from_slice(&sum.to_le_bytes());
        Ok(out)
    }

    /// Decodes a key file read from `path` and unwraps its data keys with `kek`. A damaged
    /// file is `DataCorruption`; an intact file whose keys do not unwrap is `WrongKey`.
    pub fn decode(path: &Path, data: &[u8], kek: &EncryptionKey) -> Result<KeyRing, DatabaseError> {
        if data.len() < HEADER_LEN + TRAILER_LEN {
            return Err(damaged(path, format!("{} bytes, too short", data.len())));
        }
        if get_u32(data, 0) != Some(KEY_FILE_MAGIC) {
            return Err(damaged(path, "bad magic number"));
        }
        let body = &data[..data.len() - TRAILER_LEN];
        let stored = get_u64(data, body.len()).unwrap_or(0);
        let computed = checksum64(KEY_FILE_CHECKSUM, body);
        if stored != computed {
            return Err(damaged(
                path,
                format!("checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"),
            ));
        }
        let version = u16::from_le_bytes([data[4], data[5]]);
        if version != KEY_FILE_VERSION {
            return Err(damaged(path, format!("unknown layout version {version}")));
        }
        if data[6] != CIPHER_XCHACHA20_POLY1305 {
            return Err(damaged(path, format!("unknown cipher {}", data[6])));
        }
        let mut db_id = [0u8; 16];
        db_id.copy_from_slice(&data[8..24]);
        let current = get_u32(data, 24).unwrap_or(0);
        let count = get_u32(data, 28).unwrap_or(0) as usize;
        if count == 0 || count > MAX_GENERATIONS || body.len() != HEADER_LEN + count * ENTRY_LEN {
            return Err(damaged(path, format!("{count} keys do not fit its length")));
        }
        let wrapper = kek_cipher(kek);
        let mut keys = Vec::with_capacity(count);
        for entry in body[HEADER_LEN..].chunks_exact(ENTRY_LEN) {
            let generation = get_u32(entry, 0).unwrap_or(0);
            let created_secs = get_u64(entry, 4).unwrap_or(0);
            let ad = wrap_ad(&db_id, generation, created_secs);
            let unwrapped = Zeroizing::new(
                wrapper
                    .decrypt(
                        XNonce::from_slice(&entry[12..12 + NONCE_LEN]),
                        Payload {
                            msg: &entry[12 + NONCE_LEN..],
                            aad: &ad,
                        },
                    )
                    .map_err(|_| DatabaseError::SecurityError(SecurityError::WrongKey))?,
            );
            let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
            if unwrapped.len() != KEY_LEN {
                return Err(damaged(path, "a data key has the wrong length"));
            }
            bytes.copy_from_slice(&unwrapped);
            keys.push(DataKey::new(generation, created_secs, bytes));
        }
        if !keys.iter().any(|k| k.generation == current) {
            return Err(damaged(
                path,
                format!("no key of the current generation {current}"),
            ));
        }
        Ok(KeyRing {
            db_id,
            current,
            keys,
        })
    }

    /// Writes the ring to `dir/KEYS` wrapped by `kek` (temporary name, sync, rename,
    /// directory sync): a crash leaves either the old file or the new one.
    pub fn write(
        &self,
        fs: &dyn FileSystem,
        dir: &Path,
        kek: &EncryptionKey,
    ) -> Result<(), DatabaseError> {
        let path = dir.join(KEY_FILE);
        let data = self.encode(kek)?;
        write_file_atomic(fs, &path, &data)
            .map_err(|e| DatabaseError::io("write key file", &path, &e))
    }

    /// Reads `dir/KEYS` and unwraps it with `kek`; `None` when the database has no key file
    /// (it is not encrypted). Reading changes nothing on disk.
    pub fn read(
        fs: &dyn FileSystem,
        dir: &Path,
        kek: &EncryptionKey,
    ) -> Result<Option<KeyRing>, DatabaseError> {
        let path = dir.join(KEY_FILE);
        if !fs.exists(&path) {
            return Ok(None);
        }
        let data = fs
            .read_all(&path)
            .map_err(|e| DatabaseError::io("read key file", &path, &e))?;
        Self::decode(&path, &data, kek).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::StdFileSystem;

    fn kek(b: u8) -> EncryptionKey {
        EncryptionKey::from_bytes(&[b; 32])
    }

    fn place(offset: u64) -> SealPlace {
        SealPlace {
            kind: FileKind::Table,
            file: 7,
            offset,
            format_version: 3,
            instance: 11,
        }
    }

    fn decryption_failed(r: Result<Vec<u8>, DatabaseError>) -> String {
        match r {
            Err(DatabaseError::SecurityError(SecurityError::DecryptionFailed { reason })) => reason,
            other => panic!("expected DecryptionFailed, got {other:?}"),
        }
    }

    #[test]
    fn sealed_units_open_only_at_their_own_place() {
        let ring = KeyRing::create(100).expect("ring");
        let path = Path::new("000007.sst");
        let sealed = ring.seal(place(4096), b"secret value").expect("seal");
        assert_eq!(sealed.len(), b"secret value".len() + SEAL_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            ring.open(path, place(4096), &sealed).expect("open"),
            b"secret value"
        );
        let moved = decryption_failed(ring.open(path, place(0), &sealed));
        assert!(
            moved.contains("000007.sst") && moved.contains("offset 0"),
            "{moved}"
        );
        let other_file = SealPlace {
            file: 8,
            ..place(4096)
        };
        decryption_failed(ring.open(path, other_file, &sealed));
        let other_kind = SealPlace {
            kind: FileKind::Log,
            ..place(4096)
        };
        decryption_failed(ring.open(path, other_kind, &sealed));
        let other_version = SealPlace {
            format_version: 2,
            ..place(4096)
        };
        decryption_failed(ring.open(path, other_version, &sealed));
        let older_instance = SealPlace {
            instance: 10,
            ..place(4096)
        };
        decryption_failed(ring.open(path, older_instance, &sealed));
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x10;
            assert!(
                ring.open(path, place(4096), &flipped).is_err(),
                "flip at {i}"
            );
        }
        decryption_failed(ring.open(path, place(4096), &sealed[..sealed.len() - 1]));
        let other_db = KeyRing::create(100).expect("ring");
        decryption_failed(other_db.open(path, place(4096), &sealed));
    }

    #[test]
    fn a_key_file_round_trips_and_refuses_the_wrong_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let mut ring = KeyRing::create(100).expect("ring");
        let old = ring.seal(place(0), b"old").expect("seal");
        assert_eq!(ring.rotate(200).expect("rotate"), 2);
        ring.write(&fs, dir.path(), &kek(1)).expect("write");
        let raw = std::fs::read(dir.path().join(KEY_FILE)).expect("read");
        assert!(
            !raw.windows(32).any(|w| w == [1u8; 32]),
            "the KEK is never written"
        );
        assert!(!raw.windows(32).any(|w| w == *ring.keys[0].bytes));

        let back = KeyRing::read(&fs, dir.path(), &kek(1))
            .expect("read")
            .expect("some");
        assert_eq!(back.current_generation(), 2);
        assert_eq!(back.current_created_secs(), 200);
        assert_eq!(back.generations(), vec![1, 2]);
        assert_eq!(
            back.open(Path::new("t"), place(0), &old).expect("open"),
            b"old"
        );

        match KeyRing::read(&fs, dir.path(), &kek(2)) {
            Err(DatabaseError::SecurityError(SecurityError::WrongKey)) => {}
            other => panic!("expected WrongKey, got {other:?}"),
        }
        assert_eq!(std::fs::read(dir.path().join(KEY_FILE)).expect("read"), raw);

        // Re-wrapping under a new KEK keeps the data keys: old units still open.
        back.write(&fs, dir.path(), &kek(3)).expect("rewrap");
        let rewrapped = KeyRing::read(&fs, dir.path(), &kek(3))
            .expect("read")
            .expect("some");
        assert_eq!(
            rewrapped
                .open(Path::new("t"), place(0), &old)
                .expect("open"),
            b"old"
        );
        assert!(KeyRing::read(&fs, dir.path(), &kek(1)).is_err());
        assert!(KeyRing::read(&fs, Path::new("/nonexistent-dir"), &kek(1))
            .expect("no file")
            .is_none());
    }

    #[test]
    fn every_damage_to_a_key_file_is_corruption_or_a_refusal() {
        let ring = KeyRing::create(5).expect("ring");
        let good = ring.encode(&kek(9)).expect("encode");
        let path = Path::new("KEYS");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            match KeyRing::decode(path, &bad, &kek(9)) {
                Err(DatabaseError::DataCorruption { component, .. }) => {
                    assert_eq!(component, "KEYS")
                }
                other => panic!("flip at {i}: expected DataCorruption, got {other:?}"),
            }
        }
        for len in [0, 10, good.len() - 1] {
            assert!(KeyRing::decode(path, &good[..len], &kek(9)).is_err());
        }
    }

    #[test]
    fn retiring_keeps_only_the_current_key() {
        let mut ring = KeyRing::create(1).expect("ring");
        let old = ring.seal(place(0), b"x").expect("seal");
        ring.rotate(2).expect("rotate");
        let new = ring.seal(place(0), b"y").expect("seal");
        assert_eq!(get_u32(&new, 0), Some(2));
        ring.retire_below(ring.current_generation());
        assert_eq!(ring.generations(), vec![2]);
        let reason = decryption_failed(ring.open(Path::new("t"), place(0), &old));
        assert!(reason.contains("generation 1"), "{reason}");
        assert_eq!(
            ring.open(Path::new("t"), place(0), &new).expect("open"),
            b"y"
        );
    }
}
