//! The progress bar: on standard error, only when it is a terminal, and only
//! once a run has lasted a moment (short runs print nothing).
//!
//! Wall-clock time is used here to decide whether to draw, never for output.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before the bar appears.
const DELAY: Duration = Duration::from_millis(750);

/// A lazily shown progress bar over the input bytes.
pub(crate) struct Progress {
    enabled: bool,
    start: Instant,
    total: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over `total` input bytes, shown only if `wanted` and standard error
    /// is a terminal.
    pub(crate) fn new(wanted: bool, total: u64) -> Progress {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
            start: Instant::now(),
            total,
            bar: None,
        }
    }

    /// The run is over: remove the bar.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The engine tells the bar every 4096 frames.
impl engine::Progress for Progress {
    fn update(&mut self, number: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.start.elapsed() >= DELAY {
            let bar = ProgressBar::with_draw_target(
                Some(self.total.max(1)),
                ProgressDrawTarget::stderr(),
            )
            .with_elapsed(self.start.elapsed());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(bytes.min(self.total));
            bar.set_message(format!("{number} frames"));
        }
    }
}
