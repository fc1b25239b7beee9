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
//! - **Trusted, or not used**: loading an artifact executes native code, and
//!   a checksum proves nothing against someone who can write the file. So
//!   the cache is used only when [`trusted_dir`] accepts it: the directory
//!   is not a symbolic link, is owned by the current user and writable by
//!   nobody else, and every directory above it is owned by root or the
//!   current user and writable by nobody else (or sticky, like `/tmp`);
//!   missing directories are created here with mode 0700. Artifacts are
//!   opened without following links and must be regular files owned by the
//!   current user and writable by nobody else. Otherwise the component is
//!   compiled in memory and nothing is read or written.
//! - **No shared fallback**: without `KRM_PROMOTE_CACHE_DIR`,
//!   `XDG_CACHE_HOME` or `HOME` there is no cache (never a path under
//!   `/tmp` that another user could create first).
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
    /// `$HOME/.cache/krm-promote`, else none; `KRM_PROMOTE_CACHE=off`
    /// disables it.
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
        match non_empty("HOME") {
            Some(home) => CacheMode::Dir(Path::new(&home).join(".cache").join("krm-promote")),
            None => CacheMode::Off,
        }
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
    let Ok(dir) = trusted_dir(dir) else {
        return compile(engine, wasm);
    };
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

/// Whether `meta` belongs to root or `uid` and nobody else can write to it
/// (a sticky directory, like `/tmp`, counts as safe for its entries).
fn safe_owner_and_mode(meta: &fs::Metadata, uid: u32, sticky_ok: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode();
    (meta.uid() == 0 || meta.uid() == uid) && (mode & 0o022 == 0 || (sticky_ok && mode & 0o1000 != 0))
}

/// The cache directory `dir`, created (mode 0700) where missing, if it can
/// be trusted with native code; else why not. See the module docs.
pub fn trusted_dir(dir: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = rustix::process::geteuid().as_raw();
    if !dir.is_absolute() {
        return Err(format!("{} is not an absolute path", dir.display()));
    }
    let mut missing = Vec::new();
    let mut existing = dir;
    while fs::symlink_metadata(existing).is_err() {
        missing.push(existing.file_name().ok_or("no existing ancestor")?.to_os_string());
        existing = existing.parent().ok_or("no existing ancestor")?;
    }
    if missing.is_empty() && fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!("{} is a symbolic link", dir.display()));
    }
    let mut real = existing
        .canonicalize()
        .map_err(|e| format!("{}: {e}", existing.display()))?;
    // Every existing directory above the cache, from the root down.
    let above: Vec<&Path> = real.ancestors().skip(usize::from(missing.is_empty())).collect();
    for a in above.into_iter().rev() {
        let meta = fs::symlink_metadata(a).map_err(|e| format!("{}: {e}", a.display()))?;
        if !meta.is_dir() || !safe_owner_and_mode(&meta, uid, true) {
            return Err(format!(
                "{} is not owned by root or this user, or others can write to it",
                a.display()
            ));
        }
    }
    // Create what is missing, and check each directory created (or
    // created meanwhile by someone else) like the cache itself.
    let own = |path: &Path| -> Result<(), String> {
        let meta = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(format!("{} is not a directory", path.display()));
        }
        if meta.uid() != uid || meta.mode() & 0o022 != 0 {
            return Err(format!(
                "{} is not owned by this user, or others can write to it",
                path.display()
            ));
        }
        Ok(())
    };
    for name in missing.into_iter().rev() {
        real.push(name);
        match fs::DirBuilder::new().mode(0o700).create(&real) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("creating {}: {e}", real.display())),
        }
        own(&real)?;
    }
    own(&real)?;
    Ok(real)
}

/// Opens `path` without following a link, if it is a regular file owned by
/// this user that nobody else can write to.
fn open_trusted(path: &Path) -> Option<fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::sandbox::NOFOLLOW)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    let uid = rustix::process::geteuid().as_raw();
    (meta.is_file() && meta.uid() == uid && meta.mode() & 0o022 == 0).then_some(file)
}

/// Reads and verifies an artifact; `None` if missing, damaged or rejected.
fn read_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_trusted(path)?.read_to_end(&mut bytes).ok()?;
    let payload = verify(&bytes)?;
    // SAFETY: `payload` was read from a file that `trusted_dir` and
    // `open_trusted` show only this user (or root) can have written, and its
    // SHA-256 matches, so it is what `write_artifact` stored from
    // `Component::serialize`. wasmtime additionally checks its version and
    // engine configuration.
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
        let mut file = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(crate::sandbox::NOFOLLOW)
                .open(&tmp)?
        };
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
        // Never a shared fallback under /tmp.
        assert_eq!(CacheMode::from_env(env(&[])), CacheMode::Off);
        assert_eq!(CacheMode::from_env(env(&[("HOME", "")])), CacheMode::Off);
    }

    #[test]
    fn only_private_directories_are_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let set_mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        // Created here, 0700.
        let fresh = base.path().join("a/b/cache");
        let real = trusted_dir(&fresh).unwrap();
        assert_eq!(fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o700);
        // Group- or world-writable.
        set_mode(&real, 0o770);
        assert!(trusted_dir(&fresh).is_err());
        set_mode(&real, 0o700);
        assert!(trusted_dir(&fresh).is_ok());
        // A link to a private directory.
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(trusted_dir(&link).unwrap_err().contains("symbolic link"));
        // A private directory in a world-writable, non-sticky parent.
        let open = base.path().join("open");
        fs::create_dir(&open).unwrap();
        set_mode(&open, 0o777);
        fs::create_dir(open.join("cache")).unwrap();
        set_mode(&open.join("cache"), 0o700);
        assert!(trusted_dir(&open.join("cache")).is_err());
        assert!(trusted_dir(&open.join("new")).is_err());
        // ... and in a sticky one (like /tmp).
        set_mode(&open, 0o1777);
        assert!(trusted_dir(&open.join("cache")).is_ok());
        assert!(trusted_dir(Path::new("relative/dir")).is_err());
    }
}
