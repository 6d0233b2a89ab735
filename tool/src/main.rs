//! `pollen`: Pollen's command-line tool.
//!
//! The commands are `pollen_app`'s (the Wasm component runs the same ones); this binary adds
//! `decode` and the native platform (`host.rs`: the mio driver), and only parses the command
//! line and dispatches.

mod capture;
mod decode;
mod host;
mod params;
mod relay;

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
    /// A WebSocket relay for browser participants: each session gets its own UDP ports.
    Relay(relay::RelayArgs),
    #[command(flatten)]
    App(Box<pollen_app::Command>),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Decode(args) => decode::run(&args),
        Command::Relay(args) => relay::run(args),
        Command::App(command) => command.run(&host::Native),
    }
}
