//! The one file-system layer every byte of the engine goes through.
//!
//! Keeping all file access behind [`FileSystem`] lets tests swap the real disk
//! for a simulated one that drops unsynced writes or fails the Nth operation,
//! which is how the crash and fault-injection suites prove durability.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file opened for writing (log segments, table files being built, manifests).
///
/// Most files are only appended to. The log also overwrites in place: it fills its
/// segment with zeros ahead of the records and then writes the records over them, so a
/// sync only has to write data, not a new file size (see `storage::wal`).
pub trait WritableFile: Send + Sync {
    /// Appends all of `data` at the end of the file (at [`len`](Self::len)).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Writes all of `data` at `offset`, over what is there; past the end it grows the file
    /// (a gap reads as zeros). Like an append, it is durable only after
    /// [`sync_data`](Self::sync_data), and a crash before may keep it, lose it or tear it.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Cuts the file to `len` bytes, or grows it with zeros (a sparse hole on most file
    /// systems, so not a substitute for writing zeros). Durable after
    /// [`sync_data`](Self::sync_data).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Makes everything written so far durable (fdatasync), the file size included.
    fn sync_data(&mut self) -> io::Result<()>;
    /// The file's size as this handle left it: the end of the furthest write, or what
    /// [`set_len`](Self::set_len) set.
    fn len(&self) -> u64;
    /// True when nothing was written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file opened for positional reads (table files).
pub trait RandomAccessFile: Send + Sync {
    /// Fills `buf` from `offset`; a short file is an `UnexpectedEof` error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// The whole file mapped read-only, when the file was opened with
    /// [`FileSystem::open_read_mapped`] and the file system maps files; `None` otherwise
    /// (every read then goes through [`read_exact_at`](Self::read_exact_at)).
    fn mapped(&self) -> Option<Arc<MappedFile>> {
        None
    }
}

/// A whole file mapped read-only into memory. Readers hold it by `Arc`, and reach its
/// bytes with a plain (inlined, non-virtual) call, since a scan does so on every step.
pub struct MappedFile {
    map: MapRepr,
}

enum MapRepr {
    /// A read-only memory map of the file.
    Map(memmap2::Mmap),
    /// A copy of the file's bytes, for file systems without maps (the simulated disk):
    /// the engine reads it exactly as it reads a map.
    Copy(Box<[u8]>),
}

impl MappedFile {
    /// A file whose bytes are `bytes` (a file system that cannot map a finished, never
    /// rewritten file may hand out a copy instead, as the simulated disk does).
    pub fn from_copy(bytes: Box<[u8]>) -> Self {
        Self {
            map: MapRepr::Copy(bytes),
        }
    }

    /// The file's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            MapRepr::Map(m) => m,
            MapRepr::Copy(b) => b,
        }
    }

    /// Whether bytes `start..start + len` sit in memory right now (every page of them in the
    /// OS page cache), so reading them cannot wait for the disk. A read that must not block
    /// (a JavaScript thread answering a Promise in place) asks this first. The answer is a
    /// moment's: the kernel may evict a page just after. A range outside the file is `false`.
    pub fn is_resident(&self, start: usize, len: usize) -> bool {
        match &self.map {
            MapRepr::Map(m) => start
                .checked_add(len)
                .is_some_and(|end| end <= m.len() && pages_resident(m, start, end)),
            MapRepr::Copy(b) => start.checked_add(len).is_some_and(|end| end <= b.len()),
        }
    }
}

/// The system's page size (fixed for the life of the process).
#[expect(unsafe_code, reason = "sysconf is a C call")]
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the running system and touches no memory of ours.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n)
            .ok()
            .filter(|n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Whether every page of `map[start..end]` is in the page cache (`mincore`); `end` is
/// within the map and `start < end` or the range is empty (then `true`).
#[expect(
    unsafe_code,
    reason = "mincore takes a raw address range and an output vector"
)]
fn pages_resident(map: &memmap2::Mmap, start: usize, end: usize) -> bool {
    if start >= end {
        return true;
    }
    let page = page_size();
    let base = map.as_ptr() as usize;
    // The map starts on a page boundary, so rounding the offsets keeps the range inside it.
    let first = (base + start) & !(page - 1);
    let last = base + end;
    let pages = (last - first).div_ceil(page);
    let mut small = [0u8; 32];
    let mut large = Vec::new();
    let vec: &mut [u8] = if pages <= small.len() {
        &mut small[..pages]
    } else {
        large.resize(pages, 0);
        &mut large
    };
    // SAFETY: `first..last` lies within the live read-only map `map` (its start is the map's
    // page-aligned base or a page boundary after it, `end <= map.len()`), which `map`
    // keeps mapped for the call; `vec` has one writable byte per page of that range, as
    // mincore requires. mincore only reads the page tables and writes `vec`.
    let rc = unsafe { libc::mincore(first as *mut libc::c_void, last - first, vec.as_mut_ptr()) };
    rc == 0 && vec.iter().all(|b| b & 1 == 1)
}

