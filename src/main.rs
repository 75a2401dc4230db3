//! The `ideadesk` binary: see `ideadesk --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ideadesk::cli::run()
}
