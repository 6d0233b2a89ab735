#!/usr/bin/env bash
# End-to-end benchmarks on loopback, written into the "End to end" section of BENCHMARKS.md.
#
#   scripts/bench-e2e.sh            # BENCH_SECONDS=8 per run, BENCH_ROUNDS=2
#
# Back to back, in the same run and under the same load, for each sample size (12 B and
# 1 KiB, ddsperf's "size": 12 bytes of KeyedSeq header + baggage):
#   latency:    pollen ping <-> pollen pong, ddsperf ping <-> ddsperf pong, bare UDP ping-pong
#               (drivers/mio/examples/udp_floor.rs) -- half round trip, p50 and p99
#   throughput: pollen perf pub -> pollen perf sub, ddsperf pub -> ddsperf sub -- samples/s
# Every tool prints ddsperf-shaped lines once a second; the same parser reads all of them:
# a run's p50 (p99) is the median of its per-second 50% (99%) values and its throughput the
# median of its per-second receive rates, the first second (discovery, warm-up) and the last
# (partial) dropped. Rounds alternate the implementations; the table shows the mean over
# rounds and the peak RSS (/usr/bin/time) of each process over all rounds.
#
# Loopback only: ddsperf gets the loopback configuration of shared/PEERS.md through
# CYCLONEDDS_URI, Pollen its loopback default (POLLEN_INTERFACE=127.0.0.1 to be explicit).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-2}
DDSPERF=${DDSPERF:-/usr/bin/ddsperf}
[[ -x "$DDSPERF" ]] || { echo "bench-e2e: $DDSPERF not found (shared/PEERS.md)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-e2e: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

cargo build --release -p pollen-mio --bin pollen --example udp_floor
POLLEN=$PWD/target/release/pollen
FLOOR=$PWD/target/release/examples/udp_floor

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat >"$WORK/cyclone-lo.xml" <<'EOF'
<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>
EOF
export CYCLONEDDS_URI="file://$WORK/cyclone-lo.xml"
export POLLEN_INTERFACE=127.0.0.1

# Domains of their own (not 0, away from the test suites' 20..231).
DOMAIN=232
LONGER=$((SECONDS_PER_RUN + 3))

# run NAME RESPONDER... -- INITIATOR...: the responder in the background, then the initiator;
# output in $WORK/NAME.{resp,init}, peak RSS (KiB) in $WORK/NAME.{resp,init}.rss.
run() {
    local name=$1
    shift
    local resp=()
    while [[ $1 != -- ]]; do resp+=("$1"); shift; done
    shift
    echo "bench-e2e: $name" >&2
    /usr/bin/time -f %M -o "$WORK/$name.resp.rss" "${resp[@]}" >"$WORK/$name.resp" 2>&1 &
    local rpid=$!
    sleep 0.5
    /usr/bin/time -f %M -o "$WORK/$name.init.rss" "$@" >"$WORK/$name.init" 2>&1 || true
    wait "$rpid" || true
    sleep 0.5
}

for round in $(seq 1 "$ROUNDS"); do
    for size in 12 1024; do
        bag=$((size - 12))
        run "r$round-lat-pollen-$size" \
            "$POLLEN" pong -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" ping -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-lat-ddsperf-$size" \
            "$DDSPERF" -i "$DOMAIN" -D "$LONGER" pong -- \
            "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" ping size "$size"
        run "r$round-lat-udp-$size" \
            "$FLOOR" pong 39999 "$LONGER" -- \
            "$FLOOR" ping 39999 "$size" "$SECONDS_PER_RUN"
        # Throughput: the subscriber is the responder (started first), so its lines are
        # in .resp.
        run "r$round-thr-pollen-$size" \
            "$POLLEN" perf sub -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" perf pub -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-thr-ddsperf-$size" \
            "$DDSPERF" -i "$DOMAIN" -D "$LONGER" sub -- \
            "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" pub size "$size"
    done
done

python3 - "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" <<'PY'
import os, re, statistics, subprocess, sys, datetime

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def lines(path):
    try:
        return open(path, errors="replace").read().splitlines()
    except FileNotFoundError:
        return []

def steady(vals):
    # Drop the first second (discovery, warm-up) and the last (partial).
    return vals[1:-1] if len(vals) > 3 else vals

def latency(path):
    p50, p99 = [], []
    for l in lines(path):
        a = re.search(r" 50% ([0-9.]+)us .* 99% ([0-9.]+)us", l)
        if a:
            p50.append(float(a.group(1)))
            p99.append(float(a.group(2)))
    if not p50:
        return None
    return statistics.median(steady(p50)), statistics.median(steady(p99))

def rate(path):
    r = [float(m.group(1)) * 1e3 for l in lines(path)
         if (m := re.search(r" rate ([0-9.]+) kS/s", l)) and " lost " in l]
    return statistics.median(steady(r)) if r else None

def rss(name):
    out = []
    for side in ("resp", "init"):
        v = [l for l in lines(f"{work}/{name}.{side}.rss") if l.strip().isdigit()]
        out.append(int(v[-1]) if v else None)
    return out

def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None

def peak(names):
    vals = [v for n in names for v in rss(n) if v is not None]
    return max(vals) if vals else None

def fmt_us(x):
    return "n/a" if x is None else f"{x:.1f} µs"

def fmt_rate(x):
    if x is None:
        return "n/a"
    return f"{x/1e6:.2f} M" if x >= 1e6 else f"{x/1e3:.0f} k"

def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib/1024:.1f} MiB"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a/b:.2f}×"

