//! Exchange rates and forwarding fees, in exact integer math.
//!
//! Rounding rule (documented, tested): the connector never forwards more than it received
//! the value of. The fee is rounded *up* (in the source asset), the converted amount is
//! rounded *down* (in the destination asset). All intermediates are `u128`; an amount that
//! would not fit a `u64` after conversion is an error, never a wrap.

use std::collections::HashMap;

/// A forwarding fee: `basis_points / 10_000` of the amount (rounded up) plus `fixed` base
/// units, both in the incoming account's asset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    #[serde(default)]
    pub basis_points: u32,
    #[serde(default)]
    pub fixed: u64,
}

impl Fee {
    /// The fee charged on `amount` (never more than `amount`).
    pub fn on(&self, amount: u64) -> u64 {
        let prop = (amount as u128 * self.basis_points as u128).div_ceil(10_000);
        let total = prop.saturating_add(self.fixed as u128);
        total.min(amount as u128) as u64
    }
}

/// An exact rational rate: `out = floor(in * num / den)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub num: u128,
    pub den: u128,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RateError {
    #[error("no exchange rate configured for asset {0}")]
    NoRate(String),
    #[error("price {0:?} is not a positive decimal number (e.g. \"1.08\")")]
    BadPrice(String),
    #[error("amount {amount} overflows after conversion {from} -> {to}")]
    Overflow {
        amount: u64,
        from: String,
        to: String,
    },
    #[error("asset scales {0} and {1} are too far apart to convert exactly")]
    ScaleRange(u8, u8),
}

/// A decimal price parsed exactly as `mantissa / 10^decimals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Price {
    mantissa: u128,
    decimals: u32,
}

