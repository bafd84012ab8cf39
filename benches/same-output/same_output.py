#!/usr/bin/env python3
"""Check that two streamcut builds write the same output, byte for byte.

For every capture, every option set and every thread count, runs

    BIN extract CAPTURE -o out --threads N -q OPTIONS...

once with --before and once with --after (each in a fresh directory, with the
output directory and any --conflicts file given as relative paths, so nothing
in the output depends on where it was written), and compares:

  * the whole tree the run left behind (out/ and the conflicts file beside
    it) but out/run.json (wall times, command line): the same relative paths
    of the same kind, the same bytes per file;
  * out/manifest.json parsed as JSON, with only `tool.version` removed from
    both sides, compared exactly (key order and value types included), then
    as text with that one value blanked (so a formatting change shows too);
  * the exit status, standard output, and standard error with the binary's
    path replaced by <BIN>.

The --after build is also compared with itself across thread counts (the
output must not depend on --threads). Every difference is printed with the
capture, the option set, the thread count(s) and the first differing path or
JSON pointer; the run directories of a comparison that differed are kept for
inspection. The last line is a summary; the exit status is 1 if anything
differed, 0 if not (2 for usage errors).

Option sets (--options picks some): files (the default layout), packed
(--layout packed), udp-conflicts (--udp --conflicts conflicts.jsonl),
tcpflow (--naming tcpflow), zero-gaps (--gaps zero with a small cap,
--overlap-policy last, --verify-window, records spilled to disk),
packed-tcpflow (--layout packed --naming tcpflow --udp --no-digest
--overlap-policy linux).

Captures default to every .pcap, .pcapng, .cap, .pcap_ and gzip/zstd
compressed capture under testdata/ (testdata/corpus/_oracle holds tshark's
output, not captures, and is skipped).

Usage (from the repository root; Python 3.11, standard library only):
    python3 benches/same-output/same_output.py --before OLD/streamcut --after NEW/streamcut
        [--threads 1,2,3] [--options files,packed,...] [--dir SCRATCH] [--jobs 2]
        [--keep] [-v] [CAPTURE...]
    python3 benches/same-output/same_output.py --self-test --before BIN
        (checks the checker: `--after` becomes BIN behind a wrapper that alters
        its output in one known way per case; each alteration must be caught,
        and a pass-through or a changed tool version must not be)
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

OPTION_SETS = {
    "files": [],
    "packed": ["--layout", "packed"],
    "udp-conflicts": ["--udp", "--conflicts", "conflicts.jsonl"],
    "tcpflow": ["--naming", "tcpflow"],
    "zero-gaps": ["--gaps", "zero", "--zero-fill-cap", "4096", "--overlap-policy", "last",
                  "--verify-window", "65536", "--records-in-memory", "8"],
    "packed-tcpflow": ["--layout", "packed", "--naming", "tcpflow", "--udp", "--no-digest",
                       "--overlap-policy", "linux"],
}

# Capture file names, by how they end (compressed ones included).
CAPTURE_SUFFIXES = tuple(
    base + comp
    for base in (".pcap", ".pcapng", ".cap", ".pcap_")
    for comp in ("", ".gz", ".zst", ".zstd")
) + (".gz", ".zst")

OUT = "out"  # the output directory, relative to the run directory
MANIFEST = OUT + "/manifest.json"
RUN_JSON = OUT + "/run.json"
VERSION_RE = re.compile(r'("version"\s*:\s*)"(?:[^"\\]|\\.)*"')


def find_captures(top):
    found = []
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != "_oracle")
        for f in sorted(files):
            if f.endswith(CAPTURE_SUFFIXES):
                found.append(os.path.join(d, f))
    return found


def display(path):
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


# ---------------------------------------------------------------- running


def run_extract(prog, capture, threads, opts, rundir, timeout):
    """Run one extraction in a fresh `rundir`; return (status, stdout, stderr)."""
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    cmd = prog + ["extract", capture, "-o", OUT, "--threads", str(threads), "-q"] + opts
    try:
        p = subprocess.run(cmd, cwd=rundir, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timeout after {timeout} s", b"", b""
    return p.returncode, p.stdout, p.stderr


def normalize(text, prog, rundir):
    """Standard output or error with the binary's path and the run directory replaced."""
    s = text.decode("utf-8", errors="backslashreplace")
    s = s.replace(os.path.abspath(rundir), "<RUN>")
    return s.replace(prog[-1], "<BIN>")


