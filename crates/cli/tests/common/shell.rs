//! Shell command lines as documentation writes them: the `streamcut` part
//! of a line, before any pipe, redirection or list operator, split into
//! words as a POSIX shell would (quotes honoured, by the `shlex` crate).

/// The command line up to its first unquoted `|`, `>`, `<`, `;` or `&`,
/// and the rest (from that operator on, trimmed; empty if none).
pub fn first_command(line: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, c) {
            (None, '\\') | (Some('"'), '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '|' | '>' | '<' | ';' | '&') => {
                return (line[..i].trim_end(), line[i..].trim());
            }
            _ => {}
        }
    }
    (line.trim_end(), "")
}

/// The words of `command` (a single command, no operators).
pub fn words(command: &str) -> Vec<String> {
    shlex::split(command).unwrap_or_else(|| panic!("unbalanced quotes in {command:?}"))
}
