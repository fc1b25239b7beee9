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

use serde_json::Value;

use crate::config::Config;
use crate::krm_result::{Field, KrmResult, Severity};
use crate::resource_list::{Input, Item};
use crate::yaml::{Edits, NodeId, Tree};
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
}

/// Appends the image fields under `node`. `path` is a buffer holding the
/// dotted path to `node`; it is extended and truncated in place, so no
/// string is allocated except for the images found.
fn find_images(tree: &Tree<'_>, node: NodeId, path: &mut String, item: usize, out: &mut Vec<ImageField>) {
    let node = tree.resolve(node);
    let len = path.len();
    if let Some(entries) = tree.entries(node) {
        for &(k, v) in entries {
            let Some(key) = tree.scalar(k) else { continue };
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            if matches!(key, "containers" | "initContainers")
                && let Some(list) = tree.items(v)
            {
                for (i, &container) in list.iter().enumerate() {
                    if let Some(image) = tree.get(container, "image")
                        && tree.str(image).is_some()
                    {
                        out.push(ImageField {
                            item,
                            node: tree.resolve(image),
                            path: format!("{path}[{i}].image"),
                        });
                    }
                }
            }
            // Scalars hold no containers: only descend into collections.
            if tree.entries(v).is_some() || tree.items(v).is_some() {
                find_images(tree, v, path, item, out);
            }
            path.truncate(len);
        }
    } else if let Some(list) = tree.items(node) {
        for (i, &child) in list.iter().enumerate() {
            if tree.entries(child).is_some() || tree.items(child).is_some() {
                use std::fmt::Write;
                let _ = write!(path, "[{i}]");
                find_images(tree, child, path, item, out);
                path.truncate(len);
            }
        }
    }
}

/// Overrides from Image Updater's plugin env vars.
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
        if let Some((var, spec)) = env(&target.spec) {
            let r = ImageRef::parse(&spec);
            o.new_name = Some(r.name);
            o.new_tag = Some(r.tag).filter(|t| !t.is_empty());
            o.digest = Some(r.digest).filter(|d| !d.is_empty());
            vars.push(var);
        }
        if let Some((var, name)) = env(&target.name) {
            o.new_name = Some(name);
            vars.push(var);
        }
        if let Some((var, tag)) = env(&target.tag) {
            if tag.contains(':') {
                o.digest = Some(tag);
            } else {
                o.new_tag = Some(tag);
            }
            vars.push(var);
        }
        if vars.is_empty() {
            continue;
        }
        o.source = format!("Image Updater env {}", vars.join(", "));
        match o.validate() {
            Ok(()) => out.push(o),
            Err(e) => results.push(
                KrmResult::new(Severity::Error, format!("{}: {e}", o.source)).at_field(format!("imageUpdater[{i}]")),
            ),
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
    let policy = config.image_policy(config.environment.as_deref());
    let policy_on = policy.forbid_mutable_tags || policy.require_digest || !policy.allowed_registries.is_empty();
    if overrides.is_empty() && !policy_on {
        return out;
    }

    let mut fields = Vec::new();
    for (i, item) in input.items.iter().enumerate() {
        if item.kind != "CustomResourceDefinition" {
            find_images(tree, item.node, &mut String::new(), i, &mut fields);
        }
    }

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
        let proposed = image.to_string();
        if proposed != current {
            edits.set_scalar(tree, field.node, &proposed);
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
        if policy.forbid_mutable_tags && image.is_mutable() {
            let tag = if image.tag.is_empty() {
                "no tag".to_string()
            } else {
                format!("tag {:?}", image.tag)
            };
            violation(format!(
                "image {proposed} has {tag}, which is mutable; {env} requires a fixed tag or a digest"
            ));
        }
        if policy.require_digest && image.digest.is_empty() {
            violation(format!("image {proposed} is not pinned by digest; {env} requires one"));
        }
        if !policy.allowed_registries.is_empty()
            && !policy.allowed_registries.iter().any(|r| {
                image.name == *r
                    || image.name.starts_with(&format!("{}/", r.trim_end_matches('/')))
                    || image.registry() == r
            })
        {
            violation(format!(
                "image {proposed} is not from an allowed registry ({})",
                policy.allowed_registries.join(", ")
            ));
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
