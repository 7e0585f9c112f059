//! Retry backoff: the delays of [`BackoffStrategy`] and their arithmetic.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::duration_serde;

/// How long to wait before each retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum BackoffStrategy {
    /// `base_delay × (attempt + 1)`, without a cap.
    Linear {
        /// Delay before the first retry, added once more for each further retry.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
    },
    /// `base_delay × 2^attempt`, capped at `max_delay`.
    Exponential {
        /// Delay before the first retry.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
        /// Longest delay.
        #[serde(with = "duration_serde")]
        max_delay: Duration,
    },
    /// `base_delay × fib(attempt + 1)` with fib = 1, 1, 2, 3, 5..., capped at `max_delay`:
    /// grows more gently than exponential.
    Fibonacci {
        /// Delay before the first and second retries.
        #[serde(with = "duration_serde")]
        base_delay: Duration,
        /// Longest delay.
        #[serde(with = "duration_serde")]
        max_delay: Duration,
    },
}

impl Default for BackoffStrategy {
    /// Exponential from 100 ms up to 30 s.
    fn default() -> Self {
        Self::Exponential {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl BackoffStrategy {
    /// The delay before retry number `attempt`, where 0 is the first retry. Arithmetic
    /// saturates, so any attempt number is safe.
    pub fn delay_for_attempt(&self, attempt: u32) -> Duration {
        match *self {
            Self::Linear { base_delay } => base_delay.saturating_mul(attempt.saturating_add(1)),
            Self::Exponential {
                base_delay,
                max_delay,
            } => {
                let delay = match 2u32.checked_pow(attempt) {
                    Some(factor) => base_delay.saturating_mul(factor),
                    None if base_delay.is_zero() => Duration::ZERO,
                    None => Duration::MAX,
                };
                delay.min(max_delay)
            }
            Self::Fibonacci {
                base_delay,
                max_delay,
            } => {
                let (mut previous, mut current) = (0u32, 1u32);
                // Stops as soon as the cap is reached, so a huge attempt number costs nothing.
                for _ in 0..attempt {
                    if current == u32::MAX || base_delay.saturating_mul(current) >= max_delay {
                        break;
                    }
                    (previous, current) = (current, previous.saturating_add(current));
                }
                base_delay.saturating_mul(current).min(max_delay)
            }
        }
    }

    pub(super) fn base_delay(&self) -> Duration {
        match *self {
            Self::Linear { base_delay }
            | Self::Exponential { base_delay, .. }
            | Self::Fibonacci { base_delay, .. } => base_delay,
        }
    }

    pub(super) fn max_delay(&self) -> Option<Duration> {
        match *self {
            Self::Linear { .. } => None,
            Self::Exponential { max_delay, .. } | Self::Fibonacci { max_delay, .. } => {
                Some(max_delay)
            }
        }
    }
}
