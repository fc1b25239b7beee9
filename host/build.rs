//! Builds the krm-promote WebAssembly component and embeds it in the host.
//!
//! A nested `cargo build -p krm-promote-guest --target wasm32-wasip2
//! --profile guest` runs in the same workspace (same Cargo.lock) with its own
//! target directory, so `cargo build`, `cargo test` and `cargo clippy` work
//! from a fresh clone with no extra step. Escape hatch:
//! `KRM_PROMOTE_GUEST_WASM=/path/to/component.wasm` embeds a prebuilt
//! component instead.
//!
//! The component is also compiled to native code here (`guest.cwasm`), with
//! the engine configuration the runtime uses (`src/engine_config.rs`), so a
//! process start loads it in about a millisecond instead of JIT-compiling it
//! for ~250 ms. The runtime falls back to its on-disk cache when the
//! artifact does not fit the machine (a different CPU, say).
//! `KRM_PROMOTE_NO_PRECOMPILE=1`, or cross-compiling, skips this step.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[path = "src/engine_config.rs"]
#[allow(dead_code, reason = "shared with the runtime")]
mod engine_config;

const TARGET: &str = "wasm32-wasip2";
const GUEST_PACKAGE: &str = "krm-promote-guest";
const GUEST_ARTIFACT: &str = "krm_promote_guest";

fn main() {
    println!("cargo:rerun-if-env-changed=KRM_PROMOTE_GUEST_WASM");
    println!("cargo:rerun-if-env-changed=KRM_PROMOTE_GUEST_RUSTFLAGS");
    println!("cargo:rerun-if-env-changed=KRM_PROMOTE_NO_PRECOMPILE");
    println!("cargo:rerun-if-changed=src/engine_config.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dest = out_dir.join("guest.wasm");

    let wasm = match env::var_os("KRM_PROMOTE_GUEST_WASM") {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            path
        }
        None => build_guest(&out_dir),
    };
    let bytes = fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
    fs::write(&dest, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
    let digest = Sha256::digest(&bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=KRM_PROMOTE_GUEST_SHA256={hex}");

    let cwasm = precompile(&bytes).unwrap_or_default();
    let dest = out_dir.join("guest.cwasm");
    fs::write(&dest, &cwasm).unwrap_or_else(|e| panic!("writing {}: {e}", dest.display()));
}

/// Compiles the component for this machine; `None` (and the runtime JITs or
/// uses its cache) when cross-compiling or when asked not to.
fn precompile(wasm: &[u8]) -> Option<Vec<u8>> {
    if env::var_os("KRM_PROMOTE_NO_PRECOMPILE").is_some_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    if env::var("TARGET").ok() != env::var("HOST").ok() {
        println!("cargo:warning=cross-compiling: the component is compiled on first run instead of at build time");
        return None;
    }
    let engine = match wasmtime::Engine::new(&engine_config::engine_config()) {
        Ok(engine) => engine,
        Err(e) => {
            println!("cargo:warning=cannot precompile the component: {e}");
            return None;
        }
    };
    match engine.precompile_component(wasm) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            println!("cargo:warning=cannot precompile the component: {e:#}");
            None
        }
    }
}

fn build_guest(out_dir: &Path) -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out; `--target-dir`
    // is invisible to build scripts, so derive the outer target dir from it.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR has the usual layout")
        .join("wasm-guest");

    ensure_target_installed();

    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--locked",
            "-p",
            GUEST_PACKAGE,
            "--target",
            TARGET,
            "--profile",
            "guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    // Environment hygiene: flags meant for the host build (coverage, clippy's
    // wrapper, target-cpu) must not leak into the wasm build.
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let keep = [
            "CARGO_HOME",
            "CARGO_MAKEFLAGS",
            "CARGO_BUILD_JOBS",
            "CARGO_NET_",
            "CARGO_HTTP_",
            "CARGO_REGISTR",
            "CARGO_TERM_",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix));
        let drop = (key.starts_with("CARGO_") && !keep)
            || matches!(
                key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CLIPPY_ARGS"
                    | "CLIPPY_CONF_DIR"
            );
        if drop {
            cmd.env_remove(key);
        }
    }
    if let Some(flags) = env::var_os("KRM_PROMOTE_GUEST_RUSTFLAGS") {
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags);
    }
    let status = cmd.status().expect("running cargo for the wasm guest");
    if !status.success() {
        panic!(
            "building the WebAssembly guest failed ({status}); if the error says the target may not be \
             installed, run `rustup target add {TARGET}`"
        );
    }

    let artifact_dir = target_dir.join(TARGET).join("guest");
    for path in dep_info_paths(&artifact_dir.join(format!("{GUEST_ARTIFACT}.d")), &workspace) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    for extra in ["Cargo.toml", "Cargo.lock", "wit", "guest/Cargo.toml", "core/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", workspace.join(extra).display());
    }
    artifact_dir.join(format!("{GUEST_ARTIFACT}.wasm"))
}

/// Workspace-local files listed in the nested build's dep-info file.
fn dep_info_paths(dep_file: &Path, workspace: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(dep_file) else {
        return Vec::new();
    };
    let Some((_, deps)) = text.lines().next().and_then(|l| l.split_once(": ")) else {
        return Vec::new();
    };
    // Paths are space-separated; spaces inside paths are escaped as `\ `.
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    paths.retain(|p| p.starts_with(workspace));
    paths
}

/// Installs the wasm32-wasip2 standard library through rustup when it is
/// missing (rustup does not do it by itself when RUSTUP_AUTO_INSTALL=0).
fn ensure_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(TARGET).exists() {
        return;
    }
    if env::var_os("KRM_PROMOTE_NO_TARGET_INSTALL").is_some() {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (set KRM_PROMOTE_NO_TARGET_INSTALL=1 to skip)");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        cmd.arg("--toolchain").arg(toolchain);
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        other => println!("cargo:warning=`rustup target add {TARGET}` failed: {other:?}"),
    }
}
