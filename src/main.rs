//! The `ideadesk` binary: see `ideadesk --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `ideadesk … | head` into a panic on the next
    // print. Restore the default so the process ends quietly, as other tools do.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; it only sets
    // the disposition of one signal to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // SAFETY: still no other thread; candle's pool starts with the first model.
    unsafe { ideadesk::compute::set_cpu_defaults() };
    ideadesk::cli::run()
}
