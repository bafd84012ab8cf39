//! `streamcut live -o DIR [options] -- EAL-ARGS...`: capture from a DPDK
//! port into the same output as `extract` (one file per flow direction, or
//! `streams.bin`, and `manifest.json`).
//!
//! The output is an [`Output`], the object `extract` writes through: it is
//! created (directory checked, room for the manifest reserved) before EAL
//! starts; the engine runs the [`Job`] on the port's
//! [`PortSource`](super::PortSource) into it on the rx thread (see
//! [`super::capture`]); when the capture has stopped, the source drained
//! the queues and the engine flushed every flow, the manifest is written as
//! `extract` writes it, with the port (`dpdk:NAME`, format `dpdk`) as its
//! one input.
//!
//! An output error (a full disk) stops the capture as it stops `extract`:
//! the engine completes no more flows, the manifest is marked incomplete and
//! lists only the flows written in full, and [`run`] returns a
//! [`Stopped`](crate::output::Stopped) error.

use engine::Input;
use pcapread::LinkType;

use super::{LiveOptions, LiveOutcome, PortSummary};
use crate::job::Job;
use crate::manifest;
use crate::output::{Extracted, Output, OutputOptions};

/// Everything `streamcut live` needs.
#[derive(Debug, Clone)]
pub struct LiveCommand {
    /// Reassembly options, as for `extract` (its inputs are unused; its
    /// engine threads are the assembler workers, `--queues`).
    pub job: Job,
    /// Where and how to write, as for `extract`.
    pub output: OutputOptions,
    /// Port, queues, stop conditions, EAL arguments.
    pub live: LiveOptions,
}

/// What a live capture produced.
#[derive(Debug)]
pub struct LiveReport {
    /// Port, stop reason, port counters, the source's counters.
    pub outcome: LiveOutcome<()>,
    /// The engine's summary and the manifest's totals.
    pub output: Extracted,
}

/// Runs `streamcut live`.
pub fn run(cmd: &LiveCommand, quiet: bool) -> anyhow::Result<LiveReport> {
    let mut output = Output::create(&cmd.output)?;
    let mut job = cmd.job.clone();
    // No progress bar: a port has no length.
    job.progress = false;
    // The first signal asks for a clean stop; a second one, while the
    // flush is running, exits at once with status 130.
    let signal = crate::interrupt::install()?;
    // The capture's own stop control watches the flag, not the engine.
    job.interrupt = None;
    let workers = job.engine.threads;
    let started = |p: &PortSummary| {
        if !quiet {
            let rss = if p.rss { " with RSS" } else { "" };
            let spread = if workers > 1 {
                format!(", software hashing to {workers} workers")
            } else {
                String::new()
            };
            eprintln!(
                "streamcut live: capturing on port {} ({}, {}), {} rx queue(s){rss}{spread}, times from {}",
                p.port,
                p.name,
                p.driver,
                p.rx_queues,
                if p.driver_timestamps {
                    "the driver"
                } else {
                    "the clock"
                },
            );
        }
    };
    let out = &mut output;
    let outcome = super::capture(&cmd.live, signal, started, move |source| {
        out.run(&job, Input::Frames(Box::new(source)))
    })?;
    let LiveOutcome {
        port,
        reason,
        stats,
        frames,
        source,
        run: ran,
    } = outcome;
    let name = port.name.clone();
    let written = output.finish(&cmd.job.engine, ran, |summary| {
        vec![manifest::Input {
            path: format!("dpdk:{name}"),
            format: "dpdk".to_string(),
            compression: "none".to_string(),
            size: None,
            sha256: None,
            link_types: vec![LinkType::ETHERNET.name()],
            frames: summary.frames,
            problems: Vec::new(),
        }]
    })?;
    Ok(LiveReport {
        outcome: LiveOutcome {
            port,
            reason,
            stats,
            frames,
            source,
            run: (),
        },
        output: written,
    })
}

/// Prints the end-of-capture summary (port counters included) to stderr.
pub fn print_summary(report: &LiveReport, out_dir: &std::path::Path) {
    let o = &report.outcome;
    let t = &report.output.totals;
    let s = &o.source;
    eprintln!(
        "streamcut live: port {} ({}) stopped by {}",
        o.port.port,
        o.port.name,
        o.reason.as_str()
    );
    eprintln!(
        "streamcut live: port statistics: received {}, missed {}, errors {}, no mbuf {}",
        o.stats.received, o.stats.missed, o.stats.errors, o.stats.no_mbuf
    );
    eprintln!(
        "streamcut live: {} frames processed ({} chained, {} past --count), {} flows, {} bytes written to {}",
        s.frames,
        s.chained,
        s.dropped,
        t.flows,
        t.bytes,
        out_dir.display()
    );
    if s.frames > 0 && !s.active.is_zero() {
        eprintln!(
            "streamcut live: {:.3} s from first to last packet, {:.0} frames/s",
            s.active.as_secs_f64(),
            s.frames as f64 / s.active.as_secs_f64()
        );
    }
}
