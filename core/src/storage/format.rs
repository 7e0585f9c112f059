//! The database's format as a whole: [`DatabaseVersion`], the `FORMAT` file that records
//! it, and `FORMAT.next`, the record of a format switch in progress.
//!
//! Every file kind carries its own version (log segment and manifest headers, table
//! footers); the database format version names the combination a release writes, so a
//! release can tell which older formats it must keep writing in and which it may upgrade.
//!
//! ```text
//! FORMAT, FORMAT.next (32 bytes, little-endian):
//!  0       4       6    7    8          12        16               24          32
//!  +-------+-------+----+----+----------+---------+----------------+-----------+
//!  | magic | rec   |alg | 0  | database | zero    | switch manifest| checksum  |
//!  | LFMT  | ver 1 | id |    | version  | (4)     | number (0 none)| of 0..24  |
//!  +-------+-------+----+----+----------+---------+----------------+-----------+
//!    u32     u16    u8   u8     u32                    u64              u64
//! ```
//!
//! `FORMAT` is written when a database is created (temporary name, sync, rename, directory
//! sync). A database without one was made by a release from before it existed; its version
//! is read from its log segments' headers (see [`detect_from_files`]).
//!
//! A migration that changes the files of a database writes `FORMAT.next` naming the
//! manifest it built, then points `CURRENT` at that manifest (the commit point), then
//! renames `FORMAT.next` over `FORMAT`. [`settle_pending_switch`], run before anything
//! else reads the directory, finishes or undoes a switch a crash interrupted: when
//! `CURRENT` names the switch's manifest the switch happened and `FORMAT.next` becomes
//! `FORMAT`; otherwise it never happened and `FORMAT.next` goes. Releases that predate
//! these files ignore both, and remove the tables and manifest of an unfinished switch
//! as orphans, so they still open the database as it was.
//!
//! A switch that turns encryption on or off moves the key file with it, since whether
//! `KEYS` exists is what says a database is encrypted: turning it on stages the new key
//! file as `KEYS.next` before `FORMAT.next` is written, and completing a switch to
//! [`ENCRYPTED_FORMAT_NUMBER`] renames `KEYS.next` to `KEYS`; completing a switch to a
//! plain format removes `KEYS` (its manifest and tables are plain); undoing a switch, or
//! finding `KEYS.next` with no switch in progress, removes `KEYS.next`. Each of these is
//! durable (directory synced) before `FORMAT.next` becomes `FORMAT`, so no crash leaves
//! `KEYS` beside a plain manifest or a sealed manifest without `KEYS`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::coding::{get_u32, get_u64};
use super::crypto;
use super::fs::{write_file_atomic, FileSystem};
use super::manifest;
use super::record::{decode_file_header, FILE_HEADER_LEN};
use super::wal::{self, WAL_MAGIC};
use crate::checksum::{checksum64, ChecksumAlgorithm};
use crate::error::DatabaseError;

/// The database format number an encrypted database records in `FORMAT` (and its log
/// segments in their headers, log format 3): its files are laid out as in format 2,
/// with every log record, manifest record and table block sealed (`storage::crypto`).
/// It is a number of its own so that builds from before encryption refuse such a
/// database (`UnsupportedFormatVersion`) instead of reading sealed bytes as garbage.
/// Plain databases stay at format 2.
pub const ENCRYPTED_FORMAT_NUMBER: u32 = 3;
/// The plain format whose layout an encrypted database uses.
pub const ENCRYPTED_LAYOUT: DatabaseVersion = DatabaseVersion::V2;

/// The file that records the database format version.
pub const FORMAT_FILE: &str = "FORMAT";
/// The record of a format switch in progress (see the [module documentation](self)).
pub const FORMAT_NEXT_FILE: &str = "FORMAT.next";
/// Magic number of `FORMAT` records ("LFMT").
pub const FORMAT_MAGIC: u32 = 0x544d_464c;
/// Version of the `FORMAT` record's own layout.
pub const FORMAT_RECORD_VERSION: u16 = 1;
/// Size of a `FORMAT` record.
pub const FORMAT_RECORD_LEN: usize = 32;
/// `FORMAT` records are checksummed with this algorithm whatever the configuration says,
/// so reading one needs nothing else.
const FORMAT_CHECKSUM: ChecksumAlgorithm = ChecksumAlgorithm::Xxh64;

