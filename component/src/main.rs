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
    use clap::Parser;

    /// Pollen, a Sans-IO DDSI-RTPS implementation, in a WebAssembly component.
    #[derive(Debug, Parser)]
    #[command(name = "pollen-wasi", version)]
    struct Cli {
        #[command(subcommand)]
        command: pollen_app::Command,
    }

    Cli::parse().command.run(&host::Wasi)
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
