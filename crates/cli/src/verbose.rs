//! `-v` and `-vv`: what a command did, on standard error, after it ran.
//!
//! `-v` prints one line for every command that reads captures: frames read,
//! flows, packets and bytes in them, and the run's wall time (`extract`
//! also names the output directory). `-vv` adds one line per input (format,
//! compression, link types, frames, problems), what was dropped before
//! reassembly (`--filter`, `--flows`, UDP without `--udp`, frames that
//! yielded no segment) and the assemblers' high-water marks (open
//! connections, buffered pages), for a user sizing a big run. Standard
//! output is never touched, so `-v` can be combined with `--json` or
//! `--as bin`.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use engine::Summary;

use crate::manifest::{self, Totals};

/// `n thing` or `n things`.
pub fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("{n} {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The lines `-v` (`level` 1) or `-vv` (2 and more) prints after `command`
/// ran for `took`; `output` is `extract`'s directory.
pub fn report(
    command: &str,
    summary: &Summary,
    totals: &Totals,
    output: Option<&Path>,
    took: Duration,
    level: u8,
) -> String {
    let mut s = String::new();
    if level == 0 {
        return s;
    }
    let _ = write!(
        s,
        "streamcut {command}: {} read, {} ({} tcp, {} udp), {} in {}",
        plural(summary.frames, "frame"),
        plural(totals.flows, "flow"),
        totals.tcp_flows,
        totals.udp_flows,
        plural(totals.bytes, "byte"),
        plural(totals.packets, "packet"),
    );
    if let Some(dir) = output {
        let _ = write!(s, " written to {}", dir.display());
    }
    let _ = writeln!(s, " in {:.3} s", took.as_secs_f64());
    if level < 2 {
        return s;
    }
    for i in manifest::inputs(summary) {
        let _ = writeln!(
            s,
            "streamcut {command}:   input {}: {}, compression {}, link types {}, {}, {}",
            i.path,
            i.format,
            i.compression,
            if i.link_types.is_empty() {
                "none".to_string()
            } else {
                i.link_types.join(",")
            },
            plural(i.frames, "frame"),
            plural(i.problems.len() as u64, "problem"),
        );
    }
    let skipped: u64 = summary.decode.skipped.values().sum();
    let _ = writeln!(
        s,
        "streamcut {command}:   dropped before reassembly: {} by --filter, {} of flows not in --flows, {} (no --udp), {} without a segment",
        plural(summary.filtered_out, "frame"),
        plural(summary.deselected, "segment"),
        plural(summary.udp_ignored, "udp datagram"),
        plural(skipped, "frame"),
    );
    let a = &summary.assembler;
    let _ = writeln!(
        s,
        "streamcut {command}:   assemblers: {}, {}, high water {} and {} (per worker, summed), {}, {}",
        plural(a.segments, "segment"),
        plural(a.connections, "connection"),
        plural(a.connections_high_water as u64, "open connection"),
        plural(a.pages_high_water as u64, "buffered page"),
        plural(totals.gaps, "gap"),
        plural(totals.conflicts, "conflict"),
    );
    if summary.interrupted {
        let _ = writeln!(
            s,
            "streamcut {command}:   interrupted before the end of the input"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_flow_many_flows() {
        assert_eq!(plural(1, "flow"), "1 flow");
        assert_eq!(plural(0, "flow"), "0 flows");
        assert_eq!(plural(2, "flow"), "2 flows");
    }
}