# ---------------------------------------------------------------- comparing


def tree(top):
    """Relative path -> kind ('dir', 'file', 'symlink' or 'other') of everything under top."""
    entries = {}
    for d, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, top)
            if rel == RUN_JSON:
                continue  # wall times and the command line: never the same
            if os.path.islink(p):
                entries[rel] = "symlink -> " + os.readlink(p)
            elif os.path.isdir(p):
                entries[rel] = "dir"
            elif os.path.isfile(p):
                entries[rel] = "file"
            else:
                entries[rel] = "other"
    return entries


def first_byte_difference(a, b):
    """Offset of the first differing byte of two files, or None if equal."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        offset = 0
        while True:
            ca = fa.read(1 << 20)
            cb = fb.read(1 << 20)
            if ca != cb:
                n = min(len(ca), len(cb))
                i = next((k for k in range(n) if ca[k] != cb[k]), n)
                return offset + i
            if not ca:
                return None
            offset += len(ca)


def short(v):
    s = json.dumps(v)
    return s if len(s) <= 80 else s[:77] + "..."


def pointer(ptr, key):
    return ptr + "/" + str(key).replace("~", "~0").replace("/", "~1")


def json_difference(a, b, ptr=""):
    """The first difference of two parsed JSON values, as 'POINTER: what', or None."""
    where = ptr or "/"
    if type(a) is not type(b):
        return f"{where}: {short(a)} vs {short(b)}"
    if isinstance(a, dict):
        for k in a:
            if k not in b:
                return f"{pointer(ptr, k)}: only in the first ({short(a[k])})"
        for k in b:
            if k not in a:
                return f"{pointer(ptr, k)}: only in the second ({short(b[k])})"
        if list(a) != list(b):
            return f"{where}: key order {list(a)} vs {list(b)}"
        for k in a:
            d = json_difference(a[k], b[k], pointer(ptr, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = json_difference(x, y, pointer(ptr, i))
            if d:
                return d
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} elements"
        return None
    if a != b:
        return f"{where}: {short(a)} vs {short(b)}"
    return None


def load_manifest(path):
    """(text, parsed JSON without tool.version, text with tool.version blanked) or a string error."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
        m = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"not JSON: {e}"
    if isinstance(m, dict) and isinstance(m.get("tool"), dict):
        m["tool"].pop("version", None)
    # The tool object comes first, so the first "version" key is its version.
    blanked = VERSION_RE.sub(r'\1"<version>"', text, count=1)
    return m, blanked


def compare_manifests(a, b):
    ma, mb = load_manifest(a), load_manifest(b)
    if isinstance(ma, str) or isinstance(mb, str):
        if isinstance(ma, str) and isinstance(mb, str):
            return first_file_difference(MANIFEST, a, b)
        return f"{MANIFEST}: {ma if isinstance(ma, str) else 'JSON'} vs {mb if isinstance(mb, str) else 'JSON'}"
    d = json_difference(ma[0], mb[0])
    if d:
        return f"{MANIFEST}#{d}"
    if ma[1] != mb[1]:
        ta, tb = ma[1], mb[1]
        i = next((k for k in range(min(len(ta), len(tb))) if ta[k] != tb[k]), min(len(ta), len(tb)))
        return (f"{MANIFEST}: same JSON, different text at character {i}: "
                f"{ta[max(0, i - 20):i + 20]!r} vs {tb[max(0, i - 20):i + 20]!r}")
    return None


def first_file_difference(rel, a, b):
    off = first_byte_difference(a, b)
    if off is None:
        return None
    return f"{rel}: bytes differ from offset {off} (sizes {os.path.getsize(a)} vs {os.path.getsize(b)})"


