# shellcheck shell=bash
# Shared by the bench scripts (scripts/bench-*.sh, component/bench.sh); sourced, never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
#   bench_init bench-e2e                # strict mode, the repository root as working directory
#
# Loopback only: the Cyclone DDS configurations below name `lo` and 127.0.0.1 and nothing else,
# bench_loopback pins Pollen to 127.0.0.1 (POLLEN_INTERFACE), and every process a bench starts
# stops by itself (-D, --timeout, timeout(1)) or is killed when the script exits.
#
# Knobs every script that uses the helpers below takes: BENCH_SECONDS and BENCH_ROUNDS
# (bench_timing), DDSPERF (bench_need_ddsperf), BENCH_KEEP=1 (bench_workdir: keep the raw
# output of the runs and print where it is).
set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=bench
BENCH_RSS=0

# bench_init NAME: NAME prefixes progress lines and errors; the working directory becomes the
# repository root (the reports read and write BENCHMARKS.md there).
bench_init() {
    BENCH_NAME=$1
    cd "$BENCH_ROOT"
}

bench_die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

# bench_timing SECONDS ROUNDS: SECONDS_PER_RUN and ROUNDS from BENCH_SECONDS and BENCH_ROUNDS,
# with these defaults; LONGER is how long a responder lives (it must outlast its initiator).
# shellcheck disable=SC2034 # ROUNDS is the sourcing script's
bench_timing() {
    SECONDS_PER_RUN=${BENCH_SECONDS:-$1}
    ROUNDS=${BENCH_ROUNDS:-$2}
    LONGER=$((SECONDS_PER_RUN + 3))
}

# bench_need_ddsperf: Cyclone DDS's ddsperf at DDSPERF (default /usr/bin/ddsperf), or exit.
bench_need_ddsperf() {
    DDSPERF=${DDSPERF:-/usr/bin/ddsperf}
    [[ -x "$DDSPERF" ]] || bench_die "$DDSPERF not found (shared/PEERS.md)"
}

# bench_need_time: /usr/bin/time, or exit; from here on `run` records each process's peak RSS.
bench_need_time() {
    [[ -x /usr/bin/time ]] || bench_die "/usr/bin/time not found (apt-get install time)"
    BENCH_RSS=1
}

# bench_build_pollen [CARGO_OPTIONS...]: the release `pollen` tool (package pollen-tool);
# POLLEN is its path.
# shellcheck disable=SC2120 # the options are optional
bench_build_pollen() {
    cargo build "$@" --release -p pollen-tool --bin pollen
    POLLEN=$BENCH_ROOT/target/release/pollen
}

# bench_workdir: WORK, a fresh temporary directory for the runs' output. On exit the script's
# background jobs are killed and WORK is removed (kept with BENCH_KEEP=1).
bench_workdir() {
    WORK=$(mktemp -d)
    trap bench_cleanup EXIT
}

