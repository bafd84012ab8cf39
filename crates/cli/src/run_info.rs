//! `run.json`: what an analyst cites about a run that the manifest must not
//! hold — the command line, the wall-clock start and end, the version. It
//! differs from run to run, so it lives apart from `manifest.json` (which
//! stays a function of the inputs and options, byte-identical between runs
//! and after `merge`). Written at the end, through a temporary file renamed
//! into place, just before the flow list and the manifest.

use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::manifest::Tool;
use crate::timefmt::rfc3339;

/// Name of the run metadata file in the output directory.
pub const RUN_FILE: &str = "run.json";

/// The contents of `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The tool that ran.
    pub tool: Tool,
    /// The command line, program name first (arguments that are not UTF-8
    /// are shown with U+FFFD in their place).
    pub command_line: Vec<String>,
    /// When the run started, wall clock, RFC 3339 UTC.
    pub start_time: String,
    /// When it ended (just before this file was written).
    pub end_time: String,
    /// Wall time from start to end, ns (a monotonic clock).
    pub elapsed_ns: u64,
    /// `merge`: the `run.json` of each shard, in the order given (null for
    /// a shard without one); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Vec<Option<serde_json::Value>>>,
}

/// A run's start.
#[derive(Debug, Clone)]
pub struct Started {
    wall: SystemTime,
    clock: Instant,
}

fn ns_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Started {
    /// Now.
    pub fn now() -> Started {
        Started {
            wall: SystemTime::now(),
            clock: Instant::now(),
        }
    }

    /// The run's metadata as of now.
    pub fn info(&self, shards: Option<Vec<Option<serde_json::Value>>>) -> RunInfo {
        let elapsed = self.clock.elapsed();
        RunInfo {
            tool: Tool::this(),
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            start_time: rfc3339(ns_since_epoch(self.wall)),
            end_time: rfc3339(ns_since_epoch(SystemTime::now())),
            elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            shards,
        }
    }
}

/// Write `info` as `dir/run.json` (pretty JSON, trailing newline) through a
/// temporary file renamed into place; on an error the temporary file is
/// removed.
pub fn write(dir: &Path, info: &RunInfo) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{RUN_FILE}.tmp"));
    let path = dir.join(RUN_FILE);
    let write = || -> anyhow::Result<()> {
        let mut w = BufWriter::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        serde_json::to_writer_pretty(&mut w, info)?;
        w.write_all(b"\n")?;
        w.flush()
            .with_context(|| format!("writing {}", tmp.display()))?;
        drop(w);
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The `run.json` in `dir`, parsed, if there is one.
pub fn read(dir: &Path) -> Option<serde_json::Value> {
    let text = fs::read(dir.join(RUN_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}
