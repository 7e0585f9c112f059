//! The database's own reliability work from C: its circuit breaker, the retries of its
//! background work and self-healing (the options that turn them on, and the breaker's
//! state). What they did is also in `lightning_db_stats_json` (`circuit_breaker`,
//! `background_retries`, `self_healing`) and `lightning_db_health_json` (`self_healing`).

use std::ffi::c_int;
use std::time::Duration;

use ::lightning_db::CircuitState;

use crate::args::{self, OutPtr};
use crate::codes::LIGHTNING_OK;
use crate::db::{lightning_db, resolve};
use crate::error::ffi_call;
use crate::options::{lightning_options, with_config};

/// Where the database's circuit breaker stands (`lightning_db_circuit_breaker_state`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum lightning_circuit_state {
    /// The database was opened without `circuit_breaker_enabled`.
    Disabled = 0,
    /// Operations go through; consecutive I/O failures are counted.
    Closed = 1,
    /// After the recovery timeout: a few trial operations go through; their success closes
    /// the breaker, a failure opens it again.
    HalfOpen = 2,
    /// Writes, flushes, compactions and table reads fail at once with
    /// `LIGHTNING_CIRCUIT_BREAKER_OPEN` until the recovery timeout has passed.
    Open = 3,
}

/// Writes where the database's circuit breaker stands to `*out_state` and, while it is
/// open, the milliseconds until it lets a trial operation through to `*out_retry_after_ms`
/// (0 otherwise; `out_retry_after_ms` may be NULL).
#[no_mangle]
pub extern "C" fn lightning_db_circuit_breaker_state(
    db: *mut lightning_db,
    out_state: *mut lightning_circuit_state,
    out_retry_after_ms: *mut u64,
) -> c_int {
    ffi_call("lightning_db_circuit_breaker_state", |call| {
        let h = resolve(call, db)?;
        let out = OutPtr::required(out_state, "out_state")?;
        let out_retry = OutPtr::optional(out_retry_after_ms);
        let (state, retry) = h.with(|d| {
            Ok(match d.circuit_breaker_state() {
                None => (lightning_circuit_state::Disabled, 0),
                Some(CircuitState::Closed { .. }) => (lightning_circuit_state::Closed, 0),
                Some(CircuitState::HalfOpen { .. }) => (lightning_circuit_state::HalfOpen, 0),
                Some(CircuitState::Open { .. }) => {
                    let stats = d.stats();
                    let ms = stats
                        .circuit_breaker
                        .and_then(|b| b.retry_after_ms)
                        .unwrap_or(0);
                    (lightning_circuit_state::Open, ms)
                }
            })
        })?;
        out.write(state);
        out_retry.write(retry);
        Ok(LIGHTNING_OK)
    })
}

/// Turns the database's circuit breaker on (non-zero `enabled`) or off: after
/// `failure_threshold` consecutive I/O failures (at least 1) of writes, flushes,
/// compactions and table reads, those operations fail at once with
/// `LIGHTNING_CIRCUIT_BREAKER_OPEN` until a trial operation succeeds after
/// `recovery_timeout_ms` (more than 0).
#[no_mangle]
pub extern "C" fn lightning_options_set_circuit_breaker(
    opts: *mut lightning_options,
    enabled: c_int,
    failure_threshold: usize,
    recovery_timeout_ms: u64,
) -> c_int {
    ffi_call("lightning_options_set_circuit_breaker", |_| {
        with_config(opts, |c| {
            c.circuit_breaker_enabled = args::flag(enabled);
            c.reliability.circuit_breaker_enabled = args::flag(enabled);
            c.reliability.circuit_breaker_failure_threshold = failure_threshold;
            c.reliability.circuit_breaker_recovery_timeout =
                Duration::from_millis(recovery_timeout_ms);
            Ok(())
        })
    })
}

/// Sets how often a background flush or compaction that met a transient I/O error is
/// retried (0 to 100; default 3), with the backoff of `reliability.retry_backoff_strategy`
/// (set it through `lightning_options_from_json`). A failed fsync is never retried.
#[no_mangle]
pub extern "C" fn lightning_options_set_retry_max_attempts(
    opts: *mut lightning_options,
    attempts: usize,
) -> c_int {
    ffi_call("lightning_options_set_retry_max_attempts", |_| {
        with_config(opts, |c| {
            c.reliability.retry_max_attempts = attempts;
            Ok(())
        })
    })
}

/// Turns self-healing on (non-zero) or off (0, the default): after each round of health
/// checks the database quarantines or repairs damaged tables online (per the corruption
/// action), compacts and then refuses writes with `LIGHTNING_INSUFFICIENT_RESOURCES` while
/// the disk is nearly full, shrinks the block cache on memory pressure and restarts
/// background threads that died.
#[no_mangle]
pub extern "C" fn lightning_options_set_self_healing(
    opts: *mut lightning_options,
    enabled: c_int,
) -> c_int {
    ffi_call("lightning_options_set_self_healing", |_| {
        with_config(opts, |c| {
            c.enable_self_healing = args::flag(enabled);
            c.reliability.self_healing_enabled = args::flag(enabled);
            Ok(())
        })
    })
}