def compare_runs(ra, rb, rundir_a, rundir_b, prog_a, prog_b):
    """Every difference between two runs, as a list of strings (first one first)."""
    diffs = []
    if ra[0] != rb[0]:
        diffs.append(f"exit status {ra[0]} vs {rb[0]}")
    for what, i in (("stdout", 1), ("stderr", 2)):
        la = normalize(ra[i], prog_a, rundir_a).splitlines()
        lb = normalize(rb[i], prog_b, rundir_b).splitlines()
        if la != lb:
            n = next((k for k in range(min(len(la), len(lb))) if la[k] != lb[k]), min(len(la), len(lb)))
            x = la[n] if n < len(la) else "<none>"
            y = lb[n] if n < len(lb) else "<none>"
            diffs.append(f"{what} line {n + 1}: {x!r} vs {y!r}")
    ta, tb = tree(rundir_a), tree(rundir_b)
    for rel in sorted(set(ta) | set(tb)):
        if rel not in tb:
            diffs.append(f"{rel}: only in the first ({ta[rel]})")
        elif rel not in ta:
            diffs.append(f"{rel}: only in the second ({tb[rel]})")
        elif ta[rel] != tb[rel]:
            diffs.append(f"{rel}: {ta[rel]} vs {tb[rel]}")
        elif ta[rel] == "file":
            pa, pb = os.path.join(rundir_a, rel), os.path.join(rundir_b, rel)
            if rel == MANIFEST:
                d = compare_manifests(pa, pb)
            else:
                d = first_file_difference(rel, pa, pb)
            if d:
                diffs.append(d)
    return diffs


def flow_count(rundir):
    try:
        with open(os.path.join(rundir, MANIFEST)) as f:
            return len(json.load(f).get("flows", []))
    except (OSError, ValueError, AttributeError):
        return 0


def file_stats(rundir):
    files = size = 0
    for d, _, fs in os.walk(rundir):
        for f in fs:
            files += 1
            size += os.path.getsize(os.path.join(d, f))
    return files, size


# ---------------------------------------------------------------- one task


def check(task):
    """Run one capture with one option set at every thread count with both builds; compare."""
    index, capture, optname, opts, threads, before, after, scratch, timeout, keep = task
    base = os.path.join(scratch, f"task-{index:05d}")
    res = {"runs": 0, "comparisons": 0, "flows": 0, "files": 0, "bytes": 0, "diffs": [], "dir": base}
    runs = {}
    for n in threads:
        for side, prog in (("before", before), ("after", after)):
            d = os.path.join(base, f"{side}-t{n}")
            runs[(side, n)] = (d, run_extract(prog, capture, n, opts, d, timeout))
            res["runs"] += 1
    pairs = [(("before", n), ("after", n)) for n in threads]
    pairs += [(("after", threads[0]), ("after", n)) for n in threads[1:]]
    for a, b in pairs:
        (da, ra), (db, rb) = runs[a], runs[b]
        pa = before if a[0] == "before" else after
        pb = before if b[0] == "before" else after
        res["comparisons"] += 1
        if a[0] == "before":
            res["flows"] += flow_count(db)
            files, size = file_stats(db)
            res["files"] += files
            res["bytes"] += size
        d = compare_runs(ra, rb, da, db, pa, pb)
        if d:
            label = f"{a[0]} vs {b[0]} -t{a[1]}" if a[1] == b[1] else f"{a[0]} -t{a[1]} vs -t{b[1]}"
            res["diffs"].append((label, d))
    if not keep and not res["diffs"]:
        shutil.rmtree(base, ignore_errors=True)
    return res


def compare_all(before, after, captures, optnames, threads, scratch, jobs, timeout, keep, verbose,
                out=sys.stdout):
    """Run every check; print differences and the summary; return the totals."""
    tasks = []
    # Largest captures first, so the pool does not end on one long task.
    order = sorted(captures, key=lambda c: -os.path.getsize(c))
    for capture in order:
        for name in optnames:
            tasks.append((len(tasks), capture, name, OPTION_SETS[name], threads, before, after,
                          scratch, timeout, keep))
    totals = {"runs": 0, "comparisons": 0, "flows": 0, "files": 0, "bytes": 0, "differences": 0}
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(check, t): t for t in tasks}
        for fut in concurrent.futures.as_completed(futures):
            _, capture, name, opts, *_ = futures[fut]
            res = fut.result()
            for k in ("runs", "comparisons", "flows", "files", "bytes"):
                totals[k] += res[k]
            for label, diffs in res["diffs"]:
                totals["differences"] += 1
                more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
                print(f"DIFFERENT: {display(capture)} [{name}: {' '.join(opts) or 'no options'}] "
                      f"{label}: {diffs[0]}{more}", file=out)
                if verbose:
                    for d in diffs[1:]:
                        print(f"    {d}", file=out)
            if res["diffs"]:
                print(f"    run directories kept in {res['dir']}", file=out)
            elif verbose:
                print(f"same: {display(capture)} [{name}]", file=out)
            out.flush()
    totals["captures"] = len(captures)
    return totals


