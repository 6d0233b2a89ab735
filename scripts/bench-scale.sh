#!/usr/bin/env bash
# Scale figures of BENCHMARKS.md ("Scale"), printed as ratios measured in this run:
#
#   scripts/bench-scale.sh            # memory, then the scale benches
#   scripts/bench-scale.sh memory     # resident memory of an idle subscriber only
#   scripts/bench-scale.sh benches    # the benches only
#
# memory: the resident set of an idle `pollen sub --ros chatter` (release build, loopback, the
#   default HOST capacities) and, as the yardstick, of an idle Cyclone DDS `ddsperf sub`, one
#   after the other, SCALE_ROUNDS (3) rounds of SCALE_IDLE_SECONDS (5) each; /proc/<pid>/status
#   is read every 0.25 s: VmRSS is the last reading before the process exits, VmHWM its peak.
#   ddsperf is pinned to loopback with the configuration of the interop tests
#   (tool/tests/common/mod.rs, cyclone_uri()). Domain SCALE_DOMAIN (0); the script checks
#   that pollen discovered nobody (idle means alone).
# benches: `engine` (engine_pair, engine_pair_idle), `scale` (idle poll_transmit/poll_timeout
#   beside a call and a 64-byte memcpy, announcement, create_writer) with 1 s warm-up and 3 s
#   measurement, then `scale_report` (interleaved per-sample ratio, SimNet discovery); then a
#   summary of the criterion estimates as ratios (target/criterion/*/new/estimates.json).
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
bench_init bench-scale

WHAT=${1:-all}
DOMAIN=${SCALE_DOMAIN:-0}
IDLE=${SCALE_IDLE_SECONDS:-5}
ROUNDS=${SCALE_ROUNDS:-3}

memory() {
    bench_need_ddsperf
    bench_build_pollen
    bench_workdir
    bench_loopback

    : >"$WORK/results"
    for round in $(seq 1 "$ROUNDS"); do
        echo "bench-scale: memory round $round" >&2
        read -r rss hwm < <(bench_memory "pollen-$round" $((IDLE + 15)) \
            "$POLLEN" sub --ros chatter -v -d "$DOMAIN" --timeout "$IDLE")
        if grep -qi "discovered" "$WORK/pollen-$round.out"; then
            echo "bench-scale: pollen was not alone in domain $DOMAIN:" >&2
            grep -i "discovered" "$WORK/pollen-$round.out" | head -3 >&2
            exit 1
        fi
        echo "pollen $rss $hwm" >>"$WORK/results"
        read -r rss hwm < <(bench_memory "ddsperf-$round" $((IDLE + 15)) \
            "$DDSPERF" -i "$DOMAIN" -D "$IDLE" sub)
        echo "ddsperf $rss $hwm" >>"$WORK/results"
    done
    bench_python "$WORK/results" "$ROUNDS" "$IDLE" <<'PY'
import statistics, sys
from bench_report import fmt_mib, table
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rounds, idle = sys.argv[2], sys.argv[3]
def med(who, col):
    return statistics.median(int(r[col]) for r in rows if r[0] == who)
p_rss, p_hwm = med("pollen", 1), med("pollen", 2)
d_rss, d_hwm = med("ddsperf", 1), med("ddsperf", 2)
print(f"\nResident memory of an idle subscriber, medians of {rounds} rounds of {idle} s:\n")
print(table(["", "pollen sub --ros chatter", "ddsperf sub", "Pollen/ddsperf"],
            [["VmRSS before exit", fmt_mib(p_rss), fmt_mib(d_rss), f"{p_rss / d_rss:.2f}"],
             ["VmHWM (peak)", fmt_mib(p_hwm), fmt_mib(d_hwm), f"{p_hwm / d_hwm:.2f}"]]))
for who in ("pollen", "ddsperf"):
    print(f"{who} rounds (VmRSS/VmHWM KiB):",
          ", ".join(f"{r[1]}/{r[2]}" for r in rows if r[0] == who))
PY
}

benches() {
    cargo bench -p pollen-benches --bench engine -- --warm-up-time 1 --measurement-time 3
    cargo bench -p pollen-benches --bench scale -- --warm-up-time 1 --measurement-time 3
    cargo bench -p pollen-benches --bench scale_report
    python3 - target/criterion <<'PY'
import json, os, sys
root = sys.argv[1]
def est(path):
    f = os.path.join(root, path, "new", "estimates.json")
    if not os.path.exists(f):
        return None
    e = json.load(open(f))
    return (e.get("slope") or e["mean"])["point_estimate"]
def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.1f} ns"
print("\nCriterion estimates, as ratios in this run:\n")
print("| benchmark | empty | idle domain | idle/empty |")
print("|---|---:|---:|---:|")
for case in ("one/64", "one/1024", "batch32/64", "batch32/1024"):
    a, b = est(f"engine_pair/{case}"), est(f"engine_pair_idle/{case}")
    if a and b:
        print(f"| engine_pair {case} | {fmt(a)} | {fmt(b)} | {b / a:.3f} |")
call, copy = est("idle_poll/call"), est("idle_poll/memcpy64")
for fn in ("poll_transmit", "poll_timeout"):
    a, b = est(f"idle_poll/{fn}/empty"), est(f"idle_poll/{fn}/idle_domain")
    if a and b and call and copy:
        print(f"| {fn} (× call / × memcpy64) | {fmt(a)} ({a / call:.1f}× / {a / copy:.1f}×) "
              f"| {fmt(b)} ({b / call:.1f}× / {b / copy:.1f}×) | {b / a:.2f} |")
a, b = est("periodic/announce/empty"), est("periodic/announce/idle_domain")
if a and b:
    print(f"| one announcement period | {fmt(a)} | {fmt(b)} | {b / a:.0f} |")
a, p, b = (est(f"create_writer/{w}") for w in ("empty", "participants_only", "idle_domain"))
if a and p and b:
    print(f"| create_writer (1000 participants, no endpoints: {fmt(p)}, {p / a:.1f}×) "
          f"| {fmt(a)} | {fmt(b)} | {b / a:.0f} |")
if call and copy:
    print(f"\nyardsticks: call {fmt(call)}, memcpy of 64 bytes {fmt(copy)}")
PY
}

case "$WHAT" in
    memory) memory ;;
    benches) benches ;;
    all) memory; benches ;;
    *) echo "usage: $0 [memory|benches]" >&2; exit 2 ;;
esac
echo "bench-scale: done ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
