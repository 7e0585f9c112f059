//! The health-check vocabulary: the [`HealthCheck`] trait (exactly the reference's), the
//! [`HealthStatus`] a check returns, its [`Criticality`], and the [`HealthReport`] a
//! monitor or a database gives with each check's latest result and remediation.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::stats::{HealingAction, HealthSummary};

/// A health check: built in ([`DataIntegrityCheck`](crate::DataIntegrityCheck),
/// [`ResourceCheck`](crate::ResourceCheck), [`PerformanceCheck`](crate::PerformanceCheck))
/// or written by the user, run by a [`HealthMonitor`](crate::HealthMonitor) beside the
/// others.
///
/// `check` runs on a thread of its own, bounded by the monitor's timeout: a check that
/// overruns is reported [`HealthStatus::Unknown`] and is not started again until it
/// returns, so a slow check never blocks the monitor or the database.
///
/// ```
/// use lightning_db::{Criticality, HealthCheck, HealthMonitor, HealthStatus};
///
/// struct QueueDepth(fn() -> usize);
///
/// impl HealthCheck for QueueDepth {
///     fn name(&self) -> &str { "queue_depth" }
///     fn check(&self) -> HealthStatus {
///         match (self.0)() {
///             n if n > 1000 => HealthStatus::Warning {
///                 message: format!("{n} requests queued"),
///                 remediation: self.remediation(),
///             },
///             _ => HealthStatus::Healthy,
///         }
///     }
///     fn criticality(&self) -> Criticality { Criticality::Medium }
///     fn remediation(&self) -> Option<String> { Some("add workers".into()) }
/// }
///
/// let monitor = HealthMonitor::new(vec![Box::new(QueueDepth(|| 5000))]);
/// let report = monitor.run_once();
/// assert_eq!(report.checks[0].status.name(), "warning");
/// assert_eq!(report.checks[0].remediation.as_deref(), Some("add workers"));
/// ```
pub trait HealthCheck: Send + Sync {
    /// Name of the health check
    fn name(&self) -> &str;

    /// Execute the health check
    fn check(&self) -> HealthStatus;

    /// Criticality level of this check
    fn criticality(&self) -> Criticality;

    /// Suggested remediation for failures
    fn remediation(&self) -> Option<String>;
}

/// A shared check runs like the check itself, so a program can keep a handle to it (to
/// read [`DataIntegrityCheck::progress`](crate::DataIntegrityCheck::progress), say) while
/// a monitor runs it.
impl<T: HealthCheck + ?Sized> HealthCheck for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn check(&self) -> HealthStatus {
        (**self).check()
    }

    fn criticality(&self) -> Criticality {
        (**self).criticality()
    }

    fn remediation(&self) -> Option<String> {
        (**self).remediation()
    }
}

/// What a health check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HealthStatus {
    /// Nothing to report.
    Healthy,
    /// Degraded or heading for trouble: worth a look.
    Warning {
        /// What was seen.
        message: String,
        /// What to do about it.
        remediation: Option<String>,
    },
    /// Failing now.
    Critical {
        /// What was seen.
        message: String,
        /// What to do at once.
        immediate_action: String,
    },
    /// Not known: the check did not run, did not finish in time, panicked, or had
    /// nothing to look at.
    Unknown,
}

impl HealthStatus {
    /// `"healthy"`, `"warning"`, `"critical"` or `"unknown"`.
    pub fn name(&self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Warning { .. } => "warning",
            HealthStatus::Critical { .. } => "critical",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// True for [`HealthStatus::Healthy`].
    pub fn is_healthy(&self) -> bool {
        matches!(self, HealthStatus::Healthy)
    }

    /// The message of a warning or a critical status.
    pub fn message(&self) -> Option<&str> {
        match self {
            HealthStatus::Warning { message, .. } | HealthStatus::Critical { message, .. } => {
                Some(message)
            }
            _ => None,
        }
    }

    /// Orders statuses from best to worst: healthy, unknown, warning, critical.
    fn rank(&self) -> u8 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Unknown => 1,
            HealthStatus::Warning { .. } => 2,
            HealthStatus::Critical { .. } => 3,
        }
    }
}

