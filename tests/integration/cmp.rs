//! A faithful emulation of argocd-cmp-server and the repo-server around it,
//! driving `examples/argocd/plugin.yaml` with the examples' own Application
//! manifests (see the reference notes on Argo CD's CMP, section 7.2):
//!
//! - plugin.yaml is read YAML -> JSON with case-insensitive keys; only
//!   `metadata.name`, `kind` and `spec.generate.command` are validated;
//! - the repository is materialised into `<tmp>/_cmp_server/<uuid>/` with
//!   file modes 0644 and directory modes 0755 (absolute and out-of-bounds
//!   symbolic links refused as the repo-server refuses them at checkout,
//!   the others kept as relative links), and the command runs in the
//!   application's path, without a shell, in its own process group;
//! - the environment is the sidecar's plus the request's, in Argo CD's
//!   order: `ARGOCD_APP_*`, `KUBE_VERSION`, `KUBE_API_VERSIONS`,
//!   `ARGOCD_ENV_*` (after Argo CD's `Envsubst`), `ARGOCD_APP_PARAMETERS`
//!   (Go's JSON encoding: sorted keys, HTML escaping) and `PARAM_*`;
//! - `.argocd-source.yaml` and `.argocd-source-<app>.yaml` are merged
//!   into the Application's source (RFC 7386) before the env is built, as
//!   the repo-server does (Argo CD Image Updater's git write-back);
//! - past the request deadline (60 s minus 100 ms), the command gets
//!   SIGKILL and its process group SIGTERM, then SIGKILL 5 s later;
//! - stdout is parsed like the repo-server (JSON-first sniff, `---` rules,
//!   `kind` required, `List` flattening), and failures are formatted the
//!   way Argo CD shows them.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{self};

/// `plugin.yaml`, as argocd-cmp-server reads it.
#[derive(Debug, Clone)]
struct Plugin {
    /// `<name>-<version>` (or `<name>`): what Applications must name.
    socket_name: String,
    generate: Vec<String>,
    init: Vec<String>,
    dynamic: Vec<String>,
}

/// Lower-cases every key (Go's `encoding/json` matches fields
/// case-insensitively).
fn lower_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k.to_lowercase(), lower_keys(v))).collect()),
        Value::Array(a) => Value::Array(a.into_iter().map(lower_keys).collect()),
        other => other,
    }
}

fn load_plugin(path: &Path) -> Result<Plugin, String> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = lower_keys(serde_json::to_value(yaml).unwrap());
    let name = v["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err("invalid plugin configuration file. metadata.name should be non-empty".into());
    }
    let kind = v["kind"].as_str().unwrap_or_default();
    if kind != "ConfigManagementPlugin" {
        return Err(format!(
            "invalid plugin configuration file. kind should be ConfigManagementPlugin, found {kind}"
        ));
    }
    let version = v["spec"]["version"]
        .as_str()
        .ok_or("spec.version must be a string (quote it)")?;
    let command = |c: &Value| -> Vec<String> {
        let strings = |k: &str| {
            c[k].as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect::<Vec<_>>())
        };
        let mut argv = strings("command").unwrap_or_default();
        argv.extend(strings("args").unwrap_or_default());
        argv
    };
    let generate = command(&v["spec"]["generate"]);
    if generate.is_empty() {
        return Err("invalid plugin configuration file. spec.generate command should be non-empty".into());
    }
    Ok(Plugin {
        socket_name: if version.is_empty() {
            name.to_string()
        } else {
            format!("{name}-{version}")
        },
        generate,
        init: command(&v["spec"]["init"]),
        dynamic: command(&v["spec"]["parameters"]["dynamic"]),
    })
}

/// One plugin parameter of an Application.
#[derive(Debug, Clone)]
enum Param {
    String(String, String),
    Array(String, Vec<String>),
    Map(String, BTreeMap<String, String>),
}

/// The parts of an Application the repo-server passes to the plugin.
#[derive(Debug, Clone)]
struct App {
    name: String,
    path: String,
    plugin_name: String,
    dest_namespace: String,
    env: Vec<(String, String)>,
    params: Option<Vec<Param>>,
}

fn app_from_manifest(v: &Value) -> App {
    let source = &v["spec"]["source"];
    let plugin = &source["plugin"];
    App {
        name: v["metadata"]["name"].as_str().unwrap().to_string(),
        path: source["path"].as_str().unwrap().to_string(),
        plugin_name: plugin["name"].as_str().unwrap_or_default().to_string(),
        dest_namespace: v["spec"]["destination"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        env: plugin["env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| (e["name"].as_str().unwrap().into(), e["value"].as_str().unwrap().into()))
                    .collect()
            })
            .unwrap_or_default(),
        params: plugin["parameters"].as_array().map(|a| {
            a.iter()
                .map(|p| {
                    let name = p["name"].as_str().unwrap().to_string();
                    if let Some(s) = p["string"].as_str() {
                        Param::String(name, s.into())
                    } else if let Some(items) = p["array"].as_array() {
                        Param::Array(name, items.iter().map(|i| i.as_str().unwrap().into()).collect())
                    } else {
                        let map = p["map"].as_object().map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                                .collect()
                        });
                        Param::Map(name, map.unwrap_or_default())
                    }
                })
                .collect()
        }),
    }
}

