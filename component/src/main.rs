//! `pollen-wasi`: the `pollen` commands inside a WebAssembly component, on the WASI preview-2
//! driver. The commands are `pollen_app`'s, the same code as the native tool's; only the
//! platform (`host.rs`) differs. WASI has no multicast: peers are found through unicast
//! initial peers (`--peer`, else `$POLLEN_PEERS`, else 127.0.0.1 on the well-known ports).
//!
//! ```text
//! cargo build -p pollen-component --target wasm32-wasip2 --release
//! wasmtime run -S inherit-network -S allow-ip-name-lookup \
//!     target/wasm32-wasip2/release/pollen-wasi.wasm sub chatter
//! ```

use std::process::ExitCode;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod host;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> ExitCode {
    use clap::{Parser, Subcommand};
    use pollen_app::{ls, perf, pubsub, ros_service};

    /// Pollen, a Sans-IO DDSI-RTPS implementation, in a WebAssembly component.
    #[derive(Debug, Parser)]
    #[command(name = "pollen-wasi", version)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        /// Publish samples: a message given as argument or generated.
        Pub(pubsub::PubArgs),
        /// Subscribe to a topic and print one line per sample.
        Sub(pubsub::SubArgs),
        /// List the participants, topics and endpoints discovered on a domain.
        Ls(ls::LsArgs),
        /// Measure latency against `pollen pong` or Cyclone's `ddsperf pong`.
        Ping(perf::PingArgs),
        /// Answer pings from `pollen ping` or Cyclone's `ddsperf ping`.
        Pong(perf::PongArgs),
        /// Throughput on ddsperf's data topic.
        Perf(perf::PerfArgs),
        /// Call a ROS 2 service once and print its response.
        Call(ros_service::CallArgs),
        /// Answer a ROS 2 service with a fixed response.
        Serve(ros_service::ServeArgs),
    }

    let p = host::Wasi;
    match Cli::parse().command {
        Command::Pub(a) => pubsub::run_pub(&p, &a),
        Command::Sub(a) => pubsub::run_sub(&p, &a),
        Command::Ls(a) => ls::run(&p, &a),
        Command::Ping(a) => perf::run_ping(&p, &a),
        Command::Pong(a) => perf::run_pong(&p, &a),
        Command::Perf(a) => perf::run_perf(&p, &a),
        Command::Call(a) => ros_service::run_call(&p, &a),
        Command::Serve(a) => ros_service::run_serve(&p, &a),
    }
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() -> ExitCode {
    eprintln!(
        "pollen-wasi is a WebAssembly component: build it with \
         `cargo build -p pollen-component --target wasm32-wasip2 --release` and run it with \
         wasmtime"
    );
    ExitCode::from(2)
}
