//! `Dec`: an exact signed decimal with 9 fractional digits (i128 nano-units), used for every
//! money amount and every input of the model so that sums never drift. Multiplication and
//! division round half away from zero at the 9th decimal; every operation is checked.

use std::fmt;

use crate::EconError;

/// Fractional digits kept.
pub const SCALE_DIGITS: u32 = 9;
const SCALE: i128 = 1_000_000_000;

/// Exact decimal: `raw / 10^9`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dec(i128);

fn overflow() -> EconError {
    EconError::Overflow
}

/// Divide rounding half away from zero (b != 0).
fn div_round(a: i128, b: i128) -> i128 {
    let q = a / b;
    let r = a % b;
    if r.unsigned_abs() * 2 >= b.unsigned_abs() {
        if (a < 0) != (b < 0) { q - 1 } else { q + 1 }
    } else {
        q
    }
}

impl Dec {
    pub const ZERO: Dec = Dec(0);
    pub const ONE: Dec = Dec(SCALE);

    /// From the raw nano-unit count.
    pub const fn from_raw(raw: i128) -> Dec {
        Dec(raw)
    }
    /// The raw nano-unit count.
    pub const fn raw(self) -> i128 {
        self.0
    }
    /// An integer.
    pub const fn int(n: i64) -> Dec {
        Dec(n as i128 * SCALE)
    }
    /// `num / den` for small literal fractions (rounded at 9 decimals); `den` must not be 0.
    pub fn frac(num: i64, den: i64) -> Dec {
        Dec(div_round(num as i128 * SCALE, den as i128))
    }

    /// Parse a plain decimal (`-12.5`, `0.000001`, `3`); digits past the 9th decimal are
    /// rounded half away from zero. No exponents, no separators.
    pub fn parse(s: &str) -> Option<Dec> {
        let s = s.trim();
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
            || int_part.len() > 20
        {
            return None;
        }
        let mut raw: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        raw = raw.checked_mul(SCALE)?;
        let mut frac: i128 = 0;
        for (i, b) in frac_part.bytes().enumerate() {
            let d = (b - b'0') as i128;
            if i < SCALE_DIGITS as usize {
                frac += d * 10i128.pow(SCALE_DIGITS - 1 - i as u32);
            } else {
                if i == SCALE_DIGITS as usize && d >= 5 {
                    frac += 1;
                }
                break;
            }
        }
        raw = raw.checked_add(frac)?;
        Some(Dec(if neg { -raw } else { raw }))
    }

    /// From a float through its shortest round-trip decimal text, so `0.1` written in a TOML
    /// file becomes exactly 0.1. Non-finite or huge values give `None`.
    pub fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() || f.abs() > 1e20 {
            return None;
        }
        Dec::parse(&format!("{f}"))
    }

    /// For ratios and chart coordinates only (never for money arithmetic).
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    pub fn plus(self, o: Dec) -> Result<Dec, EconError> {
        self.0.checked_add(o.0).map(Dec).ok_or_else(overflow)
    }
    pub fn minus(self, o: Dec) -> Result<Dec, EconError> {
        self.0.checked_sub(o.0).map(Dec).ok_or_else(overflow)
    }
    /// Product, rounded half away from zero at 9 decimals.
    pub fn times(self, o: Dec) -> Result<Dec, EconError> {
        let p = self.0.checked_mul(o.0).ok_or_else(overflow)?;
        Ok(Dec(div_round(p, SCALE)))
    }
    /// Quotient, rounded half away from zero at 9 decimals; `None` when `o` is zero.
    pub fn over(self, o: Dec) -> Result<Option<Dec>, EconError> {
        if o.0 == 0 {
            return Ok(None);
        }
        let n = self.0.checked_mul(SCALE).ok_or_else(overflow)?;
        Ok(Some(Dec(div_round(n, o.0))))
    }
    /// Smallest integer >= self.
    pub fn ceil(self) -> Dec {
        let r = self.0.rem_euclid(SCALE);
        if r == 0 {
            self
        } else {
            Dec(self.0 - r + SCALE)
        }
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Fixed number of decimals (rounded half away from zero), e.g. money with 2.
    pub fn fmt_places(self, places: u32) -> String {
        let places = places.min(SCALE_DIGITS);
        let unit = 10i128.pow(SCALE_DIGITS - places);
        let q = div_round(self.0, unit);
        let neg = q < 0;
        let a = q.unsigned_abs();
        let p = 10u128.pow(places);
        let sign = if neg { "-" } else { "" };
        if places == 0 {
            format!("{sign}{a}")
        } else {
            format!("{sign}{}.{:0width$}", a / p, a % p, width = places as usize)
        }
    }
}

/// Shortest exact text: trailing zeros dropped (`1.5`, `-0.000000001`, `42`).
impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.fmt_places(SCALE_DIGITS);
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        f.write_str(if s == "-0" { "0" } else { &s })
    }
}

impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_are_exact() {
        assert_eq!(Dec::parse("0.1").unwrap().raw(), 100_000_000);
        assert_eq!(Dec::parse("-12.5").unwrap().to_string(), "-12.5");
        assert_eq!(Dec::parse("3").unwrap(), Dec::int(3));
        assert_eq!(Dec::parse(".5").unwrap(), Dec::frac(1, 2));
        // 10th decimal rounds: 0.0000000015 -> 0.000000002
        assert_eq!(Dec::parse("0.0000000015").unwrap().raw(), 2);
        assert_eq!(Dec::parse("0.0000000014").unwrap().raw(), 1);
        for bad in ["", "-", "1e3", "1,5", "abc", "1.2.3", "."] {
            assert!(Dec::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Dec::from_f64(0.1).unwrap(), Dec::parse("0.1").unwrap());
        assert_eq!(Dec::from_f64(30.45).unwrap().to_string(), "30.45");
        assert!(Dec::from_f64(f64::NAN).is_none());
    }

    #[test]
    fn arithmetic_rounds_half_away_and_sums_without_drift() {
        // 0.1 added ten times is exactly 1 (floats give 0.9999999999999999).
        let mut s = Dec::ZERO;
        for _ in 0..10 {
            s = s.plus(Dec::parse("0.1").unwrap()).unwrap();
        }
        assert_eq!(s, Dec::ONE);
        // 1/3 = 0.333333333; 2/3 = 0.666666667 (half away from zero)
        assert_eq!(
            Dec::ONE.over(Dec::int(3)).unwrap().unwrap().raw(),
            333_333_333
        );
        assert_eq!(
            Dec::int(-2).over(Dec::int(3)).unwrap().unwrap().raw(),
            -666_666_667
        );
        assert_eq!(Dec::ONE.over(Dec::ZERO).unwrap(), None);
        // 0.05 * 0.1 = 0.005
        let p = Dec::parse("0.05")
            .unwrap()
            .times(Dec::parse("0.1").unwrap())
            .unwrap();
        assert_eq!(p.to_string(), "0.005");
        assert_eq!(Dec::parse("2.0000001").unwrap().ceil(), Dec::int(3));
        assert_eq!(Dec::int(2).ceil(), Dec::int(2));
        assert_eq!(Dec::parse("-1.5").unwrap().ceil(), Dec::int(-1));
        assert_eq!(Dec::parse("1.005").unwrap().fmt_places(2), "1.01");
        assert_eq!(Dec::parse("-1.005").unwrap().fmt_places(2), "-1.01");
        assert_eq!(
            Dec::from_raw(i128::MAX).plus(Dec::ONE),
            Err(EconError::Overflow)
        );
    }
}