/// Every Application in the examples (ApplicationSet list generators
/// expanded; `{{.key}}` substituted).
fn example_apps() -> Vec<App> {
    let mut apps = Vec::new();
    let files = [
        "examples/argocd/applications.yaml",
        "examples/books-api/argocd/books-api-staging.yaml",
        "examples/books-api/argocd/books-api-production.yaml",
        "examples/3scale-gitops/bootstrap/applications.yaml",
    ];
    for file in files {
        let text = std::fs::read_to_string(support::repo().join(file)).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value =
                serde_json::to_value(<serde_yaml::Value as serde::Deserialize>::deserialize(doc).unwrap()).unwrap();
            match v["kind"].as_str() {
                Some("Application") => {
                    let mut app = app_from_manifest(&v);
                    if file.contains("3scale-gitops/bootstrap") {
                        app.path = format!("examples/3scale-gitops/{}", app.path);
                    }
                    apps.push(app);
                }
                Some("ApplicationSet") => {
                    for element in v["spec"]["generators"][0]["list"]["elements"].as_array().unwrap() {
                        let mut template = serde_json::to_string(&v["spec"]["template"]).unwrap();
                        for (k, val) in element.as_object().unwrap() {
                            template = template.replace(&format!("{{{{.{k}}}}}"), val.as_str().unwrap());
                        }
                        apps.push(app_from_manifest(&serde_json::from_str(&template).unwrap()));
                    }
                }
                _ => {}
            }
        }
    }
    apps
}

/// Go's `encoding/json` for `ARGOCD_APP_PARAMETERS`: each element a map
/// with sorted keys, compact, HTML-escaped; `null` for no parameter list.
fn app_parameters_json(params: &Option<Vec<Param>>) -> String {
    let Some(params) = params else { return "null".into() };
    let elements: Vec<Value> = params
        .iter()
        .map(|p| {
            let mut m = serde_json::Map::new();
            match p {
                Param::String(n, s) => {
                    m.insert("name".into(), n.clone().into());
                    m.insert("string".into(), s.clone().into());
                }
                Param::Array(n, a) => {
                    m.insert("array".into(), json!(a));
                    m.insert("name".into(), n.clone().into());
                }
                Param::Map(n, map) => {
                    m.insert("map".into(), json!(map));
                    m.insert("name".into(), n.clone().into());
                }
            }
            Value::Object(m)
        })
        .collect();
    let mut out = String::new();
    // serde_json (preserve_order) writes keys as inserted: sorted above.
    for c in Value::Array(elements).to_string().chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// `PARAM_` name escaping: Go's per-rune upper-casing, then every rune not
/// in `[A-Z0-9_]` becomes one `_`.
fn escape(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' => c.to_ascii_uppercase(),
            'A'..='Z' | '0'..='9' | '_' => c,
            'ı' => 'I',
            'ſ' => 'S',
            _ => '_',
        })
        .collect()
}

/// Argo CD's `Env.Envsubst`: `$$` is `$`; `$VAR` and `${VAR}` expand from
/// the build environment only; anything unknown expands to nothing.
fn envsubst(value: &str, build: &[(String, String)]) -> String {
    let lookup = |n: &str| {
        build
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' || i + 1 == chars.len() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        if chars[i + 1] == '$' {
            out.push('$');
            i += 2;
        } else if chars[i + 1] == '{' {
            let end = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .map_or(chars.len(), |p| i + 2 + p);
            let inner: String = chars[i + 2..end.min(chars.len())].iter().collect();
            if !inner.contains(":-") {
                out.push_str(&lookup(&inner));
            }
            i = end + 1;
        } else {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
            if end == start {
                out.push('$');
                i += 1;
            } else {
                out.push_str(&lookup(&chars[start..end].iter().collect::<String>()));
                i = end;
            }
        }
    }
    out
}

const REVISION: &str = "5f3c2b1a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

/// The request env for GenerateManifest, in Argo CD's order.
/// The build variables the parameter announcement flow passes (and
/// expands `plugin.env` with): `GetParametersAnnouncement` has only these.
const ANNOUNCEMENT_BUILD_ENV: [&str; 4] = [
    "ARGOCD_APP_NAME",
    "ARGOCD_APP_SOURCE_REPO_URL",
    "ARGOCD_APP_SOURCE_PATH",
    "ARGOCD_APP_SOURCE_TARGET_REVISION",
];

/// The env of a GenerateManifest request.
fn request_env(app: &App) -> Vec<(String, String)> {
    build_env(app, false)
}

