//! Image-tag overrides and image policies.
//!
//! Overrides follow kustomize's `images:` semantics (see [`reference`] for
//! the deliberate deviations) and reach every `image` of every list under a
//! `containers` or `initContainers` key, at any depth, in every resource but
//! CustomResourceDefinitions: Deployments, StatefulSets, DaemonSets, Jobs,
//! CronJobs, Pods and custom resources with pod templates alike.
//!
//! Sources, from lowest to highest precedence (a higher source's override
//! for an image name replaces the lower sources' overrides for that name):
//! 1. the functionConfig's `images`;
//! 2. Argo CD Image Updater's plugin write-back (`manifestTargets.plugin`
//!    env vars, mapped to images by the functionConfig's `imageUpdater`);
//! 3. the host's `images` setting (an Argo CD plugin parameter or env).
//!
//! Within one source, two overrides of the same image name that disagree
//! are an error: the result would depend on their order.

pub mod reference;

use std::collections::HashSet;

use serde_json::Value;

use crate::Error;
use crate::config::Config;
use crate::krm_result::{Field, KrmResult, Severity};
use crate::resource_list::{Input, Item};
use crate::yaml::tree::Kind;
use crate::yaml::{Edits, Merge, NodeId, Tree};
use reference::{ImageOverride, ImageRef};

/// What the image step did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings.
    pub results: Vec<KrmResult>,
    /// Image fields changed.
    pub changed: usize,
}

/// One container image field found in a resource.
struct ImageField {
    item: usize,
    node: NodeId,
    path: String,
    /// The field can be edited in place: its value is not shared with any
    /// other place (no step to it is an alias or a merge key, and neither it
    /// nor a collection above it is anchored and aliased elsewhere).
    editable: bool,
}

/// Finds the container image fields of resources, as every YAML reader
/// sees them: where a mapping has a merge key (`<<`), its entries as kubectl
/// reads them and as kustomize and kpt read them ([`Merge`]) are both
/// walked, so an image given through a merge key is found, and one that the
/// readers would read differently is found twice.
struct Finder<'t, 'a> {
    tree: &'t Tree<'a>,
    /// The nodes some alias points at.
    aliased: HashSet<NodeId>,
    /// The fields found.
    fields: Vec<ImageField>,
}

impl<'t, 'a> Finder<'t, 'a> {
    /// A finder over `tree`; `editing` computes what [`ImageField::editable`]
    /// needs (a pass over the whole tree), which only overrides need.
    fn new(tree: &'t Tree<'a>, editing: bool) -> Self {
        let aliased = if editing {
            tree.nodes
                .iter()
                .filter_map(|n| match n.kind {
                    Kind::Alias(target) => Some(target),
                    _ => None,
                })
                .collect()
        } else {
            HashSet::new()
        };
        Finder {
            tree,
            aliased,
            fields: Vec::new(),
        }
    }

    /// Appends the image fields under `node` of the resource `item`. `path`
    /// is a buffer holding the dotted path to `node`; it is extended and
    /// truncated in place, so no string is allocated except for the images
    /// found. `shared` is set below a shared node.
    fn find(&mut self, node: NodeId, path: &mut String, item: usize, shared: bool) -> Result<(), Error> {
        let tree = self.tree;
        let resolved = tree.resolve(node);
        let shared = shared || resolved != node || self.aliased.contains(&resolved);
        let node = resolved;
        let len = path.len();
        if let Some(entries) = tree.entries(node) {
            if tree.has_merge_key(node) {
                for (k, v, merged) in reader_entries(tree, node)? {
                    self.entry(k, v, path, item, shared || merged)?;
                }
            } else {
                for &(k, v) in entries {
                    self.entry(k, v, path, item, shared)?;
                }
            }
        } else if let Some(list) = tree.items(node) {
            for (i, &child) in list.iter().enumerate() {
                if tree.entries(child).is_some() || tree.items(child).is_some() {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                    self.find(child, path, item, shared)?;
                    path.truncate(len);
                }
            }
        }
        Ok(())
    }

