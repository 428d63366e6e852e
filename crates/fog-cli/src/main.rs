//! `fog`: the one binary of fogmarket. Each daemon and each user verb is a
//! subcommand; this crate only parses arguments and dispatches to the library
//! crates, which own the behaviour.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::Context as _;

mod bench_chain;
mod bench_runtime;
use clap::{Args, Parser, Subcommand};

/// fogmarket: an open market for computing power.
#[derive(Debug, Parser)]
#[command(name = "fog", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run fogmarket's proof-of-authority EVM chain and serve Ethereum JSON-RPC.
    Chain(ChainArgs),
    /// Measure fogmarket's parts and print the figures.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
    /// The worker: a supplier's machine selling its resources.
    Worker {
        #[command(subcommand)]
        worker: WorkerCommand,
    },
    /// The container runtime's internals.
    #[command(hide = true)]
    Runtime {
        #[command(subcommand)]
        runtime: RuntimeCommand,
    },
}

#[derive(Debug, Subcommand)]
enum WorkerCommand {
    /// Self-test before selling: namespaces, cgroups, seccomp, filesystems,
    /// networking and a real container start (needs root). Each missing piece
    /// is reported with how to fix it; exits non-zero if anything required fails.
    Check {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Where the test container's scratch state goes.
        #[arg(long, value_name = "DIR", default_value_os_t = std::env::temp_dir())]
        scratch: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum RuntimeCommand {
    /// Run the shim of one container (started by the runtime, not by hand).
    Shim {
        /// The container's directory.
        dir: PathBuf,
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
    /// Token transfers per second through JSON-RPC: fog chain against anvil.
    Chain {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Transfers sent to each node per round. (anvil stalls on much larger
        /// runs here: it computes a Merkle state root per block.)
        #[arg(long, default_value_t = 2000)]
        txs: usize,
        /// Transactions per JSON-RPC batch.
        #[arg(long, default_value_t = 50)]
        batch: usize,
        /// Rounds on fresh nodes; the figures are medians.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Concurrent connections sending batches.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// The anvil binary (installed by scripts/setup).
        #[arg(long, value_name = "PATH")]
        anvil: Option<PathBuf>,
    },
    /// Start-to-running latency of a tiny container: fog-runtime against runc
    /// on the same bundle (needs root).
    Runtime {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Containers started by each runtime; the figures are medians.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        /// The runc binary to compare with (Debian's, installed by scripts/setup).
        #[arg(long, value_name = "PATH", default_value = "/usr/sbin/runc")]
        runc: PathBuf,
    },
}

#[derive(Debug, Args)]
struct ChainArgs {
    /// Directory of the chain's database (created if missing).
    #[arg(long, value_name = "DIR")]
    datadir: PathBuf,
    /// Address to serve JSON-RPC on. Loopback by default; expose it deliberately.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8545")]
    http: SocketAddr,
    /// Seal a block as soon as a transaction arrives (the default).
    #[arg(long, conflicts_with = "block_time")]
    automine: bool,
    /// Seal a block every SECS seconds instead, holding what is pending.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    block_time: Option<u64>,
    /// Genesis file (JSON) for a new chain; without it a new chain is a
    /// development chain and an existing one resumes.
    #[arg(long, value_name = "FILE")]
    genesis: Option<PathBuf>,
    /// Encrypted keystore (Ethereum V3 JSON) of the authority key that seals blocks.
    #[arg(long, value_name = "FILE", requires = "password_file")]
    authority_keystore: Option<PathBuf>,
    /// File holding the keystore's password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Development chain: seal with the well-known dev key (never for real value)
    /// and enable evm_mine / evm_increaseTime / evm_setNextBlockTimestamp.
    #[arg(long)]
    dev: bool,
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

fn worker_check(json: bool, scratch: &std::path::Path) -> anyhow::Result<()> {
    let shim = fog_runtime::runtime::ShimCommand::fog(
        std::env::current_exe().context("locating the fog binary")?,
    );
    let checks = fog_runtime::check::run(shim, scratch);
    let failed = checks
        .iter()
        .filter(|c| !c.ok() && !fog_runtime::check::is_optional(c))
        .count();
    if json {
        let items: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "ok": c.ok(),
                    "optional": fog_runtime::check::is_optional(c),
                    "detail": match &c.result { Ok(d) | Err(d) => d },
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "healthy": failed == 0, "checks": items })
        );
    } else {
        for c in &checks {
            let (mark, detail) = match &c.result {
                Ok(d) => ("ok  ", d),
                Err(d) if fog_runtime::check::is_optional(c) => ("warn", d),
                Err(d) => ("FAIL", d),
            };
            println!("{mark} {}: {detail}", c.name);
        }
        if failed == 0 {
            println!("healthy: this machine can run fogmarket tasks");
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed; fix them and run `fog worker check` again");
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Chain(args) => chain(args),
        Command::Worker {
            worker: WorkerCommand::Check { json, scratch },
        } => worker_check(json, &scratch),
        // The shim must stay single-threaded (libcontainer forks with
        // clone3): nothing before this point starts a thread.
        Command::Runtime {
            runtime: RuntimeCommand::Shim { dir },
        } => {
            // Into the container's shim.log; libcontainer explains its failures here.
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "warn".into()),
                )
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .init();
            match fog_runtime::shim::run(&dir) {
                0 => Ok(()),
                code => std::process::exit(code),
            }
        }
        Command::Bench {
            bench: Bench::Gas { json },
        } => bench_gas(json),
        Command::Bench {
            bench: Bench::Runtime { json, runs, runc },
        } => {
            let figures = bench_runtime::run(&bench_runtime::RuntimeBench {
                runs: runs as usize,
                runc,
            })?;
            if json {
                println!("{}", serde_json::to_string(&figures)?);
            } else {
                println!(
                    "start to running, p50 of {} runs: fog-runtime {:.3} ms, runc {:.3} ms, ratio {:.3}",
                    figures.runs,
                    figures.fog_start_p50_ms,
                    figures.runc_start_p50_ms,
                    figures.ratio
                );
            }
            Ok(())
        }
        Command::Bench {
            bench:
                Bench::Chain {
                    json,
                    txs,
                    batch,
                    rounds,
                    connections,
                    anvil,
                },
        } => {
            let bench = bench_chain::ChainBench {
                txs,
                batch,
                connections,
                rounds,
                anvil: anvil.unwrap_or_else(bench_chain::default_anvil),
            };
            run_bench_chain(&bench, json)
        }
    }
}

fn run_bench_chain(bench: &bench_chain::ChainBench, json: bool) -> anyhow::Result<()> {
    let r = bench_chain::run(bench)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "fog chain {:.1} tx/s, anvil {:.1} tx/s, ratio {:.2} ({} transfers, batches of {}, median of {})",
            r.fog_tx_per_s, r.anvil_tx_per_s, r.ratio, r.txs, r.batch, r.rounds
        );
    }
    Ok(())
}

