//! `pollen`: Pollen's command-line tool.
//!
//! Each subcommand lives in its own module; `main` only parses the command line and dispatches.

mod capture;
mod decode;
mod host;
mod params;
mod relay;

use pollen_app::{ls, perf, pubsub, ros_service};

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
    /// Publish samples: a message given as argument, generated, or one per line of stdin.
    Pub(pubsub::PubArgs),
    /// Subscribe to a topic and print one line per sample.
    Sub(pubsub::SubArgs),
    /// List the participants, topics and endpoints discovered on a domain.
    Ls(ls::LsArgs),
    /// Measure latency against `pollen pong` or Cyclone's `ddsperf pong` (half round trips).
    Ping(perf::PingArgs),
    /// Answer pings from `pollen ping` or Cyclone's `ddsperf ping`.
    Pong(perf::PongArgs),
    /// Throughput on ddsperf's data topic: `perf pub` writes, `perf sub` counts.
    Perf(perf::PerfArgs),
    /// Call a ROS 2 service once and print its response, like `ros2 service call`.
    Call(ros_service::CallArgs),
    /// Answer a ROS 2 service with a fixed response, for tests and demos.
    Serve(ros_service::ServeArgs),
    /// A WebSocket relay for browser participants: each session gets its own UDP ports.
    Relay(relay::RelayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Pub(args) => pubsub::run_pub(&host::Native, &args),
        Command::Sub(args) => pubsub::run_sub(&host::Native, &args),
        Command::Ls(args) => ls::run(&host::Native, &args),
        Command::Ping(args) => perf::run_ping(&host::Native, &args),
        Command::Pong(args) => perf::run_pong(&host::Native, &args),
        Command::Perf(args) => perf::run_perf(&host::Native, &args),
        Command::Call(args) => ros_service::run_call(&host::Native, &args),
        Command::Serve(args) => ros_service::run_serve(&host::Native, &args),
        Command::Relay(args) => relay::run(args),
    }
}