/// The database format versions Lightning DB has had. Each release reads every one of
/// them; [`Latest`](Self::Latest) is the one this build creates.
///
/// Versions compare by their number, so `Latest == V2` in this release.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DatabaseVersion {
    /// Format 1: log segments of format 1 (appended and grown by every write), table
    /// format 1, manifest format 1. Written by the releases up to the one that introduced
    /// log pre-extension.
    V1,
    /// Format 2: log segments of format 2, pre-extended with zeros so a durable commit
    /// syncs data only; tables and manifest as in format 1.
    V2,
    /// The newest format this build knows (today [`V2`](Self::V2)).
    Latest,
}

impl DatabaseVersion {
    /// Every concrete version, oldest first.
    pub const ALL: [DatabaseVersion; 2] = [DatabaseVersion::V1, DatabaseVersion::V2];

    /// The version's number, as recorded in `FORMAT` (`Latest` gives the newest's).
    pub fn number(self) -> u32 {
        match self {
            Self::V1 => 1,
            Self::V2 | Self::Latest => 2,
        }
    }

    /// The concrete version numbered `n`, if this build knows it.
    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.number() == n)
    }

    /// The concrete version (`Latest` becomes the version it stands for).
    pub fn resolve(self) -> Self {
        match self {
            Self::Latest => Self::V2,
            v => v,
        }
    }

    /// The newest version this build knows, as a number.
    pub fn latest_number() -> u32 {
        Self::Latest.number()
    }

    /// The oldest version this build reads, as a number. A database recording an older
    /// one is refused with `MigrationRequired` (see [`unreadable`]).
    pub fn oldest_number() -> u32 {
        Self::ALL[0].number()
    }

    /// The log segment format version a database of this version writes.
    pub fn log_format_version(self) -> u16 {
        match self.resolve() {
            Self::V1 => 1,
            _ => wal::WAL_FORMAT_VERSION,
        }
    }

    /// One line on what the version is.
    pub fn description(self) -> &'static str {
        match self.resolve() {
            Self::V1 => "log format 1 (grown by every write), table format 1, manifest format 1",
            _ => {
                "log format 2 (pre-extended: durable commits sync data only), table format 1, \
                 manifest format 1"
            }
        }
    }
}

impl PartialEq for DatabaseVersion {
    fn eq(&self, other: &Self) -> bool {
        self.number() == other.number()
    }
}

impl Eq for DatabaseVersion {}

impl std::hash::Hash for DatabaseVersion {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.number().hash(state);
    }
}

impl PartialOrd for DatabaseVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DatabaseVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.number().cmp(&other.number())
    }
}

impl fmt::Display for DatabaseVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latest => write!(f, "latest (v{})", self.number()),
            v => write!(f, "v{}", v.number()),
        }
    }
}

/// Why a string is not a [`DatabaseVersion`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a database format version this build knows (v1, v2 or latest)")]
pub struct ParseVersionError(pub String);

impl FromStr for DatabaseVersion {
    type Err = ParseVersionError;

    /// Accepts `v1`, `1`, `V2`, `latest` (any case); what `Display` prints reads back.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        if t == "latest" || t.starts_with("latest ") {
            return Ok(Self::Latest);
        }
        t.strip_prefix('v')
            .unwrap_or(&t)
            .parse::<u32>()
            .ok()
            .and_then(Self::from_number)
            .ok_or_else(|| ParseVersionError(s.to_string()))
    }
}

/// The contents of a `FORMAT` (or `FORMAT.next`) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatRecord {
    /// The database format version number (may be newer than this build knows).
    pub version: u32,
    /// For a switch in progress, the number of the manifest it switches to; 0 otherwise
    /// (a completed switch's `FORMAT` keeps it, which is harmless).
    pub switch_manifest: u64,
}

impl FormatRecord {
    /// A record of `version` with no switch.
    pub fn of(version: DatabaseVersion) -> Self {
        Self {
            version: version.number(),
            switch_manifest: 0,
        }
    }

