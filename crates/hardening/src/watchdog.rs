//! Run work under a deadline: a hang becomes a test failure naming the input
//! instead of a CI job that never ends.

use std::sync::mpsc;
use std::time::Duration;

/// Run `f` on a fresh thread and wait at most `deadline` for it. A panic in
/// `f` is re-raised here; when the deadline passes first, this panics with
/// `what` (the stuck thread is left behind: the test process is failing anyway).
pub fn with_deadline<T: Send + 'static>(
    what: &str,
    deadline: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("deadline:{what}"))
        .spawn(move || {
            let out = f();
            // The receiver only goes away after a timeout, when nobody listens.
            tx.send(()).ok();
            out
        })
        .unwrap_or_else(|e| panic!("cannot start a thread for {what}: {e}"));
    match rx.recv_timeout(deadline) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {deadline:?} (hang or unbounded work)")
        }
    }
}
