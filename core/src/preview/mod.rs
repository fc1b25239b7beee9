//! "What will this change promote, and why?": compares the rendered
//! manifests of environments at a base revision and at the working tree.
//!
//! For each environment the report lists the promotions that will be
//! created (with the inputs whose digests changed, down to the fields) and
//! pruned, seed `Promotion` triggers that change, image reference changes
//! per resource and container, and a unified diff per resource. Resources
//! are compared by kind, namespace and name, and rendered with sorted keys,
//! so pure reordering (of resources or keys) is no change.
//!
//! Renders are read as kubectl reads them (what `generate` hands Argo CD):
//! YAML 1.1 scalars, merge keys in source order, list documents as their
//! items.
//!
//! The manifests are untrusted, and so is the report built from them:
//! Secret values never appear, changed or not (see [`HIDDEN`]), and every
//! format escapes what could take over a terminal or a pull-request
//! comment ([`text`]).

pub mod diff;
pub mod text;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use crate::Error;
use crate::promote::{DIGEST_ANNOTATION, INPUTS_ANNOTATION, PRODUCT_LABEL, SEED_TRIGGER};
use crate::yaml::{Tree, emit, json};
use text::{md_code, md_fence, visible};

/// One environment's renders.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The environment's path, as the user named it.
    pub path: String,
    /// The render at the base revision (`None`: it did not exist there).
    pub base: Option<String>,
    /// The render of the working tree (`None`: it no longer exists).
    pub head: Option<String>,
}

/// How the report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text.
    Human,
    /// Plain text with ANSI colours, for a terminal.
    HumanColor,
    /// Markdown, for a pull-request comment.
    Markdown,
    /// JSON, for tools.
    Json,
}

/// A resource's identity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Key {
    /// `group/Kind` (or `Kind` for the core group).
    pub kind: String,
    /// Namespace, empty for cluster-scoped resources.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.kind.rsplit('/').next().unwrap_or(&self.kind);
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}/{}/{}", self.namespace, self.name)
        }
    }
}

/// A promotion that will be created or pruned.
#[derive(Debug, Clone, Serialize)]
pub struct Promotion {
    /// The ProxyConfigPromote's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The product it promotes.
    pub product: String,
    /// Whether it targets the production gateway.
    pub production: bool,
    /// Why (created promotions only): which inputs changed and how.
    pub reasons: Vec<String>,
}

/// A changed container image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageChange {
    /// The resource.
    pub resource: String,
    /// The image field's path.
    pub field: String,
    /// Before (`None` if the container is new).
    pub from: Option<String>,
    /// After (`None` if the container is gone).
    pub to: Option<String>,
}

/// A changed seed `Promotion` trigger.
#[derive(Debug, Clone, Serialize)]
pub struct Trigger {
    /// The Promotion.
    pub resource: String,
    /// Before.
    pub from: Option<String>,
    /// After.
    pub to: Option<String>,
}

/// A changed resource with its diff.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    /// The resource.
    pub resource: String,
    /// `added`, `removed`, `changed`, or `replaced` (a promotion by its
    /// successor).
    pub status: &'static str,
    /// Unified diff of the resource (sorted keys).
    pub diff: String,
}

/// The report for one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// The path.
    pub path: String,
    /// Promotions Argo CD will create.
    pub promotions_created: Vec<Promotion>,
    /// Promotions Argo CD will prune.
    pub promotions_pruned: Vec<Promotion>,
    /// Seed Promotion triggers that change.
    pub triggers: Vec<Trigger>,
    /// Container images that change.
    pub images: Vec<ImageChange>,
    /// Every changed resource.
    pub resources: Vec<ResourceChange>,
    /// A note when a side did not render (new or removed environment).
    pub note: Option<String>,
}

impl Environment {
    fn changed(&self) -> bool {
        !self.resources.is_empty()
    }

    fn summary(&self) -> String {
        let n = |count: usize, one: &str, many: &str| format!("{count} {}", if count == 1 { one } else { many });
        format!(
            "{}: {} to create, {} to prune, {}, {}",
            self.path,
            n(self.promotions_created.len(), "promotion", "promotions"),
            n(self.promotions_pruned.len(), "promotion", "promotions"),
            n(self.images.len(), "image change", "image changes"),
            n(self.resources.len(), "resource changed", "resources changed"),
        )
    }
}

