//! Pollen's application layer: everything the native `pollen` tool, the Wasm component and
//! (later) the JavaScript package share, written once.
//!
//! - [`host`]: the [`Host`](host::Host) trait a driver's front end implements (the engine, the
//!   time, one loop) and the [`Platform`](host::Platform) that opens participants;
//! - the commands over it: [`pubsub`] (`pub`, `sub`), [`ls`], [`perf`] (`ping`, `pong`,
//!   `perf`, interoperable with Cyclone's ddsperf), [`ros_service`] (`call`, `serve`), with
//!   their flags in [`cli`];
//! - payload values: [`payload`] (strings, ddsperf's KeyedSeq, raw bytes), [`typed`] (serde
//!   types as CDR), and ROS 2 messages: [`ros_msg`] (`.msg`/`.srv` definitions), [`ros_value`]
//!   (YAML and JSON values to CDR and back), [`ros_graph`] (`ros_discovery_info`),
//!   [`ros_typedesc`] (types fetched from the network).
//!
//! A front end is a `Platform` plus a parser: the native tool's `main` is
//!
//! ```ignore
//! match cli.command {
//!     Command::Pub(args) => pollen_app::pubsub::run_pub(&platform, &args),
//!     Command::Sub(args) => pollen_app::pubsub::run_sub(&platform, &args),
//!     // …
//! }
//! ```

//!
//! Features: `typed`, `ros` and `commands` (the default, with everything); without them only
//! [`payload`] is built.

#[cfg(feature = "commands")]
pub mod cli;
#[cfg(feature = "commands")]
pub mod host;
#[cfg(feature = "commands")]
pub mod ls;
#[cfg(feature = "commands")]
pub mod notices;
pub mod payload;
#[cfg(feature = "commands")]
pub mod perf;
#[cfg(feature = "commands")]
pub mod pubsub;
#[cfg(feature = "commands")]
pub mod ros_graph;
#[cfg(feature = "ros")]
pub mod ros_msg;
#[cfg(feature = "commands")]
pub mod ros_service;
#[cfg(feature = "commands")]
pub mod ros_typedesc;
#[cfg(feature = "ros")]
pub mod ros_value;
#[cfg(feature = "typed")]
pub mod typed;

pub use pollen_engine;

/// The commands every front end runs (the native tool adds `decode`): one subcommand enum,
/// flattened into each front end's own parser.
#[cfg(feature = "commands")]
#[derive(Debug, clap::Subcommand)]
pub enum Command {
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
}

#[cfg(feature = "commands")]
impl Command {
    /// Runs the command on `platform`; the exit status says how it went.
    pub fn run(&self, platform: &dyn host::Platform) -> std::process::ExitCode {
        match self {
            Command::Pub(a) => pubsub::run_pub(platform, a),
            Command::Sub(a) => pubsub::run_sub(platform, a),
            Command::Ls(a) => ls::run(platform, a),
            Command::Ping(a) => perf::run_ping(platform, a),
            Command::Pong(a) => perf::run_pong(platform, a),
            Command::Perf(a) => perf::run_perf(platform, a),
            Command::Call(a) => ros_service::run_call(platform, a),
            Command::Serve(a) => ros_service::run_serve(platform, a),
        }
    }
}

use pollen_engine::{Engine, ReaderHandle, SampleInfo, TakeError};

/// Takes the next sample of `r` into `buf`, growing it to the sample's size when it is too
/// small (so at most to the engine's largest sample): the one take loop every command and
/// front end uses.
pub fn take(
    engine: &mut Engine<'_>,
    r: ReaderHandle,
    buf: &mut Vec<u8>,
) -> Result<Option<SampleInfo>, TakeError> {
    loop {
        match engine.take(r, buf) {
            Err(TakeError::BufferTooSmall { needed }) if needed > buf.len() => {
                buf.resize(needed, 0)
            }
            other => return other,
        }
    }
}
