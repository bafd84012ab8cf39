#!/usr/bin/env python3
"""Count how many TCP stream directions streamcut reassembles exactly as tshark.

For every capture under the given corpus roots that has a tshark oracle
(`ROOT/_oracle/tshark-4.0.17/<capture path>/index.tsv`, written by
`tshark -z follow,tcp,raw,N`), runs

    BIN extract CAPTURE -o out --overlap-policy first -q

(`first` is tshark's rule for overlapping bytes) and compares, per capture:

  * the number of TCP flows in out/manifest.json with tshark's stream count
    (a capture whose counts differ is listed);
  * per direction, the SHA-256 of our stream with the oracle's. Streams are
    paired by their two endpoints (either order); several streams on one
    4-tuple (port reuse, or a connection we split) are paired in order of
    first appearance. tshark leaves its "bytes missing" markers out of its
    .bin files, so an oracle direction with gaps is still compared as the
    concatenation of what it kept; our gaps are not filled either.

Prints one line per capture with a disagreement and a summary:
`directions agree A/C, captures with a different flow count D/N`. Exit 0.
With --json FILE, writes the per-capture details too (for before/after diffs).

Usage (repository root; Python 3.11, standard library only):
    python3 benches/oracle-agreement/agreement.py --bin target/release/streamcut \
        [ROOT ...]   (default: testdata/corpus)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ORACLE = Path("_oracle") / "tshark-4.0.17"


def oracle_streams(index: Path):
    rows = []
    with index.open() as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            vals = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.append(vals)
    return rows


def endpoint(ep: dict) -> str:
    ip = ep["ip"]
    return f"[{ip}]:{ep['port']}" if ":" in ip else f"{ip}:{ep['port']}"


def run(binary: str, capture: Path, scratch: Path):
    out = scratch / "out"
    proc = subprocess.run(
        [binary, "extract", str(capture), "-o", str(out), "--overlap-policy", "first", "-q", "--force"],
        capture_output=True,
        text=True,
    )
    manifest = out / "manifest.json"
    if not manifest.exists():
        return None, proc.stderr.strip()
    with manifest.open() as f:
        return json.load(f), None


def compare(manifest: dict, rows: list):
    ours = defaultdict(list)
    for fl in manifest["flows"]:
        if fl["proto"] != "tcp":
            continue
        c, s = endpoint(fl["client"]), endpoint(fl["server"])
        ours[frozenset((c, s))].append(fl)
    theirs = defaultdict(list)
    for r in rows:
        theirs[frozenset((r["node0"], r["node1"]))].append(r)
    compared = agree = 0
    bad = []
    for key, trs in theirs.items():
        fls = ours.get(key, [])
        for i, r in enumerate(trs):
            fl = fls[i] if i < len(fls) else None
            for node, n in ((r["node0"], "0"), (r["node1"], "1")):
                compared += 1
                if fl is None:
                    bad.append(f"{r['node0']} <-> {r['node1']} node{n}: no flow")
                    continue
                d = "c2s" if endpoint(fl["client"]) == node else "s2c"
                got = fl[d].get("sha256")
                if got == r[f"sha256_{n}"]:
                    agree += 1
                else:
                    bad.append(
                        f"{node} -> ... ({d}): {fl[d]['bytes']} bytes vs tshark {r[f'bytes{n}']}"
                    )
    n_ours = sum(len(v) for v in ours.values())
    return compared, agree, n_ours, len(rows), bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--json", help="write per-capture details here")
    ap.add_argument("roots", nargs="*", default=["testdata/corpus"])
    args = ap.parse_args()
    total_c = total_a = caps = diff_count = 0
    details = {}
    with tempfile.TemporaryDirectory() as tmp:
        for root in map(Path, args.roots):
            base = root / ORACLE
            for index in sorted(base.rglob("index.tsv")):
                rel = index.parent.relative_to(base)
                capture = root / rel
                if not capture.exists():
                    print(f"{root}/{rel}: oracle without capture, skipped", file=sys.stderr)
                    continue
                scratch = Path(tmp) / str(caps)
                scratch.mkdir()
                manifest, err = run(args.bin, capture, scratch)
                caps += 1
                rows = oracle_streams(index)
                if manifest is None:
                    total_c += 2 * len(rows)
                    diff_count += 1
                    print(f"{root}/{rel}: no manifest: {err}")
                    details[f"{root}/{rel}"] = {"error": err}
                    continue
                c, a, n_ours, n_theirs, bad = compare(manifest, rows)
                total_c += c
                total_a += a
                if n_ours != n_theirs:
                    diff_count += 1
                if bad or n_ours != n_theirs:
                    print(f"{root}/{rel}: {a}/{c} directions agree, flows {n_ours} vs tshark {n_theirs}")
                    for b in bad:
                        print(f"    {b}")
                details[f"{root}/{rel}"] = {
                    "compared": c, "agree": a, "flows": n_ours, "tshark_streams": n_theirs, "bad": bad,
                }
    print(
        f"directions agree {total_a}/{total_c}, "
        f"captures with a different flow count {diff_count}/{caps}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(details, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
