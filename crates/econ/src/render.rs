//! Output forms of a report: an aligned terminal table, a long-format CSV
//! (`section,item,metric,value,unit`), and hand-written SVG bar charts (roles, creator share
//! vs platforms, sensitivity tornado). No plotting dependency: plain rectangles and text.

use std::fmt::Write;

use crate::inputs::MEASURED_FIELDS;
use crate::{Dec, Measured, Report, Sensitivity, Status};

fn opt(d: Option<Dec>, places: u32, none: &str) -> String {
    d.map_or_else(|| none.to_string(), |d| d.fmt_places(places))
}

/// The terminal table: roles, break-even, comparison, top sensitivity, and input provenance.
pub fn table(r: &Report, s: &Sensitivity, m: &Measured) -> String {
    let c = &r.currency;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "tollcast econ: {} viewer-hours, {} stream-minutes, viewers pay {} {c} (after connector fees {} {c} reach the relay)\n",
        r.viewer_hours.fmt_places(2),
        r.stream_minutes.fmt_places(0),
        r.gross.fmt_places(2),
        r.at_relay.fmt_places(2)
    );
    let _ = writeln!(
        o,
        "{:<11} {:>5} {:>14} {:>14} {:>14} {:>9}",
        "role",
        "nodes",
        format!("revenue {c}"),
        format!("cost {c}"),
        format!("margin {c}"),
        "margin %"
    );
    for l in &r.roles {
        let _ = writeln!(
            o,
            "{:<11} {:>5} {:>14} {:>14} {:>14} {:>9}",
            l.role,
            l.nodes.fmt_places(0),
            l.revenue.fmt_places(2),
            l.cost.fmt_places(2),
            l.margin.fmt_places(2),
            opt(l.margin_pct, 1, "-")
        );
    }
    let b = &r.break_even;
    let _ = writeln!(o, "\nbreak-even");
    let relay_be = match b.viewers_per_relay {
        Some(v) => format!("{} concurrent viewers per relay", v.fmt_places(1)),
        None => "never (each viewer costs the relay more than it earns)".into(),
    };
    let _ = writeln!(
        o,
        "  relay:      {relay_be}; earns {} {c}, costs {} {c} per viewer-hour",
        b.relay_revenue_per_viewer_hour.fmt_places(6),
        b.relay_cost_per_viewer_hour.fmt_places(6)
    );
    let _ = writeln!(
        o,
        "              at its capacity a relay needs a margin of {} bps (assumed {} bps)",
        opt(b.relay_margin_bps_needed_at_capacity, 0, "-"),
        r.relay_margin_bps
    );
    let transcoder_be = match b.minutes_per_transcoder_hour {
        Some(v) => format!("{} transcoded minutes per transcoder-hour", v.fmt_places(1)),
        None => "never (the fee does not cover the CPU)".into(),
    };
    let _ = writeln!(
        o,
        "  transcoder: {transcoder_be}; fee {} {c}, CPU cost {} {c} per minute",
        r.comparison.transcoder_fee_per_minute,
        b.transcoder_cost_per_minute.fmt_places(6)
    );
    let k = &r.comparison;
    let _ = writeln!(o, "\ncreator share");
    let _ = writeln!(o, "  tollcast:   {} %", opt(k.creator_share_pct, 2, "-"));
    let _ = writeln!(
        o,
        "  Twitch:     {} % (creator would get {} {c})",
        k.twitch_pct,
        k.creator_at_twitch.fmt_places(2)
    );
    let _ = writeln!(
        o,
        "  YouTube:    {}-{} %",
        k.youtube_low_pct, k.youtube_high_pct
    );
    let _ = writeln!(
        o,
        "transcoding price per minute: tollcast fee {} {c}, Livepeer-style {} {c}",
        k.transcoder_fee_per_minute, k.livepeer_price_per_minute
    );
    let _ = writeln!(
        o,
        "\nsensitivity of creator share (each input -20 % / +20 %, whole numbers -1/+1)"
    );
    let _ = writeln!(
        o,
        "  {:<48} {:>9} {:>9} {:>9}",
        "input", "low %", "high %", "effect pp"
    );
    for w in s.swings.iter().take(8) {
        let _ = writeln!(
            o,
            "  {:<48} {:>9.2} {:>9.2} {:>9.2}",
            w.field, w.share_at_low, w.share_at_high, w.effect
        );
    }
    if let Some(top) = s.swings.first().filter(|w| w.effect > 0.0) {
        let _ = writeln!(
            o,
            "  moves the creator share most: {} (up to {:.2} percentage points)",
            top.field, top.effect
        );
    }
    let _ = writeln!(o, "\nmeasured inputs");
    for f in MEASURED_FIELDS {
        let fig = (f.get)(m);
        let tag = match fig.status {
            Status::Measured => "measured",
            Status::Derived => "derived",
            Status::Estimate => "ESTIMATE (not yet measured)",
        };
        let _ = writeln!(o, "  {:<44} {:>14}  {tag}", f.key, fig.value.to_string());
    }
    o
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Long-format CSV: header `section,item,metric,value,unit`, exact decimals, empty value for
/// "not applicable / never".
pub fn csv(r: &Report, s: &Sensitivity) -> String {
    let c = r.currency.as_str();
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut push = |sec: &str, item: &str, metric: &str, v: String, unit: &str| {
        rows.push([sec.into(), item.into(), metric.into(), v, unit.into()]);
    };
    let o = |d: Option<Dec>| d.map_or(String::new(), |d| d.to_string());
    push(
        "summary",
        "stream",
        "viewer_hours",
        r.viewer_hours.to_string(),
        "viewer-hours",
    );
    push(
        "summary",
        "stream",
        "stream_minutes",
        r.stream_minutes.to_string(),
        "minutes",
    );
    push("summary", "stream", "gross", r.gross.to_string(), c);
    push("summary", "stream", "at_relay", r.at_relay.to_string(), c);
    for l in &r.roles {
        push("role", l.role, "nodes", l.nodes.to_string(), "nodes");
        push("role", l.role, "revenue", l.revenue.to_string(), c);
        push("role", l.role, "cost", l.cost.to_string(), c);
        push("role", l.role, "margin", l.margin.to_string(), c);
        push("role", l.role, "margin_pct", o(l.margin_pct), "%");
    }
    let b = &r.break_even;
    push(
        "break_even",
        "relay",
        "viewers_per_relay",
        o(b.viewers_per_relay),
        "viewers",
    );
    push(
        "break_even",
        "relay",
        "revenue_per_viewer_hour",
        b.relay_revenue_per_viewer_hour.to_string(),
        c,
    );
    push(
        "break_even",
        "relay",
        "cost_per_viewer_hour",
        b.relay_cost_per_viewer_hour.to_string(),
        c,
    );
    push(
        "break_even",
        "relay",
        "margin_bps_needed_at_capacity",
        o(b.relay_margin_bps_needed_at_capacity),
        "bps",
    );
    push(
        "break_even",
        "transcoder",
        "minutes_per_transcoder_hour",
        o(b.minutes_per_transcoder_hour),
        "minutes",
    );
    push(
        "break_even",
        "transcoder",
        "cost_per_minute",
        b.transcoder_cost_per_minute.to_string(),
        c,
    );
    let k = &r.comparison;
    push(
        "comparison",
        "tollcast",
        "creator_share_pct",
        o(k.creator_share_pct),
        "%",
    );
    push(
        "comparison",
        "twitch",
        "creator_share_pct",
        k.twitch_pct.to_string(),
        "%",
    );
    push(
        "comparison",
        "youtube_low",
        "creator_share_pct",
        k.youtube_low_pct.to_string(),
        "%",
    );
    push(
        "comparison",
        "youtube_high",
        "creator_share_pct",
        k.youtube_high_pct.to_string(),
        "%",
    );
    push(
        "comparison",
        "tollcast",
        "transcode_price_per_minute",
        k.transcoder_fee_per_minute.to_string(),
        c,
    );
    push(
        "comparison",
        "livepeer",
        "transcode_price_per_minute",
        k.livepeer_price_per_minute.to_string(),
        c,
    );
    for w in &s.swings {
        push(
            "sensitivity",
            &w.field,
            "share_at_low",
            format!("{:.6}", w.share_at_low),
            "%",
        );
        push(
            "sensitivity",
            &w.field,
            "share_at_high",
            format!("{:.6}", w.share_at_high),
            "%",
        );
        push(
            "sensitivity",
            &w.field,
            "effect",
            format!("{:.6}", w.effect),
            "pp",
        );
    }
    let mut out = String::from("section,item,metric,value,unit\n");
    for row in rows {
        let cells: Vec<String> = row.iter().map(|x| csv_field(x)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const W: f64 = 760.0;

fn svg_open(h: f64, title: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        W / 2.0,
        esc(title)
    )
}

/// Revenue, cost and margin per role, grouped bars on one axis (negative margins go below it).
pub fn roles_svg(r: &Report) -> String {
    let vals: Vec<f64> = r
        .roles
        .iter()
        .flat_map(|l| [l.revenue, l.cost, l.margin].map(Dec::to_f64))
        .collect();
    let max = vals.iter().cloned().fold(0.0f64, f64::max).max(1e-9);
    let min = vals.iter().cloned().fold(0.0f64, f64::min);
    let (top, plot_h) = (50.0, 300.0);
    let span = max - min;
    let y = |v: f64| top + (max - v) / span * plot_h;
    let h = top + plot_h + 80.0;
    let mut o = svg_open(
        h,
        &format!("Revenue, cost and margin per role ({})", r.currency),
    );
    let colors = [
        ("revenue", "#4c78a8"),
        ("cost", "#e45756"),
        ("margin", "#54a24b"),
    ];
    let group_w = (W - 80.0) / r.roles.len() as f64;
    let bar_w = group_w / 4.0;
    let _ = writeln!(
        o,
        "<line x1=\"60\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"black\"/>",
        y(0.0),
        W - 20.0
    );
    // value axis: labels at the top, zero and (if any margin is negative) the bottom
    let mut ticks = vec![max, 0.0];
    if min < 0.0 {
        ticks.push(min);
    }
    for t in ticks {
        let _ = writeln!(
            o,
            "<text x=\"54\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\">{t:.0}</text><line x1=\"56\" y1=\"{1:.1}\" x2=\"60\" y2=\"{1:.1}\" stroke=\"black\"/>",
            y(t) + 3.0,
            y(t)
        );
    }
    for (i, l) in r.roles.iter().enumerate() {
        let gx = 60.0 + i as f64 * group_w;
        for (j, (v, (_, color))) in [l.revenue, l.cost, l.margin].iter().zip(colors).enumerate() {
            let v = v.to_f64();
            let (y0, y1) = (y(v.max(0.0)), y(v.min(0.0)));
            let x = gx + bar_w * (j as f64 + 0.5);
            let _ = writeln!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}</title></rect>",
                bar_w * 0.9,
                (y1 - y0).max(0.5),
                esc(&format!("{} {}: {v:.2}", l.role, colors[j].0))
            );
        }
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + group_w / 2.0,
            top + plot_h + 20.0,
            esc(l.role)
        );
    }
    for (j, (name, color)) in colors.iter().enumerate() {
        let x = 80.0 + j as f64 * 140.0;
        let _ = writeln!(
            o,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{:.1}\">{name}</text>",
            h - 35.0,
            x + 18.0,
            h - 25.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Creator share of tollcast next to Twitch and YouTube (low and high), horizontal bars.
pub fn share_svg(r: &Report) -> String {
    let k = &r.comparison;
    let rows = [
        (
            "tollcast (this model)",
            k.creator_share_pct.map_or(0.0, Dec::to_f64),
            "#54a24b",
        ),
        ("Twitch", k.twitch_pct.to_f64(), "#9146ff"),
        ("YouTube (low)", k.youtube_low_pct.to_f64(), "#e45756"),
        ("YouTube (high)", k.youtube_high_pct.to_f64(), "#e45756"),
    ];
    let h = 60.0 + rows.len() as f64 * 40.0 + 30.0;
    let mut o = svg_open(h, "Creator share of what viewers pay (%)");
    let (x0, plot_w) = (180.0, W - 260.0);
    for (i, (name, v, color)) in rows.iter().enumerate() {
        let yy = 50.0 + i as f64 * 40.0;
        let w = (v.clamp(0.0, 100.0) / 100.0) * plot_w;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{x0}\" y=\"{yy:.1}\" width=\"{w:.1}\" height=\"26\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{v:.1} %</text>",
            x0 - 8.0,
            yy + 17.0,
            esc(name),
            x0 + w + 6.0,
            yy + 17.0
        );
    }
    let _ = writeln!(
        o,
        "<line x1=\"{x0}\" y1=\"45\" x2=\"{x0}\" y2=\"{:.1}\" stroke=\"black\"/>",
        h - 30.0
    );
    o.push_str("</svg>\n");
    o
}

/// Tornado chart: for each input (largest effect on top), the creator share at -20 % and +20 %
/// as bars left/right of the base share.
pub fn tornado_svg(s: &Sensitivity) -> String {
    let rows: Vec<_> = s.swings.iter().filter(|w| w.effect > 0.0).collect();
    let maxd = rows
        .iter()
        .map(|w| {
            (w.share_at_low - s.base_share)
                .abs()
                .max((w.share_at_high - s.base_share).abs())
        })
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let h = 70.0 + rows.len().max(1) as f64 * 26.0 + 40.0;
    let mut o = svg_open(
        h,
        &format!(
            "Creator share sensitivity (base {:.2} %), inputs -20 % / +20 %",
            s.base_share
        ),
    );
    let (label_w, center) = (300.0, 300.0 + (W - 320.0) / 2.0);
    let half = (W - 320.0) / 2.0 - 40.0;
    let x = |share: f64| center + (share - s.base_share) / maxd * half;
    for (i, w) in rows.iter().enumerate() {
        let yy = 50.0 + i as f64 * 26.0;
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            yy + 15.0,
            esc(&w.field)
        );
        for (share, color, tag) in [
            (w.share_at_low, "#e45756", "-"),
            (w.share_at_high, "#4c78a8", "+"),
        ] {
            let (tx, anchor) = if share < s.base_share {
                (x(share) - 4.0, "end")
            } else {
                (x(share) + 4.0, "start")
            };
            let _ = writeln!(
                o,
                "<text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"10\">{share:.2}</text>",
                yy + 14.0
            );
            let (a, b) = (x(share).min(center), x(share).max(center));
            let _ = writeln!(
                o,
                "<rect x=\"{a:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"20\" fill=\"{color}\"><title>{}</title></rect>",
                (b - a).max(0.5),
                esc(&format!("{}{tag}20 %: {share:.2} %", w.field))
            );
        }
    }
    if rows.is_empty() {
        let _ = writeln!(
            o,
            "<text x=\"{center}\" y=\"65\" text-anchor=\"middle\">no input moves the creator share</text>"
        );
    }
    let _ = writeln!(
        o,
        "<line x1=\"{center:.1}\" y1=\"45\" x2=\"{center:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
        h - 40.0
    );
    let _ = writeln!(
        o,
        "<rect x=\"{}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"#e45756\"/><text x=\"{}\" y=\"{:.1}\">input -20 %</text><rect x=\"{}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"#4c78a8\"/><text x=\"{}\" y=\"{:.1}\">input +20 %</text>",
        label_w,
        h - 30.0,
        label_w + 18.0,
        h - 20.0,
        label_w + 140.0,
        h - 30.0,
        label_w + 158.0,
        h - 20.0
    );
    o.push_str("</svg>\n");
    o
}
