//! A simulated, fault-injecting file system for crash and I/O-error tests.
//!
//! **This is a test tool.** [`SimFileSystem`] keeps every file in memory and implements the
//! engine's [`FileSystem`] trait, so a database opened with
//! [`Database::open_with_fs`](crate::Database::open_with_fs) runs unchanged on top of it while
//! a test decides what the "disk" does:
//!
//! * **Power cuts.** Per file it keeps the *durable image* (what the disk holds after the last
//!   successful `sync_data`) and the *pending writes* since then; per directory it keeps the
//!   durable set of names (as of the last successful `sync_dir`) and the current one.
//!   [`SimFileSystem::power_cut`] throws away what a real power loss may throw away: each
//!   file keeps a random prefix or subset of its pending writes, a kept write may be torn at a
//!   512-byte or 4 KiB boundary with the rest of it zeros or garbage, and names created,
//!   renamed or removed since the directory was last synced go back to their durable state.
//! * **Failed fsync.** A failed `sync_data` drops the pending writes from the durability path,
//!   as Linux does when it marks the pages clean after an fsync error: reads still see them,
//!   a later successful sync does not write them, and a power cut loses them.
//! * **I/O errors, SQLite style.** Every operation is counted; a [`FaultPlan`] fails the Nth
//!   one, once or every time from then on, with `EIO` or `ENOSPC`. A space limit
//!   ([`SimFileSystem::set_space_limit`]) makes writes that grow a file fail with `ENOSPC`
//!   when the disk is full (overwriting bytes a file already holds never does); the limit is
//!   also the disk's size that `disk_space` reports, for the health checks.
//! * **A slow device.** [`SimFileSystem::set_delay`] makes operations of chosen kinds wait
//!   before they run, one at a time.
//!
//! # Boots
//!
//! A database keeps using the handle it was opened with, from background threads too. So that
//! nothing it does after a simulated crash can touch the surviving image, every handle from
//! [`SimFileSystem::handle`] belongs to one *boot*: [`power_cut`](SimFileSystem::power_cut)
//! and [`process_crash`](SimFileSystem::process_crash) end the boot, after which every
//! operation through an old handle (or a file it opened) fails with `EIO` and changes nothing.
//! Reopen the database with a fresh `handle()`.
//!
//! ```
//! use lightning_db::testing::SimFileSystem;
//! use lightning_db::{Database, LightningDbConfig};
//!
//! let sim = SimFileSystem::new();
//! let db = Database::open_with_fs("/sim/db", LightningDbConfig::default(), sim.handle())?;
//! db.put(b"k", b"v")?; // Durability::Sync: acknowledged means synced
//! sim.power_cut(42);
//! drop(db); // its operations now fail and change nothing
//! let db = Database::open_with_fs("/sim/db", LightningDbConfig::default(), sim.handle())?;
//! assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
//! # Ok::<(), lightning_db::DatabaseError>(())
//! ```
//!
//! Simplifications, stated so tests do not over-trust the model: directories themselves are
//! durable as soon as they are created; truncations are metadata and survive a power cut in
//! order with the writes around them; a failed append writes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::storage::fs::{
    DirLock, DiskSpace, FileSystem, MappedFile, RandomAccessFile, WritableFile,
};

/// `EIO`: the error an injected fault and every operation of an ended boot return.
fn eio(what: &str) -> io::Error {
    let os = io::Error::from_raw_os_error(5);
    io::Error::new(os.kind(), format!("{os} (simulated: {what})"))
}

/// `ENOSPC`: no space left on the simulated device.
fn enospc(what: &str) -> io::Error {
    let os = io::Error::from_raw_os_error(28);
    io::Error::new(os.kind(), format!("{os} (simulated: {what})"))
}

/// The kinds of operation the simulated file system counts (and can fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `create_dir_all`.
    CreateDir,
    /// `create` and `reopen_truncated`.
    Create,
    /// `WritableFile::append` and `WritableFile::write_at`: every data write.
    Append,
    /// `WritableFile::set_len`.
    SetLen,
    /// `WritableFile::sync_data`.
    Sync,
    /// `sync_dir`.
    SyncDir,
    /// `open_read`, `read_all`, `RandomAccessFile::read_exact_at`.
    Read,
    /// `rename`.
    Rename,
    /// `remove_file`.
    Remove,
    /// `list_dir`, `file_size`, `RandomAccessFile::size`.
    Metadata,
    /// `lock`.
    Lock,
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultError {
    /// `EIO` (`io::ErrorKind` as the OS maps errno 5).
    Io,
    /// `ENOSPC` (`io::ErrorKind::StorageFull`).
    NoSpace,
    /// The operation panics (a crashing driver): for tests of what the database does when
    /// one of its background threads dies.
    Panic,
}

/// Which operations fail: the Nth counted operation, once or from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// 1-based number of the first operation to fail, counted from when the plan is set.
    pub fail_at: u64,
    /// `false`: only that operation fails. `true`: it and every counted operation after it.
    pub persistent: bool,
    /// The error returned.
    pub error: FaultError,
    /// When set, only operations of these kinds are counted for the plan and can fail;
    /// the others pass untouched.
    pub only: Option<Vec<OpKind>>,
    /// When set, only operations on a file or directory whose path contains this text
    /// (`".sst"`: the table files and their temporaries) are counted and can fail;
    /// operations on no path (`disk_space` aside) pass untouched.
    pub on_paths: Option<String>,
}

