//! The `peerlab` command: see `peerlab --help`.

fn main() -> std::process::ExitCode {
    peerlab_experiments::cli::main()
}
