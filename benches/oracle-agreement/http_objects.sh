#!/usr/bin/env bash
# Record tshark's HTTP objects for every capture under testdata/corpus in
# which tshark finds HTTP: for each, writes
#   testdata/corpus/_oracle/tshark-4.0.17/<capture>/http-objects.tsv
# with one line per object tshark's `--export-objects http` saves: its file
# name, size and SHA-256 (the bodies themselves are not kept). Run from the
# repository root with tshark 4.0.17 (Debian bookworm's) on the PATH.
set -euo pipefail
root=testdata/corpus
oracle=$root/_oracle/tshark-4.0.17
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find "$root" -path "$oracle" -prune -o -type f \
    \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.pcap.gz' \) -print |
    sort | while read -r cap; do
    rel=${cap#"$root"/}
    if [ -z "$(tshark -r "$cap" -Y http -T fields -e frame.number 2>/dev/null </dev/null | head -1)" ]; then
        continue
    fi
    rm -rf "$tmp/out" && mkdir "$tmp/out"
    tshark -r "$cap" -q --export-objects "http,$tmp/out" >/dev/null 2>&1 </dev/null || true
    mkdir -p "$oracle/$rel"
    {
        printf 'name\tbytes\tsha256\n'
        (cd "$tmp/out" && find . -type f -printf '%P\n' | LC_ALL=C sort | while read -r f; do
            printf '%s\t%s\t%s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
        done)
    } >"$oracle/$rel/http-objects.tsv"
    echo "$rel: $(($(wc -l <"$oracle/$rel/http-objects.tsv") - 1)) objects"
done
