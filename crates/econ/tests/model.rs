//! The model's arithmetic against hand-computed cases (the arithmetic is in the comments),
//! sensitivity ranking on a constructed case, and input errors naming field and unit.

use tollcast_econ::{Assumptions, Dec, EconError, Measured, compute, sensitivity};

fn d(s: &str) -> Dec {
    Dec::parse(s).unwrap()
}

/// Case A, chosen so every step is easy by hand.
const ASSUMPTIONS: &str = r#"
currency = "USD"
[audience]
viewers = 100
stream_hours = 10
price_per_viewer_hour = 0.10
[network]
viewers_per_relay = 30
ilp_hops = 2
[fees]
relay_margin_bps = 1000
transcoder_fee_per_minute = 0.01
moderator_fee_per_stream_hour = 1
connector_fee_bps_per_hop = 100
[costs]
cpu_cost_per_core_hour = 0.036
egress_cost_per_gb = "0.02"
relay_fixed_cost_per_hour = 0.05
transcoder_fixed_cost_per_hour = 0.03
moderator_cost_per_stream_hour = 0.4
[comparison]
twitch_creator_share_pct = 50
twitch_source = "brief"
youtube_creator_share_pct_low = 55
youtube_creator_share_pct_high = 70
youtube_source = "brief"
livepeer_price_per_transcoded_minute = 0.02
livepeer_source = "test"
"#;

const MEASURED: &str = r#"
[transcoder_core_seconds_per_ladder_minute]
value = 36
status = "derived"
source = "test"
[relay_core_seconds_per_viewer_hour]
value = 7.2
status = "estimate"
source = "test"
[relay_bytes_per_viewer_hour]
value = 1000000000
status = "measured"
source = "test"
command = "x"
[payment_bytes_per_viewer_hour]
value = 500000000
status = "estimate"
source = "test"
[payment_core_seconds_per_viewer_hour]
value = 3.6
status = "estimate"
source = "test"
"#;

fn case_a() -> (Assumptions, Measured) {
    (
        Assumptions::parse("a.toml", ASSUMPTIONS).unwrap(),
        Measured::parse("m.toml", MEASURED).unwrap(),
    )
}

#[test]
fn revenue_split_is_exact_and_conserved() {
    let (a, m) = case_a();
    let r = compute(&a, &m).unwrap();
    // viewer-hours = 100 viewers x 10 h = 1000; stream minutes = 10 x 60 = 600
    assert_eq!(r.viewer_hours, d("1000"));
    assert_eq!(r.stream_minutes, d("600"));
    // gross = 1000 x 0.10 = 100
    assert_eq!(r.gross, d("100"));
    // hop 1 keeps 1 % of 100 = 1 -> 99; hop 2 keeps 1 % of 99 = 0.99 -> 98.01
    assert_eq!(r.at_relay, d("98.01"));
    let rev = |role: &str| r.role(role).unwrap().revenue;
    assert_eq!(rev("connectors"), d("1.99")); // 1 + 0.99
    assert_eq!(rev("relay"), d("9.801")); // 98.01 x 1000/10000
    assert_eq!(rev("transcoder"), d("6")); // 600 min x 0.01
    assert_eq!(rev("moderator"), d("10")); // 10 h x 1
    // creator = 98.01 - 9.801 - 6 - 10 = 72.209
    assert_eq!(rev("creator"), d("72.209"));
    // conservation: 72.209 + 9.801 + 6 + 10 + 1.99 = 100 exactly
    let mut sum = Dec::ZERO;
    for l in &r.roles {
        sum = sum.plus(l.revenue).unwrap();
    }
    assert_eq!(sum, r.gross);
    // share = 72.209 / 100 x 100 = 72.209 %
    assert_eq!(r.comparison.creator_share_pct, Some(d("72.209")));
    // creator at Twitch's 50 % of the same gross = 50
    assert_eq!(r.comparison.creator_at_twitch, d("50"));
    assert_eq!(r.comparison.livepeer_price_per_minute, d("0.02"));
}

