//! `streamcut stats`: what the inputs hold and what reassembly made of them —
//! formats, link types, frames decoded and skipped by reason, flows by how
//! they ended, ledger totals and conflicts — as text or one JSON object.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use engine::{NullSink, Summary};

use crate::job::Job;
use crate::manifest::{self, Input, LedgerOut, Totals};

/// The `stats --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Inputs as in the manifest.
    pub inputs: Vec<Input>,
    /// Frames read.
    pub frames: u64,
    /// Frames the filter rejected.
    pub filtered_out: u64,
    /// Frames decoded, per link type name.
    pub link_types: BTreeMap<String, u64>,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// UDP datagrams decoded.
    pub udp_datagrams: u64,
    /// Segments rebuilt from IP fragments.
    pub defragmented: u64,
    /// UDP datagrams skipped because UDP was not asked for.
    pub udp_ignored: u64,
    /// Segments of flows `--flows` did not select.
    pub deselected: u64,
    /// Frames that yielded no segment, per reason.
    pub skipped: BTreeMap<String, u64>,
    /// Flows by how they ended.
    pub ends: BTreeMap<String, u64>,
    /// Flow and ledger totals (as in the manifest).
    pub totals: Totals,
}

impl Stats {
    /// The statistics of a run.
    pub fn new(summary: &Summary) -> anyhow::Result<Stats> {
        let mut ends = BTreeMap::new();
        for r in summary.records() {
            *ends.entry(r?.end.as_str().to_string()).or_insert(0) += 1;
        }
        let d = &summary.decode;
        Ok(Stats {
            inputs: manifest::inputs(summary),
            frames: summary.frames,
            filtered_out: summary.filtered_out,
            link_types: d.link_types.iter().map(|(l, n)| (l.name(), *n)).collect(),
            tcp_segments: d.tcp_segments,
            udp_datagrams: d.udp_datagrams,
            defragmented: d.defragmented,
            udp_ignored: summary.udp_ignored,
            deselected: summary.deselected,
            skipped: d.skipped.iter().map(|(k, n)| (k.name(), *n)).collect(),
            ends,
            totals: manifest::record_totals(summary, |_| true)?,
        })
    }

    /// The text report.
    pub fn text(&self) -> String {
        let mut s = String::new();
        // At least one space between a key and its value, however long the key.
        let mut kv = |k: &str, v: String| s.push_str(&format!("{k:<22} {v}\n"));
        for i in &self.inputs {
            kv(
                "input",
                format!(
                    "{} ({}, {}, {}; {} frames)",
                    i.path,
                    i.format,
                    i.compression,
                    if i.link_types.is_empty() {
                        "no link type".to_string()
                    } else {
                        i.link_types.join(",")
                    },
                    i.frames
                ),
            );
            for p in &i.problems {
                let at = p
                    .offset
                    .map(|o| format!(" at byte {o}"))
                    .unwrap_or_default();
                kv("  problem", format!("{}{at}", p.message));
            }
        }
        kv("frames", self.frames.to_string());
        for (l, n) in &self.link_types {
            kv(&format!("  link type {l}"), n.to_string());
        }
        if self.filtered_out > 0 {
            kv("filtered out", self.filtered_out.to_string());
        }
        kv("tcp segments", self.tcp_segments.to_string());
        kv("udp datagrams", self.udp_datagrams.to_string());
        kv("defragmented", self.defragmented.to_string());
        if self.udp_ignored > 0 {
            kv("udp ignored (no --udp)", self.udp_ignored.to_string());
        }
        if self.deselected > 0 {
            kv("not in --flows", self.deselected.to_string());
        }
        let skipped: u64 = self.skipped.values().sum();
        kv("skipped frames", skipped.to_string());
        for (k, n) in &self.skipped {
            kv(&format!("  {k}"), n.to_string());
        }
        let t = &self.totals;
        kv(
            "flows",
            format!("{} (tcp {}, udp {})", t.flows, t.tcp_flows, t.udp_flows),
        );
        for (k, n) in &self.ends {
            kv(&format!("  end {k}"), n.to_string());
        }
        kv("packets in flows", t.packets.to_string());
        if t.late_packets > 0 {
            kv(
                "late packets",
                format!(
                    "{} ({} bytes) after a clean close",
                    t.late_packets, t.late_bytes
                ),
            );
        }
        kv("bytes out", t.bytes.to_string());
        let LedgerOut {
            captured,
            delivered,
            duplicate,
            overlap_lost,
            out_of_window,
            after_close,
            evicted,
            keep_alive,
            missing,
            cap_flushes,
            ignored_syns,
        } = t.ledger;
        kv("ledger captured", captured.to_string());
        for (k, v) in [
            ("delivered", delivered),
            ("duplicate", duplicate),
            ("overlap lost", overlap_lost),
            ("out of window", out_of_window),
            ("after close", after_close),
            ("evicted", evicted),
            ("keep-alive", keep_alive),
        ] {
            kv(&format!("  {k}"), v.to_string());
        }
        kv("missing", format!("{missing} bytes in {} gaps", t.gaps));
        kv("cap flushes", cap_flushes.to_string());
        kv("ignored syns", ignored_syns.to_string());
        kv("conflicts", t.conflicts.to_string());
        s
    }
}

/// Run `stats`, printing to `out`.
pub fn run(job: &Job, json: bool, out: &mut dyn Write) -> anyhow::Result<Summary> {
    let summary = job.run(&mut NullSink)?;
    let stats = Stats::new(&summary)?;
    if json {
        serde_json::to_writer_pretty(&mut *out, &stats)?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(stats.text().as_bytes())?;
    }
    Ok(summary)
}
