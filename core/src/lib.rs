//! The pure core of krm-promote: a KRM function as a function of text.
//!
//! [`process`] takes the bytes an orchestrator sent (a ResourceList, or a
//! plain stream for kustomize's legacy exec plugins) plus a [`Context`], and
//! returns the bytes to write back plus the results. It does no I/O, reads
//! no clock or environment, and gives the same output for the same input
//! natively and inside the WebAssembly guest.
//!
//! What it does *not* do: read files, run kustomize, talk to Argo CD. The
//! host binary does that and hands the results in.
//!
//! Output is produced by editing the input text in place ([`yaml::edit`]):
//! every byte the function does not deliberately change is kept, including
//! comments, key order, quoting and the `config.kubernetes.io/*` and
//! `internal.config.kubernetes.io/*` annotations orchestrators rely on.

pub mod config;
mod error;
pub mod images;
pub mod krm_result;
pub mod kustomize;
pub mod preview;
pub mod promote;
pub mod resource_list;
pub mod yaml;

pub use config::{Config, TriggerMode};
pub use error::Error;
pub use krm_result::{KrmResult, ResourceRef, Severity};

use resource_list::Input;
use yaml::{Edits, Tree};

/// How input and output are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A `config.kubernetes.io/v1` ResourceList in, a ResourceList out.
    ResourceList,
    /// A plain YAML stream in and out (kustomize legacy exec plugins).
    Stream,
}

/// How the output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Framed like the input.
    #[default]
    SameAsInput,
    /// One JSON object per line, no wrapper, no local-config resources.
    JsonLines,
}

/// What the host knows beyond the input.
#[derive(Debug, Clone)]
pub struct Context {
    /// How input and output are framed.
    pub framing: Framing,
    /// How the output is written.
    pub output: OutputFormat,
    /// The functionConfig text for [`Framing::Stream`].
    pub function_config: Option<String>,
    /// Settings that override the functionConfig, in precedence order
    /// (ConfigMap spelling: `environment`, `trigger-mode`, ...).
    pub settings: Vec<(String, String)>,
    /// The source revision being rendered, if known.
    pub source_revision: Option<String>,
    /// Argo CD plugin env (`ARGOCD_ENV_` prefix removed), for Image
    /// Updater's write-back.
    pub plugin_env: Vec<(String, String)>,
    /// Image policies set by the operator (ConfigMap spelling), a floor
    /// that the functionConfig and `settings` cannot loosen.
    pub operator_settings: Vec<(String, String)>,
}

