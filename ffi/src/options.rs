//! `lightning_options`: the settings a database is opened with.

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use ::lightning_db::{
    ChecksumAlgorithm, Durability, EncryptionKey, IntegrityLevel, LightningDbConfig,
};
use parking_lot::Mutex;

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::error::{ffi_call, Fail};
use crate::handle::{self, Handle, Kind};
use crate::mem;

/// Settings for `lightning_db_open`: made by `lightning_options_new` (defaults) or
/// `lightning_options_from_json`, changed with the `lightning_options_set_*` functions,
/// released by `lightning_options_free`. Opening copies them, so one `lightning_options` may
/// open several databases and be freed right after.
///
/// Setters store a value without judging it; `lightning_db_open` (or
/// `lightning_options_validate`) checks every field and refuses an out-of-range one with
/// `LIGHTNING_CONFIGURATION_ERROR`, naming the field in the last error's text.
///
/// Thread-safety: use one `lightning_options` from one thread at a time.
pub struct lightning_options {
    _private: [u8; 0],
}

/// When a committed write reaches stable storage (`lightning_options_set_durability`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lightning_durability {
    /// Every commit waits for its log record to be synced (`fdatasync`): acknowledged writes
    /// survive a power loss. Concurrent commits share one sync. The default.
    Sync = 0,
    /// The log is synced periodically by a background thread (every 100 ms, or the interval
    /// given to `lightning_options_set_sync_interval_ms`); a power loss may lose the writes
    /// of the last interval.
    Periodic = 1,
    /// The log is never synced explicitly; a process crash loses nothing, a power loss may
    /// lose every write since the last table flush.
    NoSync = 2,
}

/// Checksum algorithm of new files (`lightning_options_set_checksum_algorithm`); the values
/// are the on-disk ids.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lightning_checksum_algorithm {
    /// BLAKE3: cryptographic, also detects deliberate tampering; slower.
    Blake3 = 1,
    /// XXH64: fast, detects accidental damage. The default.
    Xxh64 = 2,
    /// CRC-32: for tools that expect it; the weakest.
    Crc32 = 3,
}

/// How thoroughly stored data is checked (`lightning_options_set_integrity_level`); each
/// level includes the checks of the ones before it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lightning_integrity_level {
    /// Checksums of every block, record and footer read.
    Basic = 0,
    /// Checksums plus structure (lengths, offsets, magic numbers, key order). The default.
    Standard = 1,
    /// Structure plus consistency of tables, sequence numbers and levels with the manifest.
    Comprehensive = 2,
    /// Every check, every block verified on every read, background verification.
    Paranoid = 3,
}

/// The object behind a `lightning_options` handle.
pub(crate) struct OptionsHandle {
    pub(crate) config: Mutex<LightningDbConfig>,
}

impl Handle for OptionsHandle {
    const KIND: Kind = Kind::Options;
}

fn new_handle(
    config: LightningDbConfig,
    out: OutPtr<*mut lightning_options>,
) -> Result<c_int, Fail> {
    let token = handle::insert(Arc::new(OptionsHandle {
        config: Mutex::new(config),
    }))?;
    out.write(handle::pointer(token));
    Ok(LIGHTNING_OK)
}

/// Creates options holding the defaults (64 MiB cache, LZ4 compression, synced commits,
/// 64 KiB keys, 16 MiB values, XXH64 checksums, standard integrity checks).
/// Free them with `lightning_options_free`.
#[no_mangle]
pub extern "C" fn lightning_options_new(out_opts: *mut *mut lightning_options) -> c_int {
    ffi_call("lightning_options_new", |_| {
        let out = OutPtr::required(out_opts, "out_opts")?;
        new_handle(LightningDbConfig::default(), out)
    })
}

/// Creates options from a JSON document in the format of the Rust `LightningDbConfig`
/// (every field optional: `{}` gives the defaults; durations as `"30s"`, `"100ms"`), for
/// example `{"cache_size": 1048576, "durability": "NoSync", "security": {"validation_level":
/// "Paranoid"}}`. Malformed JSON, an unknown field or a wrongly typed value gives
/// `LIGHTNING_CONFIGURATION_ERROR`, naming the field in the last error. A `path` field is
/// ignored by `lightning_db_open`, which takes the path as its argument.
#[no_mangle]
pub extern "C" fn lightning_options_from_json(
    config_json: *const c_char,
    out_opts: *mut *mut lightning_options,
) -> c_int {
    ffi_call("lightning_options_from_json", |_| {
        let out = OutPtr::required(out_opts, "out_opts")?;
        let json = args::text(config_json, "config_json")?;
        let config = LightningDbConfig::from_json(json)?;
        new_handle(config, out)
    })
}

