#!/usr/bin/env python3
"""End-to-end throughput harness: streamcut against tcpflow, in the same run.

Generates captures with `capgen` into a tmpfs, then runs, one after the other
on the same file and writing to the same tmpfs:

  * `streamcut extract CAPTURE -o DIR --threads N`  (for each N in --threads;
    "auto" runs without --threads)
  * `streamcut extract CAPTURE -o DIR --no-digest --threads N`  (the same files, no SHA-256)
  * `streamcut extract CAPTURE -o DIR --http --threads N`  (and the HTTP objects: the
    `http` capture only, unless --commands asks for it on another)
  * `streamcut extract CAPTURE -o DIR --layout packed --threads N`  (every stream in
    one file: only when --commands asks for it)
  * `streamcut flows CAPTURE --json --threads N`     (reassembly + SHA-256, no output files)
  * `streamcut flows CAPTURE --json --no-digest --threads N`  (reassembly only)
  * `tcpflow -r CAPTURE -o DIR`                      (Debian package tcpflow)

For each command it reports wall time, MB/s of capture, packets/s, the CPU
time spent in user space and in the kernel, and the peak anonymous memory
(RssAnon sampled from /proc every 5 ms: memory-mapped capture pages are
file-backed and not counted). With --repeat N, every command runs once per
round, in N rounds, and its fastest run counts: the commands take turns, so a
machine whose speed drifts over minutes (a shared virtual machine) slows them
alike. Ratios are computed within the run.

With --baseline BIN (another streamcut build, e.g. of the main branch), every
streamcut command also runs with BIN, right next to the same command with the
build under test, in the same rounds (which of the two goes first alternates
from round to round). The table then has a row `... (baseline)` under each
streamcut row and a column `time vs baseline`: wall time of the build under
test divided by the baseline's (below 1.00x: faster than the baseline).

--commands picks a subset: comma-separated `[CAPTURE:]KIND[-tN]`, where
KIND is tcpflow, extract, extract-nodigest, flows, flows-nodigest,
extract-http or extract-packed, CAPTURE is bulk, short, http or syn (default: all four) and -tN one
of the --threads values (default: all). Without --commands, bulk and short
run every KIND but extract-http and extract-packed, and http (`capgen --preset http`: keep-alive
HTTP/1.1 conversations, chunked and gzip bodies) runs extract and
extract-http, and a line under the table gives, per thread count, the
throughput of `extract --http` as a share of plain `extract` (issue #19's
target: at least 70%). syn (`synflood.py`: --syn-packets SYN-only packets
to as many addresses, the half-open connections of a scan or SYN flood) runs
extract and flows: its row is about peak memory. For example, bulk extract -t2 and flows --no-digest -t1/-t2, and the
short capture's extract -t2 and flows -t1/-t2:
    --baseline OLD/streamcut --threads 1,2 --commands \
        bulk:extract-t2,bulk:flows-nodigest,short:extract-t2,short:flows
Without tcpflow among them the `speed vs tcpflow` column shows `-`.

Usage (from the repository root):
    cargo build --release -p streamcut -p capgen
    python3 benches/e2e/harness.py [--dir /dev/shm/streamcut-e2e] [--bulk-bytes 2000000000]
        [--short-flows 500000] [--http-bytes 1000000000] [--syn-packets 1000000] [--threads 1,2] [--repeat 1] [--keep]
        [--streamcut BIN] [--capgen BIN] [--baseline BIN] [--commands LIST]

Needs `tcpflow` (apt-get install tcpflow) unless --commands leaves it out.
Writes a Markdown table to stdout.
"""

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
STREAMCUT = os.path.join(TARGET, "release", "streamcut")
CAPGEN = os.path.join(TARGET, "release", "capgen")


def rss_anon_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run(cmd, cwd=None):
    """Run cmd; return (seconds, user CPU s, kernel CPU s, peak RssAnon in MiB, exit status)."""
    peak = [0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample():
        while not done.is_set():
            v = rss_anon_kb(p.pid)
            if v is not None:
                peak[0] = max(peak[0], v)
            time.sleep(0.005)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = p.communicate()
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    t.join()
    if p.returncode != 0:
        sys.stderr.write(f"warning: {' '.join(cmd)} exited {p.returncode}: {err.decode(errors='replace')[-500:]}\n")
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    return elapsed, user, system, peak[0] / 1024.0, p.returncode


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)


