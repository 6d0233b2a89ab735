#!/usr/bin/env bash
# End-to-end benchmarks on loopback, written into the "End to end" section of BENCHMARKS.md.
#
#   scripts/bench-e2e.sh            # BENCH_SECONDS=6 per run, BENCH_ROUNDS=5
#
# Back to back, in the same run and under the same load, for each sample size (12 B and
# 1 KiB, ddsperf's "size": 12 bytes of KeyedSeq header + baggage):
#   latency:    pollen ping <-> pollen pong, ddsperf ping <-> ddsperf pong, bare UDP ping-pong
#               (drivers/mio/examples/udp_floor.rs) -- half round trip, p50 and p99
#   throughput: pollen perf pub -> pollen perf sub, ddsperf pub -> ddsperf sub -- samples/s
# Every tool prints ddsperf-shaped lines once a second; the same parser reads all of them:
# a run's p50 (p99) is the median of its per-second 50% (99%) values and its throughput the
# median of its per-second receive rates, the first second (discovery, warm-up) and the last
# (partial) dropped. Rounds alternate which implementation goes first; each round gives a
# Pollen/ddsperf ratio, and the tables show the median of the rounds' values and ratios with
# their spread (lowest-highest), and the peak RSS (/usr/bin/time) of each process over all
# rounds. Last, with strace installed (STRACE=0 to skip), one ping/pong of each
# implementation runs under `strace -c -f` on the pong side, for its syscalls per ping.
#
# Loopback only: ddsperf gets the loopback configuration of shared/PEERS.md through
# CYCLONEDDS_URI, Pollen its loopback default (POLLEN_INTERFACE=127.0.0.1 to be explicit).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-6}
ROUNDS=${BENCH_ROUNDS:-5}
STRACE=${STRACE:-1}
DDSPERF=${DDSPERF:-/usr/bin/ddsperf}
[[ -x "$DDSPERF" ]] || { echo "bench-e2e: $DDSPERF not found (shared/PEERS.md)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench-e2e: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

cargo build --release -p pollen-tool --bin pollen && cargo build --release -p pollen-mio --example udp_floor
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
    # Odd rounds run Pollen first, even rounds ddsperf first.
    if ((round % 2)); then order="pollen ddsperf"; else order="ddsperf pollen"; fi
    for size in 12 1024; do
        bag=$((size - 12))
        for impl in $order; do
            case $impl in
            pollen) run "r$round-lat-pollen-$size" \
                "$POLLEN" pong -D "$LONGER" -d "$DOMAIN" -- \
                "$POLLEN" ping -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag" ;;
            ddsperf) run "r$round-lat-ddsperf-$size" \
                "$DDSPERF" -i "$DOMAIN" -D "$LONGER" pong -- \
                "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" ping size "$size" ;;
            esac
        done
        run "r$round-lat-udp-$size" \
            "$FLOOR" pong 39999 "$LONGER" -- \
            "$FLOOR" ping 39999 "$size" "$SECONDS_PER_RUN"
        # Throughput: the subscriber is the responder (started first), so its lines are
        # in .resp.
        for impl in $order; do
            case $impl in
            pollen) run "r$round-thr-pollen-$size" \
                "$POLLEN" perf sub -D "$LONGER" -d "$DOMAIN" -- \
                "$POLLEN" perf pub -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$bag" ;;
            ddsperf) run "r$round-thr-ddsperf-$size" \
                "$DDSPERF" -i "$DOMAIN" -D "$LONGER" sub -- \
                "$DDSPERF" -i "$DOMAIN" -D "$SECONDS_PER_RUN" pub size "$size" ;;
            esac
        done
    done
done

# Syscalls per ping on the pong side, 12 B (strace slows both down alike; only the counts
# are used).
if [[ $STRACE != 0 ]] && command -v strace >/dev/null; then
    run "strace-pollen" \
        strace -c -f -o "$WORK/strace-pollen.txt" "$POLLEN" pong -D 7 -d "$DOMAIN" -- \
        "$POLLEN" ping -D 4 -d "$DOMAIN"
    run "strace-ddsperf" \
        strace -c -f -o "$WORK/strace-ddsperf.txt" "$DDSPERF" -i "$DOMAIN" -D 7 pong -- \
        "$DDSPERF" -i "$DOMAIN" -D 4 ping size 12
fi

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

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def spread(xs, f):
    xs = [x for x in xs if x is not None]
    return f"{f(min(xs))}–{f(max(xs))}" if xs else "n/a"

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

def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}×"

def div(a, b):
    return None if a is None or b is None or b == 0 else a / b

def ratios(a, b):
    # One ratio per round, from the same round's pair.
    return [div(x, y) for x, y in zip(a, b)]

