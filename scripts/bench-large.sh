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
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
bench_init bench-large
bench_timing 6 2
bench_need_ddsperf
bench_need_time
bench_build_pollen
bench_workdir
bench_loopback

# A domain of its own (not 0, away from the test suites' 20..231; bench-e2e.sh and
# bench-tcp.sh use it too: run one script at a time).
DOMAIN=232

THR_SIZES="16384 65536 1048576"
LAT_SIZES="16384 65536"
for round in $(seq 1 "$ROUNDS"); do
    order=$(bench_order "$round" pollen ddsperf)
    for size in $THR_SIZES; do
        for impl in $order; do
            bench_thr "$impl" "$size" "$round"
        done
    done
    for size in $LAT_SIZES; do
        for impl in $order; do
            bench_lat "$impl" "$size" "$round"
        done
    done
done

bench_python "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" "$THR_SIZES" "$LAT_SIZES" <<'PY'
import re, sys
from bench_report import (Runs, delta_rate, fmt_gbit, fmt_mib, fmt_rate_low, fmt_size, fmt_us,
                          machine, mean, ratio, replace_section, table)

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
thr_sizes = [int(s) for s in sys.argv[4].split()]
lat_sizes = [int(s) for s in sys.argv[5].split()]
runs = Runs(work, rounds)

rows_thr, rows_lat = [], []
for size in thr_sizes:
    res = {}
    for impl in ("pollen", "ddsperf"):
        each = runs.each(delta_rate, "resp", "thr", impl, size)
        res[impl] = (mean([r for r, _ in each]), sum(l for _, l in each),
                     runs.peak_rss("thr", impl, size))
    (pr, pl, prss), (dr, dl, drss) = res["pollen"], res["ddsperf"]
    rows_thr.append([fmt_size(size), fmt_rate_low(pr), fmt_rate_low(dr), ratio(pr, dr),
                     f"{fmt_gbit(pr, size)} / {fmt_gbit(dr, size)}", f"{pl} / {dl}",
                     fmt_mib(prss), fmt_mib(drss)])
for size in lat_sizes:
    (pp50, pp99), (dp50, dp99) = (map(mean, runs.latency(i, size)) for i in ("pollen", "ddsperf"))
    rows_lat.append([fmt_size(size), fmt_us(pp50), fmt_us(dp50), ratio(pp50, dp50),
                     fmt_us(pp99), fmt_us(dp99), ratio(pp99, dp99),
                     fmt_mib(runs.peak_rss("lat", "pollen", size)),
                     fmt_mib(runs.peak_rss("lat", "ddsperf", size))])

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
mem_rows = [[fmt_size(s) if s < max_sample - 4 else fmt_size(max_sample) + " − 4 B",
             -(-(s + 4) // block), fmt_mib(held(s) / 1024), f"{held(s) * 100 // pool} %"]
            for s in (16 << 10, 64 << 10, 1 << 20, max_sample - 4)]

m = machine()
section = f"""## Large samples (`scripts/bench-large.sh`)

Fragmented samples on loopback, Pollen (the `HOST` capacities of the `pollen` tool) and
Cyclone DDS 0.10.2 `ddsperf` measured back to back in one run ({m["date"]}, {m["cpus"]} vCPU
{m["cpu"]}, load average {m["load"]} when the script finished, {m["rustc"]}, release build),
{rounds} round(s) of {secs} s per measurement alternating the implementations; means over the
rounds. Sizes are ddsperf's (12 bytes of KeyedSeq header, then baggage). Both fragment at
1344 bytes (Cyclone's default `FragmentSize`, Pollen's `Config::fragment_size`); Pollen packs
up to 12 fragments per DATA_FRAG in datagrams of up to 16 KiB on loopback, Cyclone in
messages of up to 14 720 bytes. A run's rate is the median of the subscriber's per-second rates, its p50 (p99) the
median of the per-second 50 % (99 %) values, without the first and last second. Lost counts
the samples the subscribers reported missing over all rounds (reliable, KEEP_ALL: must be 0).
RSS is the peak resident set (`/usr/bin/time`) of either process over all rounds.

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

{table(["size", "Pollen samples/s", "ddsperf samples/s", "Pollen/ddsperf", "Gbit/s (Pollen / ddsperf)",
        "lost (Pollen / ddsperf)", "Pollen peak RSS", "ddsperf peak RSS"], rows_thr)}

Latency (half round trip; ping waits for its pong before the next):

{table(["size", "Pollen p50", "ddsperf p50", "Pollen/ddsperf", "Pollen p99", "ddsperf p99",
        "Pollen/ddsperf p99", "Pollen peak RSS", "ddsperf peak RSS"], rows_lat)}

Reassembly memory (`Capacities::HOST`, engine/src/capacity.rs): a reader puts at most
{reass} samples (`reassemblies`) together at once, each in blocks of the payload pool
({blocks} blocks of {block} B = {fmt_mib(pool / 1024)}, `pool_blocks` × `pool_block`, shared by every
history, reader queue and reassembly of the participant, allocated zeroed once); a partial sample
holds its whole size (plus the 4-byte encapsulation header) from its first fragment on, and
its bookkeeping is a {frags // 8}-byte fragment bitmap ({frags} fragments of at least 512 B) made
when the reader is created. Samples up to {fmt_size(max_sample)} including the header (`max_sample`); a
reassembly the pool cannot hold is dropped and repaired later.

{table(["sample", "pool blocks per sample", "most held by one reader's reassemblies",
        "share of the pool"], mem_rows)}
"""

replace_section("bench-large", section)
print(section)
PY