/// Releases options. NULL, or options already freed, are ignored.
#[no_mangle]
pub extern "C" fn lightning_options_free(opts: *mut lightning_options) {
    ffi_call("lightning_options_free", |_| {
        if !opts.is_null() {
            handle::remove::<OptionsHandle>(handle::token(opts), "opts")?;
        }
        Ok(LIGHTNING_OK)
    });
}

/// Runs `f` on the configuration behind `opts`.
pub(crate) fn with_config(
    opts: *const lightning_options,
    f: impl FnOnce(&mut LightningDbConfig) -> Result<(), Fail>,
) -> Result<c_int, Fail> {
    let h = handle::get::<OptionsHandle>(handle::token(opts), "opts")?;
    let mut config = h.config.lock();
    f(&mut config)?;
    Ok(LIGHTNING_OK)
}

/// The configuration behind an options handle (a copy).
pub(crate) fn config_of(opts: *const lightning_options) -> Result<LightningDbConfig, Fail> {
    let h = handle::get::<OptionsHandle>(handle::token(opts), "opts")?;
    let config = h.config.lock().clone();
    Ok(config)
}

fn unknown(what: &str, value: impl std::fmt::Display, allowed: &str) -> Fail {
    Fail::invalid(format!("unknown {what} {value}; expected {allowed}"))
}

/// Sets the block cache size in bytes (at least 64 KiB and one block; default 64 MiB).
#[no_mangle]
pub extern "C" fn lightning_options_set_cache_size(
    opts: *mut lightning_options,
    bytes: u64,
) -> c_int {
    ffi_call("lightning_options_set_cache_size", |_| {
        with_config(opts, |c| {
            c.cache_size = bytes;
            Ok(())
        })
    })
}

/// Sets the size in bytes the in-memory write buffer reaches before it is flushed to a table
/// file (64 KiB to 4 GiB; default 64 MiB).
#[no_mangle]
pub extern "C" fn lightning_options_set_write_buffer_size(
    opts: *mut lightning_options,
    bytes: usize,
) -> c_int {
    ffi_call("lightning_options_set_write_buffer_size", |_| {
        with_config(opts, |c| {
            c.write_buffer_size = bytes;
            Ok(())
        })
    })
}

/// Sets the longest key accepted, in bytes (1 to 1 MiB; default 64 KiB). Longer keys get
/// `LIGHTNING_KEY_TOO_LARGE`.
#[no_mangle]
pub extern "C" fn lightning_options_set_max_key_size(
    opts: *mut lightning_options,
    bytes: usize,
) -> c_int {
    ffi_call("lightning_options_set_max_key_size", |_| {
        with_config(opts, |c| {
            c.max_key_size = bytes;
            Ok(())
        })
    })
}

/// Sets the longest value accepted, in bytes (1 to 1 GiB; default 16 MiB). Longer values get
/// `LIGHTNING_VALUE_TOO_LARGE`.
#[no_mangle]
pub extern "C" fn lightning_options_set_max_value_size(
    opts: *mut lightning_options,
    bytes: usize,
) -> c_int {
    ffi_call("lightning_options_set_max_value_size", |_| {
        with_config(opts, |c| {
            c.max_value_size = bytes;
            Ok(())
        })
    })
}

/// Turns LZ4 compression of table blocks on (non-zero, the default) or off (0).
#[no_mangle]
pub extern "C" fn lightning_options_set_compression(
    opts: *mut lightning_options,
    enabled: c_int,
) -> c_int {
    ffi_call("lightning_options_set_compression", |_| {
        with_config(opts, |c| {
            c.compression_enabled = args::flag(enabled);
            Ok(())
        })
    })
}

/// Reads table files through read-only memory maps (non-zero, the default) or with `pread`
/// into the block cache (0). Mapped reads are faster, and a mapped page shows in the
/// process's resident memory as page cache; the cost is that a disk error on a mapped
/// page, or another program truncating a table file, ends the process with `SIGBUS`
/// instead of returning `LIGHTNING_IO_ERROR`.
#[no_mangle]
pub extern "C" fn lightning_options_set_mmap_reads(
    opts: *mut lightning_options,
    enabled: c_int,
) -> c_int {
    ffi_call("lightning_options_set_mmap_reads", |_| {
        with_config(opts, |c| {
            c.mmap_reads = args::flag(enabled);
            Ok(())
        })
    })
}

/// The sync interval `LIGHTNING_DURABILITY_PERIODIC` starts with, in milliseconds.
const DEFAULT_SYNC_INTERVAL_MS: u64 = 100;

