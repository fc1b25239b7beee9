//! Promotion triggers: content-addressed `ProxyConfigPromote`s for the
//! 3scale operator, and trigger stamps for the seed design's `Promotion`s.
//!
//! The 3scale operator publishes a product's gateway config when a
//! `ProxyConfigPromote` is *created*; updating one does nothing. So the
//! promotion's name carries the digest of everything that shapes the
//! product's proxy config: a change gives a new name (Argo CD creates it and
//! prunes the old one), no change gives the same object (a no-op).
//!
//! Promotions krm-promote generated earlier (label
//! `app.kubernetes.io/managed-by: krm-promote`) are replaced on every run;
//! hand-written `ProxyConfigPromote`s are kept as they are, with a warning
//! when they target a product krm-promote also promotes.

pub mod digest;
pub mod graph;
pub mod threescale;

use serde_json::{Map, Value, json};

use crate::Error;
use crate::config::{Config, TriggerMode};
use crate::krm_result::{KrmResult, Severity};
use crate::resource_list::{Input, Item};
use crate::yaml::{Edits, Sharing, scalar};
use graph::Graph;

/// Label marking resources krm-promote generated.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "krm-promote");
/// Label naming the product a promotion is for.
pub const PRODUCT_LABEL: &str = "krm-promote.dev/product";
/// Label naming the environment a promotion is for.
pub const ENVIRONMENT_LABEL: &str = "krm-promote.dev/environment";
/// Annotation with the full digest of a promotion's inputs.
pub const DIGEST_ANNOTATION: &str = "krm-promote.dev/digest";
/// Annotation listing a promotion's inputs and their own digests.
pub const INPUTS_ANNOTATION: &str = "krm-promote.dev/inputs";
/// Annotation on reference resources: the environment they stand for.
pub const REFERENCE_ANNOTATION: &str = "krm-promote.dev/environment";
/// The seed design's trigger annotation on `Promotion` resources.
pub const SEED_TRIGGER: &str = "gitops.3scale.net/trigger";
/// How many hex digits of the digest go into a promotion's name.
pub const NAME_DIGEST_LEN: usize = 10;

/// What the trigger step decided.
#[derive(Debug, Default)]
pub struct Outcome {
    /// New resources to append.
    pub new_items: Vec<Value>,
    /// Input items to drop (indexes into `Input::items`).
    pub removed: Vec<usize>,
    /// Findings.
    pub results: Vec<KrmResult>,
    /// Promotions generated.
    pub promotions: usize,
    /// Seed `Promotion`s stamped.
    pub stamped: usize,
}

fn annotation<'a>(input: &'a Input<'_>, item: &Item, key: &str) -> Option<&'a str> {
    let tree = &input.tree;
    tree.path(item.node, &["metadata", "annotations", key])
        .and_then(|v| tree.scalar(v))
}

fn label<'a>(input: &'a Input<'_>, item: &Item, key: &str) -> Option<&'a str> {
    let tree = &input.tree;
    tree.path(item.node, &["metadata", "labels", key])
        .and_then(|v| tree.scalar(v))
}

/// kustomize drops resources whose local-config annotation is anything but
/// `"false"`; they are inputs, never outputs.
fn is_local_config(input: &Input<'_>, item: &Item) -> bool {
    annotation(input, item, "config.kubernetes.io/local-config").is_some_and(|v| v != "false")
}

fn is_3scale(item: &Item, kind: &str) -> bool {
    item.kind == kind && item.group() == threescale::GROUP
}

