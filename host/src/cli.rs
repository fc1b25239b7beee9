//! Command-line handling: which mode, which limits, and the stdout/stderr
//! and exit-code protocol around one call of the component.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::bindings::exports::krm_promote::function::krm;
use crate::cache::{CacheMode, Loader};
use crate::exit_code;
use crate::runtime::{Guest, Limits};
use crate::sandbox::Repository;

/// `--help` text.
pub const HELP: &str = "\
krm-promote: render-time promotion triggers and image-tag overrides, as a KRM function

USAGE:
    krm-promote [fn] [OPTIONS]     KRM exec function: ResourceList on stdin, ResourceList on stdout
                                   (kpt fn eval --exec, kpt fn render, kustomize KRM functions)
    krm-promote CONFIG_FILE        kustomize legacy exec plugin: CONFIG_FILE holds the functionConfig,
                                   a plain YAML stream on stdin and stdout
                                   (kubectl kustomize --enable-alpha-plugins)
    krm-promote generate [DIR]     Argo CD config-management plugin: render DIR (kustomize build, or its
                                   manifests), run the function, print one JSON object per resource
    krm-promote parameters [DIR]   Argo CD plugin parameter announcement (JSON) with DIR's current values
    krm-promote preview [PATH...] [--base REV] [--format human|markdown|json] [--exit-code]
                                   render each environment PATH at REV (default: the merge-base with
                                   the upstream branch, else HEAD) and in the working tree, and report
                                   the promotions, image changes and resource diffs; --exit-code exits 1
                                   when something would change
    krm-promote help | --help      this text
    krm-promote version | --version

OPTIONS:
    --memory-limit MIB   cap on the function's memory [env KRM_PROMOTE_MEMORY_LIMIT, default 2048]
    --timeout SECONDS    cap on the function's run time [env KRM_PROMOTE_TIMEOUT, default 60]
    --max-input MIB      largest input accepted [env KRM_PROMOTE_MAX_INPUT, default 512]
    --no-cache           write no compiled-function cache: use the built-in compiled function or
                         compile it in memory [env KRM_PROMOTE_CACHE=off]

FUNCTION CONFIG (ResourceList.functionConfig, or the legacy plugin's CONFIG_FILE):
    apiVersion: fn.krm-promote.dev/v1alpha1
    kind: KrmPromote
    spec: {environment: staging, triggerMode: content}
  or a ConfigMap with data keys environment, trigger-mode, images
  (what `kpt fn eval --exec krm-promote -- environment=staging` sends).

EXIT CODES:
    0  success; stdout holds the complete output
    1  the function reported error results: they are printed on stderr; for a ResourceList,
       stdout holds the complete output including the results; for a legacy stream and for
       generate, stdout is empty
    2  usage error or unreadable input (not UTF-8, not YAML, not a ResourceList, too large;
       for generate also a failed or refused kustomize build, bad parameters, no manifests);
       stdout is empty
    3  the function crashed or hit its memory or time limit; stdout is empty

ENVIRONMENT:
    KRM_PROMOTE_CACHE_DIR   where the compiled function is cached when the built-in compiled
                            function does not fit this machine; used only if no other user
                            can write to it or above it (SECURITY.md)
                            [default $XDG_CACHE_HOME/krm-promote or ~/.cache/krm-promote]
    KRM_PROMOTE_PRECOMPILED=off  ignore the built-in compiled function (troubleshooting)
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// KRM exec function.
    Function,
    /// Legacy kustomize exec plugin with this config file.
    LegacyPlugin(PathBuf),
    /// Argo CD plugin: render this directory, print JSON manifests.
    Generate(PathBuf),
    /// Argo CD plugin: print the parameter announcement for this directory.
    Parameters(PathBuf),
    /// Compare renders at a base revision and in the working tree.
    Preview(crate::preview::Request),
    /// Print help.
    Help,
    /// Print the version.
    Version,
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The mode.
    pub mode: Mode,
    /// Caps for the function.
    pub limits: Limits,
    /// Largest input accepted, in bytes.
    pub max_input: usize,
    /// Where the compiled component comes from.
    pub cache: Loader,
}

fn mib(value: &str, what: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 && n <= 1 << 20 => Ok(n << 20),
        _ => Err(format!(
            "{what} must be a whole number of MiB greater than 0, got {value:?}"
        )),
    }
}

fn seconds(value: &str, what: &str) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{what} must be a number of seconds greater than 0, got {value:?}"
        )),
    }
}

