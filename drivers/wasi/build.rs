//! Gives the component a stack big enough to build the engine in: `Engine::new` returns a
//! value of several hundred KiB that is moved into its box, more than the 1 MiB stack that
//! wasm-ld gives a wasm32 program by default.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-link-arg-bins=-zstack-size=8388608");
    }
}
