//! The `krm-promote` binary. See `krm-promote --help`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let env = |key: &str| std::env::var(key).ok();
    // Unlocked handles: a render past its time limit ends the process from
    // the watchdog thread (see `runtime::Limits::timeout`), whose message
    // and exit need stderr and stdout free while the render runs.
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let code = krm_promote_host::cli::run(&args, &env, &mut std::io::stdin().lock(), &mut stdout, &mut stderr);
    let _ = stderr.flush();
    ExitCode::from(code)
}
