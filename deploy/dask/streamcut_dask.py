#!/usr/bin/env python3
"""Run `streamcut extract --shard K/N` as N Dask tasks, then `streamcut merge`.

The result in OUTPUT is byte-identical to one `streamcut extract` of the same
captures with the same options on one machine (see docs/scale.md).

    # on a running cluster (dask-scheduler / dask-worker, Kubernetes, HPC):
    python3 deploy/dask/streamcut_dask.py --scheduler tcp://sched:8786 \
        -n 16 -o /shared/out /shared/day/*.pcap -- --udp
    # or a local cluster of 2 worker processes:
    python3 deploy/dask/streamcut_dask.py --local 2 -n 4 -o out capture.pcap

Every worker must read the captures and write the shard directories at the
same paths (shared storage), and find the `streamcut` binary (`--streamcut`).
A shard that fails or whose worker is lost is run again from scratch (Dask
retries); each attempt writes into a fresh directory that is renamed into
place only when the run ended, so merge never sees a half-written shard.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
import uuid


def run_shard(streamcut, captures, k, n, work, extra, conflicts):
    """One shard: extract into a fresh directory, renamed to shard-K when done.

    Exit status 1 (input problems: a damaged capture) still wrote a complete
    description of what could be read, as one run would; anything else fails
    the task (Dask then retries it).
    """
    final = os.path.join(work, f"shard-{k}-of-{n}")
    if os.path.isfile(os.path.join(final, "manifest.json")):
        return final  # an earlier attempt finished (its worker was lost after)
    attempt = os.path.join(work, f".shard-{k}-of-{n}.{uuid.uuid4().hex}")
    cmd = [streamcut, "-q", "extract", *captures, "--shard", f"{k}/{n}", "-o", attempt]
    if conflicts:
        cmd += ["--conflicts", os.path.join(attempt, conflicts)]
    cmd += extra
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise RuntimeError(
                f"shard {k}/{n}: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        shutil.rmtree(final, ignore_errors=True)
        os.rename(attempt, final)
        return final
    finally:
        shutil.rmtree(attempt, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    where.add_argument("--local", type=int, metavar="W",
                       help="start a local cluster of W worker processes instead")
    p.add_argument("-n", "--shards", type=int, required=True, metavar="N", help="number of shards")
    p.add_argument("-o", "--output", required=True, help="merged output directory (missing or empty)")
    p.add_argument("--work", help="where shard directories go, on storage every worker can write "
                   "(default: OUTPUT.shards beside the output); removed after the merge")
    p.add_argument("--keep-shards", action="store_true", help="keep the shard directories")
    p.add_argument("--streamcut", default="streamcut",
                   help="the streamcut binary as the workers find it (default: on PATH)")
    p.add_argument("--conflicts", metavar="NAME",
                   help="write the conflicts file as OUTPUT/NAME (each shard writes its own)")
    p.add_argument("--retries", type=int, default=3, help="re-runs of a failed or lost shard")
    p.add_argument("captures", nargs="+", help="capture files (paths the workers can read)")
    p.add_argument("extra", nargs=argparse.REMAINDER,
                   help="after --: more `streamcut extract` options (--udp, --layout packed, ...)")
    args = p.parse_args(argv)
    extra = [a for a in args.extra if a != "--"] if args.extra else []
    if args.shards < 1:
        p.error("-n must be at least 1")

    from distributed import Client, LocalCluster, as_completed

    work = os.path.abspath(args.work or args.output.rstrip("/") + ".shards")
    os.makedirs(work, exist_ok=True)
    # The manifest records the paths as given: every shard gets the same
    # spelling (absolute paths are the safe choice on a cluster).
    captures = args.captures

    if args.local:
        cluster = LocalCluster(n_workers=args.local, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        cluster = None
        client = Client(args.scheduler)
    try:
        start = time.monotonic()
        futures = [
            client.submit(run_shard, args.streamcut, captures, k, args.shards, work, extra,
                          args.conflicts, key=f"streamcut-shard-{k}-of-{args.shards}-{uuid.uuid4().hex[:8]}",
                          retries=args.retries, pure=False)
            for k in range(args.shards)
        ]
        dirs = []
        for done, fut in enumerate(as_completed(futures), 1):
            dirs.append(fut.result())  # raises once a shard used up its retries
            print(f"streamcut-dask: {done}/{args.shards} shards done "
                  f"({time.monotonic() - start:.1f} s)", file=sys.stderr, flush=True)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    merge = [args.streamcut, "merge", *sorted(dirs), "-o", args.output]
    proc = subprocess.run(merge)
    if proc.returncode not in (0, 1):
        print(f"streamcut-dask: merge failed ({proc.returncode}); shards kept in {work}",
              file=sys.stderr)
        return 2
    if not args.keep_shards:
        shutil.rmtree(work, ignore_errors=True)
    print(f"streamcut-dask: merged {args.shards} shards into {args.output} "
          f"({time.monotonic() - start:.1f} s)", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
