//! `streamcut flows`: every flow, reassembled fully but with no stream bytes
//! written, as a table for people or as JSON lines: the manifest's flow
//! objects of `extract` with the same options (files layout), the `file`
//! fields naming the files `extract` would write, relative to its output
//! directory.

use std::io::Write;

use crate::manifest::Totals;
use engine::{FlowRecord, NullSink, Placement, Summary};
use reassembly::Dir;
use serde_json::ser::CompactFormatter;

use crate::job::Job;
use crate::naming::{Namer, Naming};

/// Run `flows`, printing to `out`; JSON lines name files as `naming` does.
/// The run's summary, and its totals when they were counted on the way
/// (JSON lines: the summary keeps no records then).
pub fn run(
    job: &Job,
    json: bool,
    naming: Naming,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<(Summary, Option<Totals>)> {
    if json {
        // Lines are written as the engine hands the records over, in id
        // order, on a thread beside the reassembly (the namer sees every
        // flow in id order, as extract's does).
        let mut namer = Namer::new(naming);
        let mut totals = Totals::default();
        // Each line is built in one buffer and written at once.
        let mut line = Vec::with_capacity(2048);
        let mut each = |r: &FlowRecord| -> anyhow::Result<()> {
            let [c2s, s2c] = namer.names(&r.head);
            let place =
                |d: Dir, name: String| Placement::File((r.dir(d).bytes > 0).then_some(name));
            let placed = [
                place(Dir::ClientToServer, c2s),
                place(Dir::ServerToClient, s2c),
            ];
            line.clear();
            crate::flow_json::write_flow(&mut line, &mut CompactFormatter, r, placed)?;
            line.push(b'\n');
            out.write_all(&line)?;
            totals.add(r);
            Ok(())
        };
        let summary = job.run_each(&mut NullSink, &mut each)?;
        let totals = totals.with_run(&summary);
        Ok((summary, Some(totals)))
    } else {
        let summary = job.run(&mut NullSink)?;
        write_table(&summary, out)?;
        Ok((summary, None))
    }
}

const HEADERS: [&str; 10] = [
    "ID", "PROTO", "CLIENT", "SERVER", "PACKETS", "C2S", "S2C", "GAPS", "DURATION", "END",
];

/// Which columns are numbers (right-aligned).
const NUMERIC: [bool; 10] = [
    true, false, false, false, true, true, true, true, true, false,
];

/// Seconds with millisecond precision (`12.034`), rounded down.
fn seconds(ns: u64) -> String {
    format!(
        "{}.{:03}",
        ns / 1_000_000_000,
        ns % 1_000_000_000 / 1_000_000
    )
}

/// A flow's table cells.
fn row(r: &FlowRecord) -> [String; 10] {
    [
        r.head.id.to_string(),
        r.head.proto.to_string(),
        r.head.client.to_string(),
        r.head.server.to_string(),
        (r.c2s.packets + r.s2c.packets).to_string(),
        r.c2s.bytes.to_string(),
        r.s2c.bytes.to_string(),
        (r.c2s.ledger.gaps.len() as u64
            + r.c2s.ledger.gaps_unlisted
            + r.s2c.ledger.gaps.len() as u64
            + r.s2c.ledger.gaps_unlisted)
            .to_string(),
        seconds(r.last_ts.saturating_sub(r.head.first_ts)),
        r.end.as_str().to_string(),
    ]
}

/// Write the flows as an aligned text table (numbers right-aligned): one
/// pass for the column widths, one to print, so no more than one row is
/// held at a time.
pub fn write_table(summary: &Summary, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut width = HEADERS.map(str::len);
    for r in summary.records() {
        for (w, cell) in width.iter_mut().zip(row(&*r?)) {
            *w = (*w).max(cell.len());
        }
    }
    let mut line = |cells: &[&str]| -> std::io::Result<()> {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let w = width[i];
            if NUMERIC[i] {
                l.push_str(&format!("{cell:>w$}"));
            } else {
                l.push_str(&format!("{cell:<w$}"));
            }
        }
        out.write_all(l.trim_end().as_bytes())?;
        out.write_all(b"\n")
    };
    line(&HEADERS)?;
    for r in summary.records() {
        let cells = row(&*r?);
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        line(&cells)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds() {
        assert_eq!(seconds(0), "0.000");
        assert_eq!(seconds(1_002_000_000), "1.002");
        assert_eq!(seconds(59_999_999), "0.059");
        assert_eq!(seconds(3_600_000_000_000), "3600.000");
    }
}