/// How much a failing check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    /// Affects database availability
    Critical,
    /// Affects performance
    High,
    /// Potential future issue
    Medium,
    /// Informational
    Low,
}

/// The overall state of a [`HealthReport`]: its worst check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Every check is healthy.
    Healthy,
    /// No check warns or fails, but some could not tell.
    Unknown,
    /// A check warns.
    Warning,
    /// A check fails.
    Critical,
}

/// The latest result of one check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The check's name.
    pub name: String,
    /// How much it matters.
    pub criticality: Criticality,
    /// What it found.
    pub status: HealthStatus,
    /// What to do: a warning's remediation (or the check's own), a critical status's
    /// immediate action; `None` when healthy.
    pub remediation: Option<String>,
    /// Why the status is unknown, when it is (not run yet, timed out, panicked).
    pub note: Option<String>,
    /// When the check finished (or was given up on).
    pub checked_at: Option<SystemTime>,
    /// How long it ran.
    pub duration: Duration,
}

impl CheckReport {
    /// The report of `check` with `status`.
    pub(crate) fn of(
        check: &dyn HealthCheck,
        status: HealthStatus,
        note: Option<String>,
        duration: Duration,
    ) -> Self {
        let remediation = match &status {
            HealthStatus::Healthy | HealthStatus::Unknown => None,
            HealthStatus::Warning { remediation, .. } => {
                remediation.clone().or_else(|| check.remediation())
            }
            HealthStatus::Critical {
                immediate_action, ..
            } => Some(immediate_action.clone()),
        };
        Self {
            name: check.name().to_string(),
            criticality: check.criticality(),
            status,
            remediation,
            note,
            checked_at: Some(SystemTime::now()),
            duration,
        }
    }

    /// A check that has not run yet.
    pub(crate) fn not_run(check: &dyn HealthCheck) -> Self {
        Self {
            name: check.name().to_string(),
            criticality: check.criticality(),
            status: HealthStatus::Unknown,
            remediation: None,
            note: Some("not run yet".into()),
            checked_at: None,
            duration: Duration::ZERO,
        }
    }
}

/// The latest result of every check of a monitor (or of a database's built-in checks).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// The worst of the checks.
    pub state: HealthState,
    /// Each check, in the monitor's order.
    pub checks: Vec<CheckReport>,
    /// Monitoring rounds run so far.
    pub rounds: u64,
    /// The database's self-checks from its statistics (writes accepted, background
    /// errors, backlogs, last recovery), in [`Database::health`](crate::Database::health)'s
    /// report; `None` in a monitor's.
    pub engine: Option<HealthSummary>,
    /// The most recent actions the database's self-healing took (`enable_self_healing`),
    /// oldest first, in [`Database::health`](crate::Database::health)'s report; empty in a
    /// monitor's.
    pub self_healing: Vec<HealingAction>,
}

impl HealthReport {
    /// The report of `checks`.
    pub(crate) fn of(checks: Vec<CheckReport>, rounds: u64) -> Self {
        let worst = checks.iter().map(|c| c.status.rank()).max().unwrap_or(0);
        let state = match worst {
            0 => HealthState::Healthy,
            1 => HealthState::Unknown,
            2 => HealthState::Warning,
            _ => HealthState::Critical,
        };
        Self {
            state,
            checks,
            rounds,
            engine: None,
            self_healing: Vec::new(),
        }
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// True when every check is healthy.
    pub fn is_healthy(&self) -> bool {
        self.state == HealthState::Healthy
    }

    /// The report as JSON: `state`, then `checks` with each one's `name`,
    /// `criticality`, `status` (`{"status": "warning", "message": ..., "remediation": ...}`),
    /// `remediation` and `note`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string())
    }
}
