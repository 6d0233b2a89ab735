#!/usr/bin/env bash
# End-to-end benchmarks over TCP on loopback, written into the "End to end over TCP" section of
# BENCHMARKS.md (between the bench-tcp markers).
#
#   scripts/bench-tcp.sh            # BENCH_SECONDS=8 per run, BENCH_ROUNDS=2
#
# Back to back, in the same run and under the same load, for each sample size (12 B and 1 KiB,
# ddsperf's "size": 12 bytes of KeyedSeq header + baggage), every process using RTPS over TCP
# only (Cyclone DDS's framing):
#   latency:    pollen ping <-> pollen pong, ddsperf ping <-> ddsperf pong -- half round trip
#   throughput: pollen perf pub -> pollen perf sub, ddsperf pub -> ddsperf sub -- samples/s
# A run's p50 (p99) is the median of its per-second 50% (99%) lines and its throughput the
# median of the subscriber's per-second rates, the first and last second dropped.
#
# Loopback only: Pollen runs with --transport tcp and POLLEN_INTERFACE=127.0.0.1 (its listener
# binds 127.0.0.1); each ddsperf gets a configuration with the TCP transport on `lo`, its own
# listening port and the other's port as its only peer.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-2}
DDSPERF=${DDSPERF:-/usr/bin/ddsperf}
[[ -x "$DDSPERF" ]] || { echo "bench-tcp: $DDSPERF not found (shared/PEERS.md)" >&2; exit 1; }

cargo build --release -p pollen-tool --bin pollen
POLLEN=$PWD/target/release/pollen

# A domain of its own: the TCP tests use 220..230, bench-e2e.sh 232.
DOMAIN=231
LONGER=$((SECONDS_PER_RUN + 3))
PORT_A=$((7410 + 250 * DOMAIN + 100))
PORT_B=$((PORT_A + 2))

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cyclone() { # NAME OWN_PORT PEER_PORT
    cat >"$WORK/cyclone-$1.xml" <<EOF
<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Transport>tcp</Transport><Interfaces><NetworkInterface name="lo"/></Interfaces></General>
  <Discovery><Peers><Peer address="127.0.0.1:$3"/></Peers></Discovery>
  <TCP><Port>$2</Port></TCP>
</Domain></CycloneDDS>
EOF
}
cyclone a "$PORT_A" "$PORT_B"
cyclone b "$PORT_B" "$PORT_A"
URI_A="file://$WORK/cyclone-a.xml"
URI_B="file://$WORK/cyclone-b.xml"
export POLLEN_INTERFACE=127.0.0.1
# Nothing here may use Cyclone's default (the other interface): every ddsperf below gets
# URI_A or URI_B explicitly, and this makes a forgotten one fail instead.
export CYCLONEDDS_URI="file:///nonexistent-use-the-tcp-configuration"

# run NAME RESPONDER... -- INITIATOR...: the responder in the background, then the initiator;
# output in $WORK/NAME.{resp,init}.
run() {
    local name=$1
    shift
    local resp=()
    while [[ $1 != -- ]]; do resp+=("$1"); shift; done
    shift
    echo "bench-tcp: $name" >&2
    "${resp[@]}" >"$WORK/$name.resp" 2>&1 &
    local rpid=$!
    sleep 0.5
    "$@" >"$WORK/$name.init" 2>&1 || true
    wait "$rpid" || true
    sleep 0.5
}

for round in $(seq 1 "$ROUNDS"); do
    for size in 12 1024; do
        bag=$((size - 12))
        run "r$round-lat-pollen-$size" \
            "$POLLEN" pong --transport tcp -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" ping --transport tcp -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-lat-ddsperf-$size" \
            env CYCLONEDDS_URI="$URI_B" "$DDSPERF" -i "$DOMAIN" -D "$LONGER" pong -- \
            env CYCLONEDDS_URI="$URI_A" "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" ping size "$size"
        run "r$round-thr-pollen-$size" \
            "$POLLEN" perf sub --transport tcp -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" perf pub --transport tcp -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-thr-ddsperf-$size" \
            env CYCLONEDDS_URI="$URI_B" "$DDSPERF" -i "$DOMAIN" -D "$LONGER" sub -- \
            env CYCLONEDDS_URI="$URI_A" "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" pub size "$size"
    done
done

