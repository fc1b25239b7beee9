//! Where the compiled component comes from: the artifact `build.rs`
//! embedded, else an on-disk cache.
//!
//! Compiling the component with Cranelift takes ~250 ms; loading a compiled
//! artifact takes about a millisecond. The binary embeds an artifact
//! compiled at build time; wasmtime refuses it when it does not fit the
//! machine (the build machine's CPU had features this one lacks, say), and
//! then the disk cache takes over: the first run on the machine compiles
//! and stores the artifact, later runs load it.
//!
//! - **Keyed** by the SHA-256 of the embedded component and wasmtime's
//!   compatibility hash of the engine configuration, so a new guest or a
//!   new wasmtime never loads a stale artifact.
//! - **Checked**: the file carries the SHA-256 of its payload, verified
//!   before the payload is handed to wasmtime, so a truncated or corrupted
//!   file is recompiled, never loaded.
//! - **Safe for concurrent processes**: a writer writes a private temporary
//!   file and renames it into place; readers only ever see whole files.
//! - **Private**: the directory is created with mode 0700 and is not used if
//!   other users can write to it (a compiled artifact is native code).
//! - **Optional**: any cache failure (read-only filesystem, no home) falls
//!   back to compiling in memory.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled artifacts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheMode {
    /// Use this directory.
    Dir(PathBuf),
    /// Compile every time; touch no files.
    Off,
}

impl CacheMode {
    /// `KRM_PROMOTE_CACHE_DIR`, else `$XDG_CACHE_HOME/krm-promote`, else
    /// `$HOME/.cache/krm-promote`; `KRM_PROMOTE_CACHE=off` disables it.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> CacheMode {
        if get("KRM_PROMOTE_CACHE").is_some_and(|v| v == "off" || v == "0" || v == "false") {
            return CacheMode::Off;
        }
        let non_empty = |k: &str| get(k).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty("KRM_PROMOTE_CACHE_DIR") {
            return CacheMode::Dir(PathBuf::from(dir));
        }
        if let Some(dir) = non_empty("XDG_CACHE_HOME") {
            return CacheMode::Dir(Path::new(&dir).join("krm-promote"));
        }
        if let Some(home) = non_empty("HOME") {
            return CacheMode::Dir(Path::new(&home).join(".cache").join("krm-promote"));
        }
        CacheMode::Dir(std::env::temp_dir().join("krm-promote-cache"))
    }
}

/// How the runtime obtains the compiled component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loader {
    /// Try the artifact embedded at build time first.
    /// `KRM_PROMOTE_PRECOMPILED=off` turns it off (troubleshooting).
    pub precompiled: bool,
    /// The on-disk cache, used when the embedded artifact is missing or
    /// refused.
    pub cache: CacheMode,
}

impl Loader {
    /// Reads `KRM_PROMOTE_PRECOMPILED` and the cache variables
    /// ([`CacheMode::from_env`]).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Loader {
        let precompiled = !get("KRM_PROMOTE_PRECOMPILED").is_some_and(|v| v == "off" || v == "0" || v == "false");
        Loader {
            precompiled,
            cache: CacheMode::from_env(get),
        }
    }
}

const MAGIC: &[u8; 8] = b"KRMPCW01";

/// The cache file name for this component and engine.
pub fn artifact_name(engine: &Engine, guest_sha256: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let engine_hash = h.finish();
    format!("guest-{}-{engine_hash:016x}.cwasm", &guest_sha256[..16])
}

/// Returns the compiled component: `precompiled` if it is not empty and
/// wasmtime accepts it for `engine`, else from the cache if a valid artifact
/// is there, else compiled now (and stored, if the cache is usable).
pub fn load_component(
    engine: &Engine,
    wasm: &[u8],
    precompiled: &[u8],
    guest_sha256: &str,
    mode: &CacheMode,
) -> anyhow::Result<Component> {
    if !precompiled.is_empty() {
        // SAFETY: `precompiled` is `GUEST_CWASM`, produced by this crate's
        // build script with `Engine::precompile_component` and compiled into
        // the binary, so it is exactly what wasmtime wrote. wasmtime checks
        // its version, the engine settings and the CPU features, and returns
        // an error (never loads it) when they do not match.
        #[allow(unsafe_code, reason = "loading wasmtime's own build-time artifact")]
        let component = unsafe { Component::deserialize(engine, precompiled) };
        if let Ok(component) = component {
            return Ok(component);
        }
    }
    let CacheMode::Dir(dir) = mode else {
        return compile(engine, wasm);
    };
    if !dir_is_private(dir) {
        return compile(engine, wasm);
    }
    let path = dir.join(artifact_name(engine, guest_sha256));
    if let Some(component) = read_artifact(engine, &path) {
        return Ok(component);
    }
    let component = compile(engine, wasm)?;
    // Best effort: a cache we cannot write is not an error.
    let _ = write_artifact(&component, &path);
    Ok(component)
}

fn compile(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the embedded WebAssembly component")
}

/// Creates the directory (0700) if needed; refuses one others can write to.
fn dir_is_private(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() && fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).is_err() {
            return false;
        }
        match fs::metadata(dir) {
            Ok(m) => m.is_dir() && m.permissions().mode() & 0o022 == 0,
            Err(_) => false,
        }
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir).is_ok()
    }
}

/// Reads and verifies an artifact; `None` if missing, damaged or rejected.
fn read_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    let bytes = fs::read(path).ok()?;
    let payload = verify(&bytes)?;
    // SAFETY: `payload` was written by `write_artifact` from
    // `Component::serialize` in a directory only this user can write to,
    // and its SHA-256 matches, so it is exactly what wasmtime produced.
    // wasmtime additionally checks its version and engine configuration.
    #[allow(unsafe_code, reason = "loading a verified, self-written wasmtime artifact")]
    let component = unsafe { Component::deserialize(engine, payload) };
    component.ok()
}

/// Returns the payload if `bytes` is `MAGIC + sha256(payload) + payload`.
pub fn verify(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < 32 {
        return None;
    }
    let (sum, payload) = rest.split_at(32);
    (Sha256::digest(payload).as_slice() == sum).then_some(payload)
}

fn write_artifact(component: &Component, path: &Path) -> anyhow::Result<()> {
    let payload = component.serialize()?;
    let dir = path.parent().context("cache path has a parent")?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&Sha256::digest(&payload))?;
        file.write_all(&payload)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_truncated_and_corrupted_files() {
        let payload = b"compiled code".to_vec();
        let mut good = MAGIC.to_vec();
        good.extend_from_slice(&Sha256::digest(&payload));
        good.extend_from_slice(&payload);
        assert_eq!(verify(&good), Some(payload.as_slice()));
        assert_eq!(verify(&good[..good.len() - 1]), None);
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(verify(&bad), None);
        assert_eq!(verify(b"KRMPCW01"), None);
    }

    #[test]
    fn cache_location_follows_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            CacheMode::from_env(env(&[("KRM_PROMOTE_CACHE", "off"), ("HOME", "/h")])),
            CacheMode::Off
        );
        assert_eq!(
            CacheMode::from_env(env(&[("KRM_PROMOTE_CACHE_DIR", "/c"), ("HOME", "/h")])),
            CacheMode::Dir("/c".into())
        );
        assert_eq!(
            CacheMode::from_env(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            CacheMode::Dir("/x/krm-promote".into())
        );
        assert_eq!(
            CacheMode::from_env(env(&[("HOME", "/h")])),
            CacheMode::Dir("/h/.cache/krm-promote".into())
        );
    }
}
