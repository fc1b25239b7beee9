//! `krm-promote generate` and `krm-promote parameters`: the Argo CD
//! config-management plugin commands, run by argocd-cmp-server in the
//! application's directory.
//!
//! `generate` renders the directory (a kustomization with `kustomize build`,
//! else `kubectl kustomize`; otherwise the directory's manifests as they
//! are), runs the function over the result and prints one JSON object per
//! resource. It never runs code from the repository: kustomize runs without
//! `--enable-alpha-plugins`, `--enable-exec` or `--enable-helm`, so a
//! kustomization that asks for plugins, KRM functions or Helm charts fails
//! with a message saying so.
//!
//! Settings, from lowest to highest precedence: `krm-promote.yaml` in the
//! application directory (the functionConfig), the sidecar's own
//! `KRM_PROMOTE_<SETTING>` env, the Application's plugin env
//! (`ARGOCD_ENV_KRM_PROMOTE_<SETTING>`), and its plugin parameters
//! (`ARGOCD_APP_PARAMETERS`, else `PARAM_*`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::argocd;
use crate::bindings::exports::krm_promote::function::krm;
use crate::exit_code;
use crate::kustomization;
use crate::sandbox::{Repository, Sandbox, find_tool, read_capped};

/// The functionConfig file read from the application directory.
pub const CONFIG_FILE: &str = "krm-promote.yaml";

/// The settings the sidecar's own env may set, as `KRM_PROMOTE_<NAME>`
/// (`KRM_PROMOTE_ENVIRONMENT`): defaults that an Application's plugin env
/// and parameters override. Only these: the sidecar env also holds host
/// options (`KRM_PROMOTE_CACHE_DIR`, ...) and whatever else an operator or a
/// test harness sets, which must not turn into settings.
const SIDECAR_SETTINGS: &[&str] = &[
    "ENVIRONMENT",
    "PRODUCTION_ENVIRONMENTS",
    "TRIGGER_MODE",
    "SOURCE_REVISION",
    "REQUIRE_UPSTREAM",
    "SYNC_WAVE",
    "IMAGES",
];

/// The image policies the sidecar's own env may set, as
/// `KRM_PROMOTE_<NAME>`: the operator's floor, which applies whatever an
/// Application (its `krm-promote.yaml`, plugin env or parameters) says.
/// Applications can add rules, never remove these.
const OPERATOR_POLICIES: &[&str] = &["FORBID_MUTABLE_TAGS", "REQUIRE_DIGEST", "ALLOWED_REGISTRIES"];

/// The sidecar's `KRM_PROMOTE_<NAME>` variables among `vars` that `names`
/// lists, as settings (`trigger-mode`).
fn sidecar(vars: &[(String, String)], names: &[&str]) -> Vec<(String, String)> {
    vars.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("KRM_PROMOTE_")?;
            names
                .contains(&name)
                .then(|| (name.to_ascii_lowercase().replace('_', "-"), v.clone()))
        })
        .collect()
}

/// A failure: exit code and one message for stderr.
pub type Failure = (u8, String);

fn usage(message: String) -> Failure {
    (exit_code::INVALID_INPUT, message)
}

/// The context for `generate`/`parameters` in `dir` of `repo`: the config
/// file, and settings and plugin env from the environment (`vars`, in order).
pub fn context(repo: &Repository, dir: &Path, vars: &[(String, String)]) -> Result<krm::Context, Failure> {
    let function_config = read_config(repo, dir)?;
    let mut settings = sidecar(vars, SIDECAR_SETTINGS);
    let argo = argocd::from_env(vars).map_err(usage)?;
    settings.extend(argo.settings);
    let setting = |(key, value): (String, String)| krm::Setting { key, value };
    Ok(krm::Context {
        framing: krm::Framing::YamlStream,
        output_format: krm::OutputFormat::JsonLines,
        function_config: Some(function_config.unwrap_or_default()),
        settings: settings.into_iter().map(setting).collect(),
        source_revision: argo.source_revision,
        plugin_env: argo.plugin_env.into_iter().map(setting).collect(),
        operator_settings: sidecar(vars, OPERATOR_POLICIES).into_iter().map(setting).collect(),
    })
}