fn chain(args: ChainArgs) -> anyhow::Result<()> {
    use alloy::signers::local::PrivateKeySigner;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let genesis = args
        .genesis
        .as_deref()
        .map(fog_chain::Genesis::from_file)
        .transpose()?;
    let authority: PrivateKeySigner = match (&args.authority_keystore, &args.password_file) {
        (Some(keystore), Some(password_file)) => {
            let password = std::fs::read_to_string(password_file).with_context(|| {
                format!("reading the password file {}", password_file.display())
            })?;
            PrivateKeySigner::decrypt_keystore(keystore, password.trim_end_matches(['\n', '\r']))
                .with_context(|| {
                    format!("decrypting the authority keystore {}", keystore.display())
                })?
        }
        _ if args.dev => fog_chain::genesis::DEV_KEYS[0]
            .parse()
            .context("parsing the dev key")?,
        _ => anyhow::bail!(
            "no authority key: pass --authority-keystore FILE --password-file FILE, \
             or --dev for a development chain sealed with the well-known dev key"
        ),
    };
    let mining = match args.block_time {
        Some(secs) => fog_chain::Mining::Interval(std::time::Duration::from_secs(secs)),
        None => fog_chain::Mining::Auto,
    };
    let config = fog_chain::NodeConfig {
        chain: fog_chain::ChainConfig {
            datadir: args.datadir,
            genesis,
            authority,
            mining,
        },
        http: args.http,
        dev: args.dev,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(fog_chain::run(config))?;
    Ok(())
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
