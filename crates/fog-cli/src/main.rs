//! `fog`: the one binary of fogmarket. Each daemon and each user verb is a
//! subcommand; this crate only parses arguments and dispatches to the library
//! crates, which own the behaviour.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// fogmarket: an open market for computing power.
#[derive(Debug, Parser)]
#[command(name = "fog", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure fogmarket's parts and print the figures.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Gas of each market call and of a whole spot deal lifecycle, in an in-process EVM.
    Gas {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Bench {
            bench: Bench::Gas { json },
        } => bench_gas(json),
    }
}

fn bench_gas(json: bool) -> anyhow::Result<()> {
    let report = fog_contracts::gas::measure().context("measuring the deal lifecycle")?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let c = &report.calls;
    println!("{:<12} {:>9}", "call", "gas");
    for (name, gas) in [
        ("place_ask", c.place_ask),
        ("place_bid", c.place_bid),
        ("open_deal", c.open_deal),
        ("bill", c.bill),
        ("close_deal", c.close_deal),
        ("quick_buy", c.quick_buy),
    ] {
        println!("{name:<12} {gas:>9}");
    }
    println!(
        "{:<12} {:>9}  (place ask + bid + open + bill + close, live market)",
        "lifecycle", report.lifecycle_total
    );
    println!(
        "{:<12} {:>9}  (the same on a fresh market)",
        "first", report.first_lifecycle_total
    );
    Ok(())
}
