//! What the operating system says about this process: peak memory and CPU time.

use serde::{Deserialize, Serialize};

/// Resources used by the whole process (every thread) since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Peak resident set size in bytes (`ru_maxrss`).
    pub peak_rss_bytes: u64,
    /// Peak private (anonymous) resident memory above what the process held before the
    /// engine opened (the run's keys), sampled every 5 ms: the engine's own memory at
    /// its highest, without the file pages it maps. 0 when not measured.
    #[serde(default)]
    pub peak_private_bytes: u64,
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
    let mut fields = statm
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<u64>().unwrap_or(0));
    let resident = fields.next().unwrap_or(0);
    let shared = fields.next().unwrap_or(0);
    resident.saturating_sub(shared) * u64::try_from(page).unwrap_or(4096)
}

/// CPU time this process has used so far (every thread, user and system), milliseconds,
/// from `CLOCK_PROCESS_CPUTIME_ID` (the scheduler's own accounting, nanosecond
/// resolution); 0 if the call fails.
pub fn process_cpu_ms() -> f64 {
    // SAFETY: `clock_gettime` only writes into the zeroed struct we pass, which outlives
    // the call.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a properly sized `timespec`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
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
        peak_private_bytes: 0,
        cpu_user_ms: timeval_ms(ru.ru_utime),
        cpu_sys_ms: timeval_ms(ru.ru_stime),
    }
}

/// Samples [`current_private_rss_bytes`] every 5 ms on a thread of its own and keeps the
/// highest value, until dropped.
pub struct PrivatePeak {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    baseline: u64,
}

impl PrivatePeak {
    /// Starts sampling; the peak is reported above the private memory held now.
    pub fn start() -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let baseline = current_private_rss_bytes();
        let peak = std::sync::Arc::new(AtomicU64::new(baseline));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, st) = (std::sync::Arc::clone(&peak), std::sync::Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                p.fetch_max(current_private_rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        Self {
            peak,
            stop,
            thread: Some(thread),
            baseline,
        }
    }

    /// Stops sampling and returns the peak above the baseline.
    pub fn finish(mut self) -> u64 {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak
            .load(Ordering::Relaxed)
            .max(current_private_rss_bytes())
            .saturating_sub(self.baseline)
    }
}

/// `--background-load`: threads that spin on integer arithmetic until dropped, to keep the
/// cores busy while an engine runs.
pub struct BackgroundLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    rounds: std::sync::Arc<std::sync::atomic::AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BackgroundLoad {
    /// Starts `threads` spinning threads (none for 0).
    pub fn start(threads: usize) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let rounds = std::sync::Arc::new(AtomicU64::new(0));
        let threads = (0..threads)
            .map(|t| {
                let (stop, rounds) = (std::sync::Arc::clone(&stop), std::sync::Arc::clone(&rounds));
                std::thread::spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t as u64;
                    let mut done = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        // A round of arithmetic between looks at the flag: a few microseconds.
                        for _ in 0..4_096 {
                            x = x
                                .wrapping_mul(0x5851_f42d_4c95_7f2d)
                                .wrapping_add(0x1405_7b7e_f767_814f);
                            x ^= x >> 29;
                        }
                        std::hint::black_box(x);
                        done += 1;
                    }
                    rounds.fetch_add(done, Ordering::Relaxed);
                })
            })
            .collect();
        BackgroundLoad {
            stop,
            rounds,
            threads,
        }
    }

    /// Stops the threads and returns how many rounds of 4,096 steps they spun in all.
    pub fn finish(mut self) -> u64 {
        self.stop_threads();
        self.rounds.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn stop_threads(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundLoad {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