def summary(t):
    return (f"same-output: {t['captures']} captures compared, {t['runs']} runs, "
            f"{t['comparisons']} comparisons ({t['flows']} flows, {t['files']} files, "
            f"{t['bytes'] / 1e6:.1f} MB compared before vs after), "
            f"{t['differences']} differences")


# ---------------------------------------------------------------- self-test

# Each case: what the wrapper does to the real binary's output, and a piece of
# text the first difference must contain (None: no difference allowed).
SELF_TEST_CASES = [
    ("pass-through", None),
    ("tool-version", None),
    ("append-byte", "bytes differ"),
    ("manifest-field", "manifest.json#/totals/packets"),
    ("manifest-format", "same JSON, different text"),
    ("manifest-key-order", "key order"),
    ("extra-file", "only in the second"),
    ("remove-file", "only in the first"),
    ("conflicts-line", "conflicts.jsonl: bytes differ"),
    ("exit-status", "exit status"),
    ("stderr-line", "stderr line 1"),
    ("threads-2-only", "vs -t2"),
]


def tamper(argv):
    """`same_output.py --tamper CASE -- BIN ARGS...`: run BIN ARGS, then alter its output."""
    case, real, args = argv[0], argv[2], argv[3:]
    p = subprocess.run([real] + args)
    status = p.returncode
    out = args[args.index("-o") + 1]
    manifest = os.path.join(out, "manifest.json")
    files = sorted(f for f in os.listdir(out) if f != "manifest.json")
    if case in ("append-byte", "remove-file", "threads-2-only") and not files:
        # A capture without flows has only the manifest: alter that instead.
        files = ["manifest.json"]
    if case == "append-byte" or (case == "threads-2-only" and args[args.index("--threads") + 1] == "2"):
        with open(os.path.join(out, files[0]), "ab") as f:
            f.write(b"\n")
    elif case == "remove-file":
        os.remove(os.path.join(out, files[0]))
    elif case == "extra-file":
        open(os.path.join(out, "extra"), "wb").close()
    elif case == "exit-status":
        status = 1 if status == 0 else 0
    elif case == "stderr-line":
        sys.stderr.write("warning: something new\n")
    elif case == "conflicts-line" and "--conflicts" in args:
        with open(args[args.index("--conflicts") + 1], "a") as f:
            f.write("{}\n")
    elif case.startswith("manifest-") or case == "tool-version":
        with open(manifest) as f:
            text = f.read()
        if case == "tool-version":
            text = VERSION_RE.sub(r'\1"99.0.0-tampered"', text, count=1)
        elif case == "manifest-field":
            m = json.loads(text)
            m["totals"]["packets"] += 1
            text = json.dumps(m, indent=2) + "\n"
        elif case == "manifest-format":
            text = json.dumps(json.loads(text), indent=4) + "\n"
        elif case == "manifest-key-order":
            m = json.loads(text)
            m["options"] = dict(reversed(list(m["options"].items())))
            text = json.dumps(m, indent=2) + "\n"
        with open(manifest, "w") as f:
            f.write(text)
    return status