impl FaultPlan {
    /// Fails the `n`th operation (1-based) once with `EIO`.
    pub fn once(n: u64) -> Self {
        Self {
            fail_at: n,
            persistent: false,
            error: FaultError::Io,
            only: None,
            on_paths: None,
        }
    }

    /// Fails the `n`th operation (1-based) and every one after it with `EIO`.
    pub fn from_nth(n: u64) -> Self {
        Self {
            persistent: true,
            ..Self::once(n)
        }
    }

    /// The same plan returning `error` instead.
    pub fn with_error(mut self, error: FaultError) -> Self {
        self.error = error;
        self
    }

    /// The same plan counting and failing only operations of `kinds`.
    pub fn only(mut self, kinds: &[OpKind]) -> Self {
        self.only = Some(kinds.to_vec());
        self
    }

    /// The same plan counting and failing only operations on paths containing `text`.
    pub fn on_paths(mut self, text: &str) -> Self {
        self.on_paths = Some(text.to_string());
        self
    }
}

/// What a power cut keeps of each file's pending (unsynced) writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutMode {
    /// Each file independently picks one of the modes below at random.
    #[default]
    Random,
    /// Every pending write reached the disk.
    KeepAll,
    /// No pending write reached the disk.
    DropAll,
    /// The first k pending writes reached the disk (k random) and write k+1 is torn.
    Prefix,
    /// Each pending write independently reached the disk, did not, or is torn; holes left
    /// before a later kept write read as the fill.
    Subset,
}

/// What the unwritten part of a torn or dropped write reads as, where the file's size covers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// Zeros or garbage, chosen per file.
    #[default]
    Random,
    /// Zeros (an extent allocated but never written).
    Zeros,
    /// Random bytes (a block that held something else).
    Garbage,
}

/// How a power cut treats pending writes; [`Default`] randomises everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PowerCutPolicy {
    /// What survives of the pending writes.
    pub mode: CutMode,
    /// Tear granularity in bytes; `None` picks 512 or 4096 per file.
    pub sector: Option<u64>,
    /// What unwritten parts read as.
    pub fill: Fill,
}

/// What a power cut did, for test diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PowerCutReport {
    /// Files that survived (by a durable name).
    pub files: usize,
    /// Pending writes that reached the disk whole.
    pub writes_kept: usize,
    /// Pending writes torn at a sector boundary.
    pub writes_torn: usize,
    /// Pending writes lost.
    pub writes_dropped: usize,
    /// Names whose creation, rename or removal was undone because the directory was not synced.
    pub names_reverted: usize,
}

/// splitmix64: small, seedable, good enough to pick what a power cut keeps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

#[derive(Debug, Default, Clone)]
struct SimFile {
    /// What the disk holds.
    durable: Vec<u8>,
    /// What reads see (the page cache).
    current: Vec<u8>,
    /// Changes since the last sync, in order; applied to `durable` by a successful sync.
    pending: Vec<Pending>,
}

/// What an operation is on, for a [`FaultPlan::on_paths`] filter.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// A path the operation names.
    Path(&'a Path),
    /// An open file (its current name is looked up).
    File(u64),
}

#[derive(Default)]
struct World {
    boot: u64,
    files: HashMap<u64, SimFile>,
    next_id: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
    ops: u64,
    fault: Option<FaultPlan>,
    fault_ops: u64,
    faults_injected: u64,
    space_limit: Option<u64>,
    scheduled_cut: Option<(u64, u64, PowerCutPolicy)>,
    last_cut: Option<PowerCutReport>,
    /// `open_read_mapped` hands out a copy of the file as its map (see
    /// [`SimFileSystem::with_mapped_reads`]).
    maps: bool,
    /// A slow device: operations of these kinds (all when empty) take this long.
    delay: Option<(std::time::Duration, Vec<OpKind>)>,
}

impl World {
    /// Counts an operation of `boot`, failing it when the boot ended or the fault plan says so.
    fn begin(&mut self, boot: u64, kind: OpKind, what: &str, target: Target<'_>) -> io::Result<()> {
        if boot != self.boot {
            return Err(eio(
                "the power was cut; this handle belongs to an earlier boot",
            ));
        }
        self.ops += 1;
        if let Some((at, seed, policy)) = self.scheduled_cut {
            if self.ops >= at {
                self.scheduled_cut = None;
                let report = cut(self, seed, policy);
                self.last_cut = Some(report);
                return Err(eio("the power was cut just before this operation"));
            }
        }
        if let Some((delay, kinds)) = &self.delay {
            if kinds.is_empty() || kinds.contains(&kind) {
                // The world's lock is held: a slow device serves one operation at a time.
                std::thread::sleep(*delay);
            }
        }
        let Some(plan) = &self.fault else {
            return Ok(());
        };
        if plan.only.as_ref().is_some_and(|k| !k.contains(&kind)) {
            return Ok(());
        }
        if let Some(text) = &plan.on_paths {
            let path = match target {
                Target::Path(p) => Some(p.to_path_buf()),
                Target::File(id) => self
                    .names
                    .iter()
                    .find(|(_, &f)| f == id)
                    .map(|(p, _)| p.clone()),
            };
            if !path.is_some_and(|p| p.to_string_lossy().contains(text.as_str())) {
                return Ok(());
            }
        }
        self.fault_ops += 1;
        let fire = if plan.persistent {
            self.fault_ops >= plan.fail_at
        } else {
            self.fault_ops == plan.fail_at
        };
        if !fire {
            return Ok(());
        }
        self.faults_injected += 1;
        let msg = format!("injected fault on {what} (operation {})", self.fault_ops);
        Err(match plan.error {
            FaultError::Io => eio(&msg),
            FaultError::NoSpace => enospc(&msg),
            FaultError::Panic => panic!("{msg}"),
        })
    }