#[test]
fn costs_margins_and_nodes() {
    let (a, m) = case_a();
    let r = compute(&a, &m).unwrap();
    let relay = r.role("relay").unwrap();
    // relays = ceil(100 / 30) = 4
    assert_eq!(relay.nodes, d("4"));
    // CPU: 1000 vh x (7.2 + 3.6) core-s = 10800 core-s x 0.036 / 3600 = 0.108
    // bytes: 1000 vh x (1e9 + 5e8) = 1.5e12 B x 0.02 / 1e9 = 30
    // fixed: 4 relays x 10 h x 0.05 = 2            -> cost 32.108
    assert_eq!(relay.cost, d("32.108"));
    // margin 9.801 - 32.108 = -22.307; % = -2230.7 / 9.801 = -227.5992245689... -> -227.599224569
    assert_eq!(relay.margin, d("-22.307"));
    assert_eq!(relay.margin_pct, Some(d("-227.599224569")));

    let t = r.role("transcoder").unwrap();
    // CPU: 600 min x 36 core-s = 21600 core-s x 0.036 / 3600 = 0.216; fixed 10 h x 0.03 = 0.3
    assert_eq!(t.cost, d("0.516"));
    assert_eq!(t.margin, d("5.484")); // 6 - 0.516
    assert_eq!(t.margin_pct, Some(d("91.4"))); // 5.484 / 6 x 100

    let mo = r.role("moderator").unwrap();
    assert_eq!(mo.cost, d("4")); // 10 h x 0.4
    assert_eq!(mo.margin_pct, Some(d("60"))); // 6 / 10

    let c = r.role("connectors").unwrap();
    // 2 hops x 1000 vh x 3.6 core-s = 7200 core-s x 0.036/3600 = 0.072
    // 2 hops x 1000 vh x 5e8 B = 1e12 B x 0.02 / 1e9 = 20          -> 20.072
    assert_eq!(c.cost, d("20.072"));
    assert_eq!(c.margin, d("-18.082")); // 1.99 - 20.072
    assert_eq!(c.nodes, d("2"));

    let cr = r.role("creator").unwrap();
    assert_eq!((cr.cost, cr.margin), (Dec::ZERO, d("72.209")));
    assert_eq!(cr.margin_pct, Some(d("100")));
}

#[test]
fn break_even_points() {
    let (mut a, m) = case_a();
    let r = compute(&a, &m).unwrap();
    // relay earns 9.801 / 1000 vh = 0.009801 per viewer-hour but spends
    // (7.2 + 3.6) x 0.036 / 3600 + 1.5e9 x 0.02 / 1e9 = 0.000108 + 0.03 = 0.030108: never
    assert_eq!(r.break_even.relay_revenue_per_viewer_hour, d("0.009801"));
    assert_eq!(r.break_even.relay_cost_per_viewer_hour, d("0.030108"));
    assert_eq!(r.break_even.viewers_per_relay, None);
    // margin needed at capacity (30 viewers): fixed 0.05 / 30 = 0.001666667 per vh, plus 0.030108
    // = 0.031774667 per vh; 98.01 / 1000 = 0.09801 reaches the relay per vh;
    // 0.031774667 x 10000 / 0.09801 = 3241.982144679 bps
    assert_eq!(
        r.break_even.relay_margin_bps_needed_at_capacity,
        Some(d("3241.982144679"))
    );
    // transcoder: CPU per minute 36 x 0.036 / 3600 = 0.00036; gain 0.01 - 0.00036 = 0.00964;
    // fixed 0.03 per hour / 0.00964 = 3.112033195... minutes per transcoder-hour
    assert_eq!(r.break_even.transcoder_cost_per_minute, d("0.00036"));
    assert_eq!(
        r.break_even.minutes_per_transcoder_hour,
        Some(d("3.112033195"))
    );

    // Case B: egress 0.002 per GB. Relay cost per vh = 0.000108 + 1.5 x 0.002 = 0.003108;
    // gain 0.009801 - 0.003108 = 0.006693; break-even 0.05 / 0.006693 = 7.470491558 viewers
    a.egress_cost_per_gb = d("0.002");
    let r = compute(&a, &m).unwrap();
    assert_eq!(r.break_even.relay_cost_per_viewer_hour, d("0.003108"));
    assert_eq!(r.break_even.viewers_per_relay, Some(d("7.470491558")));
    // (0.003108 + 0.001666667) x 10000 / 0.09801 = 487.16120804 bps
    assert_eq!(
        r.break_even.relay_margin_bps_needed_at_capacity,
        Some(d("487.16120804"))
    );
    // relay cost 0.108 + 1.5e12 x 0.002 / 1e9 (= 3) + 2 = 5.108; margin 9.801 - 5.108 = 4.693
    assert_eq!(r.role("relay").unwrap().margin, d("4.693"));
    // creator share does not depend on costs
    assert_eq!(r.comparison.creator_share_pct, Some(d("72.209")));

    // transcoder fee below its CPU cost: never breaks even
    a.transcoder_fee_per_minute = d("0.0003");
    let r = compute(&a, &m).unwrap();
    assert_eq!(r.break_even.minutes_per_transcoder_hour, None);
}

