#!/usr/bin/env bash
# End-to-end benchmarks on loopback, written into the "End to end" section of BENCHMARKS.md.
#
#   scripts/bench-e2e.sh            # BENCH_SECONDS=6 per run, BENCH_ROUNDS=5
#
# Back to back, in the same run and under the same load, for each sample size (12 B and
# 1 KiB, ddsperf's "size": 12 bytes of KeyedSeq header + baggage):
#   latency:    pollen ping <-> pollen pong, ddsperf ping <-> ddsperf pong, bare UDP ping-pong
#               (drivers/mio/examples/udp_floor.rs) -- half round trip, p50 and p99; then
#               pollen again with --busy-poll BUSY_POLL (µs, default 100) on both sides
#   (throughput too: pollen perf pub/sub with --busy-poll after the two above)
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
# shellcheck source-path=SCRIPTDIR source=lib/bench.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
bench_init bench-e2e
bench_timing 6 5
STRACE=${STRACE:-1}
export BUSY_POLL=${BUSY_POLL:-100}
bench_need_ddsperf
bench_need_time

bench_build_pollen
cargo build --release -p pollen-mio --example udp_floor
FLOOR=$PWD/target/release/examples/udp_floor
bench_workdir
bench_loopback

# Domains of their own (not 0, away from the test suites' 20..231).
DOMAIN=232

for round in $(seq 1 "$ROUNDS"); do
    # Odd rounds run Pollen first, even rounds ddsperf first.
    order=$(bench_order "$round" pollen ddsperf)
    for size in 12 1024; do
        for impl in $order; do bench_lat "$impl" "$size" "$round"; done
        bench_lat pollen-spin "$size" "$round"
        run "r$round-lat-udp-$size" \
            "$FLOOR" pong 39999 "$LONGER" -- \
            "$FLOOR" ping 39999 "$size" "$SECONDS_PER_RUN"
        for impl in $order; do bench_thr "$impl" "$size" "$round"; done
        bench_thr pollen-spin "$size" "$round"
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

bench_python "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" <<'PY'
import os, re, sys
from bench_report import (Runs, fmt_mbit, fmt_mib, fmt_rate, fmt_us, fmt_x, lines, machine,
                          med, rate, ratios, replace_section, spread, table)

work, rounds, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
busy = os.environ.get("BUSY_POLL", "100")
runs = Runs(work, rounds)

def with_spread(xs):
    return f"{fmt_x(med(xs))} ({spread(xs, fmt_x)})"

def by_round(xs):
    return [round(x, 2) if x else None for x in xs]

rows_lat, rows_spin, rows_thr, rows_spin_thr, summary = [], [], [], [], []
for size in (12, 1024):
    (pp50, pp99), (dp50, dp99), (up50, _) = (runs.latency(i, size) for i in ("pollen", "ddsperf", "udp"))
    r50, r99, ru = ratios(pp50, dp50), ratios(pp99, dp99), ratios(pp50, up50)
    rows_lat.append([f"{size} B", fmt_us(med(pp50)), fmt_us(med(dp50)), fmt_us(med(up50)),
                     f"**{fmt_x(med(r50))}** ({spread(r50, fmt_x)})", fmt_x(med(ru)),
                     fmt_us(med(pp99)), fmt_us(med(dp99)), with_spread(r99),
                     fmt_mib(runs.peak_rss("lat", "pollen", size)),
                     fmt_mib(runs.peak_rss("lat", "ddsperf", size))])
    summary.append(f"p50 {size} B: {with_spread(r50)} rounds {by_round(r50)}")
    sp50, sp99 = runs.latency("pollen-spin", size)
    s50, s99 = ratios(sp50, dp50), ratios(sp99, dp99)
    rows_spin.append([f"{size} B", fmt_us(med(sp50)), fmt_us(med(dp50)),
                      f"**{fmt_x(med(s50))}** ({spread(s50, fmt_x)})", fmt_x(med(ratios(sp50, up50))),
                      fmt_us(med(sp99)), with_spread(s99)])
    summary.append(f"p50 {size} B busy-poll: {with_spread(s50)} rounds {by_round(s50)}")
    pr, dr = (runs.each(rate, "resp", "thr", i, size) for i in ("pollen", "ddsperf"))
    rt = ratios(pr, dr)
    rows_thr.append([f"{size} B", fmt_rate(med(pr)), fmt_rate(med(dr)),
                     f"**{fmt_x(med(rt))}** ({spread(rt, fmt_x)})",
                     f"{fmt_mbit(med(pr), size)} / {fmt_mbit(med(dr), size)}",
                     fmt_mib(runs.peak_rss("thr", "pollen", size)),
                     fmt_mib(runs.peak_rss("thr", "ddsperf", size))])
    summary.append(f"throughput {size} B: {with_spread(rt)} rounds {by_round(rt)}")
    sr = runs.each(rate, "resp", "thr", "pollen-spin", size)
    srt = ratios(sr, dr)
    rows_spin_thr.append([f"{size} B", fmt_rate(med(sr)), fmt_rate(med(dr)),
                          f"**{fmt_x(med(srt))}** ({spread(srt, fmt_x)})",
                          f"{fmt_mbit(med(sr), size)} / {fmt_mbit(med(dr), size)}"])
    summary.append(f"throughput {size} B busy-poll: {with_spread(srt)} rounds {by_round(srt)}")

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

