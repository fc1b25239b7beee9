//! The `krm-promote` binary. See `krm-promote --help`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let env = |key: &str| std::env::var(key).ok();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let code = krm_promote_host::cli::run(&args, &env, &mut std::io::stdin().lock(), &mut stdout, &mut stderr);
    let _ = stderr.flush();
    ExitCode::from(code)
}