    /// The record's bytes.
    pub fn encode(&self) -> [u8; FORMAT_RECORD_LEN] {
        let mut out = [0u8; FORMAT_RECORD_LEN];
        out[0..4].copy_from_slice(&FORMAT_MAGIC.to_le_bytes());
        out[4..6].copy_from_slice(&FORMAT_RECORD_VERSION.to_le_bytes());
        out[6] = FORMAT_CHECKSUM.id();
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[16..24].copy_from_slice(&self.switch_manifest.to_le_bytes());
        let sum = checksum64(FORMAT_CHECKSUM, &out[..24]);
        out[24..32].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes a record; the error says what is wrong.
    pub fn decode(data: &[u8]) -> Result<Self, String> {
        if data.len() != FORMAT_RECORD_LEN {
            return Err(format!(
                "{} bytes, a format record has {FORMAT_RECORD_LEN}",
                data.len()
            ));
        }
        if get_u32(data, 0) != Some(FORMAT_MAGIC) {
            return Err("bad magic number".to_string());
        }
        let algo = ChecksumAlgorithm::from_id(data[6])
            .ok_or_else(|| format!("unknown checksum algorithm {}", data[6]))?;
        let stored = get_u64(data, 24).unwrap_or(0);
        let computed = checksum64(algo, &data[..24]);
        if stored != computed {
            return Err(format!(
                "checksum mismatch (stored {stored:#018x}, computed {computed:#018x})"
            ));
        }
        let record_version = u16::from_le_bytes([data[4], data[5]]);
        if record_version != FORMAT_RECORD_VERSION {
            return Err(format!("unknown record layout version {record_version}"));
        }
        Ok(Self {
            version: get_u32(data, 8).unwrap_or(0),
            switch_manifest: get_u64(data, 16).unwrap_or(0),
        })
    }
}

fn damaged(path: &Path, why: &str) -> DatabaseError {
    DatabaseError::DataCorruption {
        component: path.display().to_string(),
        details: format!("the database format record is damaged: {why}"),
        recovery_possible: false,
    }
}

/// Reads the record at `path`, `None` when there is no such file.
fn read_record(fs: &dyn FileSystem, path: &Path) -> Result<Option<FormatRecord>, DatabaseError> {
    if !fs.exists(path) {
        return Ok(None);
    }
    let data = fs
        .read_all(path)
        .map_err(|e| DatabaseError::io("read format file", path, &e))?;
    FormatRecord::decode(&data)
        .map(Some)
        .map_err(|why| damaged(path, &why))
}

/// The `FORMAT` record of the database in `dir`, `None` when it has none.
pub fn read_format(fs: &dyn FileSystem, dir: &Path) -> Result<Option<FormatRecord>, DatabaseError> {
    read_record(fs, &dir.join(FORMAT_FILE))
}

/// Writes `FORMAT` (temporary name, sync, rename, directory sync).
pub fn write_format(
    fs: &dyn FileSystem,
    dir: &Path,
    record: &FormatRecord,
) -> Result<(), DatabaseError> {
    let path = dir.join(FORMAT_FILE);
    write_file_atomic(fs, &path, &record.encode())
        .map_err(|e| DatabaseError::io("write format file", &path, &e))
}

/// Writes `FORMAT.next` (temporary name, sync, rename, directory sync): the first step
/// of a switch to the manifest `record.switch_manifest`.
pub fn write_pending_switch(
    fs: &dyn FileSystem,
    dir: &Path,
    record: &FormatRecord,
) -> Result<(), DatabaseError> {
    let path = dir.join(FORMAT_NEXT_FILE);
    write_file_atomic(fs, &path, &record.encode())
        .map_err(|e| DatabaseError::io("write format switch record", &path, &e))
}

/// Makes `FORMAT.next` the database's `FORMAT` (rename, directory sync): the last step
/// of a switch whose `CURRENT` already names its manifest. The key file first follows
/// the switch (see the [module documentation](self)): a switch to the encrypted format
/// installs a staged `KEYS.next`, a switch to a plain one removes `KEYS`.
pub fn complete_pending_switch(fs: &dyn FileSystem, dir: &Path) -> Result<(), DatabaseError> {
    let next = dir.join(FORMAT_NEXT_FILE);
    let format = dir.join(FORMAT_FILE);
    if let Some(record) = read_record(fs, &next)? {
        settle_key_file(fs, dir, record.version == ENCRYPTED_FORMAT_NUMBER)?;
    }
    fs.rename(&next, &format)
        .map_err(|e| DatabaseError::io("install format file", &next, &e))?;
    fs.sync_dir(dir)
        .map_err(|e| DatabaseError::io("sync directory", dir, &e))
}

/// Makes the key file match a committed switch, durably: with `encrypted`, a staged
/// `KEYS.next` becomes `KEYS`; without, `KEYS` and any `KEYS.next` go (the switch's
/// manifest and tables are plain, so nothing needs them).
fn settle_key_file(fs: &dyn FileSystem, dir: &Path, encrypted: bool) -> Result<(), DatabaseError> {
    let keys = dir.join(crypto::KEY_FILE);
    let staged = dir.join(crypto::KEY_FILE_NEXT);
    let mut changed = false;
    if encrypted {
        if fs.exists(&staged) {
            fs.rename(&staged, &keys)
                .map_err(|e| DatabaseError::io("install key file", &staged, &e))?;
            changed = true;
        }
    } else {
        for path in [&staged, &keys] {
            if fs.exists(path) {
                fs.remove_file(path)
                    .map_err(|e| DatabaseError::io("remove key file", path, &e))?;
                changed = true;
            }
        }
    }
    if changed {
        fs.sync_dir(dir)
            .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
    }
    Ok(())
}

/// Removes a staged key file `KEYS.next` (durably) that no committed switch installs.
fn discard_staged_key_file(fs: &dyn FileSystem, dir: &Path) -> Result<(), DatabaseError> {
    let staged = dir.join(crypto::KEY_FILE_NEXT);
    if fs.exists(&staged) {
        fs.remove_file(&staged)
            .map_err(|e| DatabaseError::io("remove staged key file", &staged, &e))?;
        fs.sync_dir(dir)
            .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
    }
    Ok(())
}

/// Removes `FORMAT.next` (and the directory entry durably): a switch that never reached
/// its commit point. A key file it staged (`KEYS.next`) goes first.
pub fn discard_pending_switch(fs: &dyn FileSystem, dir: &Path) -> Result<(), DatabaseError> {
    discard_staged_key_file(fs, dir)?;
    let next = dir.join(FORMAT_NEXT_FILE);
    if fs.exists(&next) {
        fs.remove_file(&next)
            .map_err(|e| DatabaseError::io("remove format switch record", &next, &e))?;
        fs.sync_dir(dir)
            .map_err(|e| DatabaseError::io("sync directory", dir, &e))?;
    }
    Ok(())
}

/// What [`settle_pending_switch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchOutcome {
    /// There was no switch in progress.
    None,
    /// `CURRENT` named the switch's manifest: the new format was installed.
    Completed,
    /// `CURRENT` did not: the switch record was removed, the old format stands.
    Discarded,
}