    /// [`Finder::find`] for one mapping entry.
    fn entry(&mut self, k: NodeId, v: NodeId, path: &mut String, item: usize, shared: bool) -> Result<(), Error> {
        let tree = self.tree;
        let Some(key) = tree.scalar(k) else {
            return Ok(());
        };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        if matches!(key, "containers" | "initContainers")
            && let Some(list) = tree.items(v)
        {
            let list_shared = shared || tree.resolve(v) != v || self.aliased.contains(&tree.resolve(v));
            for (i, &container) in list.iter().enumerate() {
                let container_shared = list_shared
                    || tree.resolve(container) != container
                    || self.aliased.contains(&tree.resolve(container));
                for (image, merged) in reader_values(tree, container, "image")? {
                    let resolved = tree.resolve(image);
                    if tree.str(resolved).is_some() {
                        let shared =
                            container_shared || merged || resolved != image || self.aliased.contains(&resolved);
                        self.fields.push(ImageField {
                            item,
                            node: resolved,
                            path: format!("{path}[{i}].image"),
                            editable: !shared,
                        });
                    }
                }
            }
        }
        // Scalars hold no containers: only descend into collections.
        if tree.entries(v).is_some() || tree.items(v).is_some() {
            self.find(v, path, item, shared)?;
        }
        path.truncate(len);
        Ok(())
    }
}

/// The entries of the mapping `node` (which has a merge key) that any
/// reader sees: kubectl's reading, then kustomize's entries that differ
/// from it. `(key, value, merged)`.
fn reader_entries(tree: &Tree<'_>, node: NodeId) -> Result<Vec<(NodeId, NodeId, bool)>, Error> {
    let mut out: Vec<(NodeId, NodeId, bool)> = Vec::new();
    for merge in [Merge::SourceOrder, Merge::ExplicitFirst] {
        for e in tree.merged_entries(node, merge)?.unwrap_or_default() {
            if !out
                .iter()
                .any(|&(k, v, _)| v == e.value && tree.scalar(k) == tree.scalar(e.key))
            {
                out.push((e.key, e.value, e.merged));
            }
        }
    }
    Ok(out)
}

/// The values of `key` in the mapping `node` that any reader sees (one,
/// or two where a merge key makes the readers disagree), each with whether
/// it came through a merge key.
fn reader_values(tree: &Tree<'_>, node: NodeId, key: &str) -> Result<Vec<(NodeId, bool)>, Error> {
    if !tree.has_merge_key(node) {
        return Ok(tree.get(node, key).map(|v| (v, false)).into_iter().collect());
    }
    let mut out: Vec<(NodeId, bool)> = Vec::new();
    for merge in [Merge::SourceOrder, Merge::ExplicitFirst] {
        if let Some(e) = tree.merged_get(node, key, merge)?
            && !out.iter().any(|&(v, _)| tree.resolve(v) == tree.resolve(e.value))
        {
            out.push((e.value, e.merged));
        }
    }
    Ok(out)
}