/// Sets when commits reach stable storage: `mode` is a `lightning_durability` value. For
/// `LIGHTNING_DURABILITY_PERIODIC` the interval is the one set by
/// `lightning_options_set_sync_interval_ms`, else 100 ms. An unknown `mode` gives
/// `LIGHTNING_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn lightning_options_set_durability(
    opts: *mut lightning_options,
    mode: c_int,
) -> c_int {
    ffi_call("lightning_options_set_durability", |_| {
        let mode = match mode {
            m if m == lightning_durability::Sync as c_int => lightning_durability::Sync,
            m if m == lightning_durability::Periodic as c_int => lightning_durability::Periodic,
            m if m == lightning_durability::NoSync as c_int => lightning_durability::NoSync,
            other => {
                return Err(unknown(
                    "durability mode",
                    other,
                    "LIGHTNING_DURABILITY_SYNC, _PERIODIC or _NO_SYNC",
                ))
            }
        };
        with_config(opts, |c| {
            c.durability = match (mode, c.durability) {
                (lightning_durability::Sync, _) => Durability::Sync,
                (lightning_durability::NoSync, _) => Durability::NoSync,
                (lightning_durability::Periodic, Durability::Periodic(ms)) => {
                    Durability::Periodic(ms)
                }
                (lightning_durability::Periodic, _) => {
                    Durability::Periodic(DEFAULT_SYNC_INTERVAL_MS)
                }
            };
            Ok(())
        })
    })
}

/// Selects `LIGHTNING_DURABILITY_PERIODIC` with the log synced every `interval_ms`
/// milliseconds (1 to 60000, checked when the database opens).
#[no_mangle]
pub extern "C" fn lightning_options_set_sync_interval_ms(
    opts: *mut lightning_options,
    interval_ms: u64,
) -> c_int {
    ffi_call("lightning_options_set_sync_interval_ms", |_| {
        with_config(opts, |c| {
            c.durability = Durability::Periodic(interval_ms);
            Ok(())
        })
    })
}

/// Sets the checksum algorithm of new files: `algorithm` is a `lightning_checksum_algorithm`
/// value (files written with any algorithm stay readable). Sets both the top-level and the
/// `security.` field, so the two never disagree.
#[no_mangle]
pub extern "C" fn lightning_options_set_checksum_algorithm(
    opts: *mut lightning_options,
    algorithm: c_int,
) -> c_int {
    ffi_call("lightning_options_set_checksum_algorithm", |_| {
        let algo = match algorithm {
            a if a == lightning_checksum_algorithm::Blake3 as c_int => ChecksumAlgorithm::Blake3,
            a if a == lightning_checksum_algorithm::Xxh64 as c_int => ChecksumAlgorithm::Xxh64,
            a if a == lightning_checksum_algorithm::Crc32 as c_int => ChecksumAlgorithm::Crc32,
            other => {
                return Err(unknown(
                    "checksum algorithm",
                    other,
                    "LIGHTNING_CHECKSUM_ALGORITHM_BLAKE3, _XXH64 or _CRC32",
                ))
            }
        };
        with_config(opts, |c| {
            c.checksum_algorithm = algo;
            c.security.checksum_algorithm = algo;
            Ok(())
        })
    })
}

/// Sets how thoroughly stored data is checked: `level` is a `lightning_integrity_level`
/// value. Sets both `integrity_validation_level` and `security.validation_level`.
#[no_mangle]
pub extern "C" fn lightning_options_set_integrity_level(
    opts: *mut lightning_options,
    level: c_int,
) -> c_int {
    ffi_call("lightning_options_set_integrity_level", |_| {
        let lvl = integrity_level(level)?;
        with_config(opts, |c| {
            c.integrity_validation_level = lvl;
            c.security.validation_level = lvl;
            Ok(())
        })
    })
}

/// The integrity level named by a `lightning_integrity_level` value.
pub(crate) fn integrity_level(level: c_int) -> Result<IntegrityLevel, Fail> {
    Ok(match level {
        l if l == lightning_integrity_level::Basic as c_int => IntegrityLevel::Basic,
        l if l == lightning_integrity_level::Standard as c_int => IntegrityLevel::Standard,
        l if l == lightning_integrity_level::Comprehensive as c_int => {
            IntegrityLevel::Comprehensive
        }
        l if l == lightning_integrity_level::Paranoid as c_int => IntegrityLevel::Paranoid,
        other => {
            return Err(unknown(
                "integrity level",
                other,
                "LIGHTNING_INTEGRITY_LEVEL_BASIC, _STANDARD, _COMPREHENSIVE or _PARANOID",
            ))
        }
    })
}

/// Sets the target size in bytes of a table data block before compression (512 to 1 MiB;
/// default 4096).
#[no_mangle]
pub extern "C" fn lightning_options_set_block_size(
    opts: *mut lightning_options,
    bytes: usize,
) -> c_int {
    ffi_call("lightning_options_set_block_size", |_| {
        with_config(opts, |c| {
            c.block_size = bytes;
            Ok(())
        })
    })
}

