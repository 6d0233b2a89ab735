//! `pollen-wasi`: the runnable component (`pub` and `sub`, see `pollen_wasi::args`).

use std::process::ExitCode;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn main() -> ExitCode {
    use pollen_wasi::args::{self, Command};
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let env_peers = std::env::var(args::PEERS_ENV).ok();
    match args::parse(&argv, env_peers.as_deref()) {
        Ok(Command::Help) => {
            print!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Pub(a)) => pollen_wasi::app::run_pub(&a),
        Ok(Command::Sub(a)) => pollen_wasi::app::run_sub(&a),
        Ok(Command::Pong(c)) => pollen_wasi::app::run_pong(&c),
        Err(e) => {
            eprintln!("pollen-wasi: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn main() -> ExitCode {
    eprintln!(
        "pollen-wasi is a WebAssembly component: build it with \
         `cargo build -p pollen-wasi --target wasm32-wasip2 --release` and run it with wasmtime"
    );
    ExitCode::from(2)
}