/// Parses arguments and the environment.
pub fn parse(args: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> Result<Options, String> {
    let mut options = Options {
        mode: Mode::Function,
        limits: Limits::default(),
        max_input: 512 << 20,
        cache: Loader::from_env(env),
    };
    if let Some(v) = env("KRM_PROMOTE_MEMORY_LIMIT") {
        options.limits.memory_bytes = mib(&v, "KRM_PROMOTE_MEMORY_LIMIT")?;
    }
    if let Some(v) = env("KRM_PROMOTE_TIMEOUT") {
        options.limits.timeout = seconds(&v, "KRM_PROMOTE_TIMEOUT")?;
    }
    if let Some(v) = env("KRM_PROMOTE_MAX_INPUT") {
        options.max_input = mib(&v, "KRM_PROMOTE_MAX_INPUT")?;
    }

    // kustomize's legacy exec plugin convention: argv[1] is the path of a
    // temporary file holding the plugin config, and nothing else follows.
    if let [only] = args {
        let first = only.to_string_lossy();
        let is_word = matches!(
            first.as_ref(),
            "fn" | "help" | "version" | "generate" | "parameters" | "preview"
        ) || first.starts_with('-');
        if !is_word {
            let path = PathBuf::from(only);
            if path.is_file() {
                options.mode = Mode::LegacyPlugin(path);
                return Ok(options);
            }
            return Err(format!("unknown command or missing config file {first:?}"));
        }
    }

    let mut args = args.iter().map(|a| a.to_string_lossy().into_owned());
    let mut command_seen = false;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" | "help" => options.mode = Mode::Help,
            "-V" | "--version" | "version" => options.mode = Mode::Version,
            "fn" if !command_seen => command_seen = true,
            "generate" if !command_seen => {
                command_seen = true;
                options.mode = Mode::Generate(PathBuf::from("."));
            }
            "parameters" if !command_seen => {
                command_seen = true;
                options.mode = Mode::Parameters(PathBuf::from("."));
            }
            "preview" if !command_seen => {
                command_seen = true;
                options.mode = Mode::Preview(crate::preview::Request::default());
            }
            "--base" | "--format" | "--exit-code" if matches!(options.mode, Mode::Preview(_)) => {
                let Mode::Preview(request) = &mut options.mode else {
                    unreachable!()
                };
                match flag.as_str() {
                    "--base" => request.base = Some(value("--base")?),
                    "--format" => request.format = Some(value("--format")?),
                    _ => request.exit_code = true,
                }
            }
            "--memory-limit" => options.limits.memory_bytes = mib(&value("--memory-limit")?, "--memory-limit")?,
            "--timeout" => options.limits.timeout = seconds(&value("--timeout")?, "--timeout")?,
            "--max-input" => options.max_input = mib(&value("--max-input")?, "--max-input")?,
            "--no-cache" => options.cache.cache = CacheMode::Off,
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            other => match &mut options.mode {
                Mode::Preview(request) => request.paths.push(PathBuf::from(other)),
                Mode::Generate(dir) | Mode::Parameters(dir) if dir.as_os_str() == "." => *dir = PathBuf::from(other),
                _ => return Err(format!("unexpected argument {other:?}")),
            },
        }
    }
    Ok(options)
}

/// Runs the command line and returns the exit code.
pub fn run(
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let options = match parse(args, env) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(
                stderr,
                "krm-promote: error: {}\nRun `krm-promote --help` for usage.",
                printable(&e)
            );
            return exit_code::INVALID_INPUT;
        }
    };
    let result = match &options.mode {
        Mode::Help => {
            let _ = stdout.write_all(HELP.as_bytes());
            Ok(exit_code::OK)
        }
        Mode::Version => {
            let _ = writeln!(
                stdout,
                "krm-promote {} (function component sha256:{})",
                env!("CARGO_PKG_VERSION"),
                &crate::runtime::GUEST_SHA256[..12]
            );
            Ok(exit_code::OK)
        }
        Mode::Generate(dir) => generate(&options, dir, env, stdout, stderr),
        Mode::Parameters(dir) => parameters(&options, dir, env, stdout),
        Mode::Preview(request) => Guest::load(&options.cache)
            .map_err(|e| (exit_code::FUNCTION_FAILED, format!("{e:#}")))
            .and_then(|guest| crate::preview::run(request, &guest, &options.limits, options.max_input, stdout)),
        Mode::Function | Mode::LegacyPlugin(_) => render(&options, env, stdin, stdout, stderr),
    };
    result.unwrap_or_else(|(code, message)| {
        let _ = writeln!(stderr, "krm-promote: error: {}", printable(&message));
        code
    })
}

/// `text` with control characters (terminal escape sequences, carriage
/// returns, ...) written as escapes: messages quote manifests, paths and
/// settings, which must not drive the reader's terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

type Failure = (u8, String);

