//! The open-model schedule: when each iteration is meant to start.
//!
//! The arrival rate is piecewise linear (a start rate, then stages that ramp
//! linearly to their targets, as k6's ramping-arrival-rate). Iteration `k`
//! (from 0) is due when the integral of the rate reaches `k`. Pure and
//! deterministic, so rates are unit-tested exactly.

use std::time::Duration;

use crate::scenario::Stage;

/// The intended start times of an open-model run.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// (start second, length in seconds, rate at start, rate at end, iterations before it)
    segments: Vec<(f64, f64, f64, f64, f64)>,
    total: f64,
    next: u64,
}

impl Pacer {
    pub fn new(start_rate: f64, stages: &[Stage]) -> Self {
        let mut segments = Vec::with_capacity(stages.len());
        let (mut t, mut from, mut before) = (0.0, start_rate, 0.0);
        for s in stages {
            let len = s.duration.as_secs_f64();
            segments.push((t, len, from, s.target, before));
            before += (from + s.target) / 2.0 * len;
            t += len;
            from = s.target;
        }
        Self {
            segments,
            total: before,
            next: 0,
        }
    }

    /// Iterations the whole schedule holds (fractional).
    pub fn expected_iterations(&self) -> f64 {
        self.total
    }

    /// The offset from the run's start at which iteration `k` is due, or
    /// `None` when the schedule ends before it.
    pub fn due(&self, k: u64) -> Option<Duration> {
        self.time_for(k as f64)
    }

    /// The offset at which the integral of the rate reaches `k` (any real
    /// number of iterations), or `None` when the schedule ends first.
    pub fn time_for(&self, k: f64) -> Option<Duration> {
        if k.is_nan() || k < 0.0 || k >= self.total {
            return None;
        }
        for &(start, len, a, b_end, before) in &self.segments {
            let in_segment = (a + b_end) / 2.0 * len;
            if k >= before + in_segment {
                continue;
            }
            let rem = k - before;
            let slope = (b_end - a) / len;
            let tau = if slope.abs() < 1e-12 {
                if a <= 0.0 {
                    continue;
                }
                rem / a
            } else {
                // a*tau + slope*tau^2/2 = rem
                let disc = (a * a + 2.0 * slope * rem).max(0.0);
                (-a + disc.sqrt()) / slope
            };
            return Some(Duration::from_secs_f64(start + tau.clamp(0.0, len)));
        }
        None
    }

    /// The rate (iterations per second) at `t` from the start.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        for &(start, len, a, b, _) in &self.segments {
            if t < start + len {
                return a + (b - a) * ((t - start) / len).max(0.0);
            }
        }
        0.0
    }
}

impl Pacer {
    /// The integral of the rate from the start to `t`: iterations due by then.
    pub fn count_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let mut n = 0.0;
        for &(start, len, a, b, before) in &self.segments {
            if t < start + len {
                let tau = (t - start).max(0.0);
                return before + a * tau + (b - a) / len * tau * tau / 2.0;
            }
            n = before + (a + b) / 2.0 * len;
        }
        n
    }

    /// The index of the stage running at `t`, and how many there are.
    pub fn stage_at(&self, t: Duration) -> Option<(usize, usize)> {
        let t = t.as_secs_f64();
        self.segments
            .iter()
            .position(|&(start, len, ..)| t < start + len)
            .map(|i| (i, self.segments.len()))
    }
}

impl Iterator for Pacer {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let due = self.due(self.next)?;
        self.next += 1;
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(secs: u64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let p = Pacer::new(100.0, &[stage(10, 100.0)]);
        let times: Vec<Duration> = p.collect();
        assert_eq!(times.len(), 1000);
        assert_eq!(times[0], Duration::ZERO);
        assert!((times[1].as_secs_f64() - 0.01).abs() < 1e-9);
        assert!((times[999].as_secs_f64() - 9.99).abs() < 1e-9);
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 -> 100/s over 10 s: 500 iterations, the first half of them in the last ~3 s.
        let p = Pacer::new(0.0, &[stage(10, 100.0)]);
        assert_eq!(p.clone().count(), 500);
        let t250 = p.due(250).unwrap().as_secs_f64();
        assert!((t250 - 50f64.sqrt()).abs() < 1e-6, "{t250}");
        assert!((p.rate_at(Duration::from_secs(5)) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn count_and_time_are_inverse() {
        let p = Pacer::new(0.0, &[stage(10, 100.0), stage(5, 100.0)]);
        for k in [0.5, 10.0, 250.0, 499.9, 600.0, 999.0] {
            let t = p.time_for(k).unwrap();
            assert!((p.count_at(t) - k).abs() < 1e-6, "{k}");
        }
        assert_eq!(p.count_at(Duration::from_secs(100)), 1000.0);
        assert!(p.time_for(1000.0).is_none());
        assert_eq!(p.stage_at(Duration::from_secs(12)), Some((1, 2)));
        assert_eq!(p.stage_at(Duration::from_secs(16)), None);
    }

    #[test]
    fn stages_chain_and_zero_rate_stages_are_skipped() {
        let p = Pacer::new(
            10.0,
            &[stage(2, 10.0), stage(3, 0.0), stage(2, 0.0), stage(1, 20.0)],
        );
        // 20 + 15 + 0 + 10
        assert_eq!(p.clone().count(), 45);
        let times: Vec<f64> = p.map(|d| d.as_secs_f64()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            times.iter().all(|t| !(5.0..7.0).contains(t)),
            "nothing during the idle stage"
        );
    }
}
