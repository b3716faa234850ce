//! The two input files: documented assumptions (audience, prices, fees, unit costs, the
//! platforms we compare with) and measured figures (each with its value, where it came from
//! and how sure it is). Both are read through a field table that knows each field's unit, so
//! a bad file yields "which field, expected unit", and sensitivity can vary every field.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::{Dec, EconError};

/// Assumptions: what a stream looks like and what everything costs. All money is in `currency`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assumptions {
    /// ISO 4217 code or token symbol, shown next to every amount.
    pub currency: String,
    /// Average concurrent viewers of the stream.
    pub viewers: Dec,
    /// Stream-hours in the period modelled.
    pub stream_hours: Dec,
    /// What one viewer pays per hour watched.
    pub price_per_viewer_hour: Dec,
    /// Viewers one relay serves (sets the relay count: ceil(viewers / this)).
    pub viewers_per_relay: Dec,
    /// ILP connectors between a viewer and the relay (integer).
    pub ilp_hops: Dec,
    /// Share the relay keeps of what reaches it, in basis points.
    pub relay_margin_bps: Dec,
    /// Transcoder fee per minute of live stream transcoded into the full ladder.
    pub transcoder_fee_per_minute: Dec,
    /// Moderator fee per stream-hour.
    pub moderator_fee_per_stream_hour: Dec,
    /// Fee each connector takes from the amount it forwards, in basis points.
    pub connector_fee_bps_per_hop: Dec,
    /// Price of one CPU core for one hour (hardware amortisation + electricity).
    pub cpu_cost_per_core_hour: Dec,
    /// Price of one GB (10^9 bytes) of egress.
    pub egress_cost_per_gb: Dec,
    /// Fixed cost of running one relay node for one hour (idle machine, ports, monitoring).
    pub relay_fixed_cost_per_hour: Dec,
    /// Fixed cost of running one transcoder node for one hour.
    pub transcoder_fixed_cost_per_hour: Dec,
    /// Moderator's cost per stream-hour watched (human or model time).
    pub moderator_cost_per_stream_hour: Dec,
    /// Creator share on Twitch, percent, and where that figure comes from.
    pub twitch_creator_share_pct: Dec,
    pub twitch_source: String,
    /// Creator share on YouTube, low and high ends of the range, percent, and source.
    pub youtube_creator_share_pct_low: Dec,
    pub youtube_creator_share_pct_high: Dec,
    pub youtube_source: String,
    /// A Livepeer-style price per transcoded minute, for comparison, and its source.
    pub livepeer_price_per_transcoded_minute: Dec,
    pub livepeer_source: String,
}

/// How far a measured figure can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Measured from a real tollcast run (agents' metrics or ledgers).
    Measured,
    /// Derived from a measurement of the underlying tool outside tollcast (e.g. ffmpeg alone).
    Derived,
    /// Not measured yet: an estimate, to be replaced by a measurement.
    Estimate,
}

/// One measured input with its provenance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub value: Dec,
    pub status: Status,
    /// Where and how it was measured (or why it is an estimate).
    pub source: String,
    /// The command that measures it, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Measured inputs (from agents' metrics and ledgers once they write this file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Measured {
    /// CPU core-seconds a transcoder spends per minute of live input for the whole ladder.
    pub transcoder_core_seconds_per_ladder_minute: Figure,
    /// Relay CPU core-seconds per viewer-hour served (forwarding, HTTP, bookkeeping).
    pub relay_core_seconds_per_viewer_hour: Figure,
    /// Bytes of media a relay sends one viewer per hour.
    pub relay_bytes_per_viewer_hour: Figure,
    /// Payment overhead bytes per viewer-hour at each party on the payment path.
    pub payment_bytes_per_viewer_hour: Figure,
    /// Payment overhead CPU core-seconds per viewer-hour at each party on the payment path.
    pub payment_core_seconds_per_viewer_hour: Figure,
}

type Get<T> = fn(&T) -> Dec;
type Set<T> = fn(&mut T, Dec);

/// One numeric field: its TOML path, unit text, bounds, accessors, and how sensitivity varies it.
pub struct Field<T: 'static> {
    pub key: &'static str,
    pub unit: &'static str,
    pub min: Dec,
    pub max: Option<Dec>,
    pub integer: bool,
    /// Whether sensitivity analysis varies this field (comparison figures are not ours to vary).
    pub vary: bool,
    pub get: Get<T>,
    pub set: Set<T>,
}

macro_rules! field {
    ($t:ty, $key:literal, $f:ident, $unit:literal, min $min:expr, max $max:expr, int $int:expr, vary $vary:expr) => {
        Field::<$t> {
            key: $key,
            unit: $unit,
            min: $min,
            max: $max,
            integer: $int,
            vary: $vary,
            get: |a| a.$f,
            set: |a, v| a.$f = v,
        }
    };
}