/// Sets the Bloom filter bits per key of table files (0 disables them, at most 64;
/// default 10, about 1% false positives).
#[no_mangle]
pub extern "C" fn lightning_options_set_bloom_bits_per_key(
    opts: *mut lightning_options,
    bits: u32,
) -> c_int {
    ffi_call("lightning_options_set_bloom_bits_per_key", |_| {
        with_config(opts, |c| {
            c.bloom_bits_per_key = bits;
            Ok(())
        })
    })
}

/// Sets how many versions a memtable holds before its searches ask for a seek index (at
/// least 1; default 4096). Smaller values index small memtables too, at 18 bytes per
/// version; a tuning knob, not needed for correctness.
#[no_mangle]
pub extern "C" fn lightning_options_set_memtable_index_min_versions(
    opts: *mut lightning_options,
    versions: usize,
) -> c_int {
    ffi_call("lightning_options_set_memtable_index_min_versions", |_| {
        with_config(opts, |c| {
            c.memtable_index_min_versions = versions;
            Ok(())
        })
    })
}

/// Halts the database when corruption is detected (non-zero, the default) or only records it
/// (0). Corrupted data is never returned either way.
#[no_mangle]
pub extern "C" fn lightning_options_set_fail_on_corruption(
    opts: *mut lightning_options,
    enabled: c_int,
) -> c_int {
    ffi_call("lightning_options_set_fail_on_corruption", |_| {
        with_config(opts, |c| {
            c.fail_on_corruption = args::flag(enabled);
            Ok(())
        })
    })
}

/// Sets `enable_statistics` (non-zero, the default, or 0): whether operations are timed
/// into the latency histograms behind `lightning_db_metrics_json` (every write, one point
/// read in 16 per thread). The operation counters are kept either way.
#[no_mangle]
pub extern "C" fn lightning_options_set_statistics(
    opts: *mut lightning_options,
    enabled: c_int,
) -> c_int {
    ffi_call("lightning_options_set_statistics", |_| {
        with_config(opts, |c| {
            c.enable_statistics = args::flag(enabled);
            Ok(())
        })
    })
}

/// Turns encryption at rest on with `key`, the key-encryption key of `key_len` bytes (it
/// must be 32: `LIGHTNING_INVALID_KEY_MATERIAL` otherwise, the options unchanged). The key
/// is copied (the copy is wiped when the options are freed) and is never written to disk
/// nor into `lightning_options_to_json`. A new database opened with it is encrypted; an
/// encrypted database opens only with its own key (`LIGHTNING_WRONG_KEY`, nothing on disk
/// changed), and a plain database opened with a key is refused
/// (`LIGHTNING_CONFIGURATION_ERROR`). `key` NULL with `key_len` 0 turns encryption off
/// again.
#[no_mangle]
pub extern "C" fn lightning_options_set_encryption_key(
    opts: *mut lightning_options,
    key: *const u8,
    key_len: usize,
) -> c_int {
    ffi_call("lightning_options_set_encryption_key", |_| {
        let key = if key.is_null() && key_len == 0 {
            None
        } else {
            Some(EncryptionKey::from_slice(args::bytes(
                key, key_len, "key",
            )?)?)
        };
        with_config(opts, |c| {
            c.security.enable_encryption = key.is_some();
            c.security.encryption_key = key;
            Ok(())
        })
    })
}

/// Checks every field as `lightning_db_open` will: `LIGHTNING_OK`, or
/// `LIGHTNING_CONFIGURATION_ERROR` with the offending field and its allowed range in
/// `lightning_last_error`.
#[no_mangle]
pub extern "C" fn lightning_options_validate(opts: *const lightning_options) -> c_int {
    ffi_call("lightning_options_validate", |_| {
        config_of(opts)?.validate()?;
        Ok(LIGHTNING_OK)
    })
}

/// Writes the options as a NUL-terminated JSON document, every field included, to
/// `*out_json` (free it with `lightning_free`) and its length without the NUL to `*out_len`
/// (`out_len` may be NULL).
#[no_mangle]
pub extern "C" fn lightning_options_to_json(
    opts: *const lightning_options,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> c_int {
    ffi_call("lightning_options_to_json", |_| {
        let out = OutPtr::required(out_json, "out_json")?;
        let out_len = OutPtr::optional(out_len);
        let json = config_of(opts)?.to_json();
        let (ptr, len) = mem::give(json.into_bytes())?;
        out.write(ptr.cast::<c_char>());
        out_len.write(len);
        Ok(LIGHTNING_OK)
    })
}