strace_table = ""
if os.path.exists(f"{work}/strace-pollen.txt") and os.path.exists(f"{work}/strace-ddsperf.txt"):
    (pn, pc), (dn, dc) = syscalls("pollen"), syscalls("ddsperf")
    per = lambda c, n, k: c.get(k, 0) / max(n, 1)
    total = lambda c, n: sum(c.values()) / max(n, 1)
    names = sorted(set(pc) | set(dc), key=lambda k: -(per(pc, pn, k) + per(dc, dn, k)))
    rows = [[f"`{k}`", f"{per(pc, pn, k):.2f}", f"{per(dc, dn, k):.2f}"] for k in names
            if per(pc, pn, k) >= 0.01 or per(dc, dn, k) >= 0.01]
    rows.append(["all", f"{total(pc, pn):.2f}", f"{total(dc, dn):.2f}"])
    summary.append(f"syscalls per ping (pong side): pollen {total(pc, pn):.2f} over {pn} pings, ddsperf {total(dc, dn):.2f} over {dn}")
    strace_table = f"""
Syscalls per ping on the pong side (12 B, `strace -c -f` over a separate 4 s ping/pong, every
thread; the calls of start-up and discovery are included and spread over the pings):

{table(["syscall", "Pollen", "ddsperf"], rows)}
"""

m = machine()
section = f"""## End to end (`scripts/bench-e2e.sh`)

Two processes on loopback, measured back to back in one run ({m["date"]}, {m["cpus"]} vCPU
{m["cpu"]}, load average {m["load"]} when the script finished, {m["rustc"]}, release builds),
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

{table(["size", "Pollen p50", "ddsperf p50", "UDP p50", "Pollen/ddsperf p50", "Pollen/UDP",
        "Pollen p99", "ddsperf p99", "Pollen/ddsperf p99", "Pollen peak RSS", "ddsperf peak RSS"],
       rows_lat)}

The same with busy polling on both Pollen sides (`--busy-poll {busy}`: before sleeping, the
driver polls its sockets without blocking for up to {busy} µs, so a reply that comes back
within that time skips the sleep and the wake-up; a core stays busy while waiting). ddsperf
has no such mode; its column is the run above:

{table(["size", "Pollen busy-poll p50", "ddsperf p50", "Pollen busy-poll/ddsperf p50",
        "Pollen busy-poll/UDP", "Pollen busy-poll p99", "Pollen busy-poll/ddsperf p99"],
       rows_spin)}

Throughput (reliable, KEEP_ALL, one writer, as fast as acknowledgements allow):

{table(["size", "Pollen samples/s", "ddsperf samples/s", "Pollen/ddsperf",
        "Mbit/s (Pollen / ddsperf)", "Pollen peak RSS", "ddsperf peak RSS"], rows_thr)}

The same with `--busy-poll {busy}` on both Pollen sides (ddsperf's column is the run above):

{table(["size", "Pollen busy-poll samples/s", "ddsperf samples/s", "Pollen busy-poll/ddsperf",
        "Mbit/s (Pollen busy-poll / ddsperf)"], rows_spin_thr)}
{strace_table}"""

replace_section("bench-e2e", section)
print(section)
print("\n".join(summary))
PY