/// Finishes or undoes a format switch that a crash interrupted (see the
/// [module documentation](self)). Runs before anything reads the directory's files,
/// even the key file: which way the switch went decides whether the database is
/// encrypted. A staged key file with no switch in progress (a crash before the switch
/// record was written) is removed.
pub fn settle_pending_switch(
    fs: &dyn FileSystem,
    dir: &Path,
) -> Result<SwitchOutcome, DatabaseError> {
    let next = dir.join(FORMAT_NEXT_FILE);
    if !fs.exists(&next) {
        discard_staged_key_file(fs, dir)?;
        return Ok(SwitchOutcome::None);
    }
    let current = manifest::read_current(fs, dir)?;
    match read_record(fs, &next) {
        Ok(Some(r)) if r.switch_manifest != 0 && current == Some(r.switch_manifest) => {
            complete_pending_switch(fs, dir)?;
            Ok(SwitchOutcome::Completed)
        }
        Ok(_) => {
            discard_pending_switch(fs, dir)?;
            Ok(SwitchOutcome::Discarded)
        }
        // Written whole (temporary name, sync, rename) before `CURRENT` moves: a damaged
        // record is real damage, and guessing which way the switch went could mix formats.
        Err(e) => Err(e),
    }
}

/// How a database's format version was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSource {
    /// Its `FORMAT` file.
    FormatFile,
    /// The newest version among its log segments' headers (no `FORMAT` file).
    LogHeaders,
    /// It has a manifest but neither a `FORMAT` file nor a readable log segment: every
    /// format reads it the same way, and the oldest is assumed so nothing newer is written.
    Assumed,
    /// There is no database yet.
    Empty,
}