/// The result: the text and whether anything changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The report, formatted.
    pub text: String,
    /// Whether any environment changes.
    pub changed: bool,
}

type Resources = BTreeMap<Key, Value>;

fn parse(stream: &str) -> Result<Resources, Error> {
    let tree = Tree::parse(stream)?;
    let mut out = BTreeMap::new();
    for resource in crate::resource_list::stream_resources(&tree)? {
        let v = json::to_value(&tree, resource.node)?;
        let s = |v: &Value, p: &[&str]| {
            p.iter()
                .try_fold(v, |v, k| v.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let api = s(&v, &["apiVersion"]);
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        let kind = s(&v, &["kind"]);
        let key = Key {
            kind: if group.is_empty() {
                kind
            } else {
                format!("{group}/{kind}")
            },
            namespace: s(&v, &["metadata", "namespace"]),
            name: s(&v, &["metadata", "name"]),
        };
        out.insert(key, v);
    }
    Ok(out)
}

/// What a preview shows instead of a Secret value that is the same on both
/// sides, or that exists on one side only. No value is ever shown, nor its
/// length or digest: only which keys were added, removed or changed.
pub const HIDDEN: &str = "(hidden)";
/// What a preview shows, on the new side, instead of a Secret value that
/// changed.
pub const HIDDEN_CHANGED: &str = "(hidden, changed)";
/// The annotation in which `kubectl apply` keeps a whole copy of the object.
const LAST_APPLIED: &str = "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration";

/// Whether the resource is a core-group Secret (`apiVersion: v1`).
fn is_secret(key: &Key) -> bool {
    key.kind == "Secret"
}

/// One side of a Secret with every value of `data` and `stringData` and its
/// last-applied-configuration annotation replaced by [`HIDDEN`], or on the
/// new side by [`HIDDEN_CHANGED`] where it differs from `other` (the other
/// side).
fn mask_secret(side: &Value, other: Option<&Value>, new_side: bool) -> Value {
    let marker = |mine: &Value, theirs: Option<&Value>| {
        let changed = new_side && theirs.is_some_and(|t| t != mine);
        Value::String(if changed { HIDDEN_CHANGED } else { HIDDEN }.into())
    };
    let mut v = side.clone();
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field));
        match v.get_mut(field) {
            Some(Value::Object(map)) => {
                for (k, x) in map.iter_mut() {
                    let m = marker(x, theirs.and_then(|t| t.get(k)));
                    *x = m;
                }
            }
            Some(Value::Null) | None => {}
            Some(x) => {
                let m = marker(x, theirs);
                *x = m;
            }
        }
    }
    if let Some(x) = v.pointer_mut(LAST_APPLIED) {
        let m = marker(x, other.and_then(|o| o.pointer(LAST_APPLIED)));
        *x = m;
    }
    v
}

fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sort_keys(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

fn canonical_yaml(v: &Value) -> String {
    emit::block(&sort_keys(v), 0)
}

fn is_pcp(key: &Key) -> bool {
    key.kind == "capabilities.3scale.net/ProxyConfigPromote"
}

fn promotion(key: &Key, v: &Value) -> Promotion {
    Promotion {
        name: key.name.clone(),
        namespace: key.namespace.clone(),
        product: v["spec"]["productCRName"].as_str().unwrap_or_default().to_string(),
        production: v["spec"]["production"].as_bool().unwrap_or(false),
        reasons: Vec::new(),
    }
}

/// `Kind/name -> digest` from a promotion's inputs annotation.
fn inputs(v: &Value) -> BTreeMap<String, String> {
    v["metadata"]["annotations"][INPUTS_ANNOTATION]
        .as_str()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.splitn(2, ' ');
            Some((words.next()?.to_string(), words.next().unwrap_or_default().to_string()))
        })
        .collect()
}

/// The fields (`spec.x`, `data`, ...) whose values differ between two
/// versions of a resource; metadata and status are ignored.
fn changed_fields(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = a
        .as_object()
        .into_iter()
        .chain(b.as_object())
        .flat_map(|m| m.keys())
        .collect();
    for k in keys {
        if matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind") {
            continue;
        }
        let (x, y) = (a.get(k), b.get(k));
        if x == y {
            continue;
        }
        match (x, y) {
            (Some(Value::Object(xm)), Some(Value::Object(ym))) => {
                let inner: BTreeSet<&String> = xm.keys().chain(ym.keys()).collect();
                for ik in inner {
                    if xm.get(ik) != ym.get(ik) {
                        out.push(format!("{k}.{ik}"));
                    }
                }
            }
            _ => out.push(k.clone()),
        }
    }
    out
}