KINDS = ("tcpflow", "extract", "extract-nodigest", "flows", "flows-nodigest", "extract-http", "extract-packed")
CAPTURES = ("bulk", "short", "http", "syn")
# What runs on each capture without --commands.
DEFAULT_KINDS = {
    "bulk": KINDS[:-2],
    "short": KINDS[:-2],
    "http": ("extract", "extract-http"),
    "syn": ("extract", "flows"),
}
SELECTOR = re.compile(r"^(?:(" + "|".join(CAPTURES) + r"):)?(" + "|".join(KINDS) + r")(?:-t(\w+))?$")


def parse_commands(spec, threads):
    """--commands LIST -> [(capture or None, kind, threads or None)]; None: everything."""
    if spec is None:
        return None
    selectors = []
    for item in (x.strip() for x in spec.split(",")):
        if not item:
            continue
        m = SELECTOR.match(item)
        if not m:
            sys.exit(f"--commands: {item!r} is not [bulk:|short:|http:|syn:]KIND[-tN] with KIND one of {', '.join(KINDS)}")
        capture, kind, n = m.groups()
        if n is not None and (kind == "tcpflow" or n not in threads):
            sys.exit(f"--commands: {item!r}: -t{n} is not one of --threads {','.join(threads)}"
                     if kind != "tcpflow" else f"--commands: {item!r}: tcpflow takes no -tN")
        selectors.append((capture, kind, n))
    if not selectors:
        sys.exit("--commands: empty list")
    return selectors