    fn file_mut(&mut self, id: u64) -> io::Result<&mut SimFile> {
        self.files
            .get_mut(&id)
            .ok_or_else(|| eio("file vanished from the simulation"))
    }

    fn id_of(&self, path: &Path) -> io::Result<u64> {
        self.names.get(path).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file (simulated)", path.display()),
            )
        })
    }

    fn check_parent(&self, path: &Path) -> io::Result<()> {
        match path.parent() {
            Some(p) if !p.as_os_str().is_empty() && !self.dirs.contains(p) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory (simulated)", p.display()),
            )),
            _ => Ok(()),
        }
    }

    fn used_bytes(&self) -> u64 {
        let live: BTreeSet<u64> = self.names.values().copied().collect();
        live.iter()
            .filter_map(|id| self.files.get(id))
            .map(|f| f.current.len() as u64)
            .sum()
    }

    fn new_file(&mut self) -> u64 {
        self.next_id += 1;
        self.files.insert(self.next_id, SimFile::default());
        self.next_id
    }
}

fn apply(img: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Truncate(len) => img.resize(*len as usize, 0),
        Pending::Write { offset, data } => write_at(img, *offset, data, None),
    }
}

/// Writes `data` at `offset`, filling any gap past the end with `gap` bytes (zeros when `None`).
fn write_at(img: &mut Vec<u8>, offset: u64, data: &[u8], gap: Option<&mut dyn FnMut() -> u8>) {
    let offset = offset as usize;
    if img.len() < offset {
        match gap {
            Some(f) => {
                while img.len() < offset {
                    img.push(f());
                }
            }
            None => img.resize(offset, 0),
        }
    }
    let end = offset + data.len();
    if img.len() < end {
        img.resize(end, 0);
    }
    img[offset..end].copy_from_slice(data);
}

/// The controller of a simulated disk: hands out [`FileSystem`] handles, cuts the power,
/// injects faults and lets tests look at or damage files. Cheap to clone (shared state).
///
/// See the [module documentation](self) for the model.
#[derive(Clone, Default)]
pub struct SimFileSystem {
    world: Arc<Mutex<World>>,
}

impl std::fmt::Debug for SimFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.world.lock();
        f.debug_struct("SimFileSystem")
            .field("boot", &w.boot)
            .field("files", &w.names.len())
            .field("ops", &w.ops)
            .finish()
    }
}

impl SimFileSystem {
    /// An empty disk; the root directory `/` exists.
    pub fn new() -> Self {
        let sim = Self::default();
        sim.world.lock().dirs.insert(PathBuf::from("/"));
        sim
    }

    /// Makes `open_read_mapped` behave as the real file system's does: the engine then reads
    /// table files through a "map" (a copy of the file taken when it is opened, since
    /// table files are never written after), with no file operation per read. Off by
    /// default, so that reads go through the fault plan. Not for tests of read faults or
    /// of corruption written into files: neither reaches a copy already handed out (as
    /// neither reaches pages a real map already holds).
    pub fn with_mapped_reads(self, on: bool) -> Self {
        self.world.lock().maps = on;
        self
    }

    /// A file-system handle bound to the current boot, for
    /// [`Database::open_with_fs`](crate::Database::open_with_fs).
    pub fn handle(&self) -> Arc<dyn FileSystem> {
        Arc::new(SimHandle {
            world: Arc::clone(&self.world),
            boot: self.world.lock().boot,
        })
    }

    /// Cuts the power: ends the boot and keeps, of every unsynced change, only what the
    /// randomised [`PowerCutPolicy::default`] lets survive, drawn from `seed`.
    pub fn power_cut(&self, seed: u64) -> PowerCutReport {
        self.power_cut_with(seed, PowerCutPolicy::default())
    }

    /// Cuts the power with an explicit policy.
    pub fn power_cut_with(&self, seed: u64, policy: PowerCutPolicy) -> PowerCutReport {
        let mut w = self.world.lock();
        w.scheduled_cut = None;
        let report = cut(&mut w, seed, policy);
        w.last_cut = Some(report.clone());
        report
    }

    /// Arranges for the power to go just before the `n`th operation (1-based, counted from
    /// now, through any handle of the current boot, background threads included): that
    /// operation and everything after it fail, as after [`power_cut_with`](Self::power_cut_with).
    /// Replaces an earlier schedule.
    pub fn schedule_power_cut(&self, n: u64, seed: u64, policy: PowerCutPolicy) {
        let mut w = self.world.lock();
        let at = w.ops + n.max(1);
        w.scheduled_cut = Some((at, seed, policy));
    }

    /// Cancels a scheduled power cut that has not happened yet.
    pub fn cancel_power_cut(&self) {
        self.world.lock().scheduled_cut = None;
    }

    /// The report of the latest power cut (scheduled or not), `None` before the first.
    pub fn last_power_cut(&self) -> Option<PowerCutReport> {
        self.world.lock().last_cut.clone()
    }

    /// The current boot number: 0 at first, one more after each power cut or process crash.
    pub fn boot(&self) -> u64 {
        self.world.lock().boot
    }