/// The config file of `dir`, if it has one; it must be inside `repo`.
pub fn read_config(repo: &Repository, dir: &Path) -> Result<Option<String>, Failure> {
    let path = dir.join(CONFIG_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    let shown = repo.show(&path);
    let real = repo.resolve(&path).map_err(usage)?;
    let bytes = read_capped(&real, MAX_CONFIG).map_err(|e| usage(format!("reading {shown}: {e}")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| usage(format!("{shown} is not valid UTF-8")))
}

/// Largest config file read.
const MAX_CONFIG: u64 = 8 << 20;

/// What was rendered, and where each part came from (for messages).
pub struct Rendered {
    /// The YAML stream.
    pub stream: String,
    /// `(first line in the stream, file)` for a plain directory.
    pub files: Vec<(usize, PathBuf)>,
}

impl Rendered {
    /// Rewrites "line N" of the stream in `message` as a file and line.
    pub fn locate(&self, message: &str) -> String {
        if self.files.is_empty() {
            return message.to_string();
        }
        // Every "line N" of the stream becomes a line of a file; the first
        // also names the file.
        let mut out = String::new();
        let mut rest = message;
        let mut named = false;
        while let Some(at) = rest.find("line ") {
            let digits: String = rest[at + 5..].chars().take_while(char::is_ascii_digit).collect();
            let found = digits.parse::<usize>().ok().and_then(|line| {
                self.files
                    .iter()
                    .rev()
                    .find(|(start, _)| *start <= line)
                    .map(|(start, file)| (line - start + 1, file))
            });
            out.push_str(&rest[..at]);
            match found {
                Some((line, file)) if !named => {
                    out.push_str(&format!("{} line {line}", file.display()));
                    named = true;
                }
                Some((line, _)) => out.push_str(&format!("line {line}")),
                None => out.push_str(&rest[at..at + 5 + digits.len()]),
            }
            rest = &rest[at + 5 + digits.len()..];
        }
        out.push_str(rest);
        out
    }
}

/// Renders `dir` of `repo`; the render may not exceed `max` bytes.
pub fn render(repo: &Repository, dir: &Path, max: usize) -> Result<Rendered, Failure> {
    if kustomization::find(dir).is_some() {
        return build(repo, dir, max);
    }
    let mut files = Vec::new();
    let root = repo.resolve(dir).map_err(usage)?;
    let mut seen = std::collections::BTreeSet::new();
    collect(repo, &root, &root, &mut seen, &mut files)?;
    files.sort();
    let total: u64 = files.iter().map(|(_, _, len)| len).sum();
    if total > max as u64 {
        return Err(usage(format!(
            "the manifests in {} add up to more than {} MiB (raise the cap with --max-input or KRM_PROMOTE_MAX_INPUT)",
            repo.show(dir),
            max >> 20
        )));
    }
    let mut lines = 0usize;
    let mut rendered = Rendered {
        stream: String::with_capacity(total as usize),
        files: Vec::new(),
    };
    for (rel, real, _) in files {
        let bytes = read_capped(&real, max as u64).map_err(|e| usage(format!("reading {}: {e}", rel.display())))?;
        let text = String::from_utf8(bytes).map_err(|_| usage(format!("{} is not valid UTF-8", rel.display())))?;
        // A byte order mark is fine at the start of a file, not in the
        // middle of the concatenated stream.
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text);
        if text.trim().is_empty() {
            continue;
        }
        // Count lines as they are appended (counting the whole stream per
        // file would be quadratic in the number of files).
        rendered.stream.push_str("---\n");
        lines += 1;
        rendered.files.push((lines + 1, rel));
        rendered.stream.push_str(text);
        lines += text.matches('\n').count();
        if !text.ends_with('\n') {
            rendered.stream.push('\n');
            lines += 1;
        }
    }
    Ok(rendered)
}

/// `kustomize build` of `dir`, after [`kustomization::check`], in a
/// [`Sandbox`], without plugin flags.
fn build(repo: &Repository, dir: &Path, max: usize) -> Result<Rendered, Failure> {
    kustomization::check(repo, dir).map_err(usage)?;
    let (program, args): (PathBuf, &[&str]) = match (find_tool("kustomize"), find_tool("kubectl")) {
        (Some(k), _) => (k, &["build"]),
        (None, Some(k)) => (k, &["kustomize"]),
        (None, None) => {
            return Err((
                exit_code::FUNCTION_FAILED,
                "the directory has a kustomization, but neither kustomize nor kubectl is on PATH \
                 (only absolute PATH entries are searched)"
                    .into(),
            ));
        }
    };
    let failed = |e: std::io::Error| {
        (
            exit_code::FUNCTION_FAILED,
            format!("running {}: {e}", program.display()),
        )
    };
    let sandbox = Sandbox::new().map_err(failed)?;
    let abs = repo.resolve(dir).map_err(usage)?;
    let mut child = sandbox
        .command(&program)
        .args(args)
        .arg(&abs)
        .current_dir(&abs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(failed)?;
    let stderr = child.stderr.take().map(|pipe| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::Read::take(pipe, 1 << 20), &mut buf);
            buf
        })
    });
    let mut stdout = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|pipe| std::io::Read::read_to_end(&mut std::io::Read::take(pipe, max as u64 + 1), &mut stdout));
    let too_large = stdout.len() > max;
    if too_large || !matches!(read, Some(Ok(_))) {
        let _ = child.kill();
    }
    let status = child.wait().map_err(failed)?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if too_large {
        return Err(usage(format!(
            "the kustomize build is larger than {} MiB (raise the cap with --max-input or KRM_PROMOTE_MAX_INPUT)",
            max >> 20
        )));
    }
    if !status.success() {
        // Paths in kustomize's message are absolute; show them relative
        // to the application directory.
        let stderr = String::from_utf8_lossy(&stderr).replace(&format!("{}/", abs.display()), "");
        return Err(usage(kustomize_error(&stderr)));
    }
    let stream = String::from_utf8(stdout).map_err(|_| usage("kustomize printed invalid UTF-8".into()))?;
    Ok(Rendered {
        stream,
        files: Vec::new(),
    })
}

