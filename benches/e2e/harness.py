#!/usr/bin/env python3
"""End-to-end throughput harness: streamcut against tcpflow, in the same run.

Generates captures with `capgen` into a tmpfs, then runs, one after the other
on the same file and writing to the same tmpfs:

  * `streamcut extract CAPTURE -o DIR --threads N`  (for each N in --threads;
    "auto" runs without --threads)
  * `streamcut extract CAPTURE -o DIR --no-digest --threads N`  (the same files, no SHA-256)
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

Usage (from the repository root):
    cargo build --release -p streamcut -p capgen
    python3 benches/e2e/harness.py [--dir /dev/shm/streamcut-e2e] [--bulk-bytes 2000000000]
        [--short-flows 500000] [--threads 1,2] [--repeat 1] [--keep]

Needs `tcpflow` (apt-get install tcpflow). Writes a Markdown table to stdout.
"""

import argparse
import json
import os
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/dev/shm/streamcut-e2e")
    ap.add_argument("--bulk-bytes", type=int, default=2_000_000_000)
    ap.add_argument("--short-flows", type=int, default=500_000)
    ap.add_argument("--threads", default="1,2", help="comma-separated worker counts; auto = the default")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the generated captures")
    args = ap.parse_args()

    for exe in (STREAMCUT, CAPGEN):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: run `cargo build --release -p streamcut -p capgen` first")
    if shutil.which("tcpflow") is None:
        sys.exit("tcpflow not found: apt-get install tcpflow")
    os.makedirs(args.dir, exist_ok=True)
    # Thread counts to run; "auto" runs without --threads (one worker per CPU).
    threads = [t for t in args.threads.split(",") if t]

    captures = []
    bulk = os.path.join(args.dir, "bulk.pcap")
    if args.bulk_bytes > 0:
        subprocess.run([CAPGEN, "--preset", "bulk", "--total-bytes", str(args.bulk_bytes), "--out", bulk,
                        "--expected", bulk + ".json"], check=True, stderr=subprocess.DEVNULL)
        captures.append(("bulk", bulk))
    short = os.path.join(args.dir, "short.pcap")
    if args.short_flows > 0:
        subprocess.run([CAPGEN, "--preset", "short", "--flows", str(args.short_flows), "--out", short,
                        "--expected", short + ".json"], check=True, stderr=subprocess.DEVNULL)
        captures.append(("short", short))

    rows = []
    for name, cap in captures:
        with open(cap + ".json") as f:
            exp = json.load(f)
        size = os.path.getsize(cap)
        packets = exp["totals"]["packets"]
        out = os.path.join(args.dir, "out")
        commands = [("tcpflow", ["tcpflow", "-r", cap, "-o", out], True)]
        for n in threads:
            t = [] if n == "auto" else ["--threads", n]
            commands += [
                (f"streamcut extract -t{n}", [STREAMCUT, "extract", cap, "-o", out, "--force", "-q"] + t, True),
                (f"streamcut extract --no-digest -t{n}",
                 [STREAMCUT, "extract", cap, "-o", out, "--force", "--no-digest", "-q"] + t, True),
                (f"streamcut flows -t{n}", [STREAMCUT, "flows", cap, "--json", "-q"] + t, False),
                (f"streamcut flows --no-digest -t{n}",
                 [STREAMCUT, "flows", cap, "--json", "--no-digest", "-q"] + t, False),
            ]
        best = {}
        for _ in range(args.repeat):
            for label, cmd, needs_out in commands:
                if needs_out:
                    fresh(out)
                    os.makedirs(out, exist_ok=True)
                r = run(cmd, cwd=out if needs_out else None)
                if label not in best or r[0] < best[label][0]:
                    best[label] = r
                fresh(out)
        base = best["tcpflow"][0]
        for label, _, _ in commands:
            secs, user, system, peak, status = best[label]
            rows.append((name, label, size, packets, secs, user, system, peak,
                         base / secs if secs > 0 else 0.0, status))

    print("| capture | command | wall s | MB/s | Mpackets/s | user s | kernel s | peak anon MiB "
          "| speed vs tcpflow | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, label, size, packets, secs, user, system, peak, ratio, status in rows:
        print(f"| {name} ({size / 1e6:.0f} MB, {packets / 1e6:.2f} M pkts) | {label} | {secs:.2f} | "
              f"{size / 1e6 / secs:.0f} | {packets / 1e6 / secs:.2f} | {user:.2f} | {system:.2f} | {peak:.1f} "
              f"| {ratio:.2f}x | {status} |")
    if not args.keep:
        for _, cap in captures:
            for p in (cap, cap + ".json"):
                if os.path.exists(p):
                    os.remove(p)


if __name__ == "__main__":
    main()