/// Overrides from Image Updater's plugin env vars.
///
/// Plugin env is set on the Application and may hold credentials: a
/// message names the variable and what is wrong with its value, never the
/// value. (A valid value is applied, so it is in the output and in the
/// result that reports the change, as any image reference is.)
fn updater_overrides(
    config: &Config,
    plugin_env: &[(String, String)],
    results: &mut Vec<KrmResult>,
) -> Vec<ImageOverride> {
    let env = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| plugin_env.iter().rev().find(|(k, _)| k == n))
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
    };
    let mut out = Vec::new();
    for (i, target) in config.image_updater.iter().enumerate() {
        let mut o = ImageOverride {
            name: target.image.clone(),
            source: String::new(),
            ..ImageOverride::default()
        };
        let mut vars = Vec::new();
        // (variable, what it was read as, what is wrong with it)
        let mut problems: Vec<(String, &str, &str)> = Vec::new();
        let mut check = |var: &str, what: &'static str, problem: Option<&'static str>| {
            if let Some(why) = problem {
                problems.push((var.to_string(), what, why));
            }
        };
        if let Some((var, spec)) = env(&target.spec) {
            let r = ImageRef::parse(&spec);
            check(&var, "an image reference", reference::name_problem(&r.name));
            if !r.tag.is_empty() {
                check(&var, "an image reference", reference::tag_problem(&r.tag));
            }
            if !r.digest.is_empty() {
                check(&var, "an image reference", reference::digest_problem(&r.digest));
            }
            o.new_name = Some(r.name);
            o.new_tag = Some(r.tag).filter(|t| !t.is_empty());
            o.digest = Some(r.digest).filter(|d| !d.is_empty());
            vars.push(var);
        }
        if let Some((var, name)) = env(&target.name) {
            check(&var, "an image name", reference::name_problem(&name));
            o.new_name = Some(name);
            vars.push(var);
        }
        if let Some((var, tag)) = env(&target.tag) {
            if tag.contains(':') {
                check(&var, "a digest", reference::digest_problem(&tag));
                o.digest = Some(tag);
            } else {
                check(&var, "a tag", reference::tag_problem(&tag));
                o.new_tag = Some(tag);
            }
            vars.push(var);
        }
        if vars.is_empty() {
            continue;
        }
        o.source = format!("Image Updater env {}", vars.join(", "));
        let error = |message: String| KrmResult::new(Severity::Error, message).at_field(format!("imageUpdater[{i}]"));
        if !problems.is_empty() {
            for (var, what, why) in problems {
                results.push(error(format!(
                    "Image Updater env {var}, read as {what} for image {:?}: the value {why} (not shown: plugin env may hold credentials)",
                    target.image
                )));
            }
        } else if o.validate().is_err() {
            // Only the functionConfig's image name can be wrong here; say
            // nothing of the values.
            results.push(error(format!(
                "{}: the override for image {:?} is not valid (values not shown: plugin env may hold credentials)",
                o.source, target.image
            )));
        } else {
            out.push(o);
        }
    }
    out
}

/// Merges the sources by precedence and checks each source for conflicts.
fn effective(sources: Vec<Vec<ImageOverride>>, results: &mut Vec<KrmResult>) -> Vec<ImageOverride> {
    let mut merged: Vec<ImageOverride> = Vec::new();
    for source in sources {
        for (i, a) in source.iter().enumerate() {
            if let Some(b) = source[..i].iter().find(|b| b.name == a.name && b != &a)
                && (b.new_name != a.new_name
                    || b.new_tag != a.new_tag
                    || b.digest != a.digest
                    || b.tag_suffix != a.tag_suffix)
            {
                results.push(
                    KrmResult::new(
                        Severity::Error,
                        format!(
                            "conflicting overrides for image {:?}: {} and {}",
                            a.name, b.source, a.source
                        ),
                    )
                    .at_field(a.source.clone()),
                );
            }
        }
        let names: Vec<&str> = source.iter().map(|o| o.name.as_str()).collect();
        for replaced in merged.iter().filter(|o| names.contains(&o.name.as_str())) {
            let by = source
                .iter()
                .find(|o| o.name == replaced.name)
                .expect("a name of this source");
            results.push(KrmResult::new(
                Severity::Info,
                format!(
                    "override of image {:?} from {} replaced by {}",
                    replaced.name, replaced.source, by.source
                ),
            ));
        }
        merged.retain(|o| !names.contains(&o.name.as_str()));
        merged.extend(source);
    }
    merged
}