    /// The process dies but the machine keeps running: ends the boot (old handles fail from
    /// now on) and releases its locks; everything written stays, synced or not, as it would
    /// in the page cache.
    pub fn process_crash(&self) {
        let mut w = self.world.lock();
        w.locks.clear();
        w.boot += 1;
    }

    /// Operations counted so far (every handle call except `exists` and `len`).
    pub fn op_count(&self) -> u64 {
        self.world.lock().ops
    }

    /// Sets (or clears) the fault plan; its operation count starts from zero.
    pub fn set_fault(&self, plan: Option<FaultPlan>) {
        let mut w = self.world.lock();
        w.fault = plan;
        w.fault_ops = 0;
    }

    /// How many operations the fault plans failed so far.
    pub fn faults_injected(&self) -> u64 {
        self.world.lock().faults_injected
    }

    /// Limits the bytes all live files may hold; a write that would grow the files past it
    /// fails with `ENOSPC`.
    pub fn set_space_limit(&self, bytes: Option<u64>) {
        self.world.lock().space_limit = bytes;
    }

    /// Makes the device slow: every operation of the kinds in `only` (every kind when it
    /// is empty) waits `delay` before it runs; `None` makes it fast again. Operations
    /// wait one at a time, as on a device that serves one request at a time.
    pub fn set_delay(&self, delay: Option<std::time::Duration>, only: &[OpKind]) {
        self.world.lock().delay = delay.map(|d| (d, only.to_vec()));
    }

    /// Bytes held by live files (as reads see them).
    pub fn used_bytes(&self) -> u64 {
        self.world.lock().used_bytes()
    }

    /// Bytes written but not yet synced, over all files.
    pub fn unsynced_bytes(&self) -> u64 {
        let w = self.world.lock();
        w.files
            .values()
            .flat_map(|f| f.pending.iter())
            .map(|p| match p {
                Pending::Write { data, .. } => data.len() as u64,
                Pending::Truncate(_) => 0,
            })
            .sum()
    }

    /// A file's contents as reads see them, `None` when absent.
    pub fn read_file(&self, path: impl AsRef<Path>) -> Option<Vec<u8>> {
        let w = self.world.lock();
        let id = w.names.get(path.as_ref())?;
        w.files.get(id).map(|f| f.current.clone())
    }

    /// Replaces (or creates) a file's contents, durably, name included: for test setup and
    /// for injecting corruption. The parent directory must exist.
    pub fn write_file(&self, path: impl AsRef<Path>, data: &[u8]) -> io::Result<()> {
        let path = path.as_ref();
        let mut w = self.world.lock();
        w.check_parent(path)?;
        let id = match w.names.get(path) {
            Some(&id) => id,
            None => w.new_file(),
        };
        w.names.insert(path.to_path_buf(), id);
        w.durable_names.insert(path.to_path_buf(), id);
        let f = w.file_mut(id)?;
        f.durable = data.to_vec();
        f.current = data.to_vec();
        f.pending.clear();
        Ok(())
    }

    /// Names in `dir` (files and subdirectories), sorted; empty when it does not exist.
    pub fn list(&self, dir: impl AsRef<Path>) -> Vec<String> {
        list_names(&self.world.lock(), dir.as_ref())
    }
}

/// Ends the boot, keeping only what survives a power cut under `policy`.
fn cut(w: &mut World, seed: u64, policy: PowerCutPolicy) -> PowerCutReport {
    let mut rng = Rng(seed ^ 0x5eed_cafe_f00d_d00d);
    let mut report = PowerCutReport::default();
    // Names: the durable set wins. Count what that reverts.
    let mut reverted = 0;
    for (name, id) in &w.names {
        if w.durable_names.get(name) != Some(id) {
            reverted += 1;
        }
    }
    for name in w.durable_names.keys() {
        if !w.names.contains_key(name) {
            reverted += 1;
        }
    }
    report.names_reverted = reverted;
    let survivors: BTreeSet<u64> = w.durable_names.values().copied().collect();
    let mut files = HashMap::new();
    for id in survivors {
        let Some(f) = w.files.get(&id) else { continue };
        let img = crash_image(f, policy, &mut rng, &mut report);
        files.insert(
            id,
            SimFile {
                durable: img.clone(),
                current: img,
                pending: Vec::new(),
            },
        );
    }
    report.files = w.durable_names.len();
    w.files = files;
    w.names = w.durable_names.clone();
    w.locks.clear();
    w.boot += 1;
    report
}

