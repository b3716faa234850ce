//! Percentiles and summaries of samples (milliseconds unless said otherwise).

use serde::Serialize;

/// p50/p95/p99, mean, min, max and count of a set of samples.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Linear-interpolated percentile `q` (0..=1) of sorted samples.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Summary {
    pub fn of(samples: &[f64]) -> Summary {
        let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        if s.is_empty() {
            return Summary::default();
        }
        s.sort_by(|a, b| a.total_cmp(b));
        Summary {
            n: s.len(),
            mean: s.iter().sum::<f64>() / s.len() as f64,
            p50: percentile(&s, 0.50),
            p95: percentile(&s, 0.95),
            p99: percentile(&s, 0.99),
            min: s[0],
            max: s[s.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_hand() {
        let v: Vec<f64> = (1..=101).map(|i| i as f64).collect();
        let s = Summary::of(&v);
        assert_eq!((s.n, s.p50, s.min, s.max), (101, 51.0, 1.0, 101.0));
        assert!((s.p95 - 96.0).abs() < 1e-9 && (s.p99 - 100.0).abs() < 1e-9);
        assert!((s.mean - 51.0).abs() < 1e-9);
        assert!((percentile(&[0.0, 10.0], 0.25) - 2.5).abs() < 1e-9);
        assert_eq!(Summary::of(&[]).n, 0);
    }
}
