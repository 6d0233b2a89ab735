#!/usr/bin/env bash
# Large-sample benchmarks on loopback (fragmentation: DATA_FRAG, NACK_FRAG), written into the
# "Large samples" section of BENCHMARKS.md.
#
#   scripts/bench-large.sh          # BENCH_SECONDS=6 per run, BENCH_ROUNDS=2
#
# Back to back, in the same run and under the same load, Pollen against Cyclone DDS 0.10's
# ddsperf (sizes are ddsperf's: 12 bytes of KeyedSeq header + baggage):
#   throughput: pollen perf pub -> pollen perf sub, ddsperf pub -> ddsperf sub at 16 KiB,
#               64 KiB and 1 MiB -- samples/s (reliable, KEEP_ALL, as fast as acknowledged)
#   latency:    pollen ping <-> pollen pong, ddsperf ping <-> ddsperf pong at 16 KiB and
#               64 KiB -- half round trip, p50 and p99
# A run's rate is the median of the subscriber's per-second rates (delta over the interval),
# its p50 (p99) the median of the per-second 50% (99%) values, the first and the last second
# dropped. Rounds alternate the implementations; the tables show the mean over rounds, the
# samples lost (must be 0) and the peak RSS (/usr/bin/time) of each process over all rounds,
# beside the reassembly memory the engine's `HOST` capacities bound (engine/src/capacity.rs).
#
# Loopback only: ddsperf gets the loopback configuration of shared/PEERS.md through
# CYCLONEDDS_URI, Pollen its loopback default (POLLEN_INTERFACE=127.0.0.1 to be explicit).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-6}
ROUNDS=${BENCH_ROUNDS:-2}
DDSPERF=${DDSPERF:-/usr/bin/ddsperf}
[[ -x "$DDSPERF" ]] || { echo "bench-large: $DDSPERF not found (shared/PEERS.md)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-large: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

cargo build --release -p pollen-tool --bin pollen
POLLEN=$PWD/target/release/pollen

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

# A domain of its own (not 0, away from the test suites' 20..231; bench-e2e.sh and
# bench-tcp.sh use it too: run one script at a time).
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
    echo "bench-large: $name" >&2
    /usr/bin/time -f %M -o "$WORK/$name.resp.rss" "${resp[@]}" >"$WORK/$name.resp" 2>&1 &
    local rpid=$!
    sleep 0.5
    /usr/bin/time -f %M -o "$WORK/$name.init.rss" "$@" >"$WORK/$name.init" 2>&1 || true
    wait "$rpid" || true
    sleep 0.5
}

THR_SIZES="16384 65536 1048576"
LAT_SIZES="16384 65536"
for round in $(seq 1 "$ROUNDS"); do
    for size in $THR_SIZES; do
        bag=$((size - 12))
        # The subscriber is the responder (started first): its lines are in .resp.
        run "r$round-thr-pollen-$size" \
            "$POLLEN" perf sub -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" perf pub -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-thr-ddsperf-$size" \
            "$DDSPERF" -i "$DOMAIN" -D "$LONGER" sub -- \
            "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" pub size "$size"
    done
    for size in $LAT_SIZES; do
        bag=$((size - 12))
        run "r$round-lat-pollen-$size" \
            "$POLLEN" pong -D "$LONGER" -d "$DOMAIN" -- \
            "$POLLEN" ping -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag"
        run "r$round-lat-ddsperf-$size" \
            "$DDSPERF" -i "$DOMAIN" -D "$LONGER" pong -- \
            "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" ping size "$size"
    done
done

python3 - "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" "$THR_SIZES" "$LAT_SIZES" <<'PY'
import datetime, os, re, statistics, subprocess, sys

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
thr_sizes = [int(s) for s in sys.argv[4].split()]
lat_sizes = [int(s) for s in sys.argv[5].split()]

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

def throughput(path):
    """(median samples/s, samples lost) from the per-second subscriber lines
    "T size S total N lost L delta D lost L2 ...": the rate of a line is D over the time since
    the previous line."""
    rates, lost, prev = [], 0, None
    for l in lines(path):
        m = re.search(r"\] ([0-9.]+) +size \d+ total (\d+) lost (\d+) delta (\d+)", l)
        if not m:
            continue
        t, lost, delta = float(m.group(1)), int(m.group(3)), int(m.group(4))
        if prev is not None and t > prev:
            rates.append(delta / (t - prev))
        prev = t
    return (statistics.median(steady(rates)) if rates else None), lost

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

def fmt_size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"

def fmt_us(x):
    return "n/a" if x is None else f"{x:.1f} µs"

def fmt_rate(x):
    if x is None:
        return "n/a"
    return f"{x/1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"

def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib/1024:.1f} MiB"

def ratio(a, b):
    return "n/a" if a is None or b is None or b == 0 else f"{a/b:.2f}×"

rows_thr, rows_lat = [], []
for size in thr_sizes:
    res = {}
    for impl in ("pollen", "ddsperf"):
        names = [f"r{r}-thr-{impl}-{size}" for r in range(1, rounds + 1)]
        runs = [throughput(f"{work}/{n}.resp") for n in names]
        res[impl] = (mean([r for r, _ in runs]), sum(l for _, l in runs), peak(names))
    (pr, pl, prss), (dr, dl, drss) = res["pollen"], res["ddsperf"]
    gbit = lambda r: "n/a" if r is None else f"{r * size * 8 / 1e9:.2f}"
    rows_thr.append(f"| {fmt_size(size)} | {fmt_rate(pr)} | {fmt_rate(dr)} | {ratio(pr, dr)} | "
                    f"{gbit(pr)} / {gbit(dr)} | {pl} / {dl} | {fmt_mib(prss)} | {fmt_mib(drss)} |")
