//! A zipfian generator over `0..n` (rank 0 the most popular), the algorithm YCSB uses
//! (Gray et al., "Quickly generating billion-record synthetic databases", SIGMOD 1994):
//! one O(n) sum when it is made, then O(1) per draw.

use crate::data::SplitMix;

/// Draws ranks in `0..n` with probability proportional to `1 / (rank + 1)^theta`.
#[derive(Debug, Clone, Copy)]
pub struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

/// `sum over i in 1..=n of 1 / i^theta`.
fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipfian {
    /// A generator over `0..n` (`n` at least 1) with skew `theta` in `(0, 1)`; YCSB's
    /// default skew is 0.99.
    pub fn new(n: u64, theta: f64) -> Self {
        assert!(n >= 1, "a zipfian generator needs at least one item");
        assert!(
            theta > 0.0 && theta < 1.0,
            "zipfian theta must lie in (0, 1), got {theta}"
        );
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2, theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipfian {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        }
    }

    /// The probability of rank 0, `1 / zeta(n)`.
    #[cfg(test)]
    pub fn top_probability(&self) -> f64 {
        1.0 / self.zetan
    }

    /// The next rank, from `rng`.
    #[inline]
    pub fn next(&self, rng: &mut SplitMix) -> u64 {
        // 53 random bits as a double in [0, 1).
        let u = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let rank = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        rank.min(self.n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skewed_and_in_range() {
        let n = 10_000;
        let z = Zipfian::new(n, 0.99);
        let mut rng = SplitMix::new(7);
        let draws = 200_000;
        let mut counts = vec![0u32; n as usize];
        for _ in 0..draws {
            let r = z.next(&mut rng);
            assert!(r < n);
            counts[r as usize] += 1;
        }
        // Rank 0 comes up about 1/zeta(n) of the time (about 10% for n = 10,000).
        let top = f64::from(counts[0]) / f64::from(draws);
        assert!((top - z.top_probability()).abs() < 0.01, "top {top}");
        // Popularity falls with rank: the first 10 ranks outdraw the last 5,000.
        let head: u32 = counts[..10].iter().sum();
        let tail: u32 = counts[5_000..].iter().sum();
        assert!(head > tail, "head {head} tail {tail}");
        assert!(counts[1] > counts[100]);
    }

    #[test]
    fn one_item() {
        let z = Zipfian::new(1, 0.99);
        let mut rng = SplitMix::new(1);
        assert!((0..100).all(|_| z.next(&mut rng) == 0));
    }
}
