#!/usr/bin/env bash
# Numbers of the pollen-wasi component against the native `pollen`, on loopback, in one run:
# component size, throughput (reliable KeyedSeq, 1 KiB samples, both ways and native to
# native), and half round trip (native `pollen ping` against the component's `pong` and against
# native `pollen pong`). Everything stays on 127.0.0.1; every process is bounded in time.
#
#   component/bench.sh            # needs wasmtime and the wasm32-wasip2 target
# shellcheck source-path=SCRIPTDIR source=../scripts/lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/bench.sh"
bench_init component/bench

WASI_TARGET_DIR=target/wasi-build
WASMTIME="${WASMTIME:-$(command -v wasmtime || echo "${CARGO_HOME:-$HOME/.cargo}/bin/wasmtime")}"
N="${N:-100000}"           # samples per throughput run
SIZE="${SIZE:-1012}"      # baggage bytes: ddsperf's `size 1024` (12 bytes of KeyedSeq fields)
PING_SECONDS="${PING_SECONDS:-10}"
DOMAIN="${DOMAIN:-77}"

CARGO_TARGET_DIR=$WASI_TARGET_DIR cargo build -q -p pollen-component --target wasm32-wasip2 --release
bench_build_pollen -q
COMPONENT=$WASI_TARGET_DIR/wasm32-wasip2/release/pollen-wasi.wasm
bench_workdir

# Size: as built; stripped of custom sections (names, producers); and built for size
# (opt-level s, fat LTO, one codegen unit, panic=abort) and stripped.
CARGO_TARGET_DIR=$WASI_TARGET_DIR/strip-only CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build -q -p pollen-component --target wasm32-wasip2 --release
CARGO_TARGET_DIR=$WASI_TARGET_DIR/stripped CARGO_PROFILE_RELEASE_STRIP=true \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
    cargo build -q -p pollen-component --target wasm32-wasip2 --release
size() { stat -c %s "$1/wasm32-wasip2/release/pollen-wasi.wasm"; }
echo "size release:               $(size "$WASI_TARGET_DIR") bytes"
echo "size release, stripped:     $(size "$WASI_TARGET_DIR/strip-only") bytes"
echo "size for size, stripped:    $(size "$WASI_TARGET_DIR/stripped") bytes"

# Precompile once, so that runs measure the participant and not Cranelift.
CWASM=$WASI_TARGET_DIR/pollen-wasi.cwasm
"$WASMTIME" compile -o "$CWASM" "$COMPONENT"
# Commands as arrays, so that `cmd &` leaves the pid of `timeout` in $! (which passes the
# signal on) and no helper process outlives a measurement.
WASM=(timeout 120 "$WASMTIME" run --allow-precompiled -S inherit-network "$CWASM")
NATIVE=(timeout 120 "$POLLEN")
NET=(--interface 127.0.0.1 --no-multicast)
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

echo "== throughput, $N reliable KeyedSeq samples of $((SIZE + 12)) bytes, domain $DOMAIN"
echo "-- native perf pub -> native perf sub"
"${NATIVE[@]}" perf pub --size "$SIZE" -D 10 -d "$DOMAIN" "${NET[@]}" >/dev/null 2>&1 &
p=$!
"${NATIVE[@]}" perf sub -D 6 -d "$DOMAIN" "${NET[@]}" 2>/dev/null | tail -1
stop "$p"

echo "-- native perf pub -> wasm sub"
"${NATIVE[@]}" perf pub --size "$SIZE" -D 60 -d "$DOMAIN" "${NET[@]}" >/dev/null 2>&1 &
p=$!
"${WASM[@]}" sub DDSPerfRDataKS --type keyedseq --quiet -n "$N" --timeout 60 -d "$DOMAIN"
stop "$p"

echo "-- wasm pub -> native perf sub"
"${NATIVE[@]}" perf sub -D 15 -d "$DOMAIN" "${NET[@]}" 2>/dev/null | tail -1 &
p=$!
"${WASM[@]}" pub DDSPerfRDataKS --type keyedseq --size "$SIZE" -n "$N" --timeout 60 -d "$DOMAIN" -v 2>&1 |
    grep 'wrote' || true
wait "$p" 2>/dev/null || true

echo "-- wasm pub -> wasm sub"
"${WASM[@]}" sub DDSPerfRDataKS --type keyedseq --quiet -n "$N" --timeout 60 -d "$DOMAIN" &
p=$!
"${WASM[@]}" pub DDSPerfRDataKS --type keyedseq --size "$SIZE" -n "$N" --timeout 60 -d "$DOMAIN" -v 2>&1 |
    grep 'wrote' || true
wait "$p" || true

echo "== half round trip, native pollen ping ($PING_SECONDS s, 12-byte KeyedSeq)"
echo "-- against native pollen pong"
"${NATIVE[@]}" pong -D $((PING_SECONDS + 5)) -d "$DOMAIN" "${NET[@]}" >/dev/null 2>&1 &
p=$!
"${NATIVE[@]}" ping -D "$PING_SECONDS" -d "$DOMAIN" "${NET[@]}" 2>/dev/null | tail -1
stop "$p"

echo "-- against the wasm pong"
"${WASM[@]}" pong -D $((PING_SECONDS + 5)) -d "$DOMAIN" &
p=$!
"${NATIVE[@]}" ping -D "$PING_SECONDS" -d "$DOMAIN" "${NET[@]}" 2>/dev/null | tail -1
stop "$p"

if command -v ddsperf >/dev/null; then
    # Cyclone DDS 0.10 pinned to loopback with unicast discovery (shared/PEERS.md).
    bench_cyclone_lo "$WORK/cyclone-lo.xml"
    DDSPERF=(env "CYCLONEDDS_URI=file://$WORK/cyclone-lo.xml" timeout 120 ddsperf -i "$DOMAIN")
    echo "== half round trip, ddsperf ping ($PING_SECONDS s, size 12; last per-second line)"
    echo "-- against ddsperf pong"
    "${DDSPERF[@]}" pong >/dev/null 2>&1 &
    p=$!
    "${DDSPERF[@]}" -D "$PING_SECONDS" ping 2>/dev/null | grep ' cnt ' | tail -1
    stop "$p"
    echo "-- against the wasm pong"
    "${WASM[@]}" pong -D $((PING_SECONDS + 5)) -d "$DOMAIN" &
    p=$!
    "${DDSPERF[@]}" -D "$PING_SECONDS" ping 2>/dev/null | grep ' cnt ' | tail -1
    stop "$p"
fi
