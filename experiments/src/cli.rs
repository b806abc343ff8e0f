//! The `peerlab` command line.
//!
//! ```text
//! peerlab run SPEC.toml --out DIR [--seed N]
//! peerlab plot DIR
//! peerlab sweep SPEC.toml --out DIR [--threads N] [--shard I/N] [--seed N]
//! peerlab merge DIR... --out DIR
//! peerlab spec show SPEC.toml
//! peerlab spec list [DIR]
//! peerlab node run --listen ADDR [--control ADDR] [--bootstrap ADDR]... [--seed N] [--spec SPEC]
//!                  [--dht kademlia|chord] [--successors R] [--replicas N]
//!                  [--stabilize-ms MS] [--fix-fingers-ms MS] [--check-predecessor-ms MS]
//! peerlab node ctl --control ADDR put KEY VALUE [--ttl S] | get KEY | remove KEY VALUE
//!                                 | lookup KEY | routes | stats | leave
//! peerlab bench [--nodes 10000,100000] [--lookups N] [--seed N] [--json]
//! peerlab bench --sweep [--nodes N] [--lookups N] [--runs 8] [--threads 1,2]
//! ```
//!
//! Argument errors are reported by clap (naming the argument, exit code 2);
//! every other failure prints `error: ...` to stderr and exits with 1. Logs go
//! to stderr, filtered by `RUST_LOG` (default `warn`).