/// Manifest files under `dir`: `*.yaml`, `*.yml` and `*.json`, skipping
/// hidden entries (`.git`, `.argocd-source*.yaml`) and the config file, as
/// (path relative to `base` for messages, resolved path, size). Symbolic
/// links are followed only inside the repository.
fn collect(
    repo: &Repository,
    base: &Path,
    dir: &Path,
    seen: &mut std::collections::BTreeSet<PathBuf>,
    out: &mut Vec<(PathBuf, PathBuf, u64)>,
) -> Result<(), Failure> {
    if !seen.insert(dir.to_path_buf()) {
        return Ok(()); // a link back to a directory already read
    }
    let io = |e: std::io::Error| usage(format!("reading {}: {e}", repo.show(dir)));
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let manifest = name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json");
        let kind = entry.file_type().map_err(io)?;
        if !kind.is_dir() && !kind.is_symlink() && !manifest {
            continue;
        }
        if kind.is_symlink() && !manifest && !std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            continue; // a link to something that is not read (or to nothing)
        }
        let real = repo.resolve(&path).map_err(usage)?;
        let meta = std::fs::metadata(&real).map_err(io)?;
        if meta.is_dir() {
            collect(repo, base, &real, seen, out)?;
        } else if manifest && meta.is_file() && !(dir == base && name == CONFIG_FILE) {
            let rel = path
                .strip_prefix(base)
                .map_or_else(|_| repo.relative(&real).to_path_buf(), Path::to_path_buf);
            out.push((rel, real, meta.len()));
        }
    }
    Ok(())
}

/// The message of a kubectl (klog) error line such as
/// `E1122 02:18:34.546505 23793 run.go:72] "command failed" err="..."`:
/// without the timestamp and process id, and the `err` value unquoted.
fn klog_message(line: &str) -> String {
    let bytes = line.as_bytes();
    let is_klog =
        bytes.len() > 5 && matches!(bytes[0], b'E' | b'W' | b'I' | b'F') && bytes[1..5].iter().all(u8::is_ascii_digit);
    let body = match line.find("] ") {
        Some(i) if is_klog => &line[i + 2..],
        _ => return line.to_string(),
    };
    match body.find("err=\"") {
        Some(i) => {
            let quoted = &body[i + 4..];
            serde_json::from_str::<String>(quoted).unwrap_or_else(|_| quoted.trim_matches('"').to_string())
        }
        None => body.to_string(),
    }
}

/// The gist of kustomize's stderr: the `err` of kubectl's klog line
/// (including its multi-line `err=<` form), else the last line.
fn kustomize_detail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.trim_end().ends_with("err=<")) {
        let inner: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.trim() != ">")
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        return match inner.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [first, .., last] => format!(
                "{} ... {}",
                first.trim_end_matches('`').trim(),
                last.trim_start_matches('`').trim()
            ),
        };
    }
    klog_message(lines.iter().rev().find(|l| !l.trim().is_empty()).unwrap_or(&"").trim())
}

/// A clear message for a failed `kustomize build`.
fn kustomize_error(stderr: &str) -> String {
    let detail = kustomize_detail(stderr);
    let detail = detail.as_str();
    if stderr.contains("external plugins disabled") || stderr.contains("unable to load external plugin") {
        format!(
            "the kustomization asks for a kustomize plugin or KRM function (transformers/generators/validators); \
             krm-promote generate never runs code from the repository, so it builds without plugins. \
             Remove the entry (krm-promote itself runs after the build; configure it in {CONFIG_FILE} \
             or with plugin parameters). kustomize said: {detail}"
        )
    } else if stderr.contains("enable-helm") {
        format!(
            "the kustomization uses helmCharts, which needs helm (--enable-helm); krm-promote generate does \
             not run it. kustomize said: {detail}"
        )
    } else {
        format!("kustomize build failed: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_error_lines_lose_timestamps() {
        let line = r#"E1122 02:18:34.546505   23793 run.go:72] "command failed" err="accumulating resources: 'missing.yaml' \"x\"""#;
        assert_eq!(klog_message(line), "accumulating resources: 'missing.yaml' \"x\"");
        assert_eq!(
            klog_message("Error: plain kustomize error"),
            "Error: plain kustomize error"
        );
    }

    #[test]
    fn stream_lines_map_to_files() {
        let r = Rendered {
            stream: String::new(),
            files: vec![(2, PathBuf::from("a.yaml")), (10, PathBuf::from("b.yaml"))],
        };
        assert_eq!(
            r.locate("key at line 12 (first at line 11)"),
            "key at b.yaml line 3 (first at line 2)"
        );
        assert_eq!(r.locate("no line here"), "no line here");
    }
}