/// Computes promotions for `input` and records the annotation edits.
pub fn run(
    input: &Input<'_>,
    config: &Config,
    source_revision: Option<&str>,
    edits: &mut Edits,
) -> Result<Outcome, Error> {
    let mut out = Outcome::default();
    let tree = &input.tree;

    let mut resources = Vec::new();
    for item in &input.items {
        let relevant = is_3scale(item, "Product")
            || is_3scale(item, "Backend")
            || (item.kind == "Secret" && item.api_version == "v1");
        if relevant {
            resources.push((item, scalar::to_json(tree, item.node)?));
        }
    }
    let rules = threescale::rules(config.product_fields.as_deref(), config.backend_fields.as_deref());
    let mut graph = Graph::build(rules, resources);
    out.results.append(&mut graph.results);

    let products: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| graph.nodes[i].item.kind == "Product" && !is_local_config(input, graph.nodes[i].item))
        .collect();
    let upstream: Vec<&str> = match &config.require_upstream {
        Some(env) => input
            .items
            .iter()
            .filter(|i| is_3scale(i, "Product") && annotation(input, i, REFERENCE_ANNOTATION) == Some(env.as_str()))
            .map(|i| i.name.as_str())
            .collect(),
        None => Vec::new(),
    };

    // Seed-style `Promotion`s: stamp the trigger; their products get no
    // ProxyConfigPromote (that would promote twice).
    let mut seeded = vec![false; graph.nodes.len()];
    let mut sharing: Option<Sharing> = None;
    for item in input.items.iter().filter(|i| i.kind == "Promotion") {
        let Some(product_name) = tree
            .path(item.node, &["spec", "productCR", "name"])
            .and_then(|n| tree.str(n))
        else {
            continue;
        };
        let wanted_env = tree.path(item.node, &["spec", "environment"]).and_then(|n| tree.str(n));
        if let (Some(want), Some(env)) = (wanted_env, &config.environment)
            && want != env
        {
            out.results.push(item.result(
                Severity::Info,
                format!("Promotion for environment {want:?} left alone: this render is for {env:?}"),
            ));
            continue;
        }
        let Some(&p) = products.iter().find(|&&p| {
            let n = graph.nodes[p].item;
            n.name == product_name && n.namespace == item.namespace
        }) else {
            out.results.push(
                item.result(
                    Severity::Error,
                    format!("spec.productCR.name {product_name:?} matches no Product in this namespace"),
                )
                .at_field("spec.productCR.name"),
            );
            continue;
        };
        seeded[p] = true;
        let value = match config.trigger_mode {
            TriggerMode::Content => format!("sha256:{}", graph.digest(p)),
            TriggerMode::Revision => match source_revision.or(config.source_revision.as_deref()) {
                Some(rev) => rev.to_string(),
                None => {
                    out.results.push(
                        item.result(
                            Severity::Error,
                            "trigger-mode revision needs the source revision: run under Argo CD (ARGOCD_APP_REVISION) or set source-revision",
                        )
                        .at_field(format!("metadata.annotations.{SEED_TRIGGER}")),
                    );
                    continue;
                }
            },
        };
        let sharing = sharing.get_or_insert_with(|| Sharing::new(tree));
        if let Err(why) = edits.set_annotation(tree, sharing, item.node, SEED_TRIGGER, &value) {
            out.results.push(
                item.result(Severity::Error, format!("cannot set the trigger annotation: {why}"))
                    .at_field(format!("metadata.annotations.{SEED_TRIGGER}")),
            );
            continue;
        }
        out.stamped += 1;
        let mut r = item.result(
            Severity::Info,
            format!("trigger set to {value} for Product {product_name}"),
        );
        r.field = Some(crate::krm_result::Field {
            path: format!("metadata.annotations.{SEED_TRIGGER}"),
            current_value: None,
            proposed_value: Some(Value::String(value)),
        });
        out.results.push(r);
    }

    // Promotions krm-promote generated before are regenerated; hand-written
    // ones are kept.
    let mut hand_written = Vec::new();
    for item in input.items.iter().filter(|i| is_3scale(i, "ProxyConfigPromote")) {
        if label(input, item, MANAGED_BY.0) == Some(MANAGED_BY.1) {
            out.removed.push(item.index);
        } else {
            hand_written.push(item);
        }
    }

    let with_paths = input
        .items
        .iter()
        .any(|i| annotation(input, i, "internal.config.kubernetes.io/path").is_some());
    let blocked: Vec<bool> = {
        let errors: Vec<(&str, Option<&str>)> = out
            .results
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .filter_map(|r| r.resource_ref.as_ref())
            .filter(|r| r.kind == "Product")
            .map(|r| (r.name.as_str(), r.namespace.as_deref()))
            .collect();
        (0..graph.nodes.len())
            .map(|i| {
                errors.contains(&(
                    graph.nodes[i].item.name.as_str(),
                    graph.nodes[i].item.namespace.as_deref(),
                ))
            })
            .collect()
    };

    let mut unnamed = 0;
    let mut promotions: Vec<(String, Option<String>, Value)> = Vec::new();
    for &p in &products {
        let item = graph.nodes[p].item;
        if graph.deps[p].iter().all(|d| d.edge != "backend usage") {
            out.results.push(
                item.result(
                    Severity::Warning,
                    "Product uses no Backends (spec.backendUsages is empty)",
                )
                .at_field("spec.backendUsages"),
            );
        }
        if seeded[p] || blocked[p] {
            continue;
        }
        let Some(env) = &config.environment else {
            unnamed += 1;
            continue;
        };
        if let Some(up) = &config.require_upstream
            && !upstream.contains(&item.name.as_str())
        {
            out.results.push(item.result(
                Severity::Warning,
                format!(
                    "not promoted to {env}: Product {} is not present in {up} (require-upstream)",
                    item.name
                ),
            ));
            continue;
        }
        let digest = graph.digest(p);
        let name = format!("{}-{env}-{}", item.name, &digest[..NAME_DIGEST_LEN]);
        if name.len() > 253 {
            out.results.push(item.result(
                Severity::Error,
                format!("promotion name {name:?} would be longer than 253 characters"),
            ));
            continue;
        }
        for hw in &hand_written {
            let target = tree.path(hw.node, &["spec", "productCRName"]).and_then(|n| tree.str(n));
            if target == Some(item.name.as_str()) && hw.namespace == item.namespace {
                out.results.push(hw.result(
                    Severity::Warning,
                    format!(
                        "hand-written ProxyConfigPromote also promotes Product {}: it is one-shot and never promotes again once Ready; krm-promote generates {name}",
                        item.name
                    ),
                ));
            }
        }
        let inputs = inputs_annotation(&graph, p);
        let production = config.is_production(env);
        let mut labels = Map::new();
        labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        if item.name.len() <= 63 {
            labels.insert(PRODUCT_LABEL.into(), item.name.clone().into());
        }
        labels.insert(ENVIRONMENT_LABEL.into(), env.clone().into());
        let mut annotations = Map::new();
        annotations.insert("argocd.argoproj.io/sync-wave".into(), config.sync_wave.clone().into());
        annotations.insert(DIGEST_ANNOTATION.into(), format!("sha256:{digest}").into());
        annotations.insert(INPUTS_ANNOTATION.into(), inputs.clone().into());
        if with_paths {
            let dir = item
                .file
                .as_ref()
                .and_then(|f| f.path.rsplit_once('/'))
                .map_or(String::new(), |(d, _)| format!("{d}/"));
            annotations.insert(
                "internal.config.kubernetes.io/path".into(),
                format!("{dir}proxyconfigpromote-{}.yaml", item.name).into(),
            );
        }
        let mut metadata = Map::new();
        metadata.insert("name".into(), name.clone().into());
        if let Some(ns) = &item.namespace {
            metadata.insert("namespace".into(), ns.clone().into());
        }
        metadata.insert("labels".into(), Value::Object(labels));
        metadata.insert("annotations".into(), Value::Object(annotations));
        let pcp = json!({
            "apiVersion": format!("{}/v1beta1", threescale::GROUP),
            "kind": "ProxyConfigPromote",
            "metadata": Value::Object(metadata),
            "spec": {"productCRName": item.name, "production": production, "deleteCR": false},
        });
        let gateway = if production { "production" } else { "staging" };
        let mut r = item.result(
            Severity::Info,
            format!(
                "promote to the {gateway} gateway as ProxyConfigPromote {name} (inputs: {})",
                inputs
                    .lines()
                    .map(|l| l.split(' ').next().unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        r = r
            .tag("digest", format!("sha256:{digest}"))
            .tag("environment", env.clone())
            .tag("promotion", name.clone());
        out.results.push(r);
        promotions.push((item.name.clone(), item.namespace.clone(), pcp));
    }
    if unnamed > 0 {
        out.results.push(
            KrmResult::new(
                Severity::Warning,
                format!(
                    "environment is not set: {unnamed} {} no ProxyConfigPromote (set environment in the functionConfig)",
                    if unnamed == 1 { "Product gets" } else { "Products get" }
                ),
            )
            .at_field("environment"),
        );
    }
    promotions.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    out.promotions = promotions.len();
    out.new_items = promotions.into_iter().map(|(_, _, v)| v).collect();
    Ok(out)
}

/// One line per input: `Kind/name sha256:<12 hex>` (Secrets: no digest).
fn inputs_annotation(graph: &Graph<'_>, product: usize) -> String {
    let mut lines = vec![line(graph, product)];
    let mut rest: Vec<String> = graph.inputs(product).into_iter().map(|i| line(graph, i)).collect();
    rest.sort();
    lines.extend(rest);
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn line(graph: &Graph<'_>, i: usize) -> String {
    let item = graph.nodes[i].item;
    if graph.rule(i).secret {
        format!("{}/{} (content hashed, not shown)", item.kind, item.name)
    } else {
        format!("{}/{} sha256:{}", item.kind, item.name, &graph.own_digest(i)[..12])
    }
}
