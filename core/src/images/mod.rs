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

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::config::Config;
use crate::krm_result::{Field, KrmResult, Severity};
use crate::resource_list::{Input, Item};
use crate::yaml::share::{Step, portable_value, set_at};
use crate::yaml::tree::Kind;
use crate::yaml::{Edits, Merge, NodeId, Sharing, Tree, emit};
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
    /// The scalar read there (aliases followed).
    node: NodeId,
    /// The node the container mapping holds there: `node`, or an alias of
    /// it.
    holder: NodeId,
    /// The container mapping (aliases followed).
    container: NodeId,
    /// The entry comes from a merge key (`<<`) of the container.
    merged: bool,
    /// How the container is reached from the resource.
    route: Route<Vec<Step>>,
    path: String,
}

/// How a node is reached from its resource: `P` is where along the path
/// (while walking) or the steps below the alias (once found).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route<P> {
    /// Through no alias or merge key.
    Direct,
    /// Last through this alias node, then by a path without aliases.
    Alias(NodeId, P),
    /// Through a merge key, and no alias after it.
    Merged,
}

/// Finds the container image fields of resources, as every YAML reader
/// sees them: where a mapping has a merge key (`<<`), its entries as kubectl
/// reads them and as kustomize and kpt read them ([`Merge`]) are both
/// walked, so an image given through a merge key is found, and one that the
/// readers would read differently is found twice.
struct Finder<'t, 'a> {
    tree: &'t Tree<'a>,
    /// The fields found.
    fields: Vec<ImageField>,
    /// The steps from the resource to where the walk is.
    steps: Vec<Step>,
}