/// Why the promotion `new` exists, compared with `old` for the same product.
fn reasons(new: &Value, old: Option<&Value>, base: &Resources, head: &Resources, namespace: &str) -> Vec<String> {
    let Some(old) = old else {
        return vec!["first promotion of this product in this render".into()];
    };
    let (was, now) = (inputs(old), inputs(new));
    let mut out = Vec::new();
    let find = |set: &Resources, input: &str| -> Option<Value> {
        let (kind, name) = input.split_once('/')?;
        set.iter()
            .find(|(k, _)| k.kind.rsplit('/').next() == Some(kind) && k.name == name && k.namespace == namespace)
            .map(|(_, v)| v.clone())
    };
    for (input, digest) in &now {
        match was.get(input) {
            None => out.push(format!("{input} is a new input")),
            Some(d) if d == digest && !digest.contains("not shown") => {}
            Some(_) if input.starts_with("Secret/") => {
                // Secret digests are never shown; compare the content.
                if find(base, input) != find(head, input) {
                    out.push(format!("{input} changed (content not shown)"));
                }
            }
            Some(_) => match (find(base, input), find(head, input)) {
                (Some(b), Some(h)) => {
                    let fields = changed_fields(&b, &h);
                    if fields.is_empty() {
                        out.push(format!("{input} changed"));
                    } else {
                        out.push(format!("{input} changed: {}", fields.join(", ")));
                    }
                }
                _ => out.push(format!("{input} changed")),
            },
        }
    }
    for input in was.keys().filter(|i| !now.contains_key(*i)) {
        out.push(format!("{input} is no longer an input"));
    }
    if out.is_empty()
        && new["metadata"]["annotations"][DIGEST_ANNOTATION] != old["metadata"]["annotations"][DIGEST_ANNOTATION]
    {
        out.push("the product's backend usages or references changed".into());
    }
    out
}

