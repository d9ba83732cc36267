//! The `sluice` binary: all of it lives in the library's `commands` module.

fn main() -> std::process::ExitCode {
    sluice::commands::main()
}