def self_test(before, threads, scratch, jobs, timeout, verbose):
    captures = [os.path.join(ROOT, "testdata/corpus", c) for c in (
        "zeek/tcp/reassembly.pcap",          # overlap conflicts
        "arkime/tcp-reassembly-synthetic.pcap",
        "dnscap/dns.pcap",                   # UDP only: no TCP flows
    )]
    captures = [c for c in captures if os.path.exists(c)]
    if not captures:
        sys.exit("self-test: the corpus captures it uses are missing")
    me = os.path.abspath(__file__)
    failed = 0
    for case, want in SELF_TEST_CASES:
        wrapper = [sys.executable, me, "--tamper", case, "--", before[-1]]
        opts = ["udp-conflicts"] if case == "conflicts-line" else list(OPTION_SETS)
        if case == "threads-2-only" and "2" not in threads[1:]:
            print(f"self-test skip {case}: needs --threads with 2 after the first value")
            continue
        lines = []

        class Collect:
            def write(self, s):
                lines.append(s)
                if verbose:
                    sys.stdout.write(s)

            def flush(self):
                pass

        case_dir = os.path.join(scratch, case)
        t = compare_all(before, wrapper, captures, opts, threads, case_dir, jobs, timeout, False, False,
                        out=Collect())
        shutil.rmtree(case_dir, ignore_errors=True)
        found = [ln for ln in "".join(lines).splitlines() if ln.startswith("DIFFERENT")]
        if want is None:
            ok = t["differences"] == 0
            shown = found[0] if found else None
        else:
            hits = [ln for ln in found if want in ln]
            ok = bool(hits)
            shown = hits[0] if hits else (found[0] if found else None)
        failed += not ok
        status = "ok  " if ok else "FAIL"
        what = "no difference expected" if want is None else f"expected a difference with {want!r}"
        print(f"self-test {status} {case}: {what}; got {t['differences']} differences in "
              f"{t['comparisons']} comparisons ({t['runs']} runs)"
              + (f"; e.g. {shown}" if shown else ""))
    print(f"self-test: {len(SELF_TEST_CASES) - failed} of {len(SELF_TEST_CASES)} cases as expected")
    return 1 if failed else 0


# ---------------------------------------------------------------- main


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--tamper":
        sys.exit(tamper(sys.argv[2:]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the reference streamcut binary")
    ap.add_argument("--after", help="the streamcut binary under test")
    ap.add_argument("--threads", default="1,2,3", help="comma-separated --threads values (default 1,2,3)")
    ap.add_argument("--options", default=",".join(OPTION_SETS),
                    help=f"comma-separated option sets (default all: {','.join(OPTION_SETS)})")
    ap.add_argument("--dir", help="scratch directory (default: a new temporary directory, in /dev/shm if it exists)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                    help="checks run at once (default 2, or 1 on one CPU)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one run may take (default 600)")
    ap.add_argument("--keep", action="store_true", help="keep every run directory (default: only differing ones)")
    ap.add_argument("--self-test", action="store_true",
                    help="check that the comparison catches known alterations of --before's output")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference and every check")
    ap.add_argument("captures", nargs="*", help="captures (default: every capture under testdata/)")
    args = ap.parse_args()

    threads = [t.strip() for t in args.threads.split(",") if t.strip()]
    if not threads or not all(t.isdigit() and int(t) > 0 for t in threads):
        ap.error("--threads takes positive integers, e.g. 1,2,3")
    optnames = [o.strip() for o in args.options.split(",") if o.strip()]
    unknown = [o for o in optnames if o not in OPTION_SETS]
    if unknown or not optnames:
        ap.error(f"unknown option set(s) {unknown}; known: {', '.join(OPTION_SETS)}")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    progs = {}
    for side in ("before", "after"):
        path = getattr(args, side)
        if path is None:
            continue
        path = os.path.abspath(path)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            ap.error(f"--{side} {path}: not an executable file")
        progs[side] = [path]
    if not args.self_test and "after" not in progs:
        ap.error("--after is required (or --self-test)")

    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
        scratch, own = os.path.abspath(args.dir), False
    else:
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        scratch, own = tempfile.mkdtemp(prefix="streamcut-same-output-", dir=shm), True

    if args.self_test:
        if args.captures or "after" in progs:
            ap.error("--self-test uses its own captures and wraps --before as --after")
        rc = self_test(progs["before"], threads, scratch, args.jobs, args.timeout, args.verbose)
        if own:
            shutil.rmtree(scratch, ignore_errors=True)
        sys.exit(rc)

    if args.captures:
        captures = [os.path.abspath(c) for c in args.captures]
        missing = [c for c in captures if not os.path.isfile(c)]
        if missing:
            ap.error(f"no such capture: {', '.join(missing)}")
    else:
        captures = find_captures(os.path.join(ROOT, "testdata"))
        if not captures:
            sys.exit(f"no captures found under {os.path.join(ROOT, 'testdata')}")

    t = compare_all(progs["before"], progs["after"], captures, optnames, threads, scratch, args.jobs,
                    args.timeout, args.keep, args.verbose)
    print(summary(t))
    if own and not args.keep and not t["differences"]:
        shutil.rmtree(scratch, ignore_errors=True)
    elif args.keep or t["differences"]:
        print(f"run directories in {scratch}")
    sys.exit(1 if t["differences"] else 0)


if __name__ == "__main__":
    main()