/// A held exclusive lock on a database directory; released when dropped.
pub trait DirLock: Send + Sync {}

/// All the file operations the engine performs.
pub trait FileSystem: Send + Sync + 'static {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing file for appending at its end, first cutting it to `len` bytes.
    fn reopen_truncated(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing file for positional reads.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Opens an immutable file for reads through a read-only memory map, so a read is a
    /// memory access served by the OS page cache instead of a system call and a copy.
    /// File systems that cannot map fall back to [`open_read`](Self::open_read).
    ///
    /// Only for files nothing writes or truncates while they are open (finished tables):
    /// a mapped page the kernel cannot read back (a disk error, a file truncated by
    /// another program) ends the process with `SIGBUS`.
    fn open_read_mapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.open_read(path)
    }
    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not full paths).
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// True when the path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Size of a file in bytes.
    fn file_size(&self, path: &Path) -> io::Result<u64>;
    /// Takes an exclusive, non-blocking lock on `path` (created if absent).
    /// Fails with `WouldBlock` when another holder has it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>>;
    /// The size and free space of the file system holding `path`, for the health
    /// monitor's disk check; `None` when this file system cannot tell (the default).
    fn disk_space(&self, path: &Path) -> io::Result<Option<DiskSpace>> {
        let _ = path;
        Ok(None)
    }
}

/// The size and free space of a file system, from [`FileSystem::disk_space`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskSpace {
    /// Bytes the file system holds.
    pub total: u64,
    /// Bytes an unprivileged writer can still use.
    pub available: u64,
}

/// The real file system (std::fs on a Unix-like OS).
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFileSystem;

struct StdWritable {
    file: File,
    len: u64,
}

impl WritableFile for StdWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        // Positional, so appends stay at the end whatever `write_at` and `set_len` did
        // (neither moves the file cursor).
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)?;
        self.len = self.len.max(offset + data.len() as u64);
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        self.len = len;
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// A file opened for positional reads, and mapped read-only when opened with
/// `open_read_mapped` (`None` otherwise, and for an empty file, which cannot be mapped).
struct StdRandomAccess {
    file: File,
    map: Option<Arc<MappedFile>>,
}

impl RandomAccessFile for StdRandomAccess {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn mapped(&self) -> Option<Arc<MappedFile>> {
        self.map.clone()
    }
}

struct StdLock {
    // Held only for its lock; the OS releases it when the file is closed.
    _file: File,
}

impl DirLock for StdLock {}

impl FileSystem for StdFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(StdWritable { file, len: 0 }))
    }

    fn reopen_truncated(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        // Appends are positional (at `len`): no seek needed.
        Ok(Box::new(StdWritable { file, len }))
    }

    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        Ok(Arc::new(StdRandomAccess { file, map: None }))
    }

    #[expect(
        unsafe_code,
        reason = "memmap2::Mmap::map is unsafe: the file must not change under the map"
    )]
    fn open_read_mapped(&self, path: &Path) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let map = if file.metadata()?.len() == 0 {
            None
        } else {
            // SAFETY: the map is read-only, and the engine maps
            // only finished table files, which it never writes, truncates or reuses (a new
            // table always gets a new number, and a removed one stays readable through
            // the map until the last handle drops). The remaining hazard is outside Rust's
            // model and documented on `open_read_mapped`: another program truncating or
            // rewriting the file, or a disk error, raises SIGBUS on access.
            match unsafe { memmap2::Mmap::map(&file) } {
                Ok(map) => Some(Arc::new(MappedFile {
                    map: MapRepr::Map(map),
                })),
                // Out of map slots or address space: read this file with `pread` instead.
                Err(_) => None,
            }
        };
        Ok(Arc::new(StdRandomAccess { file, map }))
    }

    fn read_all(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn file_size(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.len())
    }

    #[cfg(unix)]
    fn disk_space(&self, path: &Path) -> io::Result<Option<DiskSpace>> {
        let st = rustix::fs::statvfs(path).map_err(io::Error::from)?;
        let unit = st.f_frsize;
        Ok(Some(DiskSpace {
            total: st.f_blocks.saturating_mul(unit),
            // What an unprivileged writer may use (f_bavail), as `df` reports it.
            available: st.f_bavail.saturating_mul(unit),
        }))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // A process that forks (to run any child program) lends its open files, and so
        // its locks, to the child until the child's exec closes them: a lock released
        // just before can look held for that instant. A few short retries ride that out
        // without making a truly locked database slow to report.
        for attempt in 0..20 {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(StdLock { _file: file })),
                Err(fs::TryLockError::WouldBlock) if attempt < 19 => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => break,
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "the lock is held by another process or handle",
        ))
    }
}