const POS: Dec = Dec::from_raw(1);

/// Every numeric assumption, in file order.
pub static ASSUMPTION_FIELDS: &[Field<Assumptions>] = &[
    field!(Assumptions, "audience.viewers", viewers, "average concurrent viewers, a number > 0", min POS, max None, int false, vary true),
    field!(Assumptions, "audience.stream_hours", stream_hours, "stream-hours in the period, > 0", min POS, max None, int false, vary true),
    field!(Assumptions, "audience.price_per_viewer_hour", price_per_viewer_hour, "currency per viewer-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "network.viewers_per_relay", viewers_per_relay, "viewers served by one relay, > 0", min POS, max None, int false, vary true),
    field!(Assumptions, "network.ilp_hops", ilp_hops, "whole number of ILP connectors between viewer and relay, 0..=16", min Dec::ZERO, max Some(Dec::int(16)), int true, vary true),
    field!(Assumptions, "fees.relay_margin_bps", relay_margin_bps, "basis points of what reaches the relay, 0..=10000", min Dec::ZERO, max Some(Dec::int(10_000)), int false, vary true),
    field!(Assumptions, "fees.transcoder_fee_per_minute", transcoder_fee_per_minute, "currency per transcoded stream-minute, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "fees.moderator_fee_per_stream_hour", moderator_fee_per_stream_hour, "currency per stream-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "fees.connector_fee_bps_per_hop", connector_fee_bps_per_hop, "basis points per hop, 0..=10000", min Dec::ZERO, max Some(Dec::int(10_000)), int false, vary true),
    field!(Assumptions, "costs.cpu_cost_per_core_hour", cpu_cost_per_core_hour, "currency per CPU core-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "costs.egress_cost_per_gb", egress_cost_per_gb, "currency per GB (10^9 bytes) of egress, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "costs.relay_fixed_cost_per_hour", relay_fixed_cost_per_hour, "currency per relay node-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "costs.transcoder_fixed_cost_per_hour", transcoder_fixed_cost_per_hour, "currency per transcoder node-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "costs.moderator_cost_per_stream_hour", moderator_cost_per_stream_hour, "currency per stream-hour, >= 0", min Dec::ZERO, max None, int false, vary true),
    field!(Assumptions, "comparison.twitch_creator_share_pct", twitch_creator_share_pct, "percent, 0..=100", min Dec::ZERO, max Some(Dec::int(100)), int false, vary false),
    field!(Assumptions, "comparison.youtube_creator_share_pct_low", youtube_creator_share_pct_low, "percent, 0..=100", min Dec::ZERO, max Some(Dec::int(100)), int false, vary false),
    field!(Assumptions, "comparison.youtube_creator_share_pct_high", youtube_creator_share_pct_high, "percent, 0..=100", min Dec::ZERO, max Some(Dec::int(100)), int false, vary false),
    field!(Assumptions, "comparison.livepeer_price_per_transcoded_minute", livepeer_price_per_transcoded_minute, "currency per transcoded minute, >= 0", min Dec::ZERO, max None, int false, vary false),
];

const STRING_FIELDS: &[(&str, &str)] = &[
    ("currency", "a currency code such as \"USD\""),
    (
        "comparison.twitch_source",
        "text citing where the Twitch share comes from",
    ),
    (
        "comparison.youtube_source",
        "text citing where the YouTube shares come from",
    ),
    (
        "comparison.livepeer_source",
        "text citing where the Livepeer price comes from",
    ),
];

/// Every measured figure: key, unit, and accessors on `Measured`.
pub struct MeasuredField {
    pub key: &'static str,
    pub unit: &'static str,
    pub get: fn(&Measured) -> &Figure,
    pub get_mut: fn(&mut Measured) -> &mut Figure,
}

macro_rules! mfield {
    ($key:literal, $f:ident, $unit:literal) => {
        MeasuredField {
            key: $key,
            unit: $unit,
            get: |m| &m.$f,
            get_mut: |m| &mut m.$f,
        }
    };
}

pub static MEASURED_FIELDS: &[MeasuredField] = &[
    mfield!(
        "transcoder_core_seconds_per_ladder_minute",
        transcoder_core_seconds_per_ladder_minute,
        "CPU core-seconds per minute of live input, whole ladder, >= 0"
    ),
    mfield!(
        "relay_core_seconds_per_viewer_hour",
        relay_core_seconds_per_viewer_hour,
        "CPU core-seconds per viewer-hour, >= 0"
    ),
    mfield!(
        "relay_bytes_per_viewer_hour",
        relay_bytes_per_viewer_hour,
        "bytes per viewer-hour, >= 0"
    ),
    mfield!(
        "payment_bytes_per_viewer_hour",
        payment_bytes_per_viewer_hour,
        "bytes per viewer-hour per party on the payment path, >= 0"
    ),
    mfield!(
        "payment_core_seconds_per_viewer_hour",
        payment_core_seconds_per_viewer_hour,
        "CPU core-seconds per viewer-hour per party on the payment path, >= 0"
    ),
];

/// Parse `text` as TOML, or as JSON when `file` ends in `.json`.
fn parse_table(file: &str, text: &str) -> Result<toml::Table, EconError> {
    if file.ends_with(".json") {
        serde_json::from_str::<toml::Table>(text).map_err(|e| EconError::Syntax {
            file: file.into(),
            format: "JSON",
            message: e.to_string(),
        })
    } else {
        text.parse::<toml::Table>().map_err(|e| EconError::Syntax {
            file: file.into(),
            format: "TOML",
            message: e.to_string().trim().to_string(),
        })
    }
}

fn lookup<'a>(t: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("the text {s:?}"),
        toml::Value::Table(_) => "a table".into(),
        toml::Value::Array(_) => "an array".into(),
        other => other.to_string(),
    }
}