/// The env of a request: GenerateManifest's, or with `announcement` the
/// parameter announcement's (four build variables, `plugin.env` expanded
/// with only those).
fn build_env(app: &App, announcement: bool) -> Vec<(String, String)> {
    let build: Vec<(String, String)> = [
        ("ARGOCD_APP_NAME", app.name.clone()),
        ("ARGOCD_APP_NAMESPACE", app.dest_namespace.clone()),
        ("ARGOCD_APP_PROJECT_NAME", "default".into()),
        ("ARGOCD_APP_REVISION", REVISION.into()),
        ("ARGOCD_APP_REVISION_SHORT", REVISION[..7].into()),
        ("ARGOCD_APP_REVISION_SHORT_8", REVISION[..8].into()),
        ("ARGOCD_APP_SOURCE_REPO_URL", "https://git.example.com/platform/krm-promote-examples.git".into()),
        ("ARGOCD_APP_SOURCE_PATH", app.path.clone()),
        ("ARGOCD_APP_SOURCE_TARGET_REVISION", "main".into()),
        ("KUBE_VERSION", "1.32.4".into()),
        ("KUBE_API_VERSIONS", "apps/v1,apps/v1/Deployment,capabilities.3scale.net/v1beta1,capabilities.3scale.net/v1beta1/Backend,capabilities.3scale.net/v1beta1/Product,capabilities.3scale.net/v1beta1/ProxyConfigPromote,v1,v1/ConfigMap,v1/Secret,v1/Service".into()),
    ]
    .into_iter()
    .filter(|(k, _)| !announcement || ANNOUNCEMENT_BUILD_ENV.contains(k))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut env = build.clone();
    for (k, v) in &app.env {
        env.push((format!("ARGOCD_ENV_{k}"), envsubst(v, &build)));
    }
    env.push(("ARGOCD_APP_PARAMETERS".into(), app_parameters_json(&app.params)));
    for p in app.params.iter().flatten() {
        match p {
            Param::String(n, s) => env.push((format!("PARAM_{}", escape(n)), s.clone())),
            Param::Array(n, a) => {
                for (i, item) in a.iter().enumerate() {
                    env.push((format!("PARAM_{}_{i}", escape(n)), item.clone()));
                }
            }
            Param::Map(n, m) => {
                for (k, v) in m {
                    env.push((format!("PARAM_{}_{}", escape(n), escape(k)), v.clone()));
                }
            }
        }
    }
    env
}

/// The emulated sidecar: its own env, a work dir base, and the plugin.
struct Sidecar {
    plugin: Plugin,
    base: tempfile::TempDir,
    cache: PathBuf,
    repo: PathBuf,
    /// Extra sidecar environment.
    env: Vec<(String, String)>,
    /// The request deadline as the cmp-server applies it (the caller's,
    /// 60 s by default, minus 100 ms).
    deadline: std::time::Duration,
}

impl Sidecar {
    fn new(cache: PathBuf) -> Sidecar {
        let plugin = load_plugin(&support::repo().join("examples/argocd/plugin.yaml")).unwrap();
        Sidecar {
            plugin,
            base: tempfile::tempdir().unwrap(),
            cache,
            repo: support::repo(),
            env: Vec::new(),
            deadline: std::time::Duration::from_millis(59_900),
        }
    }

    fn sidecar_env(&self) -> Vec<(String, String)> {
        let mut path = vec![support::bin().parent().unwrap().to_path_buf()];
        if let Some(kubectl) = support::tool("kubectl") {
            path.push(kubectl.parent().unwrap().to_path_buf());
        }
        let mut env = vec![
            (
                "PATH".into(),
                std::env::join_paths(path).unwrap().into_string().unwrap(),
            ),
            // argocd's HOME in the sidecar; not writable here either.
            ("HOME".into(), "/nonexistent".into()),
            ("KRM_PROMOTE_CACHE_DIR".into(), self.cache.display().to_string()),
        ];
        env.extend(self.env.iter().cloned());
        env
    }

    /// Materialises the repository for one request: `self.repo` (by
    /// default this repository's `examples/` tree, as if the rest were
    /// excluded from the tarball).
    ///
    /// Symbolic links follow Argo CD's two rules: at checkout the
    /// repo-server refuses a repository with an absolute link or one that
    /// leaves the repository (`CheckOutOfBoundsSymlinks`); on unpack the
    /// cmp-server keeps the others as relative links.
    fn materialise(&self) -> Result<PathBuf, String> {
        if let Some(file) = out_of_bounds_link(&self.repo, &self.repo.join("examples")) {
            return Err(format!("repository contains out-of-bounds symlinks. file: {file}"));
        }
        let uuid = format!("{:032x}", rand_id());
        let root = self.base.path().join("_cmp_server").join(uuid);
        copy_with_modes(&self.repo.join("examples"), &root.join("examples"));
        Ok(root)
    }