def selected(selectors, capture, kind, n):
    if selectors is None:
        return kind in DEFAULT_KINDS[capture]
    return any(
        c in (None, capture) and k == kind and t in (None, n) for c, k, t in selectors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/dev/shm/streamcut-e2e")
    ap.add_argument("--bulk-bytes", type=int, default=2_000_000_000)
    ap.add_argument("--short-flows", type=int, default=500_000)
    ap.add_argument("--http-bytes", type=int, default=1_000_000_000,
                    help="payload bytes of the HTTP-heavy capture (0: none)")
    ap.add_argument("--syn-packets", type=int, default=1_000_000,
                    help="SYN-only packets to as many addresses, for the memory of half-open connections (0: none)")
    ap.add_argument("--threads", default="1,2", help="comma-separated worker counts; auto = the default")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the generated captures")
    ap.add_argument("--streamcut", default=STREAMCUT, help=f"the streamcut binary to measure (default {STREAMCUT})")
    ap.add_argument("--capgen", default=CAPGEN, help=f"the capgen binary (default {CAPGEN})")
    ap.add_argument("--baseline", metavar="BIN",
                    help="another streamcut binary: run every streamcut command with it too, taking turns")
    ap.add_argument("--commands", metavar="LIST",
                    help="only these commands: comma-separated [bulk:|short:|http:|syn:]KIND[-tN], KIND one of "
                         + ", ".join(KINDS) + " (default: all)")
    args = ap.parse_args()

    streamcut = os.path.abspath(args.streamcut)
    baseline = os.path.abspath(args.baseline) if args.baseline else None
    for exe in (streamcut, os.path.abspath(args.capgen)):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: run `cargo build --release -p streamcut -p capgen` first")
    if baseline and not os.path.exists(baseline):
        sys.exit(f"missing --baseline {baseline}")
    # Thread counts to run; "auto" runs without --threads (one worker per CPU).
    threads = [t for t in args.threads.split(",") if t]
    selectors = parse_commands(args.commands, threads)
    want_tcpflow = any(selected(selectors, c, "tcpflow", None) for c in CAPTURES)
    if want_tcpflow and shutil.which("tcpflow") is None:
        sys.exit("tcpflow not found: apt-get install tcpflow")
    os.makedirs(args.dir, exist_ok=True)

    # Each capture: its size option, and the command that writes it to OUT
    # with its answers (the packet count) in OUT.json.
    synflood = os.path.join(os.path.dirname(os.path.abspath(__file__)), "synflood.py")
    generators = [
        ("bulk", args.bulk_bytes, [args.capgen, "--preset", "bulk", "--total-bytes", str(args.bulk_bytes)]),
        ("short", args.short_flows, [args.capgen, "--preset", "short", "--flows", str(args.short_flows)]),
        ("http", args.http_bytes, [args.capgen, "--preset", "http", "--total-bytes", str(args.http_bytes)]),
        ("syn", args.syn_packets, [sys.executable, synflood, "--packets", str(args.syn_packets)]),
    ]
    captures = []
    for name, size, cmd in generators:
        # Generate only the captures some selected command reads.
        if size <= 0 or not any(selected(selectors, name, k, n) for k in KINDS for n in threads + [None]):
            continue
        path = os.path.join(args.dir, name + ".pcap")
        subprocess.run(cmd + ["--out", path, "--expected", path + ".json"], check=True, stderr=subprocess.DEVNULL)
        captures.append((name, path))

    rows = []
    for name, cap in captures:
        with open(cap + ".json") as f:
            exp = json.load(f)
        size = os.path.getsize(cap)
        packets = exp["totals"]["packets"]
        out = os.path.join(args.dir, "out")
        # (label, command, needs an output directory, label of the baseline's run of it or None)
        commands = []
        if selected(selectors, name, "tcpflow", None):
            commands.append(("tcpflow", ["tcpflow", "-r", cap, "-o", out], True, None))
        for n in threads:
            t = [] if n == "auto" else ["--threads", n]
            for kind, label, args_, needs_out in (
                ("extract", f"streamcut extract -t{n}", ["extract", cap, "-o", out, "--force", "-q"], True),
                ("extract-nodigest", f"streamcut extract --no-digest -t{n}",
                 ["extract", cap, "-o", out, "--force", "--no-digest", "-q"], True),
                ("flows", f"streamcut flows -t{n}", ["flows", cap, "--json", "-q"], False),
                ("flows-nodigest", f"streamcut flows --no-digest -t{n}",
                 ["flows", cap, "--json", "--no-digest", "-q"], False),
                ("extract-http", f"streamcut extract --http -t{n}",
                 ["extract", cap, "-o", out, "--force", "--http", "-q"], True),
                ("extract-packed", f"streamcut extract --layout packed -t{n}",
                 ["extract", cap, "-o", out, "--force", "--layout", "packed", "-q"], True),
            ):
                if not selected(selectors, name, kind, n):
                    continue
                base_label = f"{label} (baseline)" if baseline else None
                commands.append((label, [streamcut] + args_ + t, needs_out, base_label))
                if baseline:
                    commands.append((base_label, [baseline] + args_ + t, needs_out, None))
        best = {}
        for round_ in range(args.repeat):
            order = list(commands)
            if baseline and round_ % 2 == 1:
                # The baseline goes first in odd rounds: swap each (new, baseline) pair.
                for i, c in enumerate(commands):
                    if c[3] is not None:
                        order[i], order[i + 1] = commands[i + 1], c
            for label, cmd, needs_out, _ in order:
                if needs_out:
                    fresh(out)
                    os.makedirs(out, exist_ok=True)
                r = run(cmd, cwd=out if needs_out else None)
                if label not in best or r[0] < best[label][0]:
                    best[label] = r
                fresh(out)
        base = best["tcpflow"][0] if "tcpflow" in best else None
        for label, _, _, base_label in commands:
            secs, user, system, peak, status = best[label]
            vs_tcpflow = base / secs if base is not None and secs > 0 else None
            vs_baseline = secs / best[base_label][0] if base_label and best[base_label][0] > 0 else None
            rows.append((name, label, size, packets, secs, user, system, peak, vs_tcpflow, vs_baseline, status))

    head = ("| capture | command | wall s | MB/s | Mpackets/s | user s | kernel s | peak anon MiB "
            "| speed vs tcpflow |" + (" time vs baseline |" if baseline else "") + " exit |")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for name, label, size, packets, secs, user, system, peak, ratio, vs_base, status in rows:
        ratio = f"{ratio:.2f}x" if ratio is not None else "-"
        vs_base = (f" {vs_base:.2f}x |" if vs_base is not None else " - |") if baseline else ""
        print(f"| {name} ({size / 1e6:.0f} MB, {packets / 1e6:.2f} M pkts) | {label} | {secs:.2f} | "
              f"{size / 1e6 / secs:.0f} | {packets / 1e6 / secs:.2f} | {user:.2f} | {system:.2f} | {peak:.1f} "
              f"| {ratio} |{vs_base} {status} |")
    # extract --http's throughput as a share of plain extract's, per capture
    # and thread count (the same capture, so the ratio of the times).
    by = {(name, label): secs for name, label, _, _, secs, *_ in rows}
    for name, _ in captures:
        for n in threads:
            plain = by.get((name, f"streamcut extract -t{n}"))
            with_http = by.get((name, f"streamcut extract --http -t{n}"))
            if plain and with_http:
                print(f"\n{name} -t{n}: extract --http at {plain / with_http:.0%} of extract's throughput "
                      f"({with_http:.2f} s against {plain:.2f} s)")
    if not args.keep:
        for _, cap in captures:
            for p in (cap, cap + ".json"):
                if os.path.exists(p):
                    os.remove(p)


if __name__ == "__main__":
    main()