impl Context {
    /// A context for a plain ResourceList run with nothing else known.
    pub fn resource_list() -> Self {
        Context {
            framing: Framing::ResourceList,
            output: OutputFormat::SameAsInput,
            function_config: None,
            settings: Vec::new(),
            source_revision: None,
            plugin_env: Vec::new(),
            operator_settings: Vec::new(),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The complete output document(s), framed as requested.
    pub document: String,
    /// Whether any result has severity `error`.
    pub has_errors: bool,
    /// All results, in output order.
    pub results: Vec<KrmResult>,
}

/// Runs krm-promote over `input`.
///
/// # Errors
/// [`Error::InvalidInput`] when the input is not a ResourceList (or stream)
/// of KRM resources; [`Error::InvalidConfig`] when the stream framing's
/// functionConfig text cannot be read. Everything else is reported as
/// results inside a successful [`Output`].
pub fn process(input: &str, ctx: &Context) -> Result<Output, Error> {
    let parsed = Input::parse(input, ctx.framing)?;

    let config_text = match ctx.framing {
        Framing::Stream => ctx.function_config.as_deref(),
        Framing::ResourceList => None,
    };
    let config_tree = config_text
        .map(|text| {
            let tree = Tree::parse(text).map_err(|e| Error::InvalidConfig(strip_kind(e)))?;
            if tree.docs.len() > 1 {
                return Err(Error::InvalidConfig(format!(
                    "expected one document, found {}",
                    tree.docs.len()
                )));
            }
            Ok(tree)
        })
        .transpose()?;
    let config_node = match (&config_tree, parsed.function_config) {
        (Some(tree), _) => tree.docs.first().map(|d| (tree, d.root)),
        (None, Some(node)) => Some((&parsed.tree, node)),
        (None, None) => None,
    };

    let mut results = config::check_settings(&ctx.settings);
    let known: Vec<(String, String)> = ctx
        .settings
        .iter()
        .filter(|(k, _)| config::is_known_setting(k))
        .cloned()
        .collect();
    let (mut config, config_results) = config::load(config_node, &known);
    results.extend(config_results);
    let (operator_policy, operator_results) = config::operator_policy(&ctx.operator_settings);
    config.operator_policy = operator_policy;
    results.extend(operator_results);

    let mut edits = Edits::new();
    let mut outcome = promote::Outcome::default();
    let mut images = images::Outcome::default();
    if !results.iter().any(|r| r.severity == Severity::Error) {
        images = images::run(&parsed, &config, &ctx.plugin_env, &mut edits);
        results.append(&mut images.results);
        outcome = promote::run(&parsed, &config, ctx.source_revision.as_deref(), &mut edits)?;
        results.append(&mut outcome.results);
    }

    let has_errors = results.iter().any(|r| r.severity == Severity::Error);
    if !has_errors {
        results.push(summary(
            &config,
            parsed.items.len() - outcome.removed.len(),
            &outcome,
            images.changed,
        ));
    }
    // The configuration may live in the input's tree: take what the render
    // needs, then let `render` free the tree before it builds the output
    // (large renders run close to the memory cap).
    drop(config_tree);
    let mut document = parsed.render(edits, &outcome.removed, &outcome.new_items, &results);
    if ctx.output == OutputFormat::JsonLines {
        document = json_lines(&document, ctx.framing)?;
    }
    Ok(Output {
        document,
        has_errors,
        results,
    })
}

fn summary(config: &Config, items: usize, outcome: &promote::Outcome, images: usize) -> KrmResult {
    let noun = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut parts = vec![noun(items, "resource", "resources")];
    parts.push(noun(outcome.promotions, "promotion", "promotions"));
    if images > 0 {
        parts.push(noun(images, "image updated", "images updated"));
    }
    if outcome.stamped > 0 {
        parts.push(noun(outcome.stamped, "Promotion trigger set", "Promotion triggers set"));
    }
    let message = match (&config.environment, config.is_set) {
        (_, false) => format!("no functionConfig settings: {}", parts.join(", ")),
        (Some(env), true) => format!("environment {env}: {}", parts.join(", ")),
        (None, true) => parts.join(", "),
    };
    KrmResult::new(Severity::Info, message)
}

/// Rewrites a rendered document as one JSON object per resource, without
/// local-config resources, read as kubectl reads YAML ([`yaml::json`]): the
/// items of list documents one by one, YAML 1.1 scalars, merge keys in
/// source order. A render without resources gives an empty document.
fn json_lines(document: &str, framing: Framing) -> Result<String, Error> {
    let tree = Tree::parse(document)?;
    let nodes: Vec<yaml::NodeId> = match framing {
        Framing::Stream => resource_list::stream_resources(&tree)?.iter().map(|r| r.node).collect(),
        Framing::ResourceList => tree
            .docs
            .first()
            .and_then(|d| tree.get(d.root, "items"))
            .and_then(|i| tree.items(i))
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
    };
    let mut out = String::with_capacity(document.len());
    for node in nodes {
        let local = tree
            .merged_path(
                node,
                &["metadata", "annotations", "config.kubernetes.io/local-config"],
                yaml::Merge::SourceOrder,
            )?
            .and_then(|e| tree.scalar(e.value))
            .is_some_and(|v| v != "false");
        if !local {
            yaml::json::write(&tree, node, &mut out)?;
            out.push('\n');
        }
    }
    Ok(out)
}

/// Argo CD's dynamic parameter announcement for the settings krm-promote
/// takes, with the current values from the functionConfig
/// (`ctx.function_config`) and `ctx.settings`.
///
/// # Errors
/// [`Error::InvalidConfig`] when the functionConfig text is not YAML.
pub fn parameters(ctx: &Context) -> Result<String, Error> {
    let tree = ctx
        .function_config
        .as_deref()
        .map(|text| Tree::parse(text).map_err(|e| Error::InvalidConfig(strip_kind(e))))
        .transpose()?;
    let node = tree.as_ref().and_then(|t| t.docs.first().map(|d| (t, d.root)));
    let (config, _) = config::load(node, &ctx.settings);
    let string = |name: &str, title: &str, tooltip: &str, value: Option<String>| {
        let mut p = serde_json::json!({"name": name, "title": title, "tooltip": tooltip});
        if let Some(v) = value {
            p["string"] = v.into();
        }
        p
    };
    let images: Vec<String> = config
        .images
        .iter()
        .chain(&config.setting_images)
        .map(images::reference::ImageOverride::to_set_image)
        .collect();
    let announcement = serde_json::json!([
        string(
            "environment",
            "Environment",
            "The environment this application renders (names promotions; selects the image policy)",
            config.environment.clone()
        ),
        {
            "name": "images",
            "title": "Image overrides",
            "tooltip": "One `kustomize edit set image` entry per item, e.g. ghcr.io/org/app:2.0.0",
            "collectionType": "array",
            "array": images,
        },
        string(
            "trigger-mode",
            "Promotion trigger mode",
            "How seed-style Promotions are stamped: content (digest) or revision",
            Some(match config.trigger_mode {
                TriggerMode::Content => "content".into(),
                TriggerMode::Revision => "revision".into(),
            })
        ),
    ]);
    Ok(announcement.to_string())
}

pub(crate) fn strip_kind(e: Error) -> String {
    match e {
        Error::InvalidInput(m) | Error::InvalidConfig(m) => m,
    }
}