fn render(
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let invalid = |m: String| (exit_code::INVALID_INPUT, m);
    let (framing, function_config) = match &options.mode {
        Mode::LegacyPlugin(path) => {
            let text = match std::fs::read(path) {
                Ok(bytes) => String::from_utf8(bytes)
                    .map_err(|_| invalid(format!("config file {} is not valid UTF-8", path.display())))?,
                Err(e) => env("KUSTOMIZE_PLUGIN_CONFIG_STRING")
                    .ok_or_else(|| invalid(format!("reading config file {}: {e}", path.display())))?,
            };
            (krm::Framing::YamlStream, Some(text))
        }
        _ => (krm::Framing::ResourceList, None),
    };

    let argo = crate::argocd::from_env(&vars(env, &["ARGOCD_", "PARAM_"])).map_err(invalid)?;
    let input = read_input(stdin, options.max_input)?;
    let setting = |(key, value): (String, String)| krm::Setting { key, value };
    let context = krm::Context {
        framing,
        output_format: krm::OutputFormat::SameAsInput,
        function_config,
        settings: argo.settings.into_iter().map(setting).collect(),
        source_revision: argo.source_revision,
        plugin_env: argo.plugin_env.into_iter().map(setting).collect(),
        operator_settings: Vec::new(),
    };
    let guest = Guest::load(&options.cache).map_err(|e| (exit_code::FUNCTION_FAILED, format!("{e:#}")))?;
    let output = guest
        .call(&input, &context, &options.limits)
        .map_err(|e| (exit_code::FUNCTION_FAILED, e.to_string()))?;
    let output = match output {
        Ok(o) => o,
        Err(krm::Error::InvalidInput(m)) => return Err(invalid(format!("invalid input: {m}"))),
        Err(krm::Error::InvalidConfig(m)) => {
            return Err(invalid(format!("invalid functionConfig: {m}")));
        }
    };

    let legacy = framing == krm::Framing::YamlStream;
    // kustomize never shows results, so a legacy plugin prints warnings too.
    print_diagnostics(stderr, &output, legacy);
    if output.has_errors {
        if legacy {
            return Ok(exit_code::ERROR_RESULTS);
        }
    } else if output.document.trim().is_empty() && !(legacy && input.trim().is_empty()) {
        // Never exit 0 with nothing on stdout: orchestrators would prune
        // every resource.
        return Err((
            exit_code::FUNCTION_FAILED,
            "the function produced an empty output".into(),
        ));
    }
    stdout
        .write_all(output.document.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| invalid(format!("writing stdout: {e}")))?;
    Ok(if output.has_errors {
        exit_code::ERROR_RESULTS
    } else {
        exit_code::OK
    })
}

/// Prints error results (and warnings, if `warnings`) on stderr, one per
/// line, and a count of the errors.
fn print_diagnostics(stderr: &mut dyn Write, output: &krm::Output, warnings: bool) {
    for d in &output.diagnostics {
        let show = match d.severity {
            krm::Severity::Error => true,
            krm::Severity::Warning => warnings,
            krm::Severity::Info => false,
        };
        if show {
            let _ = writeln!(stderr, "{}", printable(&d.message));
        }
    }
    if output.has_errors {
        let n = output
            .diagnostics
            .iter()
            .filter(|d| d.severity == krm::Severity::Error)
            .count();
        let _ = writeln!(stderr, "krm-promote: {n} error result{}", if n == 1 { "" } else { "s" });
    }
}

/// `krm-promote generate [DIR]`.
fn generate(
    options: &Options,
    dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let repo = repository(dir, env)?;
    let context = crate::generate::context(&repo, dir, &vars(env, &["ARGOCD_", "PARAM_", "KRM_PROMOTE_"]))?;
    // Load the component while kustomize runs: Argo CD waits for both.
    let (rendered, guest) = std::thread::scope(|scope| {
        let loading = scope.spawn(|| Guest::load(&options.cache));
        let rendered = crate::generate::render(&repo, dir, options.max_input);
        (rendered, loading.join())
    });
    let rendered = rendered?;
    let guest = guest
        .map_err(|_| (exit_code::FUNCTION_FAILED, "loading the component panicked".to_string()))?
        .map_err(|e| (exit_code::FUNCTION_FAILED, format!("{e:#}")))?;
    if rendered.stream.trim().is_empty() {
        return Err((
            exit_code::INVALID_INPUT,
            format!(
                "no manifests in {}: refusing to print an empty render (Argo CD would prune everything)",
                dir.display()
            ),
        ));
    }
    if rendered.stream.len() > options.max_input {
        return Err((
            exit_code::INVALID_INPUT,
            format!("the render is larger than {} MiB", options.max_input >> 20),
        ));
    }
    let output = guest
        .call(&rendered.stream, &context, &options.limits)
        .map_err(|e| (exit_code::FUNCTION_FAILED, e.to_string()))?;
    let output = match output {
        Ok(o) => o,
        Err(krm::Error::InvalidInput(m)) => {
            return Err((
                exit_code::INVALID_INPUT,
                rendered.locate(&format!("invalid manifests: {m}")),
            ));
        }
        Err(krm::Error::InvalidConfig(m)) => {
            return Err((
                exit_code::INVALID_INPUT,
                format!("invalid {}: {m}", crate::generate::CONFIG_FILE),
            ));
        }
    };
    print_diagnostics(stderr, &output, true);
    if output.has_errors {
        return Ok(exit_code::ERROR_RESULTS);
    }
    if output.document.trim().is_empty() {
        return Err((
            exit_code::INVALID_INPUT,
            "the render holds no resources once local-config resources are left out and Lists are \
             flattened: refusing to print an empty render (Argo CD would prune everything)"
                .into(),
        ));
    }
    stdout
        .write_all(output.document.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| (exit_code::INVALID_INPUT, format!("writing stdout: {e}")))?;
    Ok(exit_code::OK)
}