fn parse_price(s: &str) -> Result<Price, RateError> {
    let bad = || RateError::BadPrice(s.to_string());
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 18
    {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let mantissa: u128 = digits.parse().map_err(|_| bad())?;
    if mantissa == 0 {
        return Err(bad());
    }
    Ok(Price {
        mantissa,
        decimals: frac.len() as u32,
    })
}

/// Prices of each asset in one common reference unit (e.g. `USD = "1"`, `EUR = "1.08"`,
/// `BTC = "95000"`). Converting between two accounts of the same asset code is always
/// 1:1 (only the scale is adjusted), even if no price is configured.
#[derive(Clone, Debug, Default)]
pub struct RateTable {
    prices: HashMap<String, Price>,
}

impl RateTable {
    pub fn new(prices: &HashMap<String, String>) -> Result<Self, RateError> {
        let mut out = HashMap::new();
        for (code, p) in prices {
            out.insert(code.clone(), parse_price(p)?);
        }
        Ok(RateTable { prices: out })
    }

    /// The rate converting base units of (`from`, `from_scale`) into base units of
    /// (`to`, `to_scale`).
    pub fn rate(
        &self,
        from: &str,
        from_scale: u8,
        to: &str,
        to_scale: u8,
    ) -> Result<Rate, RateError> {
        // value(1 base unit of from) = pF / 10^sF ; out = in * pF * 10^sT / (pT * 10^sF)
        let (pf, pt) = if from == to {
            (
                Price {
                    mantissa: 1,
                    decimals: 0,
                },
                Price {
                    mantissa: 1,
                    decimals: 0,
                },
            )
        } else {
            let pf = *self
                .prices
                .get(from)
                .ok_or_else(|| RateError::NoRate(from.to_string()))?;
            let pt = *self
                .prices
                .get(to)
                .ok_or_else(|| RateError::NoRate(to.to_string()))?;
            (pf, pt)
        };
        // num = mF * 10^(dT + sT), den = mT * 10^(dF + sF); cancel the common power of ten.
        let up = pt.decimals as i64 + to_scale as i64;
        let down = pf.decimals as i64 + from_scale as i64;
        let shift = up - down;
        let scale_err = || RateError::ScaleRange(from_scale, to_scale);
        let pow = 10u128
            .checked_pow(shift.unsigned_abs() as u32)
            .ok_or_else(scale_err)?;
        let (num, den) = if shift >= 0 {
            (
                pf.mantissa.checked_mul(pow).ok_or_else(scale_err)?,
                pt.mantissa,
            )
        } else {
            (
                pf.mantissa,
                pt.mantissa.checked_mul(pow).ok_or_else(scale_err)?,
            )
        };
        let g = gcd(num, den);
        Ok(Rate {
            num: num / g,
            den: den / g,
        })
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Rate {
    /// `floor(amount * num / den)`, computed without overflow for any `u64` amount as long
    /// as the result fits a `u64`.
    pub fn apply(&self, amount: u64) -> Option<u64> {
        let a = amount as u128;
        // a * num may overflow u128 when num is huge: split num = q*den + r.
        let q = self.num / self.den;
        let r = self.num % self.den;
        let whole = a.checked_mul(q)?;
        let part = match a.checked_mul(r) {
            Some(x) => x / self.den,
            // r < den, so a*r/den < a: compute by long division on the high/low halves.
            None => mul_div_floor(a, r, self.den),
        };
        u64::try_from(whole.checked_add(part)?).ok()
    }
}

/// floor(a * b / d) for b < d, exact, without 256-bit types (binary long multiplication).
fn mul_div_floor(a: u128, b: u128, d: u128) -> u128 {
    // Invariant: result*d + rem == a * (processed bits of b), rem < d.
    let mut result: u128 = 0;
    let mut rem: u128 = 0;
    let (aq, ar) = (a / d, a % d);
    for i in (0..128).rev() {
        // result, rem = 2*(result, rem)
        result <<= 1;
        let (r2, of) = rem.overflowing_add(rem);
        if of || r2 >= d {
            rem = r2.wrapping_sub(d);
            result += 1;
        } else {
            rem = r2;
        }
        if (b >> i) & 1 == 1 {
            result += aq;
            let (r2, of) = rem.overflowing_add(ar);
            if of || r2 >= d {
                rem = r2.wrapping_sub(d);
                result += 1;
            } else {
                rem = r2;
            }
        }
    }
    result
}

/// What the connector forwards for `amount` received: fee first (source asset, rounded
/// up), then the rate (rounded down).
pub fn forward_amount(amount: u64, fee: &Fee, rate: &Rate) -> Option<u64> {
    rate.apply(amount - fee.on(amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RateTable {
        let mut m = HashMap::new();
        m.insert("USD".to_string(), "1".to_string());
        m.insert("EUR".to_string(), "1.08".to_string());
        m.insert("BTC".to_string(), "95000".to_string());
        RateTable::new(&m).unwrap()
    }

    #[test]
    fn fee_rounds_up_and_never_exceeds_amount() {
        let f = Fee {
            basis_points: 100,
            fixed: 2,
        };
        assert_eq!(f.on(1000), 12);
        assert_eq!(f.on(1001), 13); // 10.01 -> 11
        assert_eq!(f.on(1), 1);
        assert_eq!(f.on(0), 0);
        let big = Fee {
            basis_points: 10_000,
            fixed: u64::MAX,
        };
        assert_eq!(big.on(u64::MAX), u64::MAX);
    }

    #[test]
    fn same_asset_rescales() {
        let t = table();
        assert_eq!(t.rate("USD", 6, "USD", 6).unwrap(), Rate { num: 1, den: 1 });
        assert_eq!(t.rate("USD", 6, "USD", 9).unwrap().apply(5), Some(5000));
        assert_eq!(t.rate("USD", 9, "USD", 6).unwrap().apply(5999), Some(5));
        assert_eq!(t.rate("XYZ", 9, "XYZ", 9).unwrap().apply(7), Some(7));
    }

    #[test]
    fn cross_rates_are_exact_and_round_down() {
        let t = table();
        // 1.00 USD (scale 6) -> EUR: 1/1.08 = 0.925925.. EUR -> 925925 (floored)
        assert_eq!(
            t.rate("USD", 6, "EUR", 6).unwrap().apply(1_000_000),
            Some(925_925)
        );
        assert_eq!(
            t.rate("EUR", 6, "USD", 6).unwrap().apply(1_000_000),
            Some(1_080_000)
        );
        // 95 USD (scale 6) -> BTC scale 8: 0.001 BTC = 100_000 sat
        assert_eq!(
            t.rate("USD", 6, "BTC", 8).unwrap().apply(95_000_000),
            Some(100_000)
        );
        assert_eq!(t.rate("BTC", 8, "USD", 6).unwrap().apply(1), Some(950));
        assert!(matches!(
            t.rate("USD", 6, "JPY", 0),
            Err(RateError::NoRate(_))
        ));
    }

    #[test]
    fn overflow_is_none_not_wrap() {
        let t = table();
        let r = t.rate("BTC", 0, "USD", 18).unwrap();
        assert_eq!(r.apply(u64::MAX), None);
        assert_eq!(
            t.rate("USD", 18, "BTC", 0).unwrap().apply(u64::MAX),
            Some(0)
        );
    }

    #[test]
    fn mul_div_matches_small_cases() {
        for (a, b, d) in [
            (7u128, 3u128, 5u128),
            (1000, 999, 1000),
            (u64::MAX as u128, 17, 19),
        ] {
            assert_eq!(mul_div_floor(a, b, d), a * b / d);
        }
        let a = u128::MAX / 3;
        // a * (d-1) / d = a - ceil(a/d)
        let d = 1u128 << 100;
        assert_eq!(mul_div_floor(a, d - 1, d), a - a.div_ceil(d));
    }

    #[test]
    fn bad_prices_are_refused() {
        for p in ["", ".", "-1", "0", "1e3", "abc", "1.2.3"] {
            assert!(parse_price(p).is_err(), "{p}");
        }
        assert_eq!(
            parse_price("1.08").unwrap(),
            Price {
                mantissa: 108,
                decimals: 2
            }
        );
        assert_eq!(
            parse_price(".5").unwrap(),
            Price {
                mantissa: 5,
                decimals: 1
            }
        );
    }

    #[test]
    fn forward_is_fee_then_rate() {
        let t = table();
        let r = t.rate("USD", 6, "EUR", 6).unwrap();
        let fee = Fee {
            basis_points: 50,
            fixed: 10,
        };
        // 1_000_000 - (5000 + 10) = 994_990 USD -> 994_990 / 1.08 = 921_287.03 -> 921_287
        assert_eq!(forward_amount(1_000_000, &fee, &r), Some(921_287));
    }
}