/// What [`detect_from_files`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectedFormat {
    /// The format version number (may be newer than this build knows).
    pub version: u32,
    /// Where it came from.
    pub source: VersionSource,
}

/// The format version of the database in `dir` (given its file `names`): its `FORMAT`
/// file, else its log segments' headers, else (a manifest only) the oldest version;
/// a directory with neither is [`VersionSource::Empty`] at the latest version.
pub fn detect_from_files(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
) -> Result<DetectedFormat, DatabaseError> {
    if let Some(r) = read_format(fs, dir)? {
        return Ok(DetectedFormat {
            version: r.version,
            source: VersionSource::FormatFile,
        });
    }
    let mut newest: Option<u16> = None;
    for name in names {
        let Some(stem) = name.strip_suffix(".log") else {
            continue;
        };
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let path = dir.join(name);
        let Ok(file) = fs.open_read(&path) else {
            continue;
        };
        let mut head = [0u8; FILE_HEADER_LEN];
        // A header cut short by a crash while creating the segment says nothing.
        if file.read_exact_at(&mut head, 0).is_err() {
            continue;
        }
        if let Ok(h) = decode_file_header(&head, WAL_MAGIC) {
            newest = Some(newest.map_or(h.version, |n| n.max(h.version)));
        }
    }
    if let Some(log_version) = newest {
        // Log format n is database format n for every format so far.
        return Ok(DetectedFormat {
            version: u32::from(log_version),
            source: VersionSource::LogHeaders,
        });
    }
    if names.iter().any(|n| n == manifest::CURRENT_FILE) {
        return Ok(DetectedFormat {
            version: DatabaseVersion::V1.number(),
            source: VersionSource::Assumed,
        });
    }
    Ok(DetectedFormat {
        version: DatabaseVersion::latest_number(),
        source: VersionSource::Empty,
    })
}

/// Refuses a database this build cannot read (a format newer than it knows, or older
/// than it reads, or a format switch left half done) before an offline tool (validation, repair) reads or changes it: such a
/// tool would take the unknown records for damage and set them aside. An encrypted
/// database's format is readable (with its key).
pub fn check_readable(fs: &dyn FileSystem, dir: &Path) -> Result<(), DatabaseError> {
    // A format switch a crash interrupted (a migration, encryption turned on or off):
    // the files of both sides are there, and a tool would take one side for damage.
    if fs.exists(&dir.join(FORMAT_NEXT_FILE)) {
        return Err(DatabaseError::InconsistentState {
            details: format!(
                "{} holds an interrupted format switch ({FORMAT_NEXT_FILE})",
                dir.display()
            ),
            suggested_action: "open the database once (the open finishes or undoes the \
                               switch), close it, then check or repair it"
                .to_string(),
        });
    }
    let names = fs
        .list_dir(dir)
        .map_err(|e| DatabaseError::io("list database directory", dir, &e))?;
    let found = detect_from_files(fs, dir, &names)?;
    if found.version == ENCRYPTED_FORMAT_NUMBER
        || DatabaseVersion::from_number(found.version).is_some()
    {
        Ok(())
    } else {
        Err(unreadable(dir, found.version))
    }
}

/// The error for a database whose format version `found` this build does not read:
/// `UnsupportedFormatVersion` naming both versions when it is newer than this build knows,
/// `MigrationRequired` naming the command that migrates it when it is older than the
/// oldest this build reads.
pub fn unreadable(dir: &Path, found: u32) -> DatabaseError {
    if found < DatabaseVersion::oldest_number() {
        DatabaseError::MigrationRequired {
            path: dir.display().to_string(),
            found,
            oldest_supported: DatabaseVersion::oldest_number(),
            command: format!(
                "lightning migrate {} --to latest",
                shell_word(&dir.display().to_string())
            ),
        }
    } else {
        DatabaseError::UnsupportedFormatVersion {
            component: format!("database {}", dir.display()),
            found,
            // The newest number this build reads: the encrypted format's.
            supported_max: DatabaseVersion::latest_number().max(ENCRYPTED_FORMAT_NUMBER),
        }
    }
}

