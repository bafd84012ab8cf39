//! `streamcut man [COMMAND]`: the manual pages, rendered by clap_mangen from
//! the same definitions as `--help`.
//!
//! The overview page (`streamcut(1)`) lists the global options and points to
//! one page per command, `streamcut-COMMAND(1)`, which `streamcut man
//! COMMAND` prints: that command's synopsis, every option (global ones
//! included) and its examples.

use std::io::Write;

use clap::CommandFactory as _;

use crate::args::Cli;

/// The commands that have a page of their own (every command but `help`).
pub const PAGES: &[&str] = &[
    "extract",
    "flows",
    "follow",
    "stats",
    "merge",
    #[cfg(feature = "dpdk")]
    "live",
    "completions",
    "man",
];

/// The clap command a page is rendered from: the program for the overview,
/// else the command named `page`, built as part of the program so its page
/// is titled `streamcut-COMMAND` and carries the global options.
pub fn command(page: Option<&str>) -> anyhow::Result<clap::Command> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    match page {
        None => Ok(cli),
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no manual page for {name:?}")),
    }
}

/// Write the page (roff) of `page` (a [`PAGES`] name), or the overview.
pub fn render(page: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
    let source = format!("streamcut {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(command(page)?)
        .source(source)
        .render(out)?;
    Ok(())
}