impl<'t, 'a> Finder<'t, 'a> {
    fn new(tree: &'t Tree<'a>) -> Self {
        Finder {
            tree,
            fields: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Appends the image fields under `node` of the resource `item`. `path`
    /// is a buffer holding the dotted path to `node`; it is extended and
    /// truncated in place, so no string is allocated except for the images
    /// found.
    fn find(&mut self, node: NodeId, path: &mut String, item: usize, route: Route<usize>) -> Result<(), Error> {
        let tree = self.tree;
        let route = self.through(node, route);
        let node = tree.resolve(node);
        let len = path.len();
        if let Some(entries) = tree.entries(node) {
            if tree.has_merge_key(node) {
                for (k, v, merged) in reader_entries(tree, node)? {
                    let route = if merged { Route::Merged } else { route.clone() };
                    self.entry(k, v, path, item, route)?;
                }
            } else {
                for &(k, v) in entries {
                    self.entry(k, v, path, item, route.clone())?;
                }
            }
        } else if let Some(list) = tree.items(node) {
            for (i, &child) in list.iter().enumerate() {
                if tree.entries(child).is_some() || tree.items(child).is_some() {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                    self.steps.push(Step::Index(i));
                    self.find(child, path, item, route.clone())?;
                    self.steps.pop();
                    path.truncate(len);
                }
            }
        }
        Ok(())
    }

    /// The route to `node` (reached by `route`): through it when it is an
    /// alias.
    fn through(&self, node: NodeId, route: Route<usize>) -> Route<usize> {
        if matches!(self.tree.node(node).kind, Kind::Alias(_)) {
            Route::Alias(node, self.steps.len())
        } else {
            route
        }
    }

    /// [`Finder::find`] for one mapping entry.
    fn entry(
        &mut self,
        k: NodeId,
        v: NodeId,
        path: &mut String,
        item: usize,
        route: Route<usize>,
    ) -> Result<(), Error> {
        let tree = self.tree;
        let Some(key) = tree.scalar(k) else {
            return Ok(());
        };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        self.steps.push(Step::Key(key.to_string()));
        if matches!(key, "containers" | "initContainers")
            && let Some(list) = tree.items(v)
        {
            let list_route = self.through(v, route.clone());
            for (i, &container) in list.iter().enumerate() {
                self.steps.push(Step::Index(i));
                let container_route = self.through(container, list_route.clone());
                for (image, merged) in reader_values(tree, container, "image")? {
                    let resolved = tree.resolve(image);
                    if tree.str(resolved).is_some() {
                        let route = match &container_route {
                            Route::Direct => Route::Direct,
                            Route::Merged => Route::Merged,
                            Route::Alias(a, at) => {
                                let mut below = self.steps[*at..].to_vec();
                                below.push(Step::Key("image".into()));
                                Route::Alias(*a, below)
                            }
                        };
                        self.fields.push(ImageField {
                            item,
                            node: resolved,
                            holder: image,
                            container: tree.resolve(container),
                            merged,
                            route,
                            path: format!("{path}[{i}].image"),
                        });
                    }
                }
                self.steps.pop();
            }
        }
        // Scalars hold no containers: only descend into collections.
        if tree.entries(v).is_some() || tree.items(v).is_some() {
            self.find(v, path, item, route)?;
        }
        self.steps.pop();
        path.truncate(len);
        Ok(())
    }
}

/// Records, in `edits`, an explicit `image: value` entry in the container
/// mapping `container`, after its merge key, so that every reader reads
/// `value` there instead of the merged image (kubectl lets a later key win,
/// kustomize an explicit one). False when that cannot be done safely: the
/// container is read at other places too, already has an explicit
/// `image`, or its merge key's extent is not exact.
fn insert_explicit_image(
    tree: &Tree<'_>,
    sharing: &Sharing,
    container: NodeId,
    value: &str,
    edits: &mut Edits,
) -> bool {
    let node = tree.node(container);
    if sharing.visits(container) != 1 || tree.entry(container, "image").is_some() {
        return false;
    }
    let Some(entries) = tree.entries(container) else {
        return false;
    };
    let src = tree.src;
    if node.flow {
        // Before the closing brace, after what precedes it (a trailing
        // comma included); not after a comment.
        if entries.is_empty() || src.as_bytes().get(node.end.wrapping_sub(1)) != Some(&b'}') {
            return false;
        }
        let before = src[node.start..node.end - 1].trim_end();
        let at = node.start + before.len();
        let last_line = before.rsplit('\n').next().unwrap_or_default();
        if last_line.contains('#') || !edits.is_free(at, at) {
            return false;
        }
        let sep = if before.ends_with(',') { " " } else { ", " };
        edits.insert(at, format!("{sep}image: {}", emit::double_quoted(value)));
        return true;
    }
    let Some(&(merge_key, merge_value)) = entries.iter().find(|&&(k, _)| tree.is_merge_key(k)) else {
        return false;
    };
    let held = tree.node(merge_value);
    if !(matches!(held.kind, Kind::Alias(_)) || held.flow) {
        return false;
    }
    let rest = &src[held.end..];
    let line_end = rest.find('\n').map_or(src.len(), |i| held.end + i);
    let tail = src[held.end..line_end].trim();
    if !(tail.is_empty() || tail.starts_with('#')) {
        return false;
    }
    let crlf = line_end > 0 && src.as_bytes().get(line_end - 1) == Some(&b'\r');
    let eol = if crlf { "\r\n" } else { "\n" };
    let pad = " ".repeat(tree.column(tree.node(merge_key).start));
    let line = format!("{pad}image: {}", emit::string(value));
    if line_end == src.len() {
        edits.insert(line_end, format!("{eol}{line}"));
    } else {
        edits.insert(line_end + 1, format!("{line}{eol}"));
    }
    true
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

/// Records the edits that make every field read its planned image, and
/// only those fields: a scalar read at several places (anchors, aliases,
/// merge keys) is edited where that changes exactly the places to change,
/// or the other places are rewritten to keep their value. Returns, per
/// field, whether its change had to be refused (nothing is recorded for
/// those).
fn record_edits(
    tree: &Tree<'_>,
    fields: &[ImageField],
    planned: &[(ImageRef, Vec<&str>)],
    edits: &mut Edits,
) -> Vec<bool> {
    let mut refused = vec![false; fields.len()];
    // The fields to change, by the scalar they read.
    let mut by_node: BTreeMap<NodeId, Vec<usize>> = BTreeMap::new();
    for (i, (field, (image, sources))) in fields.iter().zip(planned).enumerate() {
        if !sources.is_empty() && tree.str(field.node).is_some_and(|current| image.to_string() != current) {
            by_node.entry(field.node).or_default().push(i);
        }
    }
    if by_node.is_empty() {
        return refused;
    }
    let sharing = if tree.nodes.iter().any(|n| matches!(n.kind, Kind::Alias(_))) {
        Sharing::new(tree)
    } else {
        Sharing::default()
    };
    // First, each scalar on its own: edited in place, or through its
    // aliases.
    let mut failed: Vec<(NodeId, Vec<usize>)> = Vec::new();
    for (node, group) in by_node {
        let proposed = planned[group[0]].0.to_string();
        // One scalar read at two places always gets the same overrides.
        let agreed = group.iter().all(|&i| planned[i].0.to_string() == proposed);
        if !agreed {
            for i in group {
                refused[i] = true;
            }
            continue;
        }
        let holders: Vec<NodeId> = places(fields, &group).iter().map(|&i| fields[i].holder).collect();
        if !edits.set_read_value(tree, &sharing, node, &holders, &[], &proposed) {
            failed.push((node, group));
        }
    }
    if failed.is_empty() {
        return refused;
    }
    // Then, all together: places reached through an alias of a collection
    // read there only get a copy of it with the new values written out at
    // that alias; merged places get an explicit `image:` of their own; what
    // remains is edited as above. All or nothing.
    let mut local = Edits::new();
    let mut copied: Vec<NodeId> = Vec::new();
    for (_, group) in &failed {
        for &i in group {
            if let Route::Alias(a, _) = &fields[i].route
                && !copied.contains(a)
                && sharing.visits(*a) == 1
            {
                copied.push(*a);
            }
        }
    }
    copied.retain(|&a| {
        let Some(mut value) = portable_value(tree, tree.resolve(a)) else {
            return false;
        };
        for (field, (image, sources)) in fields.iter().zip(planned) {
            if let Route::Alias(b, steps) = &field.route
                && *b == a
                && !sources.is_empty()
                && tree.str(field.node).is_some_and(|current| image.to_string() != current)
                && !set_at(&mut value, steps, Value::String(image.to_string()))
            {
                return false;
            }
        }
        let node = tree.node(a);
        let text = serde_json::to_string(&value).expect("json values serialize");
        local.replace(node.start, node.end, text);
        true
    });
    let mut ok = true;
    for (node, group) in &failed {
        let proposed = planned[group[0]].0.to_string();
        let (mut targets, mut free) = (Vec::new(), Vec::new());
        for i in places(fields, group) {
            let f = &fields[i];
            let is_copied = matches!(&f.route, Route::Alias(a, _) if copied.contains(a));
            if is_copied || (f.merged && insert_explicit_image(tree, &sharing, f.container, &proposed, &mut local)) {
                free.push(f.holder);
            } else {
                targets.push(f.holder);
            }
        }
        if !(targets.is_empty() || local.set_read_value(tree, &sharing, *node, &targets, &free, &proposed)) {
            ok = false;
            break;
        }
    }
    if ok && local_is_free(&local, edits) {
        edits.append(local);
    } else {
        for (_, group) in failed {
            for i in group {
                refused[i] = true;
            }
        }
    }
    refused
}

/// The fields of `group` that are distinct places: a field found by both
/// merge readings at one path is one place.
fn places(fields: &[ImageField], group: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(group.len());
    for &i in group {
        if !out
            .iter()
            .any(|&p| fields[p].path == fields[i].path && fields[p].item == fields[i].item)
        {
            out.push(i);
        }
    }
    out
}

/// Whether none of `local`'s patches touches one of `edits`.
fn local_is_free(local: &Edits, edits: &Edits) -> bool {
    local.ranges().all(|(start, end)| edits.is_free(start, end))
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
        let names: Vec<String> = source.iter().map(|o| o.name.clone()).collect();
        for replaced in merged.iter().filter(|o| names.contains(&o.name)) {
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
        // `*` parts (`app=*:2.0`) come from the override being replaced,
        // as `kustomize edit set image` takes them from the kustomization.
        let mut kept = Vec::with_capacity(source.len());
        for mut o in source {
            if let Some(replaced) = merged.iter().find(|r| r.name == o.name) {
                o.keep_from(replaced);
            }
            if o.sets_something() {
                kept.push(o);
            } else {
                results.push(
                    KrmResult::new(
                        Severity::Error,
                        format!(
                            "{} only keeps parts (`*`) of an earlier override of its image, and there is none: it sets nothing",
                            o.source
                        ),
                    )
                    .at_field(o.source.clone()),
                );
            }
        }
        merged.retain(|o| !names.contains(&o.name));
        merged.extend(kept);
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

    let mut finder = Finder::new(tree);
    for (i, item) in input.items.iter().enumerate() {
        if item.kind != "CustomResourceDefinition"
            && let Err(e) = finder.find(item.node, &mut String::new(), i, Route::Direct)
        {
            out.results.push(item.result(
                Severity::Error,
                format!("cannot read the container images: {}", crate::strip_kind(e)),
            ));
        }
    }
    let fields = finder.fields;

    // What every field would read after the overrides.
    let mut used = vec![false; overrides.len()];
    let mut planned: Vec<(ImageRef, Vec<&str>)> = Vec::with_capacity(fields.len());
    // Malformed references are left byte for byte: (field, why, overrides).
    let mut malformed: Vec<(usize, &str, Vec<&str>)> = Vec::new();
    for (f, field) in fields.iter().enumerate() {
        let current = tree.str(field.node).unwrap_or_default();
        let mut image = ImageRef::parse(current);
        let mut sources = Vec::new();
        for (i, o) in overrides.iter().enumerate() {
            if o.matches(&image) {
                image = o.apply(&image);
                used[i] = true;
                sources.push(o.source.as_str());
            }
        }
        if let Some(why) = ImageRef::problem(current).filter(|_| !sources.is_empty()) {
            malformed.push((f, why, std::mem::take(&mut sources)));
            image = ImageRef::parse(current);
        }
        if sources.is_empty() {
            // Nothing applies: the image stays as written, even where
            // splitting and joining it would write it differently.
            planned.push((ImageRef::parse(current), sources));
            continue;
        }
        planned.push((image, sources));
    }
    let unchanged = |f: usize| tree.str(fields[f].node).unwrap_or_default();
    for &(f, why, ref sources) in &malformed {
        let field = &fields[f];
        out.results.push(
            input.items[field.item]
                .result(
                    Severity::Warning,
                    format!(
                        "image {:?} is not a valid image reference (it has {why}), so {} is not applied to it; fix the reference",
                        unchanged(f),
                        sources.join(", ")
                    ),
                )
                .at_field(field.path.clone()),
        );
    }
    let refused = record_edits(tree, &fields, &planned, edits);

    for ((field, (mut image, sources)), refused) in fields.iter().zip(planned).zip(refused) {
        let item: &Item = &input.items[field.item];
        let current = tree.str(field.node).unwrap_or_default().to_string();
        let mut proposed = if sources.is_empty() {
            current.clone()
        } else {
            image.to_string()
        };
        if refused {
            out.results.push(
                item.result(
                    Severity::Error,
                    format!(
                        "cannot override image {current} here: the value is shared with other places through a YAML anchor, alias or merge key (`<<`) in a way krm-promote cannot edit without changing them; write `image:` explicitly in this container"
                    ),
                )
                .at_field(field.path.clone()),
            );
            image = ImageRef::parse(&current);
            proposed = current.clone();
        }
        if proposed != current {
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
        if used {
            continue;
        }
        // A render of a render (`kpt fn render` writes its output back): an
        // override whose result is in place is not a miss.
        let applied: Vec<String> = fields
            .iter()
            .filter(|f| tree.str(f.node).is_some_and(|v| o.already_applied(&ImageRef::parse(v))))
            .map(|f| format!("{} {}", input.items[f.item].display(), f.path))
            .collect();
        let result = if let Some(first) = applied.first() {
            let more = match applied.len() {
                1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            KrmResult::new(
                Severity::Info,
                format!(
                    "image override for {:?} already applied ({first}{more} already reads what it writes)",
                    o.name
                ),
            )
        } else {
            KrmResult::new(
                Severity::Warning,
                format!("image override for {:?} matched no container image", o.name),
            )
        };
        out.results.push(result.at_field(o.source.clone()));
    }
    out
}