fn list_names(w: &World, dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = w
        .names
        .keys()
        .chain(w.dirs.iter())
        .filter(|p| p.parent() == Some(dir))
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What file `f` holds after a power cut under `policy`.
fn crash_image(
    f: &SimFile,
    policy: PowerCutPolicy,
    rng: &mut Rng,
    report: &mut PowerCutReport,
) -> Vec<u8> {
    let mut img = f.durable.clone();
    if f.pending.is_empty() {
        return img;
    }
    let mode = match policy.mode {
        CutMode::Random => match rng.below(4) {
            0 => CutMode::KeepAll,
            1 => CutMode::DropAll,
            2 => CutMode::Prefix,
            _ => CutMode::Subset,
        },
        m => m,
    };
    let sector = policy
        .sector
        .unwrap_or(if rng.below(2) == 0 { 512 } else { 4096 })
        .max(1);
    let garbage = match policy.fill {
        Fill::Random => rng.below(2) == 0,
        Fill::Zeros => false,
        Fill::Garbage => true,
    };
    let n = f.pending.len();
    // Per pending op: 0 keep, 1 drop, 2 torn.
    let fates: Vec<u8> = match mode {
        CutMode::KeepAll | CutMode::Random => vec![0; n],
        CutMode::DropAll => vec![1; n],
        CutMode::Prefix => {
            let k = rng.below(n as u64 + 1) as usize;
            (0..n)
                .map(|i| match i.cmp(&k) {
                    std::cmp::Ordering::Less => 0,
                    std::cmp::Ordering::Equal => 2,
                    std::cmp::Ordering::Greater => 1,
                })
                .collect()
        }
        CutMode::Subset => (0..n).map(|_| rng.below(3) as u8).collect(),
    };
    let mut fill_rng = Rng(rng.next());
    let mut fill = move || {
        if garbage {
            fill_rng.next() as u8
        } else {
            0
        }
    };
    for (op, fate) in f.pending.iter().zip(fates) {
        match (op, fate) {
            // Truncations are metadata: they survive in order with the writes around them.
            (Pending::Truncate(_), _) | (_, 0) => {
                if matches!(op, Pending::Write { .. }) {
                    report.writes_kept += 1;
                }
                apply(&mut img, op);
            }
            (Pending::Write { .. }, 1) => report.writes_dropped += 1,
            (Pending::Write { offset, data }, _) => {
                report.writes_torn += 1;
                // Keep the sectors of the write before a random sector boundary inside it.
                let start = *offset;
                let end = start + data.len() as u64;
                let mut bounds = vec![start];
                let mut b = (start / sector + 1) * sector;
                while b < end {
                    bounds.push(b);
                    b += sector;
                }
                let cut = bounds[rng.below(bounds.len() as u64) as usize];
                let kept = &data[..(cut - start) as usize];
                write_at(&mut img, start, kept, Some(&mut fill));
                // The file size may or may not cover the rest of the write.
                if rng.below(2) == 0 {
                    let rest: Vec<u8> = (cut..end).map(|_| fill()).collect();
                    write_at(&mut img, cut, &rest, Some(&mut fill));
                }
            }
        }
    }
    img
}

/// A [`FileSystem`] bound to one boot of a [`SimFileSystem`].
struct SimHandle {
    world: Arc<Mutex<World>>,
    boot: u64,
}

struct SimWritable {
    world: Arc<Mutex<World>>,
    boot: u64,
    id: u64,
    len: u64,
}

impl WritableFile for SimWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Append, "append", Target::File(self.id))?;
        if let Some(limit) = w.space_limit {
            if w.used_bytes() + data.len() as u64 > limit {
                return Err(enospc("the space limit is reached"));
            }
        }
        let offset = self.len;
        let f = w.file_mut(self.id)?;
        write_at(&mut f.current, offset, data, None);
        f.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        self.len += data.len() as u64;
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Append, "write_at", Target::File(self.id))?;
        let end = offset + data.len() as u64;
        let size = w.file_mut(self.id)?.current.len() as u64;
        // Only growth takes space: overwriting bytes the file holds never runs out of it,
        // as on a real disk whose blocks are already allocated and written.
        if let Some(limit) = w.space_limit {
            if w.used_bytes() + end.saturating_sub(size) > limit {
                return Err(enospc("the space limit is reached"));
            }
        }
        let f = w.file_mut(self.id)?;
        write_at(&mut f.current, offset, data, None);
        // A pending write like an append: a power cut keeps it, loses it or tears it.
        f.pending.push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        self.len = self.len.max(end);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::SetLen, "set_len", Target::File(self.id))?;
        let size = w.file_mut(self.id)?.current.len() as u64;
        if let Some(limit) = w.space_limit {
            if w.used_bytes() + len.saturating_sub(size) > limit {
                return Err(enospc("the space limit is reached"));
            }
        }
        let f = w.file_mut(self.id)?;
        f.current.resize(len as usize, 0);
        // Metadata: after a power cut it holds in order with the writes around it.
        f.pending.push(Pending::Truncate(len));
        self.len = len;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut w = self.world.lock();
        let result = w.begin(self.boot, OpKind::Sync, "sync_data", Target::File(self.id));
        if self.boot != w.boot {
            return result;
        }
        let f = w.file_mut(self.id)?;
        let pending = std::mem::take(&mut f.pending);
        // On failure the pending writes are dropped from the durability path for good,
        // as Linux marks the pages clean after a failed fsync.
        if result.is_ok() {
            for op in &pending {
                apply(&mut f.durable, op);
            }
        }
        result
    }

    fn len(&self) -> u64 {
        self.len
    }
}

struct SimReadable {
    world: Arc<Mutex<World>>,
    boot: u64,
    id: u64,
    /// The file's bytes when it was opened, when it was opened as mapped.
    map: Option<Arc<MappedFile>>,
}

impl RandomAccessFile for SimReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(
            self.boot,
            OpKind::Read,
            "read_exact_at",
            Target::File(self.id),
        )?;
        let f = w.file_mut(self.id)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start
            .checked_add(buf.len())
            .and_then(|end| f.current.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the file (simulated)",
            )),
        }
    }

    fn size(&self) -> io::Result<u64> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Metadata, "size", Target::File(self.id))?;
        Ok(w.file_mut(self.id)?.current.len() as u64)
    }

    fn mapped(&self) -> Option<Arc<MappedFile>> {
        self.map.clone()
    }
}

struct SimLock {
    world: Arc<Mutex<World>>,
    boot: u64,
    path: PathBuf,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        let mut w = self.world.lock();
        if w.boot == self.boot {
            w.locks.remove(&self.path);
        }
    }
}