/// `krm-promote parameters [DIR]`.
fn parameters(
    options: &Options,
    dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn Write,
) -> Result<u8, Failure> {
    let repo = repository(dir, env)?;
    let context = crate::generate::context(&repo, dir, &vars(env, &["ARGOCD_", "PARAM_", "KRM_PROMOTE_"]))?;
    let guest = Guest::load(&options.cache).map_err(|e| (exit_code::FUNCTION_FAILED, format!("{e:#}")))?;
    let json = match guest.parameters(&context, &options.limits) {
        Ok(Ok(json)) => json,
        Ok(Err(krm::Error::InvalidInput(m) | krm::Error::InvalidConfig(m))) => {
            return Err((
                exit_code::INVALID_INPUT,
                format!("invalid {}: {m}", crate::generate::CONFIG_FILE),
            ));
        }
        Err(e) => return Err((exit_code::FUNCTION_FAILED, e.to_string())),
    };
    writeln!(stdout, "{json}").map_err(|e| (exit_code::INVALID_INPUT, format!("writing stdout: {e}")))?;
    Ok(exit_code::OK)
}

/// The repository `dir` belongs to (see [`Repository::for_app`]).
fn repository(dir: &std::path::Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Repository, Failure> {
    Repository::for_app(dir, env("ARGOCD_APP_SOURCE_PATH").as_deref()).map_err(|e| (exit_code::INVALID_INPUT, e))
}

/// Environment variables with one of `prefixes`, sorted by name (the
/// environment's own order is not observable through `env`).
fn vars(env: &dyn Fn(&str) -> Option<String>, prefixes: &[&str]) -> Vec<(String, String)> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    names.sort();
    names.into_iter().filter_map(|k| env(&k).map(|v| (k, v))).collect()
}

fn read_input(stdin: &mut dyn Read, max: usize) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    stdin
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (exit_code::INVALID_INPUT, format!("reading stdin: {e}")))?;
    if bytes.len() > max {
        return Err((
            exit_code::INVALID_INPUT,
            format!(
                "stdin is larger than {} MiB (raise the cap with --max-input or KRM_PROMOTE_MAX_INPUT)",
                max >> 20
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        (
            exit_code::INVALID_INPUT,
            format!("stdin is not valid UTF-8 (at byte {at})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Options, String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&args, &|_| None)
    }

    #[test]
    fn no_arguments_and_fn_mean_the_krm_function() {
        assert_eq!(parse_args(&[]).unwrap().mode, Mode::Function);
        assert_eq!(parse_args(&["fn"]).unwrap().mode, Mode::Function);
        assert_eq!(
            parse_args(&["fn", "--timeout", "5"]).unwrap().limits.timeout,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn an_existing_file_means_a_legacy_plugin() {
        let file = std::env::temp_dir().join(format!("krm-promote-cli-test-{}", std::process::id()));
        std::fs::write(&file, "kind: KrmPromote\n").unwrap();
        let mode = parse_args(&[file.to_str().unwrap()]).unwrap().mode;
        std::fs::remove_file(&file).unwrap();
        assert_eq!(mode, Mode::LegacyPlugin(file));
        assert!(
            parse_args(&["/no/such/file"])
                .unwrap_err()
                .contains("missing config file")
        );
    }

    #[test]
    fn messages_cannot_drive_the_terminal() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(
            printable("a\u{1b}]0;TITLE\u{7}b\nc\u{9b}"),
            "a\\u{1b}]0;TITLE\\u{7}b\\nc\\u{9b}"
        );
    }

    #[test]
    fn bad_limits_are_usage_errors() {
        assert!(
            parse_args(&["--memory-limit", "0"])
                .unwrap_err()
                .contains("--memory-limit")
        );
        assert!(parse_args(&["--timeout"]).unwrap_err().contains("needs a value"));
        assert!(parse_args(&["--frobnicate"]).unwrap_err().contains("unknown option"));
    }
}