fn container_images(v: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if matches!(k.as_str(), "containers" | "initContainers")
                    && let Value::Array(list) = child
                {
                    for (i, c) in list.iter().enumerate() {
                        if let Some(img) = c.get("image").and_then(Value::as_str) {
                            let id = c
                                .get("name")
                                .and_then(Value::as_str)
                                .map_or(i.to_string(), String::from);
                            out.insert(format!("{p}[{id}].image"), img.to_string());
                        }
                    }
                }
                container_images(child, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                container_images(child, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn compare(env: &Rendered) -> Result<Environment, Error> {
    let base = env.base.as_deref().map(parse).transpose()?.unwrap_or_default();
    let head = env.head.as_deref().map(parse).transpose()?.unwrap_or_default();
    let note = match (&env.base, &env.head) {
        (None, Some(_)) => Some("new at this revision: everything is added".into()),
        (Some(_), None) => Some("removed at this revision: everything is pruned".into()),
        (None, None) => Some("renders at neither revision".into()),
        _ => None,
    };
    let mut report = Environment {
        path: env.path.clone(),
        promotions_created: Vec::new(),
        promotions_pruned: Vec::new(),
        triggers: Vec::new(),
        images: Vec::new(),
        resources: Vec::new(),
        note,
    };
    // A product's new promotion replaces its old one: show them as one
    // change, so the diff shows which input digests moved.
    let product_of = |v: &Value| v["spec"]["productCRName"].as_str().unwrap_or_default().to_string();
    let replaced: BTreeMap<&Key, &Key> = head
        .iter()
        .filter(|(k, _)| is_pcp(k) && !base.contains_key(*k))
        .filter_map(|(new, nv)| {
            base.iter()
                .find(|(old, ov)| {
                    is_pcp(old)
                        && !head.contains_key(*old)
                        && old.namespace == new.namespace
                        && product_of(ov) == product_of(nv)
                })
                .map(|(old, _)| (new, old))
        })
        .collect();
    let superseded: BTreeSet<&Key> = replaced.values().copied().collect();

    let keys: BTreeSet<&Key> = base.keys().chain(head.keys()).collect();
    for key in keys {
        let (b, h) = (base.get(key), head.get(key));
        if b == h {
            continue;
        }
        let text = |v: Option<&Value>| v.map(canonical_yaml).unwrap_or_default();
        let name = key.to_string();
        if is_secret(key) {
            let status = match (b, h) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ => "changed",
            };
            let (bm, hm) = (b.map(|v| mask_secret(v, h, false)), h.map(|v| mask_secret(v, b, true)));
            let header = visible(&name);
            report.resources.push(ResourceChange {
                resource: name.clone(),
                status,
                diff: diff::unified(
                    &text(bm.as_ref()),
                    &text(hm.as_ref()),
                    &format!("base/{header}"),
                    &format!("head/{header}"),
                    3,
                ),
            });
            continue;
        }
        if let Some(old) = replaced.get(key) {
            let old_name = old.to_string();
            report.resources.push(ResourceChange {
                resource: format!("{old_name} -> {}", key.name),
                status: "replaced",
                diff: diff::unified(
                    &text(base.get(*old)),
                    &text(h),
                    &format!("base/{}", visible(&old_name)),
                    &format!("head/{}", visible(&name)),
                    3,
                ),
            });
        } else if !superseded.contains(key) {
            let status = match (b, h) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ => "changed",
            };
            report.resources.push(ResourceChange {
                resource: name.clone(),
                status,
                diff: diff::unified(
                    &text(b),
                    &text(h),
                    &format!("base/{}", visible(&name)),
                    &format!("head/{}", visible(&name)),
                    3,
                ),
            });
        }

        if is_pcp(key) {
            match (b, h) {
                (None, Some(new)) => {
                    let mut p = promotion(key, new);
                    let product = new["metadata"]["labels"][PRODUCT_LABEL]
                        .as_str()
                        .unwrap_or(&p.product)
                        .to_string();
                    let old = base
                        .iter()
                        .find(|(k, v)| {
                            is_pcp(k)
                                && k.namespace == key.namespace
                                && !head.contains_key(*k)
                                && v["spec"]["productCRName"] == product.as_str()
                        })
                        .map(|(_, v)| v);
                    p.reasons = reasons(new, old, &base, &head, &key.namespace);
                    report.promotions_created.push(p);
                }
                (Some(old), None) => report.promotions_pruned.push(promotion(key, old)),
                _ => {}
            }
        }
        if key.kind.ends_with("/Promotion") || key.kind == "Promotion" {
            let trigger = |v: Option<&Value>| {
                v.and_then(|v| v["metadata"]["annotations"][SEED_TRIGGER].as_str())
                    .map(String::from)
            };
            let (from, to) = (trigger(b), trigger(h));
            if from != to {
                report.triggers.push(Trigger {
                    resource: name.clone(),
                    from,
                    to,
                });
            }
        }
        let images = |v: Option<&Value>| {
            let mut m = BTreeMap::new();
            if let Some(v) = v {
                container_images(v, "", &mut m);
            }
            m
        };
        let (bi, hi) = (images(b), images(h));
        let fields: BTreeSet<&String> = bi.keys().chain(hi.keys()).collect();
        for field in fields {
            let (from, to) = (bi.get(field).cloned(), hi.get(field).cloned());
            if from != to {
                report.images.push(ImageChange {
                    resource: name.clone(),
                    field: field.clone(),
                    from,
                    to,
                });
            }
        }
    }
    Ok(report)
}

/// Compares every environment and writes the report in `format`.
pub fn preview(envs: &[Rendered], format: Format) -> Result<Report, Error> {
    let reports: Vec<Environment> = envs.iter().map(compare).collect::<Result<_, _>>()?;
    let changed = reports.iter().any(Environment::changed);
    let text = match format {
        Format::Json => {
            text::json_safe(
                serde_json::to_string_pretty(&serde_json::json!({"changed": changed, "environments": reports}))
                    .expect("reports serialize"),
            ) + "\n"
        }
        Format::Markdown => markdown(&reports),
        Format::Human => human(&reports, false),
        Format::HumanColor => human(&reports, true),
    };
    Ok(Report { text, changed })
}

fn gateway(p: &Promotion) -> &'static str {
    if p.production {
        "production gateway"
    } else {
        "staging gateway"
    }
}

fn arrow(from: &Option<String>, to: &Option<String>) -> String {
    format!(
        "{} -> {}",
        from.as_deref().unwrap_or("(none)"),
        to.as_deref().unwrap_or("(none)")
    )
}

