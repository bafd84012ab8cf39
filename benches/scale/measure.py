#!/usr/bin/env python3
"""What `--shard K/N` costs and saves: docs/scale.md's numbers.

Generates the end-to-end harness's bulk capture with capgen (into a tmpfs),
then times, one after the other, best of --repeat runs each:
  - the full run:          streamcut extract bulk.pcap -o OUT
  - shard 0 of N:          streamcut extract bulk.pcap --shard 0/N -o OUT
    for N = 1, 2, 4, 8 (one shard is what one machine of N does)
  - reading alone:         streamcut extract bulk.pcap --shard 0/65536 -o OUT
    (every frame read, decoded and routed; the shard holds almost no flow, so
    almost nothing is reassembled or written: R of docs/scale.md)
  - the merge of N shards: streamcut merge (files hard-linked, manifest written)
and prints a Markdown table for docs/scale.md. Every run uses -t1 (one core
per shard: the split is across machines, not threads) unless --threads.

    cargo build --release -p streamcut -p capgen
    python3 benches/scale/measure.py [--dir /dev/shm/streamcut-scale] [--bulk-bytes 2000000000]
        [--shards 1,2,4,8] [--threads 1] [--repeat 3]

Run it on a quiet machine: a busy one measures its neighbours.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def timed(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr}")
    return took


def best(make_cmd, out, repeat):
    times = []
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        times.append(timed(make_cmd(out)))
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/dev/shm/streamcut-scale")
    ap.add_argument("--bulk-bytes", type=int, default=2_000_000_000)
    ap.add_argument("--shards", default="1,2,4,8")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--streamcut", default=os.path.join(TARGET, "release", "streamcut"))
    ap.add_argument("--capgen", default=os.path.join(TARGET, "release", "capgen"))
    args = ap.parse_args()
    shards = [int(n) for n in args.shards.split(",")]
    sc = os.path.abspath(args.streamcut)
    for exe in (sc, args.capgen):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: run `cargo build --release -p streamcut -p capgen` first")
    os.makedirs(args.dir, exist_ok=True)
    bulk = os.path.join(args.dir, "bulk.pcap")
    subprocess.run([args.capgen, "--preset", "bulk", "--total-bytes", str(args.bulk_bytes),
                    "--out", bulk, "--expected", bulk + ".json"], check=True, stderr=subprocess.DEVNULL)
    size = os.path.getsize(bulk)
    t = ["-t", args.threads]
    out = os.path.join(args.dir, "out")

    rows = []
    full = best(lambda o: [sc, "-q", "extract", bulk, *t, "-o", o], out, args.repeat)
    read = best(lambda o: [sc, "-q", "extract", bulk, *t, "--shard", "0/65536", "-o", o], out, args.repeat)
    for n in shards:
        one = best(lambda o: [sc, "-q", "extract", bulk, *t, "--shard", f"0/{n}", "-o", o], out, args.repeat)
        # The merge of N real shards (each run once).
        dirs = []
        for k in range(n):
            d = os.path.join(args.dir, f"shard-{k}-of-{n}")
            shutil.rmtree(d, ignore_errors=True)
            subprocess.run([sc, "-q", "extract", bulk, *t, "--shard", f"{k}/{n}", "-o", d], check=True)
            dirs.append(d)
        merged = os.path.join(args.dir, "merged")
        shutil.rmtree(merged, ignore_errors=True)
        merge = timed([sc, "-q", "merge", *dirs, "-o", merged])
        for d in dirs + [merged]:
            shutil.rmtree(d, ignore_errors=True)
        rows.append((n, one, merge))
    shutil.rmtree(out, ignore_errors=True)

    mb = size / 1e6
    print(f"bulk capture: {mb:.0f} MB; -t{args.threads}; best of {args.repeat}")
    print(f"full run (extract): {full:.2f} s ({mb / full:.0f} MB/s); reading alone (R, --shard 0/65536): "
          f"{read:.2f} s ({mb / read:.0f} MB/s); W = full - R = {full - read:.2f} s; bound 1 + W/R = "
          f"{full / read:.1f}x")
    print()
    print("| N | shard 0/N | of the full run | speed-up with N machines (full / (shard + merge)) | merge |")
    print("|---|---|---|---|---|")
    for n, one, merge in rows:
        print(f"| {n} | {one:.2f} s | {one / full:.0%} | {full / (one + merge):.2f}x | {merge:.2f} s |")


if __name__ == "__main__":
    main()