/// `s` as one word of a POSIX shell command line (quoted when it needs to be).
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:=@%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::StdFileSystem;
    use crate::storage::record::{encode_file_header, FileHeader};

    #[test]
    fn versions_print_parse_and_compare_by_number() {
        for v in DatabaseVersion::ALL {
            assert_eq!(v.to_string().parse::<DatabaseVersion>(), Ok(v));
            assert_eq!(DatabaseVersion::from_number(v.number()), Some(v));
        }
        assert_eq!("latest".parse(), Ok(DatabaseVersion::Latest));
        assert_eq!(
            DatabaseVersion::Latest.to_string().parse(),
            Ok(DatabaseVersion::Latest)
        );
        assert_eq!("V1".parse(), Ok(DatabaseVersion::V1));
        assert_eq!("2".parse(), Ok(DatabaseVersion::V2));
        assert!("v3".parse::<DatabaseVersion>().is_err());
        assert!("".parse::<DatabaseVersion>().is_err());
        assert_eq!(DatabaseVersion::Latest, DatabaseVersion::V2);
        assert!(DatabaseVersion::V1 < DatabaseVersion::Latest);
        assert_eq!(DatabaseVersion::Latest.resolve().to_string(), "v2");
        assert_eq!(DatabaseVersion::V1.log_format_version(), 1);
        assert_eq!(
            DatabaseVersion::Latest.log_format_version(),
            wal::WAL_FORMAT_VERSION
        );
    }

    #[test]
    fn record_round_trip_and_every_bit_flip_is_refused() {
        let r = FormatRecord {
            version: 2,
            switch_manifest: 77,
        };
        let bytes = r.encode();
        assert_eq!(FormatRecord::decode(&bytes), Ok(r));
        for bit in 0..FORMAT_RECORD_LEN * 8 {
            let mut b = bytes;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(FormatRecord::decode(&b).is_err(), "bit {bit}");
        }
        for len in 0..FORMAT_RECORD_LEN {
            assert!(FormatRecord::decode(&bytes[..len]).is_err());
        }
    }

    fn log_with_version(dir: &Path, n: u64, version: u16) {
        let header = encode_file_header(&FileHeader {
            magic: WAL_MAGIC,
            version,
            checksum: ChecksumAlgorithm::Crc32,
            number: n,
        });
        std::fs::write(dir.join(wal::wal_file_name(n)), header).expect("write");
    }

    fn names(dir: &Path) -> Vec<String> {
        StdFileSystem.list_dir(dir).expect("list")
    }

    #[test]
    fn detection_prefers_the_format_file_then_the_newest_log_header() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let d = detect_from_files(&fs, dir.path(), &names(dir.path())).expect("empty");
        assert_eq!(d.source, VersionSource::Empty);
        std::fs::write(dir.path().join("CURRENT"), "MANIFEST-000001\n").expect("write");
        let d = detect_from_files(&fs, dir.path(), &names(dir.path())).expect("assumed");
        assert_eq!((d.version, d.source), (1, VersionSource::Assumed));
        log_with_version(dir.path(), 4, 1);
        let d = detect_from_files(&fs, dir.path(), &names(dir.path())).expect("v1");
        assert_eq!((d.version, d.source), (1, VersionSource::LogHeaders));
        log_with_version(dir.path(), 5, 2);
        std::fs::write(dir.path().join("000006.log"), b"torn").expect("write");
        let d = detect_from_files(&fs, dir.path(), &names(dir.path())).expect("v2");
        assert_eq!((d.version, d.source), (2, VersionSource::LogHeaders));
        write_format(
            &fs,
            dir.path(),
            &FormatRecord {
                version: 9,
                switch_manifest: 0,
            },
        )
        .expect("format");
        let d = detect_from_files(&fs, dir.path(), &names(dir.path())).expect("file");
        assert_eq!((d.version, d.source), (9, VersionSource::FormatFile));
        std::fs::write(dir.path().join(FORMAT_FILE), [0u8; 32]).expect("damage");
        assert!(matches!(
            detect_from_files(&fs, dir.path(), &names(dir.path())),
            Err(DatabaseError::DataCorruption { .. })
        ));
    }

    #[test]
    fn the_key_file_follows_the_switch_it_belongs_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let d = dir.path();
        let keys = d.join(crypto::KEY_FILE);
        let staged = d.join(crypto::KEY_FILE_NEXT);
        std::fs::write(d.join("MANIFEST-000003"), b"old").expect("manifest");
        std::fs::write(d.join("MANIFEST-000008"), b"new").expect("manifest");
        std::fs::write(d.join("CURRENT"), "MANIFEST-000003\n").expect("current");
        write_format(&fs, d, &FormatRecord::of(DatabaseVersion::V2)).expect("format");
        let to_encrypted = FormatRecord {
            version: ENCRYPTED_FORMAT_NUMBER,
            switch_manifest: 8,
        };

        // A staged key file with no switch record: a crash before the record; it goes.
        std::fs::write(&staged, b"staged").expect("stage");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("none"),
            SwitchOutcome::None
        );
        assert!(!fs.exists(&staged));

        // Encrypting, interrupted before CURRENT moved: undone, no key file at all.
        std::fs::write(&staged, b"staged").expect("stage");
        write_pending_switch(&fs, d, &to_encrypted).expect("next");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("undo"),
            SwitchOutcome::Discarded
        );
        assert!(!fs.exists(&staged) && !fs.exists(&keys));

        // Encrypting, interrupted after CURRENT moved: the staged file becomes KEYS.
        std::fs::write(&staged, b"staged").expect("stage");
        write_pending_switch(&fs, d, &to_encrypted).expect("next");
        std::fs::write(d.join("CURRENT"), "MANIFEST-000008\n").expect("current");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("finish"),
            SwitchOutcome::Completed
        );
        assert!(!fs.exists(&staged));
        assert_eq!(std::fs::read(&keys).expect("keys"), b"staged");
        assert_eq!(read_format(&fs, d).expect("read"), Some(to_encrypted));

        // Decrypting, interrupted before CURRENT moved: KEYS stays.
        let to_plain = FormatRecord {
            version: DatabaseVersion::V2.number(),
            switch_manifest: 3,
        };
        std::fs::write(d.join("CURRENT"), "MANIFEST-000008\n").expect("current");
        write_pending_switch(&fs, d, &to_plain).expect("next");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("undo"),
            SwitchOutcome::Discarded
        );
        assert!(fs.exists(&keys));
        // ... and after: KEYS goes with the switch.
        write_pending_switch(&fs, d, &to_plain).expect("next");
        std::fs::write(d.join("CURRENT"), "MANIFEST-000003\n").expect("current");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("finish"),
            SwitchOutcome::Completed
        );
        assert!(!fs.exists(&keys) && !fs.exists(&staged));
        assert_eq!(read_format(&fs, d).expect("read"), Some(to_plain));
    }

    #[test]
    fn a_pending_switch_completes_only_when_current_names_its_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let d = dir.path();
        assert_eq!(
            settle_pending_switch(&fs, d).expect("none"),
            SwitchOutcome::None
        );
        write_format(&fs, d, &FormatRecord::of(DatabaseVersion::V1)).expect("format");
        std::fs::write(d.join("CURRENT"), "MANIFEST-000003\n").expect("current");
        std::fs::write(d.join("MANIFEST-000003"), b"old").expect("manifest");
        let next = FormatRecord {
            version: 2,
            switch_manifest: 8,
        };
        write_pending_switch(&fs, d, &next).expect("next");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("undo"),
            SwitchOutcome::Discarded
        );
        assert!(!fs.exists(&d.join(FORMAT_NEXT_FILE)));
        assert_eq!(
            read_format(&fs, d).expect("read").map(|r| r.version),
            Some(1)
        );

        write_pending_switch(&fs, d, &next).expect("next");
        std::fs::write(d.join("MANIFEST-000008"), b"new").expect("manifest");
        std::fs::write(d.join("CURRENT"), "MANIFEST-000008\n").expect("current");
        assert_eq!(
            settle_pending_switch(&fs, d).expect("finish"),
            SwitchOutcome::Completed
        );
        assert!(!fs.exists(&d.join(FORMAT_NEXT_FILE)));
        assert_eq!(read_format(&fs, d).expect("read"), Some(next));
    }
}
