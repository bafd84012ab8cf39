//! The examples `--help` shows after the options, for the program and for
//! each command (`after_help`), and so also the man pages' last section.
//!
//! Every line of an `Examples:` section that starts with `streamcut` is a
//! command a test parses (the part before a pipe or redirection), so an
//! example that stops matching the options fails the build's tests.

/// `streamcut --help`.
pub const PROGRAM: &str = "\
Examples:
  Extract every TCP stream (one file per direction) and DIR/manifest.json:
    streamcut extract capture.pcap -o out/
  A rotated capture set, UDP too, only web and DNS traffic:
    streamcut extract ring-*.pcap.gz --udp --filter 'tcp port 80 or udp port 53' -o out/
  Millions of flows: one packed streams.bin instead of one file per direction:
    streamcut extract big.pcapng --layout packed -o out/
  List flows as a table, or as JSON lines:
    streamcut flows capture.pcapng
    streamcut flows capture.pcapng --json | jq -c 'select(.s2c.bytes > 1000)'
  Show one conversation as a transcript (like tshark -z follow,tcp,ascii):
    streamcut follow capture.pcap --flow 4
  Formats, link types, skipped frames and the byte ledger:
    streamcut stats capture.pcap
  More than one machine: shard K of N on each, then join the N directories:
    streamcut extract day/*.pcap --shard 0/4 -o part0/
    streamcut merge part0/ part1/ part2/ part3/ -o out/

Each command has its own examples (streamcut COMMAND --help) and manual page
(streamcut man COMMAND).

Exit status: 0 success; 1 input problems (damaged or unreadable captures;
partial output written, problems listed); 2 usage or fatal error.
The manifest schema and file naming are described in docs/cli.md.";

/// `streamcut extract --help`.
pub const EXTRACT: &str = "\
Examples:
  Every TCP stream, one file per direction, and out/manifest.json:
    streamcut extract capture.pcap -o out/
  A rotated capture set, UDP too, whole connections to or from port 443:
    streamcut extract ring-*.pcap.gz --udp --flows 'port 443' -o out/
  Millions of flows into one packed streams.bin, zeros where bytes are missing:
    streamcut extract big.pcapng --layout packed --gaps zero -o out/";

/// `streamcut merge --help`.
pub const MERGE: &str = "\
Examples:
  Join the four directories of `extract --shard K/4` runs (K = 0..3) into
  what one extract run writes, byte for byte:
    streamcut merge part0/ part1/ part2/ part3/ -o out/
  The same, moving the stream files instead of hard-linking them:
    streamcut merge part0/ part1/ part2/ part3/ -o out/ --move";

/// `streamcut flows --help`.
pub const FLOWS: &str = "\
Examples:
  A table of TCP flows: id, endpoints, packets, bytes, gaps, how each ended:
    streamcut flows capture.pcap
  UDP too, as JSON lines; the flows whose server sent more than 1000 bytes:
    streamcut flows capture.pcap --udp --json | jq -c 'select(.s2c.bytes > 1000)'
  Only the flows of one host, without the SHA-256 of each direction:
    streamcut flows capture.pcap --flows 'host 10.0.0.1' --no-digest";

/// `streamcut follow --help`.
pub const FOLLOW: &str = "\
Examples:
  The transcript of flow 4 (ids as `streamcut flows` lists them):
    streamcut follow capture.pcap --flow 4
  Two flows, one given by its endpoints, as a hex dump:
    streamcut follow capture.pcap --flow 4 --flow 10.0.0.2:51234-10.0.0.1:443 --as hex
  The exact bytes the server sent in flow 4, into another tool:
    streamcut follow capture.pcap --flow 4 --dir s2c --as bin | file -";

/// `streamcut stats --help`.
pub const STATS: &str = "\
Examples:
  Formats, link types, skipped frames and the byte ledger:
    streamcut stats capture.pcap
  UDP flows too, as one JSON object:
    streamcut stats capture.pcap --udp --json
  How many frames a filter keeps, on a rotated set:
    streamcut stats ring-*.pcap.gz --filter 'tcp port 80'";

/// `streamcut live --help`.
#[cfg(feature = "dpdk")]
pub const LIVE: &str = "\
Examples:
  Replay a capture as a port (DPDK's net_pcap), stop after 300 ms without packets:
    streamcut live -o out/ --idle-exit 300ms -- --no-huge --no-pci -l 0 --vdev=net_pcap0,rx_pcap=capture.pcap
  Four rx queues of a NIC spread over four workers, UDP too (as root):
    streamcut live -o out/ --queues 4 --udp -- -l 0-4 -a 0000:3b:00.0
See docs/live.md for setting up DPDK.";

/// `streamcut completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  Bash, for every user (as root):
    streamcut completions bash > /etc/bash_completion.d/streamcut
  Zsh, into a directory listed in $fpath:
    streamcut completions zsh > ~/.zfunc/_streamcut";

/// `streamcut man --help`.
pub const MAN: &str = "\
Examples:
  The overview page, which lists every command's page:
    streamcut man > streamcut.1
  The page of one command, with all its options:
    streamcut man extract > streamcut-extract.1
  Read a page without installing it:
    streamcut man follow | man -l -";