python3 - "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" <<'PY'
import datetime, os, re, statistics, subprocess, sys

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def lines(path):
    try:
        return open(path, errors="replace").read().splitlines()
    except FileNotFoundError:
        return []

def steady(vals):
    return vals[1:-1] if len(vals) > 3 else vals

def latency(path):
    p50, p99 = [], []
    for l in lines(path):
        m = re.search(r" 50% ([0-9.]+)us .* 99% ([0-9.]+)us", l)
        if m:
            p50.append(float(m.group(1)))
            p99.append(float(m.group(2)))
    if not p50:
        return None
    return statistics.median(steady(p50)), statistics.median(steady(p99))

def rate(path):
    r = [float(m.group(1)) * 1e3 for l in lines(path)
         if (m := re.search(r" rate ([0-9.]+) kS/s", l)) and " lost " in l]
    return statistics.median(steady(r)) if r else None

def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None

def us(x):
    return "n/a" if x is None else f"{x:.1f} µs"

def rate_fmt(x):
    if x is None:
        return "n/a"
    return f"{x/1e6:.2f} M" if x >= 1e6 else f"{x/1e3:.0f} k"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a/b:.2f}×"

lat_rows, thr_rows = [], []
for size in (12, 1024):
    lat = {}
    for impl in ("pollen", "ddsperf"):
        vals = [latency(f"{work}/r{r}-lat-{impl}-{size}.init") for r in range(1, rounds + 1)]
        lat[impl] = (mean([v[0] for v in vals if v]), mean([v[1] for v in vals if v]))
    (pp50, pp99), (dp50, dp99) = lat["pollen"], lat["ddsperf"]
    lat_rows.append(f"| {size} B | {us(pp50)} | {us(dp50)} | {ratio(pp50, dp50)} | "
                    f"{us(pp99)} | {us(dp99)} | {ratio(pp99, dp99)} |")
    thr = {impl: mean([rate(f"{work}/r{r}-thr-{impl}-{size}.resp") for r in range(1, rounds + 1)])
           for impl in ("pollen", "ddsperf")}
    mbit = lambda r: "n/a" if r is None else f"{r * size * 8 / 1e6:.0f}"
    thr_rows.append(f"| {size} B | {rate_fmt(thr['pollen'])} | {rate_fmt(thr['ddsperf'])} | "
                    f"{ratio(thr['pollen'], thr['ddsperf'])} | {mbit(thr['pollen'])} / {mbit(thr['ddsperf'])} |")

load = open("/proc/loadavg").read().split()[:3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
section = f"""## End to end over TCP (`scripts/bench-tcp.sh`)

Two processes on loopback talking RTPS over TCP only (Cyclone DDS's framing), measured back to
back in one run ({datetime.date.today()}, {os.cpu_count()} vCPU {cpu}, load average
{' '.join(load)} when the script finished, {rustc}, release build), {rounds} round(s) of {secs} s
per measurement alternating the implementations; means over the rounds. The yardstick is
Cyclone DDS 0.10.2 `ddsperf` with its TCP transport (`<Transport>tcp</Transport>`, a listening
port each, the other's port as the only peer); Pollen runs `--transport tcp`. Each run's p50
(p99) is the median of its per-second 50 % (99 %) lines, its rate the median of the
subscriber's per-second rates, without the first and last second. Sizes are ddsperf's
KeyedSeq sizes (12 bytes of seq, key and length, then baggage). On a 2-vCPU machine shared
with builds, p99 mostly measures who was descheduled; p50 and throughput are the numbers to
compare.

Latency (half round trip; ping waits for its pong before the next):

| size | Pollen p50 | ddsperf p50 | Pollen/ddsperf | Pollen p99 | ddsperf p99 | Pollen/ddsperf p99 |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(lat_rows)}

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

| size | Pollen samples/s | ddsperf samples/s | Pollen/ddsperf | Mbit/s (Pollen / ddsperf) |
|---|---:|---:|---:|---:|
{chr(10).join(thr_rows)}
"""

path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench-tcp:begin -->", "<!-- bench-tcp:end -->"
block = f"{begin}\n{section}{end}\n"
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
else:
    anchor = "## Reproduce"
    text = text.replace(anchor, block + "\n" + anchor, 1) if anchor in text else text + "\n" + block
open(path, "w").write(text)
print(section)
PY
