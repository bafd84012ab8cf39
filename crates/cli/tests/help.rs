//! What `--help` and `streamcut man` show, through the real binary: every
//! command's help ends with examples that parse as `streamcut` command
//! lines, and every command has a manual page naming all its options, which
//! the overview page points to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clap::{CommandFactory as _, Parser as _};
use common::shell::{first_command, words};
use common::*;
use streamcut::args::Cli;
use streamcut::manpage::PAGES;

/// The command lines of the `Examples:` section of a help text (the lines
/// that start with `streamcut`, up to the next unindented line).
fn examples(help: &str) -> Vec<String> {
    let Some(at) = help.find("\nExamples:\n") else {
        return Vec::new();
    };
    help[at + "\nExamples:\n".len()..]
        .lines()
        .take_while(|l| l.starts_with(' '))
        .map(str::trim)
        .filter(|l| l.starts_with("streamcut "))
        .map(str::to_string)
        .collect()
}

/// Every command the program has but `help`.
fn commands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn shell_lines_are_cut_at_operators_outside_quotes() {
    assert_eq!(
        first_command("streamcut flows a --json | jq -c 'select(.a > 1)'"),
        ("streamcut flows a --json", "| jq -c 'select(.a > 1)'")
    );
    assert_eq!(
        first_command("streamcut stats a --filter 'tcp port 80 or udp'"),
        ("streamcut stats a --filter 'tcp port 80 or udp'", "")
    );
    assert_eq!(first_command("a 2> b").0, "a 2");
    assert_eq!(
        words("streamcut x --flows 'port 443' -o out/"),
        ["streamcut", "x", "--flows", "port 443", "-o", "out/"]
    );
}

/// `streamcut --help` and `streamcut COMMAND --help` end with examples
/// (two or three per command), and each parses with the program's own
/// argument definitions.
#[test]
fn every_help_has_examples_that_parse() {
    let mut pages: Vec<Option<String>> = vec![None];
    pages.extend(commands().into_iter().map(Some));
    for page in pages {
        let mut args: Vec<&str> = page.iter().map(String::as_str).collect();
        args.push("--help");
        let o = run(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        let help = stdout(&o);
        let found = examples(&help);
        match &page {
            None => assert!(found.len() >= 5, "streamcut --help: {found:?}"),
            Some(name) => {
                assert!(
                    (2..=3).contains(&found.len()),
                    "streamcut {name} --help has {} examples: {help}",
                    found.len()
                );
                for e in &found {
                    assert!(
                        e.starts_with(&format!("streamcut {name} ")),
                        "an example of {name} runs another command: {e}"
                    );
                }
            }
        }
        for e in found {
            let (cmd, _) = first_command(&e);
            if let Err(err) = Cli::try_parse_from(words(cmd)) {
                panic!("example in {args:?} does not parse: {e}\n{err}");
            }
        }
    }
}

/// Every command has a page, and `streamcut man` accepts exactly those.
#[test]
fn pages_cover_every_command() {
    assert_eq!(PAGES, commands().as_slice());
    let o = run(&["man", "nope"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = run(&["man", "help"]);
    assert_eq!(code(&o), 2, "there is no page for help");
}

/// roff escapes a `-` as `\-`.
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

/// The text of a roff page with its escapes for `-` and `'` undone.
fn unroff(page: &str) -> String {
    page.replace("\\-", "-").replace("\\*(Aq", "'")
}

/// The body of section `.SH NAME` of a roff page (empty if none).
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let head = format!(".SH {name}\n");
    let Some(at) = page.find(&head) else {
        return "";
    };
    let body = &page[at + head.len()..];
    &body[..body.find("\n.SH ").unwrap_or(body.len())]
}

/// `streamcut man COMMAND` is a roff page titled `streamcut-COMMAND`
/// naming every option of the command (the global ones too) and its
/// examples; the overview page points to each of these pages and to no
/// other.
#[test]
fn man_pages_name_every_option() {
    let cli = {
        let mut c = Cli::command();
        c.build();
        c
    };
    let o = run(&["man"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let overview = stdout(&o);
    assert!(overview.starts_with(".ie"), "{overview}");
    assert!(overview.contains(".TH streamcut 1"), "{overview}");
    assert!(!overview.contains("streamcut\\-help(1)"), "{overview}");
    assert_eq!(
        overview.matches("(1)\n").count(),
        PAGES.len(),
        "the overview points to one page per command: {overview}"
    );
    for name in PAGES {
        assert!(
            overview.contains(&format!("streamcut\\-{}(1)", roff(name))),
            "the overview does not point to streamcut-{name}(1)"
        );
        let o = run(&["man", name]);
        assert_eq!(code(&o), 0, "man {name}: {}", stderr(&o));
        let page = stdout(&o);
        assert!(
            page.contains(&format!(".TH streamcut\\-{} 1 ", roff(name)))
                || page.contains(&format!(".TH streamcut-{name} 1 ")),
            "man {name}: {}",
            &page[..page.len().min(300)]
        );
        let options = section(&page, "OPTIONS");
        assert!(
            page.contains(&roff(&format!("streamcut {name} "))),
            "man {name}: no synopsis"
        );
        let sub = cli.find_subcommand(name).unwrap();
        let mut longs = 0;
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                longs += 1;
                assert!(
                    options.contains(&format!("\\fB{}\\fR", roff(&format!("--{long}")))),
                    "man {name}: OPTIONS does not name --{long}"
                );
            }
        }
        assert!(longs >= 3, "man {name}: only {longs} options");
        assert!(page.contains("Examples:"), "man {name}: no examples");
        let text = unroff(&page);
        for e in examples(&stdout(&run(&[name, "--help"]))) {
            assert!(text.contains(&e), "man {name} lacks the example {e}");
        }
    }
}
