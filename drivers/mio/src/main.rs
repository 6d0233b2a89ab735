//! `pollen`: Pollen's command-line tool.
//!
//! Each subcommand lives in its own module; `main` only parses the command line and dispatches.

mod capture;
mod decode;
mod params;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Pollen, a Sans-IO DDSI-RTPS implementation: command-line tool.
#[derive(Debug, Parser)]
#[command(name = "pollen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode RTPS datagrams from raw datagram files and pcap/pcapng captures.
    Decode(decode::DecodeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
    }
}