rows_lat, rows_thr, summary = [], [], []
for size in (12, 1024):
    lat = {}
    for impl in ("pollen", "ddsperf", "udp"):
        names = [f"r{r}-lat-{impl}-{size}" for r in range(1, rounds + 1)]
        vals = [latency(f"{work}/{n}.init") for n in names]
        lat[impl] = ([v[0] if v else None for v in vals], [v[1] if v else None for v in vals],
                     peak(names))
    (pp50, pp99, prss), (dp50, dp99, drss), (up50, up99, _) = lat["pollen"], lat["ddsperf"], lat["udp"]
    r50, r99, ru = ratios(pp50, dp50), ratios(pp99, dp99), ratios(pp50, up50)
    rows_lat.append(f"| {size} B | {fmt_us(med(pp50))} | {fmt_us(med(dp50))} | {fmt_us(med(up50))} | "
                    f"**{fmt_x(med(r50))}** ({spread(r50, fmt_x)}) | {fmt_x(med(ru))} | "
                    f"{fmt_us(med(pp99))} | {fmt_us(med(dp99))} | {fmt_x(med(r99))} ({spread(r99, fmt_x)}) | "
                    f"{fmt_mib(prss)} | {fmt_mib(drss)} |")
    summary.append(f"p50 {size} B: {fmt_x(med(r50))} ({spread(r50, fmt_x)}) rounds {[round(x, 2) if x else None for x in r50]}")
    thr = {}
    for impl in ("pollen", "ddsperf"):
        names = [f"r{r}-thr-{impl}-{size}" for r in range(1, rounds + 1)]
        thr[impl] = ([rate(f"{work}/{n}.resp") for n in names], peak(names))
    (pr, prs), (dr, drs) = thr["pollen"], thr["ddsperf"]
    rt = ratios(pr, dr)
    mbit = lambda r: "n/a" if r is None else f"{r * size * 8 / 1e6:.0f}"
    rows_thr.append(f"| {size} B | {fmt_rate(med(pr))} | {fmt_rate(med(dr))} | "
                    f"**{fmt_x(med(rt))}** ({spread(rt, fmt_x)}) | "
                    f"{mbit(med(pr))} / {mbit(med(dr))} | {fmt_mib(prs)} | {fmt_mib(drs)} |")
    summary.append(f"throughput {size} B: {fmt_x(med(rt))} ({spread(rt, fmt_x)}) rounds {[round(x, 2) if x else None for x in rt]}")

def pings(path):
    return sum(int(m.group(1)) for l in lines(path) if (m := re.search(r" cnt ([0-9]+)", l)))

def syscalls(impl):
    n = pings(f"{work}/strace-{impl}.init")
    calls = {}
    for l in lines(f"{work}/strace-{impl}.txt"):
        f = l.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    return n, calls

strace_rows = []
if os.path.exists(f"{work}/strace-pollen.txt") and os.path.exists(f"{work}/strace-ddsperf.txt"):
    (pn, pc), (dn, dc) = syscalls("pollen"), syscalls("ddsperf")
    names = sorted(set(pc) | set(dc), key=lambda k: -(pc.get(k, 0) / max(pn, 1) + dc.get(k, 0) / max(dn, 1)))
    for k in names:
        a, b = pc.get(k, 0) / max(pn, 1), dc.get(k, 0) / max(dn, 1)
        if a >= 0.01 or b >= 0.01:
            strace_rows.append(f"| `{k}` | {a:.2f} | {b:.2f} |")
    total = lambda c, n: sum(c.values()) / max(n, 1)
    strace_rows.append(f"| all | {total(pc, pn):.2f} | {total(dc, dn):.2f} |")
    summary.append(f"syscalls per ping (pong side): pollen {total(pc, pn):.2f} over {pn} pings, ddsperf {total(dc, dn):.2f} over {dn}")
strace_table = ""
if strace_rows:
    strace_table = f"""
Syscalls per ping on the pong side (12 B, `strace -c -f` over a separate 4 s ping/pong, every
thread; the calls of start-up and discovery are included and spread over the pings):

| syscall | Pollen | ddsperf |
|---|---:|---:|
{chr(10).join(strace_rows)}
"""

load = open("/proc/loadavg").read().split()[:3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
section = f"""## End to end (`scripts/bench-e2e.sh`)

Two processes on loopback, measured back to back in one run ({datetime.date.today()}, {os.cpu_count()} vCPU
{cpu}, load average {' '.join(load)} when the script finished, {rustc}, release builds),
{rounds} round(s) of {secs} s per measurement, each round running both implementations back
to back (which one goes first alternates). Every ratio is Pollen/ddsperf within one round; the
tables give the median over the rounds and, in brackets, the lowest and highest round. Cyclone
DDS 0.10.2 `ddsperf` is the yardstick and a bare UDP ping-pong
(`drivers/mio/examples/udp_floor.rs`, blocking `std::net`) the floor. Each run's p50 (p99) is
the median of its per-second 50 % (99 %) lines, its rate the median of the subscriber's
per-second rates, without the first and last second. Sizes are ddsperf's: the KeyedSeq sample
(12 bytes of seq, key and length, then baggage); the UDP floor sends datagrams of that size.
RSS is the peak resident set (`/usr/bin/time`) of either process over all rounds.

Latency (half round trip; ping waits for its pong before the next):

| size | Pollen p50 | ddsperf p50 | UDP p50 | Pollen/ddsperf p50 | Pollen/UDP | Pollen p99 | ddsperf p99 | Pollen/ddsperf p99 | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_lat)}

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

| size | Pollen samples/s | ddsperf samples/s | Pollen/ddsperf | Mbit/s (Pollen / ddsperf) | Pollen peak RSS | ddsperf peak RSS |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows_thr)}
{strace_table}"""

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
print("\n".join(summary))
PY