    /// Runs one command the way `runCommand` does; returns stdout (one
    /// trailing newline trimmed) or Argo CD's `CmdError` text.
    fn run(&self, argv: &[String], cwd: &Path, env: &[(String, String)]) -> Result<String, String> {
        // `command[0]` is looked up on the sidecar's PATH.
        let sidecar_env = self.sidecar_env();
        let program = std::env::split_paths(&sidecar_env[0].1)
            .map(|d| d.join(&argv[0]))
            .find(|p| p.is_file())
            .expect("command on the sidecar PATH");
        let mut cmd = Command::new(program);
        cmd.args(&argv[1..])
            .current_dir(cwd)
            .env_clear()
            .stdin(Stdio::null())
            .process_group(0);
        for (k, v) in sidecar_env.iter().chain(env) {
            cmd.env(k, v);
        }
        let out = run_until(&mut cmd, self.deadline);
        if out.status.success() {
            let stdout = String::from_utf8(out.stdout).unwrap();
            return Ok(stdout.strip_suffix('\n').unwrap_or(&stdout).to_string());
        }
        let shown: Vec<String> = argv
            .iter()
            .map(|a| {
                if a.chars().any(char::is_whitespace) {
                    format!("{a:?}")
                } else {
                    a.clone()
                }
            })
            .collect();
        let cause = match out.status.code() {
            Some(code) => format!("exit status {code}"),
            None => "signal: killed".into(),
        };
        Err(format!(
            "`{}` failed {cause}: {}",
            shown.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    /// GenerateManifest for `app`: the manifests, or the error as Argo CD
    /// shows it in the Application's conditions.
    fn generate(&self, app: &App) -> Result<Vec<Value>, String> {
        assert_eq!(
            app.plugin_name, self.plugin.socket_name,
            "{}: the Application must name the plugin with its version",
            app.name
        );
        let root = self.materialise().map_err(|e| {
            format!(
                "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = {e}"
            )
        })?;
        let cwd = root.join(&app.path);
        let app = &with_source_overrides(app, &cwd);
        let env = request_env(app);
        let result = (|| {
            if !self.plugin.init.is_empty() {
                self.run(&self.plugin.init, &cwd, &env)?;
            }
            let stdout = self.run(&self.plugin.generate, &cwd, &env)?;
            parse_manifests(&stdout)
        })();
        std::fs::remove_dir_all(&root).unwrap();
        result.map_err(|e| {
            format!(
                "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = CMP processing failed for application \"{}\": error generating manifests in cmp: rpc error: code = Unknown desc = error generating manifests: {e}",
                app.name
            )
        })
    }

    /// The dynamic parameter announcement for `app`.
    fn parameters(&self, app: &App) -> Result<Vec<Value>, String> {
        let root = self.materialise()?;
        let cwd = root.join(&app.path);
        let env = build_env(app, true);
        let out = self.run(&self.plugin.dynamic, &cwd, &env);
        std::fs::remove_dir_all(&root).unwrap();
        let out = out.map_err(|e| format!("error executing dynamic parameter output command: {e}"))?;
        serde_json::from_str(&out).map_err(|e| {
            format!("error unmarshaling dynamic parameter output into ParametersAnnouncementResponse: {e}")
        })
    }
}

/// Runs `cmd` (in its own process group) the way `runCommand` does under
/// a deadline: past it, SIGKILL to the child and SIGTERM to its process
/// group, then SIGKILL to the group 5 s later.
fn run_until(cmd: &mut Command, deadline: std::time::Duration) -> std::process::Output {
    use rustix::process::{Pid, Signal, kill_process_group};
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pipe = |mut p: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() >= deadline {
            let group = Pid::from_raw(child.id() as i32).unwrap();
            let _ = child.kill();
            let _ = kill_process_group(group, Signal::TERM);
            let status = child.wait().unwrap();
            std::thread::sleep(std::time::Duration::from_secs(5));
            let _ = kill_process_group(group, Signal::KILL);
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// The Application's source with the repo-server's parameter overrides
/// applied: `.argocd-source.yaml`, then `.argocd-source-<app name>.yaml`
/// in the application directory, each an RFC 7386 JSON merge patch of
/// `spec.source` (this is how Argo CD Image Updater's git write-back
/// reaches a plugin: it writes `plugin.env` or `plugin.parameters` there).
fn with_source_overrides(app: &App, dir: &Path) -> App {
    let params = app.params.as_ref().map(|ps| {
        ps.iter()
            .map(|p| match p {
                Param::String(n, s) => json!({"name": n, "string": s}),
                Param::Array(n, a) => json!({"name": n, "array": a}),
                Param::Map(n, m) => json!({"name": n, "map": m}),
            })
            .collect::<Vec<_>>()
    });
    let mut plugin = json!({"name": app.plugin_name});
    if !app.env.is_empty() {
        plugin["env"] = app.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect();
    }
    if let Some(params) = params {
        plugin["parameters"] = Value::Array(params);
    }
    let mut source = json!({"path": app.path, "plugin": plugin});
    for file in [
        ".argocd-source.yaml".to_string(),
        format!(".argocd-source-{}.yaml", app.name),
    ] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let patch: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        merge_patch(&mut source, &serde_json::to_value(patch).unwrap());
    }
    app_from_manifest(&json!({
        "metadata": {"name": app.name},
        "spec": {"source": source, "destination": {"namespace": app.dest_namespace}},
    }))
}

/// RFC 7386: objects merge key by key, `null` removes, anything else
/// (arrays included) replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in patch {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn rand_id() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    (h.finish() as u128) << 64 | std::process::id() as u128
}

/// The first link under `dir` that is absolute or resolves outside `root`
/// (or to `root` itself), relative to `root`.
fn out_of_bounds_link(root: &Path, dir: &Path) -> Option<String> {
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            let inside = !target.is_absolute()
                && entry.path().parent().unwrap().join(&target).canonicalize().map_or_else(
                    |_| {
                        let rel = dir.strip_prefix(root).unwrap().join(&target);
                        !krm_promote_host::sandbox::normalise(&rel).starts_with("..")
                    },
                    // The work directory itself is refused too.
                    |real| {
                        let root = root.canonicalize().unwrap();
                        real.starts_with(&root) && real != root
                    },
                );
            if !inside {
                return Some(entry.path().strip_prefix(root).unwrap().display().to_string());
            }
        } else if kind.is_dir()
            && let Some(found) = out_of_bounds_link(root, &entry.path())
        {
            return Some(found);
        }
    }
    None
}

fn copy_with_modes(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_symlink() {
            // In bounds (checked at checkout): kept as a relative link.
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if entry.file_type().unwrap().is_dir() {
            copy_with_modes(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// The repo-server's reading of a plugin's stdout (apimachinery's
/// YAMLOrJSONDecoder, then `kind` checks and `List` flattening).
fn parse_manifests(stdout: &str) -> Result<Vec<Value>, String> {
    let sniff = stdout.chars().take(4096).find(|c| !c.is_whitespace());
    let mut docs: Vec<Value> = Vec::new();
    let mut json_ok = false;
    if sniff == Some('{') {
        let mut decoded = Vec::new();
        let mut failed = None;
        for v in serde_json::Deserializer::from_str(stdout).into_iter::<Value>() {
            match v {
                Ok(v) => decoded.push(v),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => {
                docs = decoded;
                json_ok = true;
            }
            Some(e) if decoded.len() >= 2 => return Err(format!("failed to unmarshal manifest: {e}")),
            Some(_) => {}
        }
    }
    if !json_ok {
        let mut current = String::new();
        let mut parts = Vec::new();
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("---") {
                let rest = rest.trim();
                if !rest.is_empty() && !rest.starts_with('#') {
                    return Err(format!("invalid Yaml document separator: {rest}"));
                }
                parts.push(std::mem::take(&mut current));
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        parts.push(current);
        for part in parts {
            let v: serde_yaml::Value =
                serde_yaml::from_str(&part).map_err(|e| format!("failed to unmarshal manifest: {e}"))?;
            if !v.is_null() {
                docs.push(serde_json::to_value(v).unwrap());
            }
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        if !doc.is_object() {
            return Err(format!(
                "failed to convert CMP manifests to unstructured objects: cannot unmarshal {doc} into an object"
            ));
        }
        if doc.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!(
                "failed to convert CMP manifests to unstructured objects: Object 'Kind' is missing in '{doc}'"
            ));
        }
        match doc.get("items") {
            Some(Value::Array(items)) => out.extend(items.iter().cloned()),
            Some(Value::Null) if doc.get("spec").is_none() && doc.get("status").is_none() => {}
            _ => out.push(doc),
        }
    }
    Ok(out)
}

fn find_app<'a>(apps: &'a [App], name: &str) -> &'a App {
    apps.iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no Application {name} in the examples"))
}

fn kinds(manifests: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for d in manifests {
        *m.entry(d["kind"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    m
}

fn images(manifests: &[Value]) -> Vec<String> {
    let d = manifests.iter().find(|d| d["kind"] == "Deployment").unwrap();
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| {
            d["spec"]["template"]["spec"][*k]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["image"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn emulator_encodes_parameters_like_argo_cd() {
    let params = Some(vec![
        Param::Array("values-files".into(), vec!["values-dev.yaml".into()]),
        Param::Map(
            "helm-parameters".into(),
            BTreeMap::from([("a".into(), "b".into()), ("image.tag".into(), "v1.2.3".into())]),
        ),
        Param::String("str".into(), "a<b>&c \"q\" \u{2028} é".into()),
        Param::Map("empty-map".into(), BTreeMap::new()),
    ]);
    assert_eq!(
        app_parameters_json(&params),
        r#"[{"array":["values-dev.yaml"],"name":"values-files"},{"map":{"a":"b","image.tag":"v1.2.3"},"name":"helm-parameters"},{"name":"str","string":"a\u003cb\u003e\u0026c \"q\" \u2028 é"},{"map":{},"name":"empty-map"}]"#
    );
    assert_eq!(app_parameters_json(&None), "null");
    for (name, escaped) in [
        ("values-files", "VALUES_FILES"),
        ("image.tag", "IMAGE_TAG"),
        ("ß", "_"),
        ("é", "_"),
        ("日本", "__"),
        ("a b", "A_B"),
        ("ıſ", "IS"),
    ] {
        assert_eq!(escape(name), escaped);
    }
    let build = vec![("ARGOCD_APP_REVISION".to_string(), "abc123".to_string())];
    assert_eq!(envsubst("test-$ARGOCD_APP_REVISION", &build), "test-abc123");
    assert_eq!(envsubst("$HOME/x", &build), "/x");
    assert_eq!(envsubst("$$FOO", &build), "$FOO");
    assert_eq!(envsubst("${UNKNOWN:-def}", &build), "");
}

#[test]
fn every_example_application_renders() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let apps = example_apps();
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    for expected in [
        "threescale-staging",
        "threescale-production",
        "books-api-staging",
        "books-api-production",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    // A warm cache shared by the test run (the parallel test starts cold).
    let sidecar = Sidecar::new(support::cache_dir());
    for app in &apps {
        let manifests = sidecar.generate(app).unwrap_or_else(|e| panic!("{}: {e}", app.name));
        let kinds = kinds(&manifests);
        assert!(
            !kinds.contains_key("KrmPromote"),
            "{}: the config is not a manifest",
            app.name
        );
        if app.name.starts_with("threescale-") {
            let env = app.name.trim_start_matches("threescale-");
            assert_eq!(kinds["ProxyConfigPromote"], 3, "{}", app.name);
            assert_eq!(
                (kinds["Product"], kinds["Backend"], kinds["Secret"]),
                (3, 3, 2),
                "{}",
                app.name
            );
            for p in manifests.iter().filter(|d| d["kind"] == "ProxyConfigPromote") {
                assert!(p["metadata"]["name"].as_str().unwrap().contains(&format!("-{env}-")));
                assert_eq!(p["spec"]["production"], env == "production");
            }
        } else {
            assert_eq!(
                kinds,
                BTreeMap::from([("Deployment".into(), 1), ("Service".into(), 1)]),
                "{}",
                app.name
            );
            // Staging: the tag Image Updater left in the plugin env;
            // production: the `images` parameter. Both say 2.0.0.
            assert_eq!(
                images(&manifests),
                ["ghcr.io/parraletz/books-api:2.0.0"; 2],
                "{}",
                app.name
            );
        }
    }
}

#[test]
fn image_updater_env_and_parameters_reach_the_deployment() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let apps = example_apps();
    // A warm cache shared by the test run (the parallel test starts cold).
    let sidecar = Sidecar::new(support::cache_dir());

    // Image Updater wrote a newer tag into the staging Application's env.
    let mut staging = find_app(&apps, "books-api-staging").clone();
    staging.env = vec![("BOOKS_API_IMAGE_TAG".into(), "2.0.3".into())];
    assert_eq!(
        images(&sidecar.generate(&staging).unwrap()),
        ["ghcr.io/parraletz/books-api:2.0.3"; 2]
    );

    // A plugin env value with a build variable is expanded by Argo CD first.
    staging.env = vec![(
        "KRM_PROMOTE_IMAGES".into(),
        "ghcr.io/parraletz/books-api:sha-$ARGOCD_APP_REVISION_SHORT".into(),
    )];
    assert_eq!(
        images(&sidecar.generate(&staging).unwrap()),
        vec![format!("ghcr.io/parraletz/books-api:sha-{}", &REVISION[..7]); 2]
    );

    // The release pipeline sets the production parameter.
    let mut production = find_app(&apps, "books-api-production").clone();
    production.params = Some(vec![Param::Array(
        "images".into(),
        vec!["ghcr.io/parraletz/books-api:2.1.0".into()],
    )]);
    assert_eq!(
        images(&sidecar.generate(&production).unwrap()),
        ["ghcr.io/parraletz/books-api:2.1.0"; 2]
    );
}

#[test]
fn failures_reach_the_application_with_a_clear_message() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let apps = example_apps();
    // A warm cache shared by the test run (the parallel test starts cold).
    let sidecar = Sidecar::new(support::cache_dir());
    let prefix = "Failed to load target state: failed to generate manifest for source 1 of 1: rpc error: code = Unknown desc = CMP processing failed for application";

    // :latest in production.
    let mut production = find_app(&apps, "books-api-production").clone();
    production.params = Some(vec![Param::Array(
        "images".into(),
        vec!["ghcr.io/parraletz/books-api:latest".into()],
    )]);
    let err = sidecar.generate(&production).unwrap_err();
    assert!(err.starts_with(prefix), "{err}");
    let failure = "error generating manifests: `krm-promote generate` failed exit status 1: [error] apps/v1/Deployment/books-production/books-api spec.template.spec.containers[0].image: image ghcr.io/parraletz/books-api:latest has tag \"latest\", which is mutable; production requires a fixed tag or a digest\n[error] apps/v1/Deployment/books-production/books-api spec.template.spec.initContainers[0].image: image ghcr.io/parraletz/books-api:latest has tag \"latest\", which is mutable; production requires a fixed tag or a digest\nkrm-promote: 2 error results";
    assert!(err.ends_with(failure), "{err}");

    // A misspelt parameter.
    production.params = Some(vec![Param::String("enviroment".into(), "production".into())]);
    let err = sidecar.generate(&production).unwrap_err();
    assert!(
        err.contains("[error] settings.enviroment: unknown setting \"enviroment\""),
        "{err}"
    );

    // Malformed parameters JSON never reaches the function as settings.
    production.params = Some(vec![Param::Map(
        "images".into(),
        BTreeMap::from([("a".into(), "b".into())]),
    )]);
    let err = sidecar.generate(&production).unwrap_err();
    assert!(
        err.contains(
            "failed exit status 2: krm-promote: error: parameter \"images\": map parameters are not supported"
        ),
        "{err}"
    );

    // A kustomization that asks for a KRM function (the kustomize-CLI
    // wiring of the 3scale example) is refused: no code from the repository.
    let mut direct = find_app(&apps, "threescale-staging").clone();
    direct.path = "examples/3scale-gitops/environments/staging".into();
    let err = sidecar.generate(&direct).unwrap_err();
    assert!(
        err.contains("the kustomization asks for a kustomize plugin or KRM function"),
        "{err}"
    );
    assert!(err.contains("never runs code from the repository"), "{err}");
    assert!(err.contains("KrmPromote"), "kustomize's own words name the kind: {err}");
}

#[test]
fn bad_manifests_in_a_plain_directory_name_the_file() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("examples/plain");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/b.yaml"), "apiVersion: v1\nmetadata:\n  name: no-kind\n").unwrap();
    std::fs::write(dir.join("README.md"), "not a manifest\n").unwrap();
    let mut sidecar = Sidecar::new(support::cache_dir());
    sidecar.repo = repo.path().to_path_buf();
    let app = App {
        name: "plain".into(),
        path: "examples/plain".into(),
        plugin_name: sidecar.plugin.socket_name.clone(),
        dest_namespace: "default".into(),
        env: Vec::new(),
        params: None,
    };
    let err = sidecar.generate(&app).unwrap_err();
    assert!(
        err.ends_with(
            "`krm-promote generate` failed exit status 2: krm-promote: error: invalid manifests: document 2 (sub/b.yaml line 1) has no kind"
        ),
        "{err}"
    );

    // The good manifest alone renders; a directory with no manifests is
    // refused rather than printing nothing (auto-prune would delete all).
    std::fs::remove_file(dir.join("sub/b.yaml")).unwrap();
    let manifests = sidecar.generate(&app).unwrap();
    assert_eq!(
        manifests,
        [json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine"}})]
    );
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    let err = sidecar.generate(&app).unwrap_err();
    assert!(
        err.contains("failed exit status 2: krm-promote: error: no manifests in .: refusing to print an empty render"),
        "{err}"
    );
}

#[test]
fn parameters_announce_current_values() {
    let apps = example_apps();
    // A warm cache shared by the test run (the parallel test starts cold).
    let sidecar = Sidecar::new(support::cache_dir());
    let announced = sidecar.parameters(find_app(&apps, "books-api-production")).unwrap();
    let names: Vec<&str> = announced.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["environment", "images", "trigger-mode"]);
    assert_eq!(announced[0]["string"], "production", "from krm-promote.yaml");
    assert_eq!(
        announced[1]["array"],
        json!(["ghcr.io/parraletz/books-api:2.0.0"]),
        "from the Application's parameter"
    );
    assert_eq!(announced[1]["collectionType"], "array");

    // plugin.env is expanded with the four announcement variables only:
    // the revision is unknown there, but not when generating.
    let mut staging = find_app(&apps, "books-api-staging").clone();
    staging.env = vec![("KRM_PROMOTE_ENVIRONMENT".into(), "s$ARGOCD_APP_REVISION_SHORT".into())];
    let announced = sidecar.parameters(&staging).unwrap();
    assert_eq!(announced[0]["string"], "s");
    let generate_env = request_env(&staging);
    assert!(generate_env.contains(&(
        "ARGOCD_ENV_KRM_PROMOTE_ENVIRONMENT".into(),
        format!("s{}", &REVISION[..7])
    )));
}

/// Eight concurrent renders with a cold cache (the built-in compiled
/// component ignored, as on a machine it does not fit) give identical
/// output.
#[test]
fn parallel_generate_with_a_cold_cache_is_identical() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let apps = example_apps();
    let app = find_app(&apps, "threescale-staging").clone();
    let cache = tempfile::tempdir().unwrap();
    let mut sidecar = Sidecar::new(cache.path().join("cold"));
    sidecar.env.push(("KRM_PROMOTE_PRECOMPILED".into(), "off".into()));
    let outputs: Vec<Vec<Value>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| sidecar.generate(&app).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(outputs.iter().all(|o| o == &outputs[0]));
    assert_eq!(kinds(&outputs[0])["ProxyConfigPromote"], 3);
    let artifacts = std::fs::read_dir(cache.path().join("cold"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(artifacts, 1, "one cached artifact, no leftovers from racing writers");
}

/// Directories under `root` matching a git-generator path pattern
/// (`*` matches one path segment, as in Argo CD's `directories[].path`),
/// relative to `root`, sorted.
fn glob_dirs(root: &Path, pattern: &str) -> Vec<String> {
    let mut found = vec![String::new()];
    for segment in pattern.split('/') {
        let mut next = Vec::new();
        for prefix in &found {
            let dir = root.join(prefix);
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| segment == "*" || n == segment)
                .collect();
            names.sort();
            for name in names {
                next.push(if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}/{name}")
                });
            }
        }
        found = next;
    }
    found
}

/// The platform example's ApplicationSet (a git directory generator over
/// `values/*/*/*`) expanded as Argo CD expands it: every generated
/// Application renders through the plugin into its environment's namespace,
/// with its environment's image tag, one promotion per API product
/// (production-flagged only in prod), and only kinds its team's AppProject
/// allows, in namespaces the project allows.
#[test]
fn platform_application_set_renders_every_application() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let root = support::repo().join("examples/platform-gitops");
    let set: Value = serde_json::to_value(
        serde_yaml::from_str::<serde_yaml::Value>(
            &std::fs::read_to_string(root.join("argocd/applications/platform.yaml")).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(set["kind"], "ApplicationSet");
    let pattern = set["spec"]["generators"][0]["git"]["directories"][0]["path"]
        .as_str()
        .unwrap();
    let dirs = glob_dirs(&root, pattern);
    assert_eq!(dirs.len(), 8 * 3, "8 applications in 3 environments: {dirs:?}");

    let sidecar = Sidecar::new(support::cache_dir());
    let mut promotions = 0;
    for dir in &dirs {
        let segments: Vec<&str> = dir.split('/').collect();
        let (env, team, name) = (segments[1], segments[2], segments[3]);
        let mut template = serde_json::to_string(&set["spec"]["template"]).unwrap();
        for (i, s) in segments.iter().enumerate() {
            template = template.replace(&format!("{{{{index .path.segments {i}}}}}"), s);
        }
        template = template.replace("{{.path.path}}", dir);
        assert!(!template.contains("{{"), "unexpanded template: {template}");
        let manifest: Value = serde_json::from_str(&template).unwrap();
        assert_eq!(manifest["metadata"]["name"], format!("{name}-{env}"));
        let mut app = app_from_manifest(&manifest);
        app.path = format!("examples/platform-gitops/{}", app.path);
        let project_name = manifest["spec"]["project"].as_str().unwrap();
        let project: Value = serde_json::to_value(
            serde_yaml::from_str::<serde_yaml::Value>(
                &std::fs::read_to_string(root.join(format!("argocd/projects/{project_name}.yaml"))).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();

        let out = sidecar.generate(&app).unwrap_or_else(|e| panic!("{}: {e}", app.name));
        let namespace = format!("{team}-{env}");
        assert_eq!(app.dest_namespace, namespace);
        assert!(
            project["spec"]["destinations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["namespace"] == namespace.as_str()),
            "{}: project {project_name} does not allow namespace {namespace}",
            app.name
        );
        let allowed = project["spec"]["namespaceResourceWhitelist"].as_array().unwrap();
        for d in &out {
            assert_eq!(d["metadata"]["namespace"], namespace.as_str(), "{}: {d}", app.name);
            let group = d["apiVersion"]
                .as_str()
                .unwrap()
                .rsplit_once('/')
                .map_or("", |(g, _)| g);
            assert!(
                allowed.iter().any(|a| a["group"] == group && a["kind"] == d["kind"]),
                "{}: project {project_name} does not allow {group}/{}",
                app.name,
                d["kind"]
            );
        }
        let config = std::fs::read_to_string(root.join(dir).join("krm-promote.yaml")).unwrap();
        let pinned = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("- ghcr.io/"))
            .map(|i| format!("ghcr.io/{i}"))
            .unwrap();
        assert_eq!(images(&out)[0], pinned, "{}", app.name);
        let counts = kinds(&out);
        let products = counts.get("Product").copied().unwrap_or(0);
        assert_eq!(
            counts.get("ProxyConfigPromote").copied().unwrap_or(0),
            products,
            "{}",
            app.name
        );
        for pcp in out.iter().filter(|d| d["kind"] == "ProxyConfigPromote") {
            assert_eq!(pcp["spec"]["production"], json!(env == "prod"), "{}", app.name);
            assert_eq!(pcp["spec"]["productCRName"], name, "{}", app.name);
            promotions += 1;
        }
    }
    assert_eq!(promotions, 2 * 3, "two API applications in three environments");
}

#[test]
fn symbolic_links_follow_argo_cds_rules() {
    let repo = tempfile::tempdir().unwrap();
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    for (path, text) in [
        ("examples/linked/cm.yaml", cm("own")),
        ("examples/shared/cm.yaml", cm("shared")),
    ] {
        let path = repo.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let link = repo.path().join("examples/linked/shared.yaml");
    std::os::unix::fs::symlink("../shared/cm.yaml", &link).unwrap();
    let mut sidecar = Sidecar::new(support::cache_dir());
    sidecar.repo = repo.path().to_path_buf();
    let app = App {
        name: "linked".into(),
        path: "examples/linked".into(),
        plugin_name: sidecar.plugin.socket_name.clone(),
        dest_namespace: "default".into(),
        env: Vec::new(),
        params: None,
    };
    // A link inside the repository survives the unpack and is followed.
    let names: Vec<String> = sidecar
        .generate(&app)
        .unwrap()
        .iter()
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["own", "shared"]);
    // Absolute and escaping links never reach the plugin.
    for target in ["/etc/hostname", "../../../outside.yaml", "../.."] {
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
        let err = sidecar.generate(&app).unwrap_err();
        assert!(
            err.ends_with("repository contains out-of-bounds symlinks. file: examples/linked/shared.yaml"),
            "{err}"
        );
    }
}

#[test]
fn a_render_past_the_deadline_is_killed_with_its_process_group() {
    // A kustomize that never finishes: a stand-in kubectl running a
    // recognisable sleep in the plugin's process group.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = "300.4242";
    let script = bin.join("kubectl");
    std::fs::write(&script, format!("#!/bin/sh\n/bin/sleep {marker}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut sidecar = Sidecar::new(support::cache_dir());
    let path = std::env::join_paths([bin.clone(), support::bin().parent().unwrap().to_path_buf()]).unwrap();
    sidecar.env = vec![("PATH".into(), path.into_string().unwrap())];
    sidecar.deadline = std::time::Duration::from_secs(2);
    let apps = example_apps();
    let app = find_app(&apps, "books-api-staging");
    let err = sidecar.generate(app).unwrap_err();
    assert!(err.contains("`krm-promote generate` failed signal: killed"), "{err}");
    // Nothing of the render is left running.
    let stray: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect();
    assert!(stray.is_empty(), "stray processes: {stray:?}");
}

#[test]
fn image_updater_git_write_back_reaches_the_plugin() {
    if support::tool("kubectl").is_none() {
        return;
    }
    let apps = example_apps();
    let staging = find_app(&apps, "books-api-staging");
    let repo = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo().join("examples"), &repo.path().join("examples"));
    let dir = repo.path().join(&staging.path);
    let mut sidecar = Sidecar::new(support::cache_dir());
    sidecar.repo = repo.path().to_path_buf();
    // Image Updater's git write-back for a plugin source: the env it
    // manages, in the application-specific override file.
    std::fs::write(
        dir.join(".argocd-source-books-api-staging.yaml"),
        "plugin:\n  env:\n    - name: BOOKS_API_IMAGE_TAG\n      value: 2.0.7\n",
    )
    .unwrap();
    assert_eq!(
        images(&sidecar.generate(staging).unwrap()),
        ["ghcr.io/parraletz/books-api:2.0.7"; 2]
    );
    // The shared file applies first; the application's file wins over it.
    std::fs::write(
        dir.join(".argocd-source.yaml"),
        "plugin:\n  parameters:\n    - name: images\n      array: [ghcr.io/parraletz/books-api:2.0.5]\n",
    )
    .unwrap();
    assert_eq!(
        images(&sidecar.generate(staging).unwrap()),
        ["ghcr.io/parraletz/books-api:2.0.5"; 2],
        "the images parameter wins over the plugin env"
    );
    std::fs::remove_file(dir.join(".argocd-source-books-api-staging.yaml")).unwrap();
    std::fs::write(
        dir.join(".argocd-source-books-api-staging.yaml"),
        "plugin:\n  parameters: null\n",
    )
    .unwrap();
    assert_eq!(
        images(&sidecar.generate(staging).unwrap()),
        ["ghcr.io/parraletz/books-api:2.0.0"; 2],
        "null removes the shared file's parameters; the Application's env is back"
    );
}
