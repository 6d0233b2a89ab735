"""The reports of the bench scripts (scripts/bench-*.sh through scripts/lib/bench.sh).

Every tool the benches run (pollen ping/pong/perf, ddsperf, the UDP floor) prints
ddsperf-shaped lines once a second; the parsers here read all of them. A run's value is the
median of its per-second values without the first second (discovery, warm-up) and the last
(partial). The run `r<round>-<kind>-<impl>-<size>` of bench.sh's `run` left its output in
WORK/<name>.resp and .init, and its peak RSS in .resp.rss and .init.rss (see Runs).

The system python3 and its standard library only.
"""

import datetime
import os
import re
import statistics
import subprocess


def lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def steady(vals):
    """Without the first second (discovery, warm-up) and the last (partial)."""
    return vals[1:-1] if len(vals) > 3 else vals


def latency(path):
    """(p50, p99) in µs of a ping's output: the medians of its per-second 50% and 99%."""
    p50, p99 = [], []
    for line in lines(path):
        m = re.search(r" 50% ([0-9.]+)us .* 99% ([0-9.]+)us", line)
        if m:
            p50.append(float(m.group(1)))
            p99.append(float(m.group(2)))
    if not p50:
        return None
    return statistics.median(steady(p50)), statistics.median(steady(p99))


def rate(path):
    """Samples/s of a subscriber's output: the median of its per-second "rate N kS/s"."""
    r = [float(m.group(1)) * 1e3 for line in lines(path)
         if (m := re.search(r" rate ([0-9.]+) kS/s", line)) and " lost " in line]
    return statistics.median(steady(r)) if r else None


def delta_rate(path):
    """(samples/s, samples lost) of a subscriber's output from its per-second lines
    "T size S total N lost L delta D ...": a line's rate is D over the time since the previous
    line (at large sizes fewer than a thousand samples a second, too few for "kS/s"); the
    run's rate their median, lost the last count."""
    rates, lost, prev = [], 0, None
    for line in lines(path):
        m = re.search(r"\] ([0-9.]+) +size \d+ total (\d+) lost (\d+) delta (\d+)", line)
        if not m:
            continue
        t, lost, delta = float(m.group(1)), int(m.group(3)), int(m.group(4))
        if prev is not None and t > prev:
            rates.append(delta / (t - prev))
        prev = t
    return (statistics.median(steady(rates)) if rates else None), lost


class Runs:
    """The runs r1..r<rounds> of one measurement in `work`."""

    def __init__(self, work, rounds):
        self.work, self.rounds = work, rounds

    def names(self, kind, impl, size):
        return [f"r{r}-{kind}-{impl}-{size}" for r in range(1, self.rounds + 1)]

    def each(self, parse, side, kind, impl, size):
        """parse(WORK/<name>.<side>) of every round, in round order."""
        return [parse(f"{self.work}/{n}.{side}") for n in self.names(kind, impl, size)]

    def latency(self, impl, size):
        """([p50 per round], [p99 per round]), None for a round without lines."""
        vals = self.each(latency, "init", "lat", impl, size)
        return [v[0] if v else None for v in vals], [v[1] if v else None for v in vals]

    def rss(self, name):
        """[responder, initiator] peak RSS (KiB) of one run, None where not recorded."""
        out = []
        for side in ("resp", "init"):
            v = [x for x in lines(f"{self.work}/{name}.{side}.rss") if x.strip().isdigit()]
            out.append(int(v[-1]) if v else None)
        return out

    def peak_rss(self, kind, impl, size):
        """The highest RSS (KiB) of either process over all rounds."""
        vals = [v for n in self.names(kind, impl, size) for v in self.rss(n) if v is not None]
        return max(vals) if vals else None


def known(xs):
    return [x for x in xs if x is not None]


def med(xs):
    xs = known(xs)
    return statistics.median(xs) if xs else None


def mean(xs):
    xs = known(xs)
    return sum(xs) / len(xs) if xs else None


def div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def ratios(a, b):
    """One ratio per round, each from the same round's pair."""
    return [div(x, y) for x, y in zip(a, b)]


def spread(xs, f):
    """"lowest–highest" of xs, formatted with f."""
    xs = known(xs)
    return f"{f(min(xs))}–{f(max(xs))}" if xs else "n/a"


def fmt_us(x):
    return "n/a" if x is None else f"{x:.1f} µs"


def fmt_rate(x):
    """Samples/s in M or k."""
    if x is None:
        return "n/a"
    return f"{x/1e6:.2f} M" if x >= 1e6 else f"{x/1e3:.0f} k"


def fmt_rate_low(x):
    """Samples/s in k with a decimal, or as they are below a thousand."""
    if x is None:
        return "n/a"
    return f"{x/1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"


def fmt_mbit(samples, size):
    return "n/a" if samples is None else f"{samples * size * 8 / 1e6:.0f}"


def fmt_gbit(samples, size):
    return "n/a" if samples is None else f"{samples * size * 8 / 1e9:.2f}"


def fmt_mib(kib):
    return "n/a" if kib is None else f"{kib/1024:.1f} MiB"


def fmt_x(x):
    return "n/a" if x is None else f"{x:.2f}×"


def ratio(a, b):
    return fmt_x(div(a, b))


def fmt_size(n):
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n >> 10} KiB"


def table(header, rows):
    """A Markdown table: the first column left-aligned, the others right-aligned; header and
    rows are lists of cells. No newline after the last row."""
    rule = "|---|" + "---:|" * (len(header) - 1)
    return "\n".join([cells(header), rule] + [cells(row) for row in rows])


def cells(row):
    """| a | b |, and an empty cell as | |."""
    return "|" + "|".join(f" {c} " if str(c) else " " for c in row) + "|"


def machine():
    """What a section says about where and when it was measured: date, cpus (vCPU count),
    cpu (model), load (the three load averages, joined), rustc (its --version)."""
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    with open("/proc/cpuinfo") as f:
        cpu = next((x.split(":", 1)[1].strip() for x in f if x.startswith("model name")), "?")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {"date": datetime.date.today(), "cpus": os.cpu_count(), "cpu": cpu, "load": load,
            "rustc": rustc}


def replace_section(name, section, path="BENCHMARKS.md", before=None):
    """Puts section between the markers <!-- NAME:begin --> and <!-- NAME:end --> of path,
    in place of what stood there. Without the markers the block goes in front of the line
    `before` where given and there, else at the end."""
    with open(path) as f:
        text = f.read()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section}{end}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
    elif before is not None:
        text = text.replace(before, block + "\n" + before, 1) if before in text else text + "\n" + block
    else:
        text = text.rstrip("\n") + "\n\n" + block
    with open(path, "w") as f:
        f.write(text)
