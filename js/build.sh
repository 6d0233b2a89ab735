#!/usr/bin/env bash
# Builds Pollen's JavaScript package in js/: the engine for wasm32-unknown-unknown, the
# wasm-bindgen glue in js/pkg/, and (with --pack) the npm tarball in target/js/.
#
#   js/build.sh            # build js/pkg/
#   js/build.sh --pack     # and `npm pack` it into target/js/
#
# Installs what is missing first: the wasm32-unknown-unknown target (rustup) and
# wasm-bindgen-cli at exactly the version of the `wasm-bindgen` crate in Cargo.lock (the glue
# and the crate must match; several minutes to build on 2 cores, once per machine).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TARGET=wasm32-unknown-unknown
# Its own target directory keeps the wasm build off the main build's lock.
TARGET_DIR=${POLLEN_JS_TARGET_DIR:-$ROOT/target/js-build}

run() {
    printf '+ %s\n' "$*"
    "$@"
}

version="$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [[ -z "$version" ]]; then
    echo "no wasm-bindgen in Cargo.lock" >&2
    exit 1
fi

if ! rustup target list --installed | grep -qx "$TARGET"; then
    run rustup target add "$TARGET"
fi

bindgen="${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen")}"
if ! "$bindgen" --version 2>/dev/null | grep -qxF "wasm-bindgen $version"; then
    # --locked first (the versions its authors tested); a lock file that names a version the
    # registry no longer serves falls back to a fresh resolution.
    run cargo install wasm-bindgen-cli --version "=$version" --locked ||
        run cargo install wasm-bindgen-cli --version "=$version"
    bindgen="${CARGO_HOME:-$HOME/.cargo}/bin/wasm-bindgen"
fi

CARGO_TARGET_DIR=$TARGET_DIR run cargo build -p pollen-js --target "$TARGET" --release
rm -rf js/pkg
run "$bindgen" --target web --out-dir js/pkg --out-name pollen_js \
    "$TARGET_DIR/$TARGET/release/pollen_js.wasm"
ls -l js/pkg/pollen_js_bg.wasm

if [[ "${1:-}" == "--pack" ]]; then
    mkdir -p target/js
    (cd js && run npm pack --pack-destination "$ROOT/target/js")
fi
