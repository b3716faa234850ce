//! One-at-a-time sensitivity: move each assumption and measured figure down and up by 20 %
//! (whole-number fields by 1), recompute, and rank by how far the creator share moves.

use serde::Serialize;

use crate::inputs::{ASSUMPTION_FIELDS, MEASURED_FIELDS};
use crate::{Assumptions, Dec, EconError, Measured, compute};

/// How much one input moves the creator share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Swing {
    /// Field path as written in the input file (measured figures prefixed `measured.`).
    pub field: String,
    pub low_value: Dec,
    pub high_value: Dec,
    /// Creator share (percent) with the field at its low and high value.
    pub share_at_low: f64,
    pub share_at_high: f64,
    /// max(|share_at_low - base|, |share_at_high - base|), percentage points.
    pub effect: f64,
}

/// Sensitivity result: the base share and the swings, largest effect first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sensitivity {
    pub base_share: f64,
    pub swings: Vec<Swing>,
}

fn share(a: &Assumptions, m: &Measured) -> Result<f64, EconError> {
    Ok(compute(a, m)?
        .comparison
        .creator_share_pct
        .map_or(0.0, Dec::to_f64))
}

/// Vary every input by `frac` (e.g. 0.2) one at a time and rank by effect on creator share.
/// Values are clamped into each field's allowed range.
pub fn sensitivity(a: &Assumptions, m: &Measured, frac: Dec) -> Result<Sensitivity, EconError> {
    let base_share = share(a, m)?;
    let down = Dec::ONE.minus(frac)?;
    let up = Dec::ONE.plus(frac)?;
    let mut swings = Vec::new();
    for f in ASSUMPTION_FIELDS.iter().filter(|f| f.vary) {
        let v = (f.get)(a);
        let (mut lo, mut hi) = if f.integer {
            (v.minus(Dec::ONE)?, v.plus(Dec::ONE)?)
        } else {
            (v.times(down)?, v.times(up)?)
        };
        lo = lo.max(f.min);
        if let Some(max) = f.max {
            hi = hi.min(max);
        }
        let at = |x: Dec| {
            let mut b = a.clone();
            (f.set)(&mut b, x);
            share(&b, m)
        };
        let (sl, sh) = (at(lo)?, at(hi)?);
        swings.push(swing(f.key.to_string(), lo, hi, sl, sh, base_share));
    }
    for f in MEASURED_FIELDS {
        let v = (f.get)(m).value;
        let (lo, hi) = (v.times(down)?, v.times(up)?);
        let at = |x: Dec| {
            let mut b = m.clone();
            (f.get_mut)(&mut b).value = x;
            share(a, &b)
        };
        let (sl, sh) = (at(lo)?, at(hi)?);
        swings.push(swing(
            format!("measured.{}", f.key),
            lo,
            hi,
            sl,
            sh,
            base_share,
        ));
    }
    swings.sort_by(|x, y| {
        y.effect
            .total_cmp(&x.effect)
            .then_with(|| x.field.cmp(&y.field))
    });
    Ok(Sensitivity { base_share, swings })
}

fn swing(field: String, lo: Dec, hi: Dec, sl: f64, sh: f64, base: f64) -> Swing {
    Swing {
        field,
        low_value: lo,
        high_value: hi,
        share_at_low: sl,
        share_at_high: sh,
        effect: (sl - base).abs().max((sh - base).abs()),
    }
}