/// Writes `data` to `path` the safe way: a temporary name, synced, renamed over
/// `path`, then the directory synced, so a crash leaves either the old or the new file.
pub fn write_file_atomic(fs: &dyn FileSystem, path: &Path, data: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let mut file = fs.create(&tmp)?;
    file.append(data)?;
    file.sync_data()?;
    drop(file);
    fs.rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        fs.sync_dir(dir)?;
    }
    Ok(())
}

/// The temporary name a file is written under before it is renamed into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("CURRENT");
        write_file_atomic(&fs, &path, b"one").expect("write");
        write_file_atomic(&fs, &path, b"two").expect("write");
        assert_eq!(fs.read_all(&path).expect("read"), b"two");
        assert_eq!(fs.list_dir(dir.path()).expect("list"), vec!["CURRENT"]);
    }

    #[test]
    fn second_lock_is_refused_until_first_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("LOCK");
        let first = fs.lock(&path).expect("first lock");
        let err = fs.lock(&path).err().expect("second lock must fail");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        fs.lock(&path).expect("lock after release");
    }

    #[test]
    fn positional_reads_and_truncated_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("f");
        let mut w = fs.create(&path).expect("create");
        w.append(b"hello world").expect("append");
        w.sync_data().expect("sync");
        assert_eq!(w.len(), 11);
        drop(w);
        let r = fs.open_read(&path).expect("open");
        let mut buf = [0u8; 5];
        r.read_exact_at(&mut buf, 6).expect("read");
        assert_eq!(&buf, b"world");
        assert!(r.read_exact_at(&mut buf, 8).is_err());
        let mut w = fs.reopen_truncated(&path, 5).expect("reopen");
        w.append(b"!").expect("append");
        drop(w);
        assert_eq!(fs.read_all(&path).expect("read"), b"hello!");
    }

    // `disk_space` on a real folder and on paths statvfs refuses.
    #[test]
    fn disk_space_of_real_missing_and_bad_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let space = StdFileSystem
            .disk_space(dir.path())
            .expect("statvfs")
            .expect("known");
        assert!(space.total > 0 && space.available <= space.total);
        let missing = dir.path().join("missing");
        let err = StdFileSystem
            .disk_space(&missing)
            .expect_err("missing path");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let nul = Path::new("a\0b");
        let err = StdFileSystem.disk_space(nul).expect_err("NUL byte");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(
            StdFileSystem.disk_space(Path::new("")).is_err(),
            "empty path"
        );
    }

    // Boundary cases of the one unsafe site here, `open_read_mapped` (see UNSAFE.md).

    #[test]
    fn an_empty_file_is_not_mapped_and_reads_as_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("empty");
        drop(fs.create(&path).expect("create"));
        let r = fs.open_read_mapped(&path).expect("open");
        assert!(r.mapped().is_none(), "a zero-length file cannot be mapped");
        assert_eq!(r.size().expect("size"), 0);
        let mut one = [0u8; 1];
        assert!(r.read_exact_at(&mut one, 0).is_err());
        assert!(r.read_exact_at(&mut [], 0).is_ok());
    }

    #[test]
    fn mapped_bytes_match_the_file_at_page_edges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        for len in [1usize, 4095, 4096, 4097, 3 * 4096 + 17] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut w = fs.create(&path).expect("create");
            w.append(&data).expect("append");
            w.sync_data().expect("sync");
            drop(w);
            let r = fs.open_read_mapped(&path).expect("open");
            let map = r.mapped().expect("mapped");
            assert_eq!(map.bytes(), &data[..], "len {len}");
            assert_eq!(map.bytes().last(), data.last());
            // Positional reads agree with the map, up to the last byte and not past it.
            let mut last = [0u8; 1];
            r.read_exact_at(&mut last, len as u64 - 1)
                .expect("last byte");
            assert_eq!(last[0], data[len - 1]);
            assert!(r.read_exact_at(&mut last, len as u64).is_err());
        }
    }

    #[test]
    fn a_mapped_file_stays_readable_after_it_is_removed() {
        // The engine removes table files that readers may still hold: the map keeps the
        // pages alive until the last handle drops.
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("table");
        let mut w = fs.create(&path).expect("create");
        w.append(&[7u8; 10_000]).expect("append");
        drop(w);
        let r = fs.open_read_mapped(&path).expect("open");
        let map = r.mapped().expect("mapped");
        drop(r);
        fs.remove_file(&path).expect("remove");
        assert!(!fs.exists(&path));
        assert!(map.bytes().iter().all(|&b| b == 7));
        assert_eq!(map.bytes().len(), 10_000);
    }

    #[test]
    fn a_file_grown_after_mapping_keeps_its_mapped_length() {
        // A finished table never grows; if a file did, the map shows what was there when
        // it was mapped, and never reaches past its own end.
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("f");
        let mut w = fs.create(&path).expect("create");
        w.append(b"abc").expect("append");
        let r = fs.open_read_mapped(&path).expect("open");
        w.append(&[1u8; 8192]).expect("grow");
        assert_eq!(r.mapped().expect("mapped").bytes(), b"abc");
    }

    // Boundary cases of `MappedFile::is_resident` (mincore, see UNSAFE.md).

    fn mapped_file_of(dir: &Path, name: &str, len: usize) -> (PathBuf, Arc<MappedFile>) {
        let fs = StdFileSystem;
        let path = dir.join(name);
        let mut w = fs.create(&path).expect("create");
        w.append(&vec![5u8; len]).expect("append");
        w.sync_data().expect("sync");
        drop(w);
        let r = fs.open_read_mapped(&path).expect("open");
        (path, r.mapped().expect("mapped"))
    }

    #[test]
    fn residency_of_ranges_at_and_past_the_edges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let len = 3 * 4096 + 17;
        let (_, map) = mapped_file_of(dir.path(), "f", len);
        // Touch every page so all of them are in memory.
        assert_eq!(
            map.bytes().iter().map(|&b| b as usize).sum::<usize>(),
            5 * len
        );
        for (start, n) in [
            (0, 0),
            (len, 0),
            (0, len),
            (4095, 2),
            (4096, 4096),
            (len - 1, 1),
        ] {
            assert!(map.is_resident(start, n), "{start}+{n}");
        }
        for (start, n) in [
            (len, 1),
            (len - 1, 2),
            (len + 4096, 0),
            (usize::MAX, 1),
            (1, usize::MAX),
        ] {
            assert!(
                !map.is_resident(start, n),
                "{start}+{n} is outside the file"
            );
        }
        let copy = MappedFile::from_copy(vec![1u8; 10].into_boxed_slice());
        assert!(copy.is_resident(0, 10) && copy.is_resident(10, 0));
        assert!(!copy.is_resident(5, 6) && !copy.is_resident(usize::MAX, 2));
    }

    #[test]
    fn residency_spans_more_pages_than_the_stack_vector() {
        let dir = tempfile::tempdir().expect("tempdir");
        let len = 50 * 4096 + 3;
        let (_, map) = mapped_file_of(dir.path(), "big", len);
        assert_eq!(map.bytes().iter().filter(|&&b| b == 5).count(), len);
        assert!(map.is_resident(0, len));
        assert!(map.is_resident(17, len - 17));
    }

    #[test]
    #[expect(unsafe_code, reason = "posix_fadvise is a C call")]
    fn pages_dropped_from_the_page_cache_are_not_resident_until_read() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().expect("tempdir");
        let len = 16 * 4096;
        let path = dir.path().join("cold");
        let mut w = StdFileSystem.create(&path).expect("create");
        w.append(&vec![9u8; len]).expect("append");
        w.sync_data().expect("sync");
        drop(w);
        let file = File::open(&path).expect("open");
        // SAFETY: a valid open descriptor; the call only advises the kernel about its pages.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
        let r = StdFileSystem.open_read_mapped(&path).expect("map");
        let map = r.mapped().expect("mapped");
        assert!(!map.is_resident(0, len), "synced clean pages were dropped");
        assert!(map.is_resident(0, 0), "an empty range needs nothing");
        assert_eq!(map.bytes()[5 * 4096 + 1], 9);
        assert!(
            map.is_resident(5 * 4096, 4096),
            "the page just read is in memory"
        );
    }

    #[test]
    fn overwrites_set_len_and_appends_agree_on_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fs = StdFileSystem;
        let path = dir.path().join("f");
        let mut w = fs.create(&path).expect("create");
        w.append(&[0u8; 16]).expect("zeros");
        w.write_at(2, b"abc").expect("overwrite");
        assert_eq!(w.len(), 16, "an overwrite inside the file keeps its size");
        w.write_at(14, b"xyz").expect("overwrite past the end");
        assert_eq!(w.len(), 17);
        w.set_len(5).expect("cut");
        assert_eq!(w.len(), 5);
        // Appends go to the new end, not where the last write left off.
        w.append(b"!").expect("append");
        w.sync_data().expect("sync");
        assert_eq!(fs.read_all(&path).expect("read"), b"\0\0abc!");
        w.write_at(8, b"z").expect("past the end with a gap");
        assert_eq!(fs.read_all(&path).expect("read"), b"\0\0abc!\0\0z");
        assert_eq!(w.len(), 9);
    }
}
