//! SIGINT (Ctrl-C) and SIGTERM: the first asks for a clean stop, a second
//! one exits at once.
//!
//! [`install`] registers both signals once per process (with `signal-hook`)
//! and returns the flag the first signal raises. The reading commands
//! (`extract`, `flows`, `follow`, `stats`) hand it to the engine
//! ([`engine::Engine::interrupt`]): reading stops, what was read is
//! processed and every open flow completed as at the end of the input, the
//! output is written (for `extract`, `manifest.json` marked incomplete with
//! `"error": "interrupted"`), and the command exits with status 1. `live`
//! watches the same flag to stop its capture.
//!
//! A second signal, while that is going on, exits at once with status 130
//! (the shell's status for an interrupted command), after removing the
//! files registered with `remove_on_exit` (the output directory's room
//! for the manifest), so an abrupt exit leaves no 1 MiB placeholder behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Exit status after a second signal.
pub const EXIT_INTERRUPTED: i32 = 130;

/// The manifest's `error` of an interrupted run.
pub const INTERRUPTED: &str = "interrupted";

/// The process's flag, once installed.
static FLAG: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// Files removed before an exit on a second signal.
static CLEANUP: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Install the SIGINT/SIGTERM handling (once per process; later calls return
/// the same flag): the flag a first signal raises.
pub fn install() -> anyhow::Result<Arc<AtomicBool>> {
    let mut installed = FLAG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(flag) = &*installed {
        return Ok(Arc::clone(flag));
    }
    let mut signals =
        Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT/SIGTERM handler")?;
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    std::thread::Builder::new()
        .name("streamcut-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if raised.swap(true, Ordering::SeqCst) {
                    exit_now();
                }
                eprintln!(
                    "streamcut: interrupted: finishing what was read (interrupt again to exit at once)"
                );
            }
        })
        .context("starting the signal thread")?;
    *installed = Some(Arc::clone(&flag));
    Ok(flag)
}

/// Remove `path` if a second signal ends the process.
pub(crate) fn remove_on_exit(path: &Path) {
    if let Ok(mut paths) = CLEANUP.lock() {
        paths.push(path.to_path_buf());
    }
}

/// `path` no longer needs removing (it was removed in order).
pub(crate) fn forget(path: &Path) {
    if let Ok(mut paths) = CLEANUP.lock() {
        paths.retain(|p| p != path);
    }
}

/// The second signal: remove the registered files and exit.
fn exit_now() -> ! {
    if let Ok(paths) = CLEANUP.lock() {
        for p in paths.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
    eprintln!(
        "streamcut: interrupted again: exiting at once; the output is partial and has no manifest"
    );
    std::process::exit(EXIT_INTERRUPTED);
}