bench_cleanup() {
    local pids
    pids=$(jobs -p)
    # shellcheck disable=SC2086 # one pid per word
    [[ -z $pids ]] || kill $pids 2>/dev/null || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "$BENCH_NAME: the runs' output is kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}

# bench_cyclone_lo FILE: a Cyclone DDS configuration for loopback (shared/PEERS.md): interface
# `lo`, no multicast, unicast discovery with 127.0.0.1 as the only peer.
bench_cyclone_lo() {
    cat >"$1" <<'EOF'
<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>
EOF
}

# bench_cyclone_tcp FILE OWN_PORT PEER_PORT: Cyclone DDS over TCP only on `lo`, listening on
# OWN_PORT, with 127.0.0.1:PEER_PORT as its only peer.
bench_cyclone_tcp() {
    cat >"$1" <<EOF
<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Transport>tcp</Transport><Interfaces><NetworkInterface name="lo"/></Interfaces></General>
  <Discovery><Peers><Peer address="127.0.0.1:$3"/></Peers></Discovery>
  <TCP><Port>$2</Port></TCP>
</Domain></CycloneDDS>
EOF
}

# bench_loopback: every ddsperf on the loopback configuration ($WORK/cyclone-lo.xml through
# CYCLONEDDS_URI), every pollen on 127.0.0.1 (POLLEN_INTERFACE). Needs bench_workdir first.
bench_loopback() {
    bench_cyclone_lo "$WORK/cyclone-lo.xml"
    export CYCLONEDDS_URI="file://$WORK/cyclone-lo.xml"
    export POLLEN_INTERFACE=127.0.0.1
}

# run NAME RESPONDER... -- INITIATOR...: the responder in the background, half a second later
# the initiator; output in $WORK/NAME.{resp,init}, and after bench_need_time the peak RSS (KiB)
# of each in $WORK/NAME.{resp,init}.rss. A failing process leaves its output and no verdict:
# the report says n/a where a run printed nothing.
run() {
    local name=$1
    shift
    local resp=()
    while [[ $1 != -- ]]; do resp+=("$1"); shift; done
    shift
    local time_resp=() time_init=()
    if ((BENCH_RSS)); then
        time_resp=(/usr/bin/time -f %M -o "$WORK/$name.resp.rss")
        time_init=(/usr/bin/time -f %M -o "$WORK/$name.init.rss")
    fi
    echo "$BENCH_NAME: $name" >&2
    "${time_resp[@]}" "${resp[@]}" >"$WORK/$name.resp" 2>&1 &
    local rpid=$!
    sleep 0.5
    "${time_init[@]}" "$@" >"$WORK/$name.init" 2>&1 || true
    wait "$rpid" || true
    sleep 0.5
}

# bench_order ROUND A B: "A B" in odd rounds, "B A" in even ones (which goes first alternates).
bench_order() {
    if (($1 % 2)); then echo "$2 $3"; else echo "$3 $2"; fi
}

# The two measurements of ddsperf's shape, for IMPL pollen or ddsperf, at SIZE (ddsperf's
# sample size: 12 bytes of KeyedSeq header, then SIZE-12 of baggage), in domain DOMAIN, with the
# initiator running SECONDS_PER_RUN and the responder LONGER (bench_timing). The run is named
# r<ROUND>-<lat|thr>-<IMPL>-<SIZE>, the name the report (bench_report.Runs) looks for.
# POLLEN_OPTS: options added to every pollen command (bench-tcp.sh: --transport tcp);
# DDSPERF_RESP and DDSPERF_INIT: the command that starts ddsperf on either side (default
# "$DDSPERF"; bench-tcp.sh puts a configuration of each side's own in front).
POLLEN_OPTS=()

# bench_lat IMPL SIZE ROUND: ping -> pong, half round trip; the lines are ping's (.init).
bench_lat() {
    local impl=$1 size=$2 name="r$3-lat-$1-$2"
    case $impl in
    pollen) run "$name" \
        "$POLLEN" pong "${POLLEN_OPTS[@]}" -D "$LONGER" -d "$DOMAIN" -- \
        "$POLLEN" ping "${POLLEN_OPTS[@]}" -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$((size - 12))" ;;
    # Pollen with busy polling on both sides (`--busy-poll`, BUSY_POLL µs, default 100).
    pollen-spin) run "$name" \
        "$POLLEN" pong "${POLLEN_OPTS[@]}" --busy-poll "${BUSY_POLL:-100}" -D "$LONGER" -d "$DOMAIN" -- \
        "$POLLEN" ping "${POLLEN_OPTS[@]}" --busy-poll "${BUSY_POLL:-100}" -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$((size - 12))" ;;
    ddsperf) run "$name" \
        "${DDSPERF_RESP[@]:-$DDSPERF}" -i "$DOMAIN" -D "$LONGER" pong -- \
        "${DDSPERF_INIT[@]:-$DDSPERF}" -i "$DOMAIN" -D "$SECONDS_PER_RUN" ping size "$size" ;;
    *) bench_die "bench_lat: no implementation $impl" ;;
    esac
}

# bench_thr IMPL SIZE ROUND: pub -> sub, reliable, as fast as acknowledged; the subscriber is
# the responder (started first), so the lines are in .resp.
bench_thr() {
    local impl=$1 size=$2 name="r$3-thr-$1-$2"
    case $impl in
    pollen) run "$name" \
        "$POLLEN" perf sub "${POLLEN_OPTS[@]}" -D "$LONGER" -d "$DOMAIN" -- \
        "$POLLEN" perf pub "${POLLEN_OPTS[@]}" -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$((size - 12))" ;;
    pollen-spin) run "$name" \
        "$POLLEN" perf sub "${POLLEN_OPTS[@]}" --busy-poll "${BUSY_POLL:-100}" -D "$LONGER" -d "$DOMAIN" -- \
        "$POLLEN" perf pub "${POLLEN_OPTS[@]}" --busy-poll "${BUSY_POLL:-100}" -D "$SECONDS_PER_RUN" -d "$DOMAIN" --size "$((size - 12))" ;;
    ddsperf) run "$name" \
        "${DDSPERF_RESP[@]:-$DDSPERF}" -i "$DOMAIN" -D "$LONGER" sub -- \
        "${DDSPERF_INIT[@]:-$DDSPERF}" -i "$DOMAIN" -D "$SECONDS_PER_RUN" pub size "$size" ;;
    *) bench_die "bench_thr: no implementation $impl" ;;
    esac
}

# bench_memory NAME LIMIT CMD...: runs CMD (which stops by itself; killed after LIMIT seconds
# if it does not), output in $WORK/NAME.out, and prints "VmRSS VmHWM" in KiB: the last
# reading of /proc/<pid>/status (every 0.25 s) before it exited, and its peak.
bench_memory() {
    local name=$1 limit=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>&1 &
    local pid=$! rss=0 hwm=0 r h
    local deadline=$((SECONDS + limit))
    while kill -0 "$pid" 2>/dev/null; do
        r=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        h=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [[ -n $r ]] && rss=$r
        [[ -n $h ]] && hwm=$h
        if ((SECONDS > deadline)); then kill "$pid" 2>/dev/null || true; fi
        sleep 0.25
    done
    wait "$pid" || true
    echo "$rss $hwm"
}

# bench_python ARGS... <<'PY' ... PY: the report in Python (the system python3, standard
# library only) with scripts/lib on its path, so that it can `import bench_report`.
bench_python() {
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$BENCH_ROOT/scripts/lib${PYTHONPATH:+:$PYTHONPATH}" \
        python3 - "$@"
}
