//! The single exit path of the binary: parse arguments, run one command,
//! report, and map the outcome to an exit status.
//!
//! Exit status: 0 success; 1 partial output described by a manifest marked
//! incomplete: input problems (a capture was damaged or could not be read:
//! everything before the damage was processed, output written, problems
//! listed on standard error and in the manifest), an output error that
//! stopped `extract` part way (a full disk), or an interrupt (SIGINT or
//! SIGTERM: reading stopped, what was read was processed and written, the
//! manifest marked incomplete with `"error": "interrupted"`; a second signal
//! exits at once with status 130, see [`crate::interrupt`]); 2 usage or
//! fatal error (bad arguments, a filter that does not compile, an output
//! directory that cannot be used, an output error after which not even the
//! manifest could be written). Errors print with their whole cause chain. A closed standard
//! output (`streamcut flows x | head`) ends the run quietly with status 0.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use engine::Summary;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything was read.
    Success,
    /// Some input could not be read to its end (exit status 1).
    InputProblems,
    /// An output error stopped the run; the manifest, marked incomplete,
    /// describes what was written (exit status 1).
    Partial,
    /// A signal stopped the reading; what was read was processed and
    /// written (exit status 1).
    Interrupted,
}

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status when inputs had problems.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit status for usage and fatal errors.
pub const EXIT_ERROR: u8 = 2;

/// Run the program with the process's arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0, usage errors to
            // stderr with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_ERROR));
        }
    };
    // Combinations clap cannot check alone are usage errors too.
    if let Command::Follow(a) = &cli.command {
        if let Err(e) = a.options() {
            let _ = e.print();
            return ExitCode::from(EXIT_ERROR);
        }
    }
    ExitCode::from(exit_status(run(&cli)))
}

/// The exit status for a command's outcome, reporting errors on standard error.
pub fn exit_status(outcome: anyhow::Result<Status>) -> u8 {
    match outcome {
        Ok(Status::Success) => EXIT_OK,
        Ok(Status::InputProblems | Status::Partial | Status::Interrupted) => EXIT_PROBLEMS,
        Err(e) if is_broken_pipe(&e) => EXIT_OK,
        Err(e) => {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "streamcut: error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
            EXIT_ERROR
        }
    }
}

/// Whether the error comes from writing to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = c
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// `-v`/`-vv`: the summary of a reading command on standard error (see
/// [`crate::verbose`]); `totals` when the command has them already.
fn verbose(
    cli: &Cli,
    command: &str,
    summary: &Summary,
    totals: Option<&crate::manifest::Totals>,
    output: Option<&std::path::Path>,
) {
    if cli.verbose == 0 {
        return;
    }
    let totals = match totals {
        Some(t) => t.clone(),
        None => crate::manifest::record_totals(summary, |_| true).unwrap_or_default(),
    };
    let took = START.get().map(|t| t.elapsed()).unwrap_or_default();
    let text = crate::verbose::report(command, summary, &totals, output, took, cli.verbose);
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// When the command started (for `-v`'s wall time).
static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Run the command `cli` names.
pub fn run(cli: &Cli) -> anyhow::Result<Status> {
    let _ = START.set(std::time::Instant::now());
    // Not locked for the whole run: `flows --json` writes from the thread
    // the engine hands the records to.
    let mut out = BufWriter::new(io::stdout());
    let status = match &cli.command {
        Command::Extract(a) => {
            let mut opts = a.options()?;
            opts.job.progress = !cli.quiet;
            opts.job.interrupt = Some(crate::interrupt::install()?);
            let x = match crate::extract::run(&opts) {
                Ok(x) => x,
                Err(e) => return stopped(e),
            };
            verbose(
                cli,
                "extract",
                &x.summary,
                Some(&x.totals),
                Some(&opts.output.dir),
            );
            report(&x.summary)
        }
        Command::Flows(a) => {
            let mut job = a.common.job()?;
            job.progress = !cli.quiet;
            job.interrupt = Some(crate::interrupt::install()?);
            job.engine.digest = !a.no_digest;
            job.engine.shard = a.shard;
            let (s, totals) = crate::list::run(&job, a.json, a.naming.naming(), &mut out)?;
            verbose(cli, "flows", &s, totals.as_ref(), None);
            report(&s)
        }
        Command::Follow(a) => {
            let mut job = a.common.job()?;
            job.progress = !cli.quiet;
            job.interrupt = Some(crate::interrupt::install()?);
            let follow = a.options()?;
            let s = crate::follow::run(&job, &follow, a.format.into(), &mut out)?;
            verbose(cli, "follow", &s, None, None);
            report(&s)
        }
        Command::Stats(a) => {
            let mut job = a.common.job()?;
            job.progress = !cli.quiet;
            job.interrupt = Some(crate::interrupt::install()?);
            let s = crate::stats::run(&job, a.json, &mut out)?;
            verbose(cli, "stats", &s, None, None);
            report(&s)
        }
        Command::Merge(a) => {
            let m = crate::merge::run(&crate::merge::MergeOptions {
                shards: a.shards.clone(),
                output: a.output.clone(),
                move_files: a.move_files,
            })?;
            if cli.verbose > 0 {
                eprintln!(
                    "streamcut: {} shards merged: {} flows in {}",
                    m.shards,
                    m.flows,
                    a.output.display()
                );
            }
            if m.complete {
                Status::Success
            } else {
                // As one run would: the inputs had problems (the manifest
                // lists them).
                Status::InputProblems
            }
        }
        #[cfg(feature = "dpdk")]
        Command::Live(a) => {
            let cmd = a.command()?;
            let report = match crate::live::command::run(&cmd, cli.quiet) {
                Ok(r) => r,
                Err(e) => return stopped(e),
            };
            if !cli.quiet {
                crate::live::command::print_summary(&report, &cmd.output.dir);
            }
            Status::Success
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "streamcut", &mut out);
            Status::Success
        }
        Command::Man { command } => {
            crate::manpage::render(command.as_deref(), &mut out)?;
            Status::Success
        }
    };
    out.flush()?;
    Ok(status)
}

/// An extraction (or live capture) that failed: a [`Stopped`](crate::output::Stopped) one
/// reports the error, what the output directory holds and any input
/// problems, with status 1 when its manifest was written; anything else is a
/// fatal error.
fn stopped(e: anyhow::Error) -> anyhow::Result<Status> {
    let s = e.downcast::<crate::output::Stopped>()?;
    if !s.manifest_written() {
        return Err(s.into());
    }
    let _ = report(&s.summary);
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "streamcut: error: {:#}", s.error);
    let _ = writeln!(err, "streamcut: {}", s.outcome());
    Ok(Status::Partial)
}

/// List input problems on standard error; the status they make.
fn report(summary: &Summary) -> Status {
    let mut err = io::stderr().lock();
    for (path, p) in summary.problems() {
        let at = p
            .offset
            .map(|o| format!(" (byte offset {o})"))
            .unwrap_or_default();
        let _ = writeln!(
            err,
            "streamcut: input problem in {}{at}: {}",
            path.display(),
            p.message
        );
    }
    if summary.interrupted {
        let _ = writeln!(
            err,
            "streamcut: interrupted: reading stopped after {} frames; everything read was processed, the rest of the input was not read",
            summary.frames
        );
        return Status::Interrupted;
    }
    if summary.complete() {
        Status::Success
    } else {
        Status::InputProblems
    }
}
