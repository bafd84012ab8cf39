//! `streamcut flows`: every flow, reassembled fully but with no stream bytes
//! written, as a table for people or as JSON lines (the manifest's flow
//! objects without their `file` fields).

use std::io::Write;

use crate::engine::{self, EngineOptions, Summary};
use crate::flow::FlowRecord;
use crate::manifest::{Flow, Placement};
use crate::sink::NullSink;

/// Run `flows`, printing to `out`.
pub fn run(opts: &EngineOptions, json: bool, out: &mut dyn Write) -> anyhow::Result<Summary> {
    let summary = engine::run(opts, &mut NullSink)?;
    if json {
        for r in &summary.flows {
            let flow = Flow::new(r, |_| Placement::Unwritten);
            serde_json::to_writer(&mut *out, &flow)?;
            out.write_all(b"\n")?;
        }
    } else {
        out.write_all(table(&summary.flows).as_bytes())?;
    }
    Ok(summary)
}

const HEADERS: [&str; 9] = [
    "ID", "PROTO", "CLIENT", "SERVER", "PACKETS", "C2S", "S2C", "GAPS", "END",
];

/// The flows as an aligned text table (numbers right-aligned).
pub fn table(flows: &[FlowRecord]) -> String {
    let rows: Vec<[String; 9]> = flows
        .iter()
        .map(|r| {
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
                r.end.as_str().to_string(),
            ]
        })
        .collect();
    let mut width = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let numeric = [true, false, false, false, true, true, true, true, false];
    let mut s = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let w = width[i];
            if numeric[i] {
                l.push_str(&format!("{cell:>w$}"));
            } else {
                l.push_str(&format!("{cell:<w$}"));
            }
        }
        s.push_str(l.trim_end());
        s.push('\n');
    };
    line(&HEADERS);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    s
}