rows_lat, rows_thr = [], []
for size in (12, 1024):
    res = {}
    for impl in ("pollen", "ddsperf", "udp"):
        names = [f"r{r}-lat-{impl}-{size}" for r in range(1, rounds + 1)]
        vals = [latency(f"{work}/{n}.init") for n in names]
        res[impl] = (mean([v[0] for v in vals if v]), mean([v[1] for v in vals if v]),
                     peak(names))
    (pp50, pp99, prss), (dp50, dp99, drss), (up50, up99, _) = res["pollen"], res["ddsperf"], res["udp"]
    rows_lat.append(f"| {size} B | {fmt_us(pp50)} | {fmt_us(dp50)} | {fmt_us(up50)} | "
                    f"{ratio(pp50, dp50)} | {ratio(pp50, up50)} | {fmt_us(pp99)} | {fmt_us(dp99)} | "
                    f"{fmt_us(up99)} | {ratio(pp99, dp99)} | {fmt_mib(prss)} | {fmt_mib(drss)} |")
    thr = {}
    for impl in ("pollen", "ddsperf"):
        names = [f"r{r}-thr-{impl}-{size}" for r in range(1, rounds + 1)]
        thr[impl] = (mean([rate(f"{work}/{n}.resp") for n in names]), peak(names))
    (pr, prs), (dr, drs) = thr["pollen"], thr["ddsperf"]
    mbit = lambda r: "n/a" if r is None else f"{r * size * 8 / 1e6:.0f}"
    rows_thr.append(f"| {size} B | {fmt_rate(pr)} | {fmt_rate(dr)} | {ratio(pr, dr)} | "
                    f"{mbit(pr)} / {mbit(dr)} | {fmt_mib(prs)} | {fmt_mib(drs)} |")

load = open("/proc/loadavg").read().split()[:3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
section = f"""## End to end (`scripts/bench-e2e.sh`)

Two processes on loopback, measured back to back in one run ({datetime.date.today()}, {os.cpu_count()} vCPU
{cpu}, load average {' '.join(load)} when the script finished, {rustc}, release builds),
{rounds} round(s) of {secs} s per measurement alternating the implementations; means over the
rounds. Cyclone DDS 0.10.2 `ddsperf` is the yardstick and a bare UDP ping-pong
(`drivers/mio/examples/udp_floor.rs`, blocking `std::net`) the floor. Each run's p50 (p99) is
the median of its per-second 50 % (99 %) lines, its rate the median of the subscriber's
per-second rates, without the first and last second. Sizes are ddsperf's: the KeyedSeq sample
(12 bytes of seq, key and length, then baggage); the UDP floor sends datagrams of that size.
RSS is the peak resident set (`/usr/bin/time`) of either process over all rounds.

Latency (half round trip; ping waits for its pong before the next):

| size | Pollen p50 | ddsperf p50 | UDP p50 | Pollen/ddsperf | Pollen/UDP | Pollen p99 | ddsperf p99 | UDP p99 | Pollen/ddsperf p99 | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_lat)}

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

| size | Pollen samples/s | ddsperf samples/s | Pollen/ddsperf | Mbit/s (Pollen / ddsperf) | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_thr)}
"""

path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench-e2e:begin -->", "<!-- bench-e2e:end -->"
block = f"{begin}\n{section}{end}\n"
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
else:
    text = text.rstrip("\n") + "\n\n" + block
open(path, "w").write(text)
print(section)
PY