impl FileSystem for SimHandle {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(
            self.boot,
            OpKind::CreateDir,
            "create_dir_all",
            Target::Path(path),
        )?;
        for p in path.ancestors() {
            if !p.as_os_str().is_empty() {
                w.dirs.insert(p.to_path_buf());
            }
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Create, "create", Target::Path(path))?;
        w.check_parent(path)?;
        let id = match w.names.get(path) {
            Some(&id) => {
                let f = w.file_mut(id)?;
                f.current.clear();
                f.pending.push(Pending::Truncate(0));
                id
            }
            None => {
                let id = w.new_file();
                w.names.insert(path.to_path_buf(), id);
                id
            }
        };
        Ok(Box::new(SimWritable {
            world: Arc::clone(&self.world),
            boot: self.boot,
            id,
            len: 0,
        }))
    }

    fn reopen_truncated(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>> {
        let mut w = self.world.lock();
        w.begin(
            self.boot,
            OpKind::Create,
            "reopen_truncated",
            Target::Path(path),
        )?;
        let id = w.id_of(path)?;
        let f = w.file_mut(id)?;
        f.current.resize(len as usize, 0);
        f.pending.push(Pending::Truncate(len));
        Ok(Box::new(SimWritable {
            world: Arc::clone(&self.world),
            boot: self.boot,
            id,
            len,
        }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Read, "open_read", Target::Path(path))?;
        let id = w.id_of(path)?;
        Ok(Arc::new(SimReadable {
            world: Arc::clone(&self.world),
            boot: self.boot,
            id,
            map: None,
        }))
    }

    fn open_read_mapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let mut w = self.world.lock();
        w.begin(
            self.boot,
            OpKind::Read,
            "open_read_mapped",
            Target::Path(path),
        )?;
        let id = w.id_of(path)?;
        // As a real map: the bytes as they are now (the engine maps only finished table
        // files), read later without any file operation, so no fault reaches them.
        let map = if w.maps {
            let bytes = &w.file_mut(id)?.current;
            (!bytes.is_empty()).then(|| Arc::new(MappedFile::from_copy(bytes.clone().into())))
        } else {
            None
        };
        Ok(Arc::new(SimReadable {
            world: Arc::clone(&self.world),
            boot: self.boot,
            id,
            map,
        }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Read, "read_all", Target::Path(path))?;
        let id = w.id_of(path)?;
        Ok(w.file_mut(id)?.current.clone())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Rename, "rename", Target::Path(from))?;
        let id = w.id_of(from)?;
        w.check_parent(to)?;
        w.names.remove(from);
        w.names.insert(to.to_path_buf(), id);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Remove, "remove_file", Target::Path(path))?;
        w.id_of(path)?;
        w.names.remove(path);
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Metadata, "list_dir", Target::Path(path))?;
        if !w.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory (simulated)", path.display()),
            ));
        }
        Ok(list_names(&w, path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::SyncDir, "sync_dir", Target::Path(path))?;
        if !w.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such directory (simulated)", path.display()),
            ));
        }
        let in_dir = |p: &PathBuf| p.parent() == Some(path);
        w.durable_names.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, u64)> = w
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, id)| (p.clone(), *id))
            .collect();
        w.durable_names.extend(now);
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let w = self.world.lock();
        w.boot == self.boot && (w.names.contains_key(path) || w.dirs.contains(path))
    }

    /// The space limit as the disk's size, what the live files leave of it as free
    /// space; `None` without a limit.
    fn disk_space(&self, _path: &Path) -> io::Result<Option<DiskSpace>> {
        let mut w = self.world.lock();
        w.begin(
            self.boot,
            OpKind::Metadata,
            "disk_space",
            Target::Path(_path),
        )?;
        Ok(w.space_limit.map(|total| DiskSpace {
            total,
            available: total.saturating_sub(w.used_bytes()),
        }))
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Metadata, "file_size", Target::Path(path))?;
        let id = w.id_of(path)?;
        Ok(w.file_mut(id)?.current.len() as u64)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let mut w = self.world.lock();
        w.begin(self.boot, OpKind::Lock, "lock", Target::Path(path))?;
        w.check_parent(path)?;
        if w.locks.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the lock is held by another handle (simulated)",
            ));
        }
        if !w.names.contains_key(path) {
            let id = w.new_file();
            w.names.insert(path.to_path_buf(), id);
        }
        w.locks.insert(path.to_path_buf());
        Ok(Box::new(SimLock {
            world: Arc::clone(&self.world),
            boot: self.boot,
            path: path.to_path_buf(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SimFileSystem, Arc<dyn FileSystem>, PathBuf) {
        let sim = SimFileSystem::new();
        let fs = sim.handle();
        let dir = PathBuf::from("/db");
        fs.create_dir_all(&dir).expect("mkdir");
        (sim, fs, dir)
    }

    #[test]
    fn mapped_reads_hand_out_the_bytes_at_open_and_cost_no_operations() {
        for on in [false, true] {
            let sim = SimFileSystem::new().with_mapped_reads(on);
            let fs = sim.handle();
            let dir = PathBuf::from("/db");
            fs.create_dir_all(&dir).expect("mkdir");
            let path = dir.join("000007.sst");
            let mut f = fs.create(&path).expect("create");
            f.append(b"table bytes").expect("append");
            f.sync_data().expect("sync");
            let empty = dir.join("000008.sst");
            fs.create(&empty).expect("create");
            let r = fs.open_read_mapped(&path).expect("open");
            assert_eq!(r.mapped().is_some(), on);
            assert!(fs
                .open_read_mapped(&empty)
                .expect("open")
                .mapped()
                .is_none());
            assert!(fs.open_read(&path).expect("open").mapped().is_none());
            if let Some(map) = r.mapped() {
                let before = sim.op_count();
                assert_eq!(map.bytes(), b"table bytes");
                assert_eq!(sim.op_count(), before, "a mapped read is no file operation");
            }
            let mut buf = [0u8; 5];
            r.read_exact_at(&mut buf, 6).expect("pread still works");
            assert_eq!(&buf, b"bytes");
        }
    }

    #[test]
    fn synced_data_and_names_survive_unsynced_may_not() {
        let (sim, fs, dir) = setup();
        let a = dir.join("a");
        let mut f = fs.create(&a).expect("create");
        f.append(b"durable").expect("append");
        f.sync_data().expect("sync");
        fs.sync_dir(&dir).expect("sync dir");
        f.append(b" pending").expect("append");
        let b = dir.join("b");
        let mut g = fs.create(&b).expect("create b");
        g.append(b"never named durably").expect("append");
        g.sync_data().expect("sync");
        assert_eq!(sim.read_file(&a).expect("a"), b"durable pending");

        sim.power_cut_with(
            1,
            PowerCutPolicy {
                mode: CutMode::DropAll,
                ..Default::default()
            },
        );
        assert_eq!(sim.read_file(&a).expect("a"), b"durable");
        assert!(sim.read_file(&b).is_none(), "an unsynced name vanishes");
        // The old handles belong to the previous boot.
        assert!(f.append(b"x").is_err());
        assert!(fs.read_all(&a).is_err());
        assert!(!fs.exists(&a));
        let fs = sim.handle();
        assert_eq!(fs.read_all(&a).expect("read"), b"durable");
    }

    #[test]
    fn renames_need_a_directory_sync() {
        let (sim, fs, dir) = setup();
        let tmp = dir.join("CURRENT.tmp");
        let cur = dir.join("CURRENT");
        sim.write_file(&cur, b"old").expect("seed");
        let mut f = fs.create(&tmp).expect("create");
        f.append(b"new").expect("append");
        f.sync_data().expect("sync");
        fs.rename(&tmp, &cur).expect("rename");
        let sim2 = sim.clone();
        sim.power_cut(3);
        assert_eq!(sim2.read_file(&cur).expect("cur"), b"old");
        assert!(sim2.read_file(&tmp).is_none());

        let fs = sim.handle();
        let mut f = fs.create(&tmp).expect("create");
        f.append(b"new").expect("append");
        f.sync_data().expect("sync");
        fs.rename(&tmp, &cur).expect("rename");
        fs.sync_dir(&dir).expect("sync dir");
        sim.power_cut(4);
        assert_eq!(sim.read_file(&cur).expect("cur"), b"new");
        assert_eq!(sim.list(&dir), vec!["CURRENT"]);
    }

    #[test]
    fn torn_writes_keep_whole_sectors_only() {
        for seed in 0..200 {
            let (sim, fs, dir) = setup();
            let p = dir.join("log");
            let mut f = fs.create(&p).expect("create");
            f.append(&[7u8; 100]).expect("append");
            f.sync_data().expect("sync");
            fs.sync_dir(&dir).expect("sync dir");
            let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
            f.append(&data).expect("append");
            sim.power_cut_with(
                seed,
                PowerCutPolicy {
                    mode: CutMode::Prefix,
                    sector: Some(512),
                    fill: Fill::Zeros,
                },
            );
            let img = sim.read_file(&p).expect("file");
            assert_eq!(&img[..100], &[7u8; 100], "the synced prefix stays");
            // What survived of the write is exact up to a sector boundary, zeros after.
            let tail = &img[100..];
            let exact = tail.iter().zip(&data).take_while(|(a, b)| a == b).count();
            let exact_end = 100 + exact;
            assert!(
                exact == data.len() || exact_end % 512 == 0 || exact == 0,
                "seed {seed}: torn inside a sector at {exact_end}"
            );
            assert!(tail[exact..].iter().all(|&b| b == 0), "seed {seed}");
        }
    }

    #[test]
    fn overwrites_are_pending_writes_and_set_len_is_metadata() {
        let cut_with = |mode: CutMode, sector: u64, seed: u64| {
            let (sim, fs, dir) = setup();
            let p = dir.join("log");
            let mut f = fs.create(&p).expect("create");
            f.append(&[7u8; 100]).expect("append");
            f.append(&[0u8; 8092]).expect("zeros");
            f.sync_data().expect("sync");
            fs.sync_dir(&dir).expect("sync dir");
            // Overwrites of durable zeros, unsynced: like appends, kept, lost or torn.
            let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8 + 1).collect();
            f.write_at(100, &data).expect("overwrite");
            assert_eq!(f.len(), 8192);
            sim.power_cut_with(
                seed,
                PowerCutPolicy {
                    mode,
                    sector: Some(sector),
                    fill: Fill::Zeros,
                },
            );
            (sim.read_file(&p).expect("file"), data)
        };
        let (img, data) = cut_with(CutMode::KeepAll, 512, 1);
        assert_eq!(img.len(), 8192);
        assert_eq!(&img[100..3100], &data[..]);
        let (img, _) = cut_with(CutMode::DropAll, 512, 1);
        assert_eq!(img.len(), 8192, "the durable size stays");
        assert!(img[100..].iter().all(|&b| b == 0), "the durable zeros stay");
        for seed in 0..50 {
            let (img, data) = cut_with(CutMode::Prefix, 512, seed);
            assert_eq!(img.len(), 8192, "seed {seed}");
            let tail = &img[100..3100];
            let exact = tail.iter().zip(&data).take_while(|(a, b)| a == b).count();
            assert!(
                exact == data.len() || (100 + exact) % 512 == 0 || exact == 0,
                "seed {seed}: torn inside a sector"
            );
            assert!(tail[exact..].iter().all(|&b| b == 0), "seed {seed}");
        }

        // set_len: seen at once, durable with the next sync, in order with the writes.
        let (sim, fs, dir) = setup();
        let p = dir.join("log");
        let mut f = fs.create(&p).expect("create");
        f.append(&[1u8; 4096]).expect("append");
        f.sync_data().expect("sync");
        fs.sync_dir(&dir).expect("sync dir");
        f.set_len(1000).expect("cut");
        assert_eq!(f.len(), 1000);
        assert_eq!(fs.read_all(&p).expect("read").len(), 1000);
        f.append(b"end").expect("append at the new end");
        assert_eq!(fs.read_all(&p).expect("read").len(), 1003);
        f.sync_data().expect("sync");
        sim.power_cut_with(
            2,
            PowerCutPolicy {
                mode: CutMode::DropAll,
                ..Default::default()
            },
        );
        let img = sim.read_file(&p).expect("file");
        assert_eq!(img.len(), 1003);
        assert_eq!(&img[1000..], b"end");
    }

    #[test]
    fn only_growth_counts_against_the_space_limit() {
        let (sim, fs, dir) = setup();
        let mut f = fs.create(&dir.join("f")).expect("create");
        f.append(&[0u8; 100]).expect("append");
        sim.set_space_limit(Some(100));
        f.write_at(0, &[9u8; 100])
            .expect("an overwrite needs no space");
        let full = |e: io::Error| e.kind() == io::ErrorKind::StorageFull;
        assert!(f.write_at(99, &[9u8; 2]).map_err(full).expect_err("grows"));
        assert!(f.set_len(101).map_err(full).expect_err("grows"));
        f.set_len(50).expect("shrinking needs no space");
    }

    #[test]
    fn the_space_limit_is_the_disk_size_and_faults_reach_disk_space() {
        let (sim, fs, dir) = setup();
        assert_eq!(
            fs.disk_space(&dir).expect("space"),
            None,
            "no limit, no size"
        );
        let mut f = fs.create(&dir.join("f")).expect("create");
        f.append(&[0u8; 300]).expect("append");
        sim.set_space_limit(Some(1000));
        let space = fs.disk_space(&dir).expect("space").expect("a size");
        assert_eq!((space.total, space.available), (1000, 700));
        f.append(&[0u8; 200]).expect("append");
        assert_eq!(
            fs.disk_space(&dir).expect("space").map(|s| s.available),
            Some(500)
        );
        sim.set_fault(Some(FaultPlan::once(1).only(&[OpKind::Metadata])));
        assert!(
            fs.disk_space(&dir).is_err(),
            "a failing device fails the query"
        );
    }

    #[test]
    fn failed_fsync_loses_the_pending_writes_for_good() {
        let (sim, fs, dir) = setup();
        let p = dir.join("wal");
        let mut f = fs.create(&p).expect("create");
        fs.sync_dir(&dir).expect("sync dir");
        f.append(b"abc").expect("append");
        sim.set_fault(Some(FaultPlan::once(1).only(&[OpKind::Sync])));
        assert!(f.sync_data().is_err());
        assert_eq!(sim.faults_injected(), 1);
        // Reads still see it, a later sync "succeeds", and still the disk never got it.
        assert_eq!(fs.read_all(&p).expect("read"), b"abc");
        f.sync_data().expect("second sync");
        sim.power_cut_with(
            9,
            PowerCutPolicy {
                mode: CutMode::KeepAll,
                ..Default::default()
            },
        );
        assert_eq!(sim.read_file(&p).expect("file"), b"");
    }

    #[test]
    fn fault_plans_count_operations() {
        let (sim, fs, dir) = setup();
        let before = sim.op_count();
        sim.set_fault(Some(FaultPlan::from_nth(2).with_error(FaultError::NoSpace)));
        let mut f = fs.create(&dir.join("x")).expect("op 1 passes");
        let err = f.append(b"a").expect_err("op 2 fails");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(f.append(b"a").is_err(), "persistent");
        assert_eq!(sim.op_count() - before, 3);
        sim.set_fault(None);
        f.append(b"a").expect("cleared");
        sim.set_space_limit(Some(2));
        f.append(b"b").expect("fits");
        assert_eq!(
            f.append(b"c").expect_err("full").kind(),
            io::ErrorKind::StorageFull
        );
    }

    #[test]
    fn locks_are_exclusive_and_released_by_a_crash() {
        let (sim, fs, dir) = setup();
        let l = dir.join("LOCK");
        let held = fs.lock(&l).expect("lock");
        assert_eq!(
            fs.lock(&l).err().expect("held").kind(),
            io::ErrorKind::WouldBlock
        );
        drop(held);
        let held = fs.lock(&l).expect("relock");
        sim.process_crash();
        let fs2 = sim.handle();
        fs2.lock(&l).expect("lock after crash");
        drop(held);
    }
}