#[test]
fn fees_exceeding_payments_give_a_negative_creator_share() {
    let (mut a, m) = case_a();
    // moderator fee 10 per hour x 10 h = 100 > what reaches the relay
    a.moderator_fee_per_stream_hour = d("10");
    let r = compute(&a, &m).unwrap();
    // creator = 98.01 - 9.801 - 6 - 100 = -17.791
    assert_eq!(r.role("creator").unwrap().revenue, d("-17.791"));
    assert_eq!(r.comparison.creator_share_pct, Some(d("-17.791")));
    // zero price: no gross, no share
    a.price_per_viewer_hour = Dec::ZERO;
    let r = compute(&a, &m).unwrap();
    assert_eq!(r.comparison.creator_share_pct, None);
}

#[test]
fn sensitivity_ranks_inputs_by_effect_on_creator_share() {
    let (mut a, m) = case_a();
    // Constructed case: no hops, moderator 1.5/h. gross 100, T = 6, M = 15,
    // base share = 100 x 0.9 - 6 - 15 = 69 %.
    a.ilp_hops = Dec::ZERO;
    a.moderator_fee_per_stream_hour = d("1.5");
    let s = sensitivity(&a, &m, d("0.2")).unwrap();
    assert!((s.base_share - 69.0).abs() < 1e-9);
    let effect = |f: &str| s.swings.iter().find(|w| w.field == f).unwrap().effect;
    // price -20 %: gross 80 -> (72 - 21) / 80 = 63.75 (-5.25); +20 %: (108 - 21) / 120 = 72.5 (+3.5)
    assert!((effect("audience.price_per_viewer_hour") - 5.25).abs() < 1e-9);
    // viewers move the gross exactly like the price
    assert!((effect("audience.viewers") - 5.25).abs() < 1e-9);
    // moderator fee 15 +-3
    assert!((effect("fees.moderator_fee_per_stream_hour") - 3.0).abs() < 1e-9);
    // relay margin 800/1200 bps: 92 - 21 = 71 / 88 - 21 = 67 -> 2
    assert!((effect("fees.relay_margin_bps") - 2.0).abs() < 1e-9);
    // transcoder fee 6 +-1.2
    assert!((effect("fees.transcoder_fee_per_minute") - 1.2).abs() < 1e-9);
    // hops 0 -> 1 (whole numbers move by 1): 99 x 0.9 - 21 = 68.1 -> 0.9
    assert!((effect("network.ilp_hops") - 0.9).abs() < 1e-9);
    // stream hours scale gross and per-stream fees alike; costs and measured figures don't touch it
    assert_eq!(effect("audience.stream_hours"), 0.0);
    assert_eq!(effect("costs.egress_cost_per_gb"), 0.0);
    assert_eq!(effect("measured.relay_bytes_per_viewer_hour"), 0.0);
    let order: Vec<&str> = s.swings.iter().take(6).map(|w| w.field.as_str()).collect();
    assert_eq!(
        order,
        [
            "audience.price_per_viewer_hour", // tie with viewers, broken by name
            "audience.viewers",
            "fees.moderator_fee_per_stream_hour",
            "fees.relay_margin_bps",
            "fees.transcoder_fee_per_minute",
            "network.ilp_hops",
        ]
    );
    // every varied assumption and every measured figure appears once; comparison ones do not
    assert_eq!(s.swings.len(), 14 + 5);
    assert!(s.swings.iter().all(|w| !w.field.starts_with("comparison.")));
}

