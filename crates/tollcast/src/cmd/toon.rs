//! `tollcast toon encode|decode`: JSON <-> TOON (spec v4.0) on stdin/stdout, and the wire
//! form of signed Nostr events (`--event`) that tollcast puts inside ILP packets.

use std::io::{Read, Write};

use anyhow::{Context, bail};
use tollcast_events::toon::{
    DecodeOpts, EncodeOptions, event_to_json_value, from_toon, json_to_toon, parse_delimiter,
    to_toon, toon_to_json,
};

/// Convert between JSON and TOON (Token-Oriented Object Notation, spec v4.0).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ToonCommand,
}

#[derive(clap::Subcommand)]
enum ToonCommand {
    /// Read JSON on stdin, write TOON on stdout (spec v4.0 defaults: indent 2, comma).
    Encode(EncodeArgs),
    /// Read TOON on stdin, write JSON on stdout (strict spec v4.0 decoding by default).
    Decode(DecodeArgs),
}

#[derive(clap::Args)]
struct EncodeArgs {
    /// Delimiter for arrays and tables: comma, tab or pipe (or the character itself).
    #[arg(long, default_value = "comma", value_parser = delimiter_arg)]
    delimiter: serde_toon::Delimiter,
    /// Spaces per indentation level.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    indent: u8,
    /// Input is a signed Nostr event: verify it and write the exact TOON that tollcast (and the
    /// M2M TypeScript peers) put in ILP PREPARE data (no trailing newline; options ignored).
    #[arg(long)]
    event: bool,
}

#[derive(clap::Args)]
struct DecodeArgs {
    /// Accept what strict mode refuses where the spec allows leniency (length mismatches,
    /// odd indentation, duplicate keys: last wins).
    #[arg(long)]
    lenient: bool,
    /// Spaces per indentation level expected in the input.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    indent: u8,
    /// Write JSON on one line instead of pretty-printed.
    #[arg(long)]
    compact: bool,
    /// Input is a TOON-encoded signed Nostr event: check its shape, verify id and signature,
    /// and write NIP-01 JSON.
    #[arg(long)]
    event: bool,
}

fn delimiter_arg(s: &str) -> Result<serde_toon::Delimiter, String> {
    parse_delimiter(s).ok_or_else(|| format!("`{s}` is not a delimiter: use comma, tab or pipe"))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("stdin is not UTF-8 text")?;
    Ok(s)
}

/// Run `tollcast toon`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let input = read_stdin()?;
    let mut out = std::io::stdout().lock();
    match args.command {
        ToonCommand::Encode(a) => {
            if a.event {
                let ev = nostr::prelude::Event::from_json(input.trim())
                    .context("stdin is not a signed Nostr event in JSON")?;
                tollcast_events::verify(&ev).context("the event does not verify")?;
                out.write_all(to_toon(&ev).as_bytes())?;
                return Ok(());
            }
            let value: serde_json::Value =
                serde_json::from_str(&input).context("stdin is not valid JSON")?;
            let opts = EncodeOptions {
                delimiter: a.delimiter,
                indent: a.indent as usize,
            };
            let text = json_to_toon(&value, &opts).context("cannot encode this JSON as TOON")?;
            writeln!(out, "{text}")?;
        }
        ToonCommand::Decode(a) => {
            let value = if a.event {
                if a.lenient {
                    bail!("--event always decodes strictly; drop --lenient");
                }
                let ev = from_toon(&input).context("not a valid TOON Nostr event")?;
                event_to_json_value(&ev)
            } else {
                toon_to_json(
                    &input,
                    DecodeOpts {
                        strict: !a.lenient,
                        indent: a.indent as usize,
                    },
                )
                .context("invalid TOON (try --lenient if it comes from a non-strict encoder)")?
            };
            let json = if a.compact {
                serde_json::to_string(&value)?
            } else {
                serde_json::to_string_pretty(&value)?
            };
            writeln!(out, "{json}")?;
        }
    }
    Ok(())
}