for size in lat_sizes:
    res = {}
    for impl in ("pollen", "ddsperf"):
        names = [f"r{r}-lat-{impl}-{size}" for r in range(1, rounds + 1)]
        vals = [latency(f"{work}/{n}.init") for n in names]
        res[impl] = (mean([v[0] for v in vals if v]), mean([v[1] for v in vals if v]), peak(names))
    (pp50, pp99, prss), (dp50, dp99, drss) = res["pollen"], res["ddsperf"]
    rows_lat.append(f"| {fmt_size(size)} | {fmt_us(pp50)} | {fmt_us(dp50)} | {ratio(pp50, dp50)} | "
                    f"{fmt_us(pp99)} | {fmt_us(dp99)} | {ratio(pp99, dp99)} | {fmt_mib(prss)} | {fmt_mib(drss)} |")

# The engine's capacities in the `HOST` preset the `pollen` tool uses (engine/src/capacity.rs).
caps = open("engine/src/capacity.rs").read()
host = caps[caps.index("pub const HOST: Capacities"):]
host = host[:host.index("};")]
def cap(name):
    m = re.search(rf"\b{name}: ([^,]+),", host)
    return eval(m.group(1), {}) if m else None
reass, block, blocks, max_sample = (cap(n) for n in ("reassemblies", "pool_block", "pool_blocks", "max_sample"))
# Fragments are at least 512 bytes (MIN_FRAGMENT), so the bitmap has one bit per 512 bytes.
frags = -(-max_sample // 512)
pool = block * blocks
def held(size):
    blocks_per = -(-(size + 4) // block)  # the sample and its 4-byte encapsulation header
    return min(reass * blocks_per * block, pool)
mem_rows = "\n".join(
    f"| {fmt_size(s) if s < max_sample - 4 else fmt_size(max_sample) + ' − 4 B'} | {-(-(s + 4) // block)} | {fmt_mib(held(s) / 1024)} | {held(s) * 100 // pool} % |"
    for s in (16 << 10, 64 << 10, 1 << 20, max_sample - 4))

load = open("/proc/loadavg").read().split()[:3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
section = f"""## Large samples (`scripts/bench-large.sh`)

Fragmented samples on loopback, Pollen (the `HOST` capacities of the `pollen` tool) and
Cyclone DDS 0.10.2 `ddsperf` measured back to back in one run ({datetime.date.today()}, {os.cpu_count()} vCPU
{cpu}, load average {' '.join(load)} when the script finished, {rustc}, release build),
{rounds} round(s) of {secs} s per measurement alternating the implementations; means over the
rounds. Sizes are ddsperf's (12 bytes of KeyedSeq header, then baggage). Both fragment at
1344 bytes (Cyclone's default `FragmentSize`, Pollen's `Config::fragment_size`); Pollen packs
up to 12 fragments per DATA_FRAG in datagrams of up to 16 KiB on loopback, Cyclone in
messages of up to 14 720 bytes. A run's rate is the median of the subscriber's per-second rates, its p50 (p99) the
median of the per-second 50 % (99 %) values, without the first and last second. Lost counts
the samples the subscribers reported missing over all rounds (reliable, KEEP_ALL: must be 0).
RSS is the peak resident set (`/usr/bin/time`) of either process over all rounds.

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

| size | Pollen samples/s | ddsperf samples/s | Pollen/ddsperf | Gbit/s (Pollen / ddsperf) | lost (Pollen / ddsperf) | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_thr)}

Latency (half round trip; ping waits for its pong before the next):

| size | Pollen p50 | ddsperf p50 | Pollen/ddsperf | Pollen p99 | ddsperf p99 | Pollen/ddsperf p99 | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_lat)}

Reassembly memory (`Capacities::HOST`, engine/src/capacity.rs): a reader puts at most
{reass} samples (`reassemblies`) together at once, each in blocks of the payload pool
({blocks} blocks of {block} B = {fmt_mib(pool / 1024)}, `pool_blocks` × `pool_block`, shared by every
history, reader queue and reassembly of the participant, allocated zeroed once); a partial sample
holds its whole size (plus the 4-byte encapsulation header) from its first fragment on, and
its bookkeeping is a {frags // 8}-byte fragment bitmap ({frags} fragments of at least 512 B) made
when the reader is created. Samples up to {fmt_size(max_sample)} including the header (`max_sample`); a
reassembly the pool cannot hold is dropped and repaired later.

| sample | pool blocks per sample | most held by one reader's reassemblies | share of the pool |
|---|---:|---:|---:|
{mem_rows}
"""

path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench-large:begin -->", "<!-- bench-large:end -->"
block_text = f"{begin}\n{section}{end}\n"
if begin in text and end in text:
    text = text[:text.index(begin)] + block_text + text[text.index(end) + len(end) + 1:]
else:
    text = text.rstrip("\n") + "\n\n" + block_text
open(path, "w").write(text)
print(section)
PY