fn number(
    file: &str,
    key: &str,
    unit: &'static str,
    v: Option<&toml::Value>,
) -> Result<Dec, EconError> {
    let invalid = |found: String| EconError::Invalid {
        file: file.into(),
        field: key.into(),
        unit,
        found,
    };
    match v {
        None => Err(EconError::Missing {
            file: file.into(),
            field: key.into(),
            unit,
        }),
        Some(toml::Value::Integer(i)) => Ok(Dec::int(*i)),
        Some(toml::Value::Float(f)) => Dec::from_f64(*f).ok_or_else(|| invalid(f.to_string())),
        // Quoted decimals keep any precision the author wants ("0.0000125").
        Some(v @ toml::Value::String(s)) => Dec::parse(s).ok_or_else(|| invalid(describe(v))),
        Some(other) => Err(invalid(describe(other))),
    }
}

fn check_bounds(
    file: &str,
    key: &str,
    unit: &'static str,
    v: Dec,
    min: Dec,
    max: Option<Dec>,
    integer: bool,
) -> Result<(), EconError> {
    let bad = v < min || max.is_some_and(|m| v > m) || (integer && v.ceil() != v);
    if bad {
        return Err(EconError::Invalid {
            file: file.into(),
            field: key.into(),
            unit,
            found: v.to_string(),
        });
    }
    Ok(())
}

fn text(file: &str, t: &toml::Table, key: &str, unit: &'static str) -> Result<String, EconError> {
    match lookup(t, key) {
        None => Err(EconError::Missing {
            file: file.into(),
            field: key.into(),
            unit,
        }),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(other) => Err(EconError::Invalid {
            file: file.into(),
            field: key.into(),
            unit,
            found: describe(other),
        }),
    }
}

/// Every leaf key in `t` ("a.b.c"), to report unknown fields.
fn leaf_keys(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(sub) => leaf_keys(sub, &key, out),
            _ => out.push(key),
        }
    }
}

impl Assumptions {
    /// Read assumptions from TOML (or JSON when `file` ends in `.json`); `file` names the
    /// source in error messages.
    pub fn parse(file: &str, text_in: &str) -> Result<Assumptions, EconError> {
        let t = parse_table(file, text_in)?;
        let known: BTreeSet<&str> = ASSUMPTION_FIELDS
            .iter()
            .map(|f| f.key)
            .chain(STRING_FIELDS.iter().map(|s| s.0))
            .collect();
        let mut keys = Vec::new();
        leaf_keys(&t, "", &mut keys);
        if let Some(k) = keys.iter().find(|k| !known.contains(k.as_str())) {
            return Err(EconError::Unknown {
                file: file.into(),
                field: k.clone(),
            });
        }
        let mut a = Assumptions {
            currency: text(file, &t, STRING_FIELDS[0].0, STRING_FIELDS[0].1)?,
            twitch_source: text(file, &t, STRING_FIELDS[1].0, STRING_FIELDS[1].1)?,
            youtube_source: text(file, &t, STRING_FIELDS[2].0, STRING_FIELDS[2].1)?,
            livepeer_source: text(file, &t, STRING_FIELDS[3].0, STRING_FIELDS[3].1)?,
            viewers: Dec::ZERO,
            stream_hours: Dec::ZERO,
            price_per_viewer_hour: Dec::ZERO,
            viewers_per_relay: Dec::ZERO,
            ilp_hops: Dec::ZERO,
            relay_margin_bps: Dec::ZERO,
            transcoder_fee_per_minute: Dec::ZERO,
            moderator_fee_per_stream_hour: Dec::ZERO,
            connector_fee_bps_per_hop: Dec::ZERO,
            cpu_cost_per_core_hour: Dec::ZERO,
            egress_cost_per_gb: Dec::ZERO,
            relay_fixed_cost_per_hour: Dec::ZERO,
            transcoder_fixed_cost_per_hour: Dec::ZERO,
            moderator_cost_per_stream_hour: Dec::ZERO,
            twitch_creator_share_pct: Dec::ZERO,
            youtube_creator_share_pct_low: Dec::ZERO,
            youtube_creator_share_pct_high: Dec::ZERO,
            livepeer_price_per_transcoded_minute: Dec::ZERO,
        };
        for f in ASSUMPTION_FIELDS {
            let v = number(file, f.key, f.unit, lookup(&t, f.key))?;
            check_bounds(file, f.key, f.unit, v, f.min, f.max, f.integer)?;
            (f.set)(&mut a, v);
        }
        Ok(a)
    }
}

