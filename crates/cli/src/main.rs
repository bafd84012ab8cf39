//! The `streamcut` binary: everything happens in [`streamcut::app`].

fn main() -> std::process::ExitCode {
    streamcut::app::main()
}
