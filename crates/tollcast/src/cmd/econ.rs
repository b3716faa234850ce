//! `tollcast econ`: the economic model of a stream (crate tollcast-econ) from an assumptions
//! file and a measured-inputs file; prints the per-role table and writes CSV, JSON and SVG charts.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tollcast_econ::{Assumptions, Dec, Measured, compute, render, sensitivity};

/// Model per-role revenue, cost, margin and break-even of a stream, the creator's share next
/// to Twitch and YouTube, and which assumption moves that share most (±N % one at a time).
///
/// Inputs: an assumptions file (audience, prices, fees, unit costs, comparison platforms,
/// each documented) and a measured-inputs file (CPU and bytes per unit of work, each with
/// value, status and source). See examples/econ/ for both, with every field explained.
#[derive(clap::Args)]
pub struct Args {
    /// Assumptions file (TOML, or JSON if it ends in .json), e.g. examples/econ/assumptions.toml.
    #[arg(long, value_name = "FILE")]
    assumptions: PathBuf,
    /// Measured inputs (TOML, or JSON if it ends in .json), e.g. examples/econ/measured.toml.
    #[arg(long, value_name = "FILE")]
    measured: PathBuf,
    /// Also write the results as long-format CSV (section,item,metric,value,unit).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write charts here: roles.svg, creator_share.svg, tornado.svg (created if missing).
    #[arg(long, value_name = "DIR")]
    svg_dir: Option<PathBuf>,
    /// Print JSON (inputs, report, sensitivity) on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Sensitivity step in percent: each input is moved down and up by this much.
    #[arg(long, default_value_t = 20, value_name = "PERCENT",
          value_parser = clap::value_parser!(u8).range(1..=99))]
    swing: u8,
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the {what} file {}: give an existing file (see examples/econ/)",
            path.display()
        )
    })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let a_name = args.assumptions.display().to_string();
    let m_name = args.measured.display().to_string();
    let a = Assumptions::parse(&a_name, &read(&args.assumptions, "assumptions")?)?;
    let m = Measured::parse(&m_name, &read(&args.measured, "measured inputs")?)?;
    let report = compute(&a, &m)?;
    let sens = sensitivity(&a, &m, Dec::frac(args.swing as i64, 100))?;

    if let Some(path) = &args.csv {
        write(path, &render::csv(&report, &sens))?;
    }
    if let Some(dir) = &args.svg_dir {
        if dir.exists() && !dir.is_dir() {
            bail!("--svg-dir {} exists and is not a directory", dir.display());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        write(&dir.join("roles.svg"), &render::roles_svg(&report))?;
        write(&dir.join("creator_share.svg"), &render::share_svg(&report))?;
        write(&dir.join("tornado.svg"), &render::tornado_svg(&sens))?;
    }
    if args.json {
        let v = serde_json::json!({
            "assumptions": a,
            "measured": m,
            "report": report,
            "sensitivity": sens,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render::table(&report, &sens, &m));
    }
    Ok(())
}