use crate::bench::{self, BenchArgs, BenchChildArgs};
use crate::error::Error;
use crate::node_cmd::{self, NodeCtlArgs, NodeRunArgs};
use crate::shard::Shard;
use crate::spec::Spec;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// peerlab: P2P VoIP overlays, simulated and live, from one sans-IO core.
#[derive(Parser, Debug)]
#[command(name = "peerlab", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one experiment from a spec and write its results into a directory.
    Run {
        /// The experiment spec (TOML).
        #[arg(value_name = "SPEC.toml")]
        spec: PathBuf,
        /// The result directory (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Seed, overriding the spec's `run.seed`.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        seed: Option<u64>,
    },
    /// Redraw every figure and report.html of a result directory from its
    /// stored tables, without simulating.
    Plot {
        /// The result directory (written by `peerlab run`).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Run every grid point and replication of a spec's `[sweep]`, in
    /// parallel; finished runs are kept, so re-invoking resumes.
    Sweep {
        /// The experiment spec (TOML), usually with a `[sweep]` table.
        #[arg(value_name = "SPEC.toml")]
        spec: PathBuf,
        /// The result directory (created if needed; re-invoke with the same
        /// one to resume).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Worker threads [default: the number of CPUs].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// Run only shard I of N (from 0): the runs whose index mod N is I.
        /// Without it, SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT choose the
        /// shard when set.
        #[arg(long, value_name = "I/N")]
        shard: Option<Shard>,
        /// Base seed, overriding the spec's `run.seed`.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        seed: Option<u64>,
    },
    /// Combine the result directories of a sweep's shards into one.
    Merge {
        /// The shards' result directories.
        #[arg(value_name = "DIR", required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// The merged result directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Inspect experiment specs.
    Spec {
        /// What to do with the spec.
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Run a live node, or talk to one.
    Node {
        /// What to do.
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Measure simulator speed and memory at several overlay sizes.
    Bench(BenchArgs),
    /// One size of `peerlab bench`, run in a child process.
    #[command(name = "bench-child", hide = true)]
    BenchChild(BenchChildArgs),
}

/// `peerlab spec ...`
#[derive(Subcommand, Debug)]
pub enum SpecCommand {
    /// Print the fully resolved spec, every default filled in, as TOML.
    Show {
        /// The experiment spec (TOML).
        #[arg(value_name = "SPEC.toml")]
        spec: PathBuf,
    },
    /// List the bundled specs: what each runs and what it reproduces.
    List {
        /// List the specs in this directory instead of the bundled ones.
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `peerlab node ...`
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Run a node over UDP until SIGINT, SIGTERM or `leave`.
    Run(NodeRunArgs),
    /// Send a request to a running node's control interface.
    Ctl(NodeCtlArgs),
}

/// Executes a parsed command line.
pub fn execute(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Run { spec, out, seed } => crate::run::run_command(&spec, &out, seed).map(|_| ()),
        Command::Plot { dir } => {
            let files = crate::figures::plot_dir(&dir)?;
            println!("{} files written into {}", files.len(), dir.display());
            Ok(())
        }
        Command::Sweep {
            spec,
            out,
            threads,
            shard,
            seed,
        } => crate::sweep::sweep_command(&spec, &out, seed, threads.map(usize::from), shard)
            .map(|_| ()),
        Command::Merge { dirs, out } => crate::merge::merge_command(&dirs, &out).map(|_| ()),
        Command::Spec {
            command: SpecCommand::Show { spec },
        } => {
            let spec = Spec::load(&spec)?;
            print!("{}", spec.to_toml()?);
            if spec.dht.routing.is_none() {
                // Unset, the routing is each protocol's paper default.
                println!(
                    "\n# dht.routing is unset, so each protocol routes as its paper does: {}",
                    spec.routing_resolved()
                );
            }
            Ok(())
        }
        Command::Spec {
            command: SpecCommand::List { dir },
        } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(crate::catalog::BUNDLED_DIR));
            let entries = crate::catalog::list(&dir)?;
            print!("{}", crate::catalog::render(&entries));
            Ok(())
        }
        Command::Node {
            command: NodeCommand::Run(args),
        } => node_cmd::run(args),
        Command::Node {
            command: NodeCommand::Ctl(args),
        } => node_cmd::ctl(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchChild(args) => bench::child(args),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The `peerlab` entry point: parses arguments, runs, and maps failure to
/// `error: ...` on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    init_tracing();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0; argument errors name the argument, exit 2.
        Err(e) => e.exit(),
    };
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_the_documented_forms() {
        let c =
            Cli::try_parse_from(["peerlab", "run", "s.toml", "--out", "d", "--seed", "5"]).unwrap();
        assert!(matches!(c.command, Command::Run { seed: Some(5), .. }));
        let c = Cli::try_parse_from(["peerlab", "bench", "--nodes", "10,20", "--lookups", "7"])
            .unwrap();
        match c.command {
            Command::Bench(b) => assert_eq!((b.nodes, b.lookups), (vec![10, 20], 7)),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["peerlab", "plot", "results/q"]).unwrap();
        assert!(
            matches!(c.command, Command::Plot { dir } if dir == std::path::Path::new("results/q"))
        );
        let c = Cli::try_parse_from([
            "peerlab",
            "sweep",
            "s.toml",
            "--out",
            "d",
            "--threads",
            "2",
            "--shard",
            "1/3",
        ])
        .unwrap();
        match c.command {
            Command::Sweep { threads, shard, .. } => {
                assert_eq!(threads, Some(2));
                assert_eq!(shard, Some(Shard { index: 1, count: 3 }));
            }
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from(["peerlab", "merge", "a", "b", "--out", "m"]).unwrap();
        assert!(matches!(c.command, Command::Merge { ref dirs, .. } if dirs.len() == 2));
        for bad in [
            vec!["peerlab", "sweep", "s.toml", "--out", "d", "--shard", "3/3"],
            vec!["peerlab", "sweep", "s.toml", "--out", "d", "--threads", "0"],
            vec!["peerlab", "merge", "--out", "m"],
        ] {
            let e = Cli::try_parse_from(&bad).unwrap_err();
            assert_ne!(e.exit_code(), 0, "{bad:?}");
        }
        let c = Cli::try_parse_from(["peerlab", "spec", "list"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Spec {
                command: SpecCommand::List { dir: None }
            }
        ));
        let c = Cli::try_parse_from(["peerlab", "bench"]).unwrap();
        match c.command {
            Command::Bench(b) => assert_eq!(b.nodes, vec![10_000, 100_000]),
            other => panic!("{other:?}"),
        }
        let c = Cli::try_parse_from([
            "peerlab",
            "node",
            "run",
            "--listen",
            "127.0.0.1:4000",
            "--bootstrap",
            "127.0.0.1:4001",
            "--bootstrap",
            "127.0.0.1:4002",
        ])
        .unwrap();
        match c.command {
            Command::Node {
                command: NodeCommand::Run(a),
            } => {
                assert_eq!(a.bootstrap.len(), 2);
                assert_eq!(
                    node_cmd::dht_config(&a).unwrap(),
                    peerlab_node::DhtConfig::Kademlia(Default::default())
                );
            }
            other => panic!("{other:?}"),
        }
        let run = |extra: &[&str]| {
            let mut argv = vec!["peerlab", "node", "run", "--listen", "127.0.0.1:0"];
            argv.extend_from_slice(extra);
            match Cli::try_parse_from(argv).unwrap().command {
                Command::Node {
                    command: NodeCommand::Run(a),
                } => node_cmd::dht_config(&a),
                other => panic!("{other:?}"),
            }
        };
        match run(&[
            "--dht",
            "chord",
            "--successors",
            "4",
            "--stabilize-ms",
            "250",
        ])
        .unwrap()
        {
            peerlab_node::DhtConfig::Chord(c) => {
                assert_eq!(c.successors, 4);
                assert_eq!(
                    c.stabilize_interval,
                    peerlab_core::Duration::from_millis(250)
                );
                assert_eq!(c.replicas, 4, "replicas follow a shorter successor list");
            }
            other => panic!("{other:?}"),
        }
        let e = run(&["--successors", "4"]).unwrap_err().to_string();
        assert!(
            e.contains("--successors") && e.contains("--dht chord"),
            "{e}"
        );
        let e = run(&["--dht", "chord", "--successors", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--successors = 0 is invalid"), "{e}");
        let c = Cli::try_parse_from([
            "peerlab",
            "node",
            "ctl",
            "--control",
            "127.0.0.1:5000",
            "put",
            "alice",
            "sip:alice@10.0.0.1",
            "--ttl",
            "60",
        ])
        .unwrap();
        assert!(matches!(
            c.command,
            Command::Node {
                command: NodeCommand::Ctl(NodeCtlArgs {
                    request: node_cmd::CtlCommand::Put { ttl: Some(60), .. },
                    ..
                })
            }
        ));
    }

    #[test]
    fn bad_address_names_the_argument() {
        let e =
            Cli::try_parse_from(["peerlab", "node", "run", "--listen", "localhost:x"]).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("--listen") && m.contains("localhost:x"), "{m}");
        assert_ne!(e.exit_code(), 0);
    }
}