/// Applies image overrides to `input` and checks the image policy.
pub fn run(input: &Input<'_>, config: &Config, plugin_env: &[(String, String)], edits: &mut Edits) -> Outcome {
    let mut out = Outcome::default();
    let tree = &input.tree;
    let updater = updater_overrides(config, plugin_env, &mut out.results);
    let overrides = effective(
        vec![config.images.clone(), updater, config.setting_images.clone()],
        &mut out.results,
    );
    // The Application's policy, then the operator's floor (both apply).
    let policies = [
        (config.image_policy(config.environment.as_deref()), ""),
        (config.operator_policy.clone(), " (operator policy)"),
    ];
    let policy_on = policies
        .iter()
        .any(|(p, _)| p.forbid_mutable_tags || p.require_digest || !p.allowed_registries.is_empty());
    if overrides.is_empty() && !policy_on {
        return out;
    }

    let mut finder = Finder::new(tree, !overrides.is_empty());
    for (i, item) in input.items.iter().enumerate() {
        if item.kind != "CustomResourceDefinition"
            && let Err(e) = finder.find(item.node, &mut String::new(), i, false)
        {
            out.results.push(item.result(
                Severity::Error,
                format!("cannot read the container images: {}", crate::strip_kind(e)),
            ));
        }
    }
    let fields = finder.fields;
    // Every node is edited at most once.
    let mut edited = HashSet::new();

    let mut used = vec![false; overrides.len()];
    for field in &fields {
        let item: &Item = &input.items[field.item];
        let current = tree.str(field.node).unwrap_or_default().to_string();
        let mut image = ImageRef::parse(&current);
        let mut sources = Vec::new();
        for (i, o) in overrides.iter().enumerate() {
            if o.matches(&image) {
                image = o.apply(&image);
                used[i] = true;
                sources.push(o.source.as_str());
            }
        }
        let mut proposed = image.to_string();
        if proposed != current && !field.editable {
            // Editing a shared node would change every place that shares
            // it; until such edits are made safe (issue 13), refuse.
            out.results.push(
                item.result(
                    Severity::Error,
                    format!(
                        "cannot override image {current} here: the value is shared with other places through a YAML anchor, alias or merge key (`<<`); write `image:` explicitly in this container"
                    ),
                )
                .at_field(field.path.clone()),
            );
            image = ImageRef::parse(&current);
            proposed = current.clone();
        }
        if proposed != current {
            if edited.insert(field.node) {
                edits.set_scalar(tree, field.node, &proposed);
            }
            out.changed += 1;
            let mut r = item.result(
                Severity::Info,
                format!("image {current} -> {proposed} (from {})", sources.join(", ")),
            );
            r.field = Some(Field {
                path: field.path.clone(),
                current_value: Some(Value::String(current.clone())),
                proposed_value: Some(Value::String(proposed.clone())),
            });
            out.results.push(r);
        }
        let env = config.environment.as_deref().unwrap_or("this environment");
        let mut violation = |message: String| {
            out.results
                .push(item.result(Severity::Error, message).at_field(field.path.clone()))
        };
        // One error per rule, even when both policies have it.
        let (mut mutable_seen, mut digest_seen, mut registry_seen) = (false, false, false);
        for (policy, by) in &policies {
            if policy.forbid_mutable_tags && image.is_mutable() && !std::mem::replace(&mut mutable_seen, true) {
                let tag = if image.tag.is_empty() {
                    "no tag".to_string()
                } else {
                    format!("tag {:?}", image.tag)
                };
                violation(format!(
                    "image {proposed} has {tag}, which is mutable; {env} requires a fixed tag or a digest{by}"
                ));
            }
            if policy.require_digest && image.digest.is_empty() && !std::mem::replace(&mut digest_seen, true) {
                violation(format!(
                    "image {proposed} is not pinned by digest; {env} requires one{by}"
                ));
            }
            if !policy.allowed_registries.is_empty()
                && !policy.allowed_registries.iter().any(|r| {
                    image.name == *r
                        || image.name.starts_with(&format!("{}/", r.trim_end_matches('/')))
                        || image.registry() == r
                })
                && !std::mem::replace(&mut registry_seen, true)
            {
                violation(format!(
                    "image {proposed} is not from an allowed registry ({}){by}",
                    policy.allowed_registries.join(", ")
                ));
            }
        }
    }
    for (o, used) in overrides.iter().zip(used) {
        if !used {
            out.results.push(
                KrmResult::new(
                    Severity::Warning,
                    format!("image override for {:?} matched no container image", o.name),
                )
                .at_field(o.source.clone()),
            );
        }
    }
    out
}
