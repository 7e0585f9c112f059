//! What the operating system says about this process: peak memory and CPU time.

use serde::{Deserialize, Serialize};

/// Resources used by the whole process (every thread) since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub peak_rss_bytes: u64,
    /// CPU time in user mode, milliseconds.
    pub cpu_user_ms: f64,
    /// CPU time in the kernel, milliseconds.
    pub cpu_sys_ms: f64,
}

fn timeval_ms(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 * 1e3 + tv.tv_usec as f64 / 1e3
}

/// This process's resident memory now, in bytes (`/proc/self/statm`); 0 if unknown.
pub fn current_rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    resident * u64::try_from(page).unwrap_or(4096)
}

/// This process's private (anonymous) resident memory now, in bytes: the resident set
/// minus the pages it shares with the page cache (`/proc/self/statm` fields 2 and 3), so
/// file pages an engine maps (LMDB, Lightning DB) are left out; 0 if unknown.
pub fn current_private_rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let mut fields = statm.split_whitespace().skip(1).map(|f| f.parse::<u64>().unwrap_or(0));
    let resident = fields.next().unwrap_or(0);
    let shared = fields.next().unwrap_or(0);
    resident.saturating_sub(shared) * u64::try_from(page).unwrap_or(4096)
}

/// This process's usage so far (`getrusage(RUSAGE_SELF)`); zeros if the call fails.
pub fn self_usage() -> Usage {
    // SAFETY: `getrusage` only writes into the zeroed struct we pass, which outlives the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a properly sized `rusage`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Usage::default();
    }
    Usage {
        // Linux reports ru_maxrss in KiB.
        peak_rss_bytes: u64::try_from(ru.ru_maxrss).unwrap_or(0) * 1024,
        cpu_user_ms: timeval_ms(ru.ru_utime),
        cpu_sys_ms: timeval_ms(ru.ru_stime),
    }
}