/// Plain text, every piece from the manifests passed through [`visible`]:
/// the only escape sequences written are the report's own colours.
fn human(reports: &[Environment], color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(out, "{}", paint("1", &visible(&r.summary())));
        if let Some(note) = &r.note {
            let _ = writeln!(out, "  ({note})");
        }
        for p in &r.promotions_created {
            let _ = writeln!(
                out,
                "  {} {} to the {} as ProxyConfigPromote {}",
                paint("32", "promote"),
                visible(&p.product),
                gateway(p),
                visible(&p.name)
            );
            for reason in &p.reasons {
                let _ = writeln!(out, "      because {}", visible(reason));
            }
        }
        for p in &r.promotions_pruned {
            let _ = writeln!(
                out,
                "  {} ProxyConfigPromote {} ({})",
                paint("31", "prune"),
                visible(&p.name),
                visible(&p.product)
            );
        }
        for t in &r.triggers {
            let _ = writeln!(
                out,
                "  trigger {}: {}",
                visible(&t.resource),
                visible(&arrow(&t.from, &t.to))
            );
        }
        for i in &r.images {
            let _ = writeln!(
                out,
                "  image {} {}: {}",
                visible(&i.resource),
                visible(&i.field),
                visible(&arrow(&i.from, &i.to))
            );
        }
        for c in &r.resources {
            for line in c.diff.lines() {
                let line = visible(line);
                let styled = match line.as_bytes().first() {
                    _ if line.starts_with("---") || line.starts_with("+++") => paint("1", &line),
                    Some(b'+') => paint("32", &line),
                    Some(b'-') => paint("31", &line),
                    Some(b'@') => paint("36", &line),
                    _ => line.into_owned(),
                };
                let _ = writeln!(out, "    {styled}");
            }
        }
    }
    out
}

/// Markdown for a pull-request comment: everything from the manifests is in
/// code spans ([`md_code`]) or in one fenced block whose fence no line can
/// match ([`md_fence`]), after [`visible`].
fn markdown(reports: &[Environment]) -> String {
    let mut out = String::from("## krm-promote preview\n\n");
    for r in reports {
        let _ = writeln!(
            out,
            "### {}\n\n{}\n",
            md_code(&r.path, false),
            r.summary().rsplit_once(": ").map_or("", |(_, s)| s)
        );
        if let Some(note) = &r.note {
            let _ = writeln!(out, "_{note}_\n");
        }
        if !r.promotions_created.is_empty() || !r.promotions_pruned.is_empty() {
            out.push_str("| | product | promotion | why |\n|---|---|---|---|\n");
            for p in &r.promotions_created {
                let reasons: Vec<String> = p.reasons.iter().map(|reason| md_code(reason, true)).collect();
                let _ = writeln!(
                    out,
                    "| promote | {} ({}) | {} | {} |",
                    md_code(&p.product, true),
                    gateway(p),
                    md_code(&p.name, true),
                    reasons.join("; ")
                );
            }
            for p in &r.promotions_pruned {
                let _ = writeln!(
                    out,
                    "| prune | {} | {} | superseded |",
                    md_code(&p.product, true),
                    md_code(&p.name, true)
                );
            }
            out.push('\n');
        }
        for t in &r.triggers {
            let _ = writeln!(
                out,
                "- trigger {}: {}",
                md_code(&t.resource, false),
                md_code(&arrow(&t.from, &t.to), false)
            );
        }
        for i in &r.images {
            let _ = writeln!(
                out,
                "- image {} {}: {}",
                md_code(&i.resource, false),
                md_code(&i.field, false),
                md_code(&arrow(&i.from, &i.to), false)
            );
        }
        if !r.triggers.is_empty() || !r.images.is_empty() {
            out.push('\n');
        }
        if !r.resources.is_empty() {
            let lines: Vec<Cow<'_, str>> = r.resources.iter().flat_map(|c| c.diff.lines()).map(visible).collect();
            let fence = md_fence(lines.iter().map(AsRef::as_ref));
            let _ = writeln!(
                out,
                "<details><summary>{} resources changed</summary>\n\n{fence}diff",
                r.resources.len()
            );
            for line in &lines {
                out.push_str(line);
                out.push('\n');
            }
            let _ = write!(out, "{fence}\n\n</details>\n\n");
        }
    }
    out
}