#[test]
fn bad_inputs_name_the_field_and_the_unit() {
    let e = Assumptions::parse("a.toml", &ASSUMPTIONS.replace("viewers = 100\n", "")).unwrap_err();
    assert!(
        matches!(&e, EconError::Missing { field, .. } if field == "audience.viewers"),
        "{e}"
    );
    assert!(e.to_string().contains("concurrent viewers"), "{e}");

    let e = Assumptions::parse(
        "a.toml",
        &ASSUMPTIONS.replace("viewers = 100", "viewers = \"many\""),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "a.toml: `audience.viewers` is the text \"many\"; expected average concurrent viewers, a number > 0"
    );
    let e = Assumptions::parse(
        "a.toml",
        &ASSUMPTIONS.replace("relay_margin_bps = 1000", "relay_margin_bps = 12000"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("`fees.relay_margin_bps` is 12000; expected basis points"),
        "{e}"
    );
    let e = Assumptions::parse(
        "a.toml",
        &ASSUMPTIONS.replace("ilp_hops = 2", "ilp_hops = 1.5"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("whole number"), "{e}");
    let e = Assumptions::parse(
        "a.toml",
        &ASSUMPTIONS.replace("[fees]", "[fees]\nrelay_margn_bps = 1"),
    )
    .unwrap_err();
    assert_eq!(
        e,
        EconError::Unknown {
            file: "a.toml".into(),
            field: "fees.relay_margn_bps".into()
        }
    );
    let e = Assumptions::parse("a.toml", "viewers = [").unwrap_err();
    assert!(matches!(e, EconError::Syntax { format: "TOML", .. }), "{e}");

    let e = Measured::parse(
        "m.toml",
        &MEASURED.replace("status = \"derived\"", "status = \"guess\""),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("transcoder_core_seconds_per_ladder_minute.status"),
        "{e}"
    );
    let e = Measured::parse("m.toml", &MEASURED.replacen("source = \"test\"", "", 1)).unwrap_err();
    assert!(
        matches!(&e, EconError::Missing { field, .. } if field == "transcoder_core_seconds_per_ladder_minute.source"),
        "{e}"
    );
    let e = Measured::parse("m.toml", &MEASURED.replace("value = 7.2", "value = -1")).unwrap_err();
    assert!(
        e.to_string()
            .contains("relay_core_seconds_per_viewer_hour.value` is -1"),
        "{e}"
    );
}

#[test]
fn measured_inputs_also_read_as_json() {
    let json = r#"{
      "transcoder_core_seconds_per_ladder_minute": {"value": 36, "status": "measured", "source": "run 1"},
      "relay_core_seconds_per_viewer_hour": {"value": 7.2, "status": "measured", "source": "run 1"},
      "relay_bytes_per_viewer_hour": {"value": 1000000000, "status": "measured", "source": "run 1"},
      "payment_bytes_per_viewer_hour": {"value": 500000000, "status": "measured", "source": "run 1"},
      "payment_core_seconds_per_viewer_hour": {"value": "3.6", "status": "measured", "source": "run 1"}
    }"#;
    let mj = Measured::parse("m.json", json).unwrap();
    let (a, m) = case_a();
    assert_eq!(mj.payment_core_seconds_per_viewer_hour.value, d("3.6"));
    assert_eq!(
        compute(&a, &mj).unwrap().roles,
        compute(&a, &m).unwrap().roles
    );
    assert!(matches!(
        Measured::parse("m.json", "{").unwrap_err(),
        EconError::Syntax { format: "JSON", .. }
    ));
}

#[test]
fn measured_file_written_by_agents_reads_back_exactly() {
    let (_, m) = case_a();
    let text = m.to_toml();
    assert!(
        text.contains("[relay_core_seconds_per_viewer_hour]"),
        "{text}"
    );
    assert!(text.contains("value = \"7.2\""), "{text}");
    assert_eq!(Measured::parse("m.toml", &text).unwrap(), m);
}

#[test]
fn absurd_inputs_give_an_overflow_error_not_a_panic() {
    let (mut a, m) = case_a();
    // 1e15 viewers x 1e15 hours = 1e30 viewer-hours: 1e39 nano-units, past i128
    a.viewers = Dec::int(1_000_000_000_000_000);
    a.stream_hours = Dec::int(1_000_000_000_000_000);
    assert_eq!(compute(&a, &m).unwrap_err(), EconError::Overflow);
    assert_eq!(
        sensitivity(&a, &m, d("0.2")).unwrap_err(),
        EconError::Overflow
    );
}