impl Measured {
    /// The file form agents write from their metrics: TOML that [`Measured::parse`] reads back
    /// exactly (values as quoted exact decimals).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("plain tables of strings serialize")
    }

    /// Read measured figures: one table per figure with `value`, `status`
    /// (measured | derived | estimate), `source` and optional `command`.
    pub fn parse(file: &str, text_in: &str) -> Result<Measured, EconError> {
        let t = parse_table(file, text_in)?;
        if let Some(k) = t
            .keys()
            .find(|k| MEASURED_FIELDS.iter().all(|f| f.key != k.as_str()))
        {
            return Err(EconError::Unknown {
                file: file.into(),
                field: k.clone(),
            });
        }
        let mut figs = Vec::new();
        for f in MEASURED_FIELDS {
            let Some(v) = t.get(f.key) else {
                return Err(EconError::Missing {
                    file: file.into(),
                    field: f.key.into(),
                    unit: "a table with value, status, source",
                });
            };
            let Some(sub) = v.as_table() else {
                return Err(EconError::Invalid {
                    file: file.into(),
                    field: f.key.into(),
                    unit: "a table with value, status, source",
                    found: describe(v),
                });
            };
            for k in sub.keys() {
                if !["value", "status", "source", "command"].contains(&k.as_str()) {
                    return Err(EconError::Unknown {
                        file: file.into(),
                        field: format!("{}.{k}", f.key),
                    });
                }
            }
            let vkey = format!("{}.value", f.key);
            let value = number(file, &vkey, f.unit, sub.get("value"))?;
            check_bounds(file, &vkey, f.unit, value, Dec::ZERO, None, false)?;
            const STATUS: &str = "one of \"measured\", \"derived\", \"estimate\"";
            let skey = format!("{}.status", f.key);
            let status = match text(file, sub, "status", STATUS)
                .map_err(|e| rename(e, &skey))?
                .as_str()
            {
                "measured" => Status::Measured,
                "derived" => Status::Derived,
                "estimate" => Status::Estimate,
                other => {
                    return Err(EconError::Invalid {
                        file: file.into(),
                        field: skey,
                        unit: STATUS,
                        found: format!("{other:?}"),
                    });
                }
            };
            let source = text(
                file,
                sub,
                "source",
                "text saying where and how it was measured",
            )
            .map_err(|e| rename(e, &format!("{}.source", f.key)))?;
            let command = match sub.get("command") {
                None => None,
                Some(_) => Some(
                    text(file, sub, "command", "the command that measures it")
                        .map_err(|e| rename(e, &format!("{}.command", f.key)))?,
                ),
            };
            figs.push(Figure {
                value,
                status,
                source,
                command,
            });
        }
        let mut it = figs.into_iter();
        let mut next = || it.next().expect("one figure per field");
        Ok(Measured {
            transcoder_core_seconds_per_ladder_minute: next(),
            relay_core_seconds_per_viewer_hour: next(),
            relay_bytes_per_viewer_hour: next(),
            payment_bytes_per_viewer_hour: next(),
            payment_core_seconds_per_viewer_hour: next(),
        })
    }
}

/// Give a sub-table error its full dotted field name.
fn rename(e: EconError, full: &str) -> EconError {
    match e {
        EconError::Missing { file, unit, .. } => EconError::Missing {
            file,
            field: full.into(),
            unit,
        },
        EconError::Invalid {
            file, unit, found, ..
        } => EconError::Invalid {
            file,
            field: full.into(),
            unit,
            found,
        },
        other => other,
    }
}
