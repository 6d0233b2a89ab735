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
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
bench_init bench-tcp
bench_timing 8 2
bench_need_ddsperf
bench_build_pollen
bench_workdir

# A domain of its own: the TCP tests use 220..230, bench-e2e.sh 232.
DOMAIN=231
PORT_A=$((7410 + 250 * DOMAIN + 100))
PORT_B=$((PORT_A + 2))
bench_cyclone_tcp "$WORK/cyclone-a.xml" "$PORT_A" "$PORT_B"
bench_cyclone_tcp "$WORK/cyclone-b.xml" "$PORT_B" "$PORT_A"
# The responders (pong, sub) on side B, the initiators on side A.
DDSPERF_RESP=(env CYCLONEDDS_URI="file://$WORK/cyclone-b.xml" "$DDSPERF")
DDSPERF_INIT=(env CYCLONEDDS_URI="file://$WORK/cyclone-a.xml" "$DDSPERF")
POLLEN_OPTS=(--transport tcp)
export POLLEN_INTERFACE=127.0.0.1
# Nothing here may use Cyclone's default (the other interface): every ddsperf below gets
# side A's or side B's configuration explicitly, and this makes a forgotten one fail instead.
export CYCLONEDDS_URI="file:///nonexistent-use-the-tcp-configuration"

for round in $(seq 1 "$ROUNDS"); do
    order=$(bench_order "$round" pollen ddsperf)
    for size in 12 1024; do
        for kind in lat thr; do
            for impl in $order; do
                bench_$kind "$impl" "$size" "$round"
            done
        done
    done
done

bench_python "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" <<'PY'
import sys
from bench_report import (Runs, fmt_mbit, fmt_rate, fmt_us, machine, mean, rate, ratio,
                          replace_section, table)

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = Runs(work, rounds)

lat_rows, thr_rows = [], []
for size in (12, 1024):
    (pp50, pp99), (dp50, dp99) = (map(mean, runs.latency(i, size)) for i in ("pollen", "ddsperf"))
    lat_rows.append([f"{size} B", fmt_us(pp50), fmt_us(dp50), ratio(pp50, dp50),
                     fmt_us(pp99), fmt_us(dp99), ratio(pp99, dp99)])
    pr, dr = (mean(runs.each(rate, "resp", "thr", i, size)) for i in ("pollen", "ddsperf"))
    thr_rows.append([f"{size} B", fmt_rate(pr), fmt_rate(dr), ratio(pr, dr),
                     f"{fmt_mbit(pr, size)} / {fmt_mbit(dr, size)}"])

m = machine()
section = f"""## End to end over TCP (`scripts/bench-tcp.sh`)

Two processes on loopback talking RTPS over TCP only (Cyclone DDS's framing), measured back to
back in one run ({m["date"]}, {m["cpus"]} vCPU {m["cpu"]}, load average
{m["load"]} when the script finished, {m["rustc"]}, release build), {rounds} round(s) of {secs} s
per measurement alternating the implementations; means over the rounds. The yardstick is
Cyclone DDS 0.10.2 `ddsperf` with its TCP transport (`<Transport>tcp</Transport>`, a listening
port each, the other's port as the only peer); Pollen runs `--transport tcp`. Each run's p50
(p99) is the median of its per-second 50 % (99 %) lines, its rate the median of the
subscriber's per-second rates, without the first and last second. Sizes are ddsperf's
KeyedSeq sizes (12 bytes of seq, key and length, then baggage). On a 2-vCPU machine shared
with builds, p99 mostly measures who was descheduled; p50 and throughput are the numbers to
compare.

Latency (half round trip; ping waits for its pong before the next):

{table(["size", "Pollen p50", "ddsperf p50", "Pollen/ddsperf", "Pollen p99", "ddsperf p99",
        "Pollen/ddsperf p99"], lat_rows)}

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

{table(["size", "Pollen samples/s", "ddsperf samples/s", "Pollen/ddsperf",
        "Mbit/s (Pollen / ddsperf)"], thr_rows)}
"""

replace_section("bench-tcp", section, before="## Reproduce")
print(section)
PY
