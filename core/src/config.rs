//! The functionConfig: a `KrmPromote` resource or a plain `ConfigMap`.
//!
//! ```yaml
//! apiVersion: fn.krm-promote.dev/v1alpha1
//! kind: KrmPromote
//! metadata:
//!   name: promote
//! spec:
//!   environment: staging      # ConfigMap key: environment
//!   triggerMode: content      # ConfigMap key: trigger-mode
//! ```
//!
//! A ConfigMap (what `kpt fn eval -- key=value` and a Kptfile `configMap:`
//! produce) carries the same settings under `data`, with kebab-case keys.
//! Unknown keys are error results: a typo must never be ignored silently.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::images::reference::ImageOverride;

use crate::krm_result::{KrmResult, Severity};
use crate::yaml::tree::Kind;
use crate::yaml::{NodeId, Tree, scalar};

/// API group of the typed functionConfig.
pub const GROUP: &str = "fn.krm-promote.dev";
/// Kind of the typed functionConfig.
pub const KIND: &str = "KrmPromote";

/// How seed-style `Promotion` resources are stamped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TriggerMode {
    /// With the digest of the product's proxy-affecting inputs.
    #[default]
    Content,
    /// With the source revision from the context (the seed's commit SHA).
    Revision,
}

/// The settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The target environment, e.g. `staging` or `production`.
    pub environment: Option<String>,
    /// Environment names whose promotions go to the production gateway
    /// (`ProxyConfigPromote.spec.production: true`).
    pub production_environments: Vec<String>,
    /// How `Promotion` resources are triggered.
    pub trigger_mode: TriggerMode,
    /// The source revision (for `trigger-mode: revision`) when the host
    /// does not pass one.
    pub source_revision: Option<String>,
    /// Only promote products that are also present in this environment
    /// (as reference resources in the render).
    pub require_upstream: Option<String>,
    /// Argo CD sync wave of generated promotions.
    pub sync_wave: String,
    /// Proxy-affecting fields of a Product, overriding the defaults.
    pub product_fields: Option<Vec<String>>,
    /// Proxy-affecting fields of a Backend, overriding the defaults.
    pub backend_fields: Option<Vec<String>>,
    /// Image overrides from the functionConfig, in order.
    pub images: Vec<ImageOverride>,
    /// Image overrides from the host's settings (Argo CD parameters/env);
    /// they replace functionConfig overrides of the same image name.
    pub setting_images: Vec<ImageOverride>,
    /// Argo CD Image Updater write-back: which plugin env vars carry which
    /// image's name, tag or full reference.
    pub image_updater: Vec<UpdaterTarget>,
    /// Image policies by environment (`*` applies to every environment).
    pub image_policies: BTreeMap<String, ImagePolicy>,
    /// The operator's image policy: applies on top of `image_policies` in
    /// every environment, whatever the functionConfig or settings say.
    pub operator_policy: ImagePolicy,
    /// Whether any setting was given at all.
    pub is_set: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            environment: None,
            production_environments: vec!["production".into(), "prod".into()],
            trigger_mode: TriggerMode::Content,
            source_revision: None,
            require_upstream: None,
            sync_wave: "10".into(),
            product_fields: None,
            backend_fields: None,
            images: Vec::new(),
            setting_images: Vec::new(),
            image_updater: Vec::new(),
            image_policies: BTreeMap::new(),
            operator_policy: ImagePolicy::default(),
            is_set: false,
        }
    }
}

/// Rules every container image of a render must follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImagePolicy {
    /// Forbid references that can change under the same name (`latest`, or
    /// no tag) unless pinned by digest.
    pub forbid_mutable_tags: bool,
    /// Require a digest on every image.
    pub require_digest: bool,
    /// Allowed registries or registry/path prefixes; empty allows any.
    pub allowed_registries: Vec<String>,
}

/// One Argo CD Image Updater `manifestTargets.plugin` mapping: the plugin
/// env vars (without `ARGOCD_ENV_`) that carry an image's new name, tag or
/// whole reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdaterTarget {
    /// The image the values apply to (matched like an override's name).
    pub image: String,
    /// Env var holding the new name.
    pub name: Option<String>,
    /// Env var holding the new tag (or a `sha256:` digest).
    pub tag: Option<String>,
    /// Env var holding the whole new reference.
    pub spec: Option<String>,
}

impl Config {
    /// The image policy for `environment`: its own entry merged with `*`.
    pub fn image_policy(&self, environment: Option<&str>) -> ImagePolicy {
        let mut policy = self.image_policies.get("*").cloned().unwrap_or_default();
        if let Some(own) = environment.and_then(|e| self.image_policies.get(e)) {
            policy.forbid_mutable_tags |= own.forbid_mutable_tags;
            policy.require_digest |= own.require_digest;
            if !own.allowed_registries.is_empty() {
                policy.allowed_registries = own.allowed_registries.clone();
            }
        }
        policy
    }

    /// Whether `environment` promotes to the production gateway.
    pub fn is_production(&self, environment: &str) -> bool {
        self.production_environments.iter().any(|e| e == environment)
    }
}

/// One known setting: its ConfigMap key, its `spec` field and the YAML
/// shape its `spec` field must have.
struct Key {
    config_map: &'static str,
    spec: &'static str,
    shape: Shape,
}

/// The YAML shape a typed (`KrmPromote`) setting must have. A value of
/// another YAML type (`newTag: 1.10` is a number) is an error result that
/// names the field and says what to write, never dropped.
#[derive(Clone, Copy)]
enum Shape {
    /// A string.
    Str,
    /// A whole number, or a string holding one.
    Int,
    /// `true` or `false`.
    Bool,
    /// A list of strings, or one string (entries one per line or comma).
    StrList,
    /// `images`: a list of strings or of mappings of string fields.
    Images,
    /// `imageUpdater`: a list of strings or of mappings of string fields.
    Updater,
    /// `imagePolicies`: environment -> rules.
    Policies,
}

const KEYS: &[Key] = &[
    Key {
        config_map: "environment",
        spec: "environment",
        shape: Shape::Str,
    },
    Key {
        config_map: "production-environments",
        spec: "productionEnvironments",
        shape: Shape::StrList,
    },
    Key {
        config_map: "trigger-mode",
        spec: "triggerMode",
        shape: Shape::Str,
    },
    Key {
        config_map: "source-revision",
        spec: "sourceRevision",
        shape: Shape::Str,
    },
    Key {
        config_map: "require-upstream",
        spec: "requireUpstream",
        shape: Shape::Str,
    },
    Key {
        config_map: "sync-wave",
        spec: "syncWave",
        shape: Shape::Int,
    },
    Key {
        config_map: "product-fields",
        spec: "productFields",
        shape: Shape::StrList,
    },
    Key {
        config_map: "backend-fields",
        spec: "backendFields",
        shape: Shape::StrList,
    },
    Key {
        config_map: "images",
        spec: "images",
        shape: Shape::Images,
    },
    Key {
        config_map: "image-updater",
        spec: "imageUpdater",
        shape: Shape::Updater,
    },
    Key {
        config_map: "image-policies",
        spec: "imagePolicies",
        shape: Shape::Policies,
    },
    Key {
        config_map: "forbid-mutable-tags",
        spec: "forbidMutableTags",
        shape: Shape::Bool,
    },
    Key {
        config_map: "require-digest",
        spec: "requireDigest",
        shape: Shape::Bool,
    },
    Key {
        config_map: "allowed-registries",
        spec: "allowedRegistries",
        shape: Shape::StrList,
    },
];

fn known(spelling: impl Fn(&Key) -> &'static str) -> String {
    KEYS.iter().map(spelling).collect::<Vec<_>>().join(", ")
}

/// Reads the functionConfig `node` of `tree` (absent for no config), then
/// applies `settings` on top. Problems become error results.
pub fn load(tree: Option<(&Tree<'_>, NodeId)>, settings: &[(String, String)]) -> (Config, Vec<KrmResult>) {
    let mut config = Config::default();
    let mut results = Vec::new();
    let mut raw: Vec<(String, Value, String)> = Vec::new(); // (config-map key, value, field path)

    if let Some((tree, node)) = tree {
        match read(tree, node, &mut results) {
            Some(entries) => raw.extend(entries),
            None => return (config, results),
        }
    }
    // Unknown settings are reported by `check_settings`; they never reach
    // the table below.
    for (key, value) in settings.iter().filter(|(k, _)| is_known_setting(k)) {
        raw.push((key.clone(), Value::String(value.clone()), format!("settings.{key}")));
    }

    for (key, value, path) in raw {
        config.is_set = true;
        if path.starts_with("settings.") {
            // Settings come from the Application's parameters and plugin
            // env, which may carry credentials: messages never show them.
            let mut own = Vec::new();
            apply(&mut config, &key, value.clone(), &path, &mut own);
            results.extend(own.into_iter().map(|mut r| {
                r.message = redact(&r.message, &value);
                r
            }));
        } else {
            apply(&mut config, &key, value, &path, &mut results);
        }
    }
    (config, results)
}

/// `message` without `value` in any of the forms messages show it in:
/// quoted, shortened, whole, and each item of a list (one per line or
/// comma). Bare text is replaced only from 6 characters on, so that a
/// short value does not garble the words around it.
fn redact(message: &str, value: &Value) -> String {
    let Some(raw) = value.as_str().filter(|s| !s.is_empty()) else {
        return message.to_string();
    };
    let mut forms = vec![format!("{raw:?}"), short(value), value.to_string()];
    forms.extend(
        std::iter::once(raw)
            .chain(raw.split(['\n', ',']))
            .map(str::trim)
            .filter(|item| item.len() >= 6)
            .flat_map(|item| [format!("{item:?}"), item.to_string()]),
    );
    let mut out = message.to_string();
    for form in forms {
        out = out.replace(&form, "(the value, not shown)");
    }
    out
}

/// Applies one raw setting (ConfigMap spelling `key`, found at `path`).
fn apply(config: &mut Config, key: &str, value: Value, path: &str, results: &mut Vec<KrmResult>) {
    let err = |msg: String| KrmResult::new(Severity::Error, msg).at_field(path.to_string());
    match key {
        "environment" => match value.as_str() {
            Some("") => config.environment = None,
            Some(env) if is_dns_label(env) => config.environment = Some(env.to_string()),
            Some(env) => results.push(err(format!(
                "environment {env:?} is not a valid name (lowercase letters, digits and '-', at most 63 characters)"
            ))),
            None => results.push(err("environment must be a string".into())),
        },
        "trigger-mode" => match value.as_str() {
            Some("content") => config.trigger_mode = TriggerMode::Content,
            Some("revision") => config.trigger_mode = TriggerMode::Revision,
            _ => results.push(err(format!(
                "trigger-mode must be \"content\" or \"revision\", got {}",
                short(&value)
            ))),
        },
        "production-environments" => match list(&value) {
            Some(envs) if envs.iter().all(|e| is_dns_label(e)) => config.production_environments = envs,
            _ => results.push(err(format!(
                "production-environments must be a list of environment names, got {}",
                short(&value)
            ))),
        },
        "source-revision" => match value.as_str() {
            Some(rev) => config.source_revision = Some(rev.to_string()).filter(|r| !r.is_empty()),
            None => results.push(err("source-revision must be a string".into())),
        },
        "require-upstream" => match value.as_str() {
            Some("") => config.require_upstream = None,
            Some(env) if is_dns_label(env) => config.require_upstream = Some(env.to_string()),
            _ => results.push(err(format!(
                "require-upstream must be an environment name, got {}",
                short(&value)
            ))),
        },
        "sync-wave" => match &value {
            Value::String(w) if w.trim().parse::<i64>().is_ok() => config.sync_wave = w.trim().to_string(),
            Value::Number(n) if n.is_i64() => config.sync_wave = n.to_string(),
            _ => results.push(err(format!("sync-wave must be a whole number, got {}", short(&value)))),
        },
        "product-fields" | "backend-fields" => match list(&value) {
            Some(fields) if !fields.is_empty() && fields.iter().all(|f| is_field_path(f)) => {
                if key == "product-fields" {
                    config.product_fields = Some(fields);
                } else {
                    config.backend_fields = Some(fields);
                }
            }
            _ => results.push(err(format!(
                "{key} must be a non-empty list of dotted field paths such as spec.mappingRules, got {}",
                short(&value)
            ))),
        },
        "images" => {
            let from_settings = path.starts_with("settings.");
            match parse_images(&value, path) {
                Ok(images) if from_settings => config.setting_images = images,
                Ok(images) => config.images = images,
                Err(e) => results.push(err(e)),
            }
        }
        "image-updater" => match parse_updater(&value) {
            Ok(targets) => config.image_updater = targets,
            Err(e) => results.push(err(e)),
        },
        "image-policies" => match parse_policies(&value) {
            Ok(policies) => config.image_policies = policies,
            Err(e) => results.push(err(e)),
        },
        "forbid-mutable-tags" | "require-digest" | "allowed-registries" => {
            let policy = config.image_policies.entry("*".into()).or_default();
            let ok = match key {
                "allowed-registries" => list(&value).map(|r| policy.allowed_registries = r).is_some(),
                flag => match boolean(&value) {
                    Some(b) if flag == "require-digest" => {
                        policy.require_digest = b;
                        true
                    }
                    Some(b) => {
                        policy.forbid_mutable_tags = b;
                        true
                    }
                    None => false,
                },
            };
            if !ok {
                results.push(err(format!("{key} has an invalid value {}", short(&value))));
            }
        }
        other => results.push(err(format!("unknown setting {other:?}"))),
    }
}

/// The operator's image policy from `settings` (ConfigMap spelling): only
/// `forbid-mutable-tags`, `require-digest` and `allowed-registries`.
pub fn operator_policy(settings: &[(String, String)]) -> (ImagePolicy, Vec<KrmResult>) {
    let mut policy = ImagePolicy::default();
    let mut results = Vec::new();
    for (key, value) in settings {
        let err = |msg: String| KrmResult::new(Severity::Error, msg).at_field(format!("operator.{key}"));
        match key.as_str() {
            "allowed-registries" => match list(&Value::String(value.clone())) {
                Some(r) => policy.allowed_registries = r,
                None => results.push(err(format!("{key} has an invalid value"))),
            },
            "forbid-mutable-tags" | "require-digest" => match boolean(&Value::String(value.clone())) {
                Some(b) if key == "require-digest" => policy.require_digest = b,
                Some(b) => policy.forbid_mutable_tags = b,
                None => results.push(err(format!("{key} must be true or false"))),
            },
            other => results.push(err(format!(
                "the operator may only set image policies (forbid-mutable-tags, require-digest, allowed-registries), not {other:?}"
            ))),
        }
    }
    (policy, results)
}

/// Whether `key` (ConfigMap spelling) is a setting krm-promote knows.
pub fn is_known_setting(key: &str) -> bool {
    KEYS.iter().any(|k| k.config_map == key)
}

/// Validates settings passed by the host (e.g. from Argo CD parameters).
/// Returns an error result for each unknown key.
pub fn check_settings(settings: &[(String, String)]) -> Vec<KrmResult> {
    settings
        .iter()
        .filter(|(k, _)| !is_known_setting(k))
        .map(|(k, _)| {
            KrmResult::new(
                Severity::Error,
                format!("unknown setting {k:?}; known settings: {}", known(|k| k.config_map)),
            )
            .at_field(format!("settings.{k}"))
        })
        .collect()
}

/// Reads the raw settings out of a ConfigMap or KrmPromote. Returns `None`
/// when the object is neither (an error result is pushed).
fn read(tree: &Tree<'_>, node: NodeId, results: &mut Vec<KrmResult>) -> Option<Vec<(String, Value, String)>> {
    if tree.is_null(node) {
        return Some(Vec::new());
    }
    let Some(entries) = tree.entries(node) else {
        results.push(KrmResult::new(Severity::Error, "functionConfig must be a mapping"));
        return None;
    };
    if entries.is_empty() {
        return Some(Vec::new());
    }
    let get_str = |key: &str| tree.get(node, key).and_then(|v| tree.str(v));
    let api_version = get_str("apiVersion").unwrap_or("");
    let kind = get_str("kind").unwrap_or("");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let mut out = Vec::new();
    let unknown = |path: String, known_keys: String| {
        let key = path.rsplit('.').next().unwrap_or_default();
        let close = known_keys.split(", ").find(|k| edit_distance(k, key) <= 2);
        let message = match close {
            Some(k) => format!("unknown key (did you mean {k:?}?)"),
            None => format!("unknown key; known keys: {known_keys}"),
        };
        KrmResult::new(Severity::Error, message).at_field(path)
    };

    if kind == "ConfigMap" && group.is_empty() {
        let Some(data) = tree.get(node, "data") else {
            return Some(out);
        };
        if tree.is_null(data) {
            return Some(out);
        }
        let Some(data_entries) = tree.entries(data) else {
            results.push(KrmResult::new(Severity::Error, "ConfigMap data must be a mapping").at_field("data"));
            return None;
        };
        for &(k, v) in data_entries {
            let key = tree.scalar(k).unwrap_or_default();
            let path = format!("data.{key}");
            if !KEYS.iter().any(|known| known.config_map == key) {
                results.push(unknown(path, known(|k| k.config_map)));
                continue;
            }
            // ConfigMap values are strings; coerce scalars written unquoted.
            match tree.scalar(v) {
                Some(s) => out.push((key.to_string(), Value::String(s.to_string()), path)),
                None => {
                    results.push(KrmResult::new(Severity::Error, "ConfigMap values must be strings").at_field(path))
                }
            }
        }
        return Some(out);
    }

    if kind == KIND && group == GROUP {
        for &(k, _) in entries {
            let key = tree.scalar(k).unwrap_or_default();
            if !matches!(key, "apiVersion" | "kind" | "metadata" | "spec") {
                results.push(unknown(key.to_string(), "apiVersion, kind, metadata, spec".into()));
            }
        }
        let Some(spec) = tree.get(node, "spec") else {
            return Some(out);
        };
        if tree.is_null(spec) {
            return Some(out);
        }
        let Some(spec_entries) = tree.entries(spec) else {
            results.push(KrmResult::new(Severity::Error, "spec must be a mapping").at_field("spec"));
            return None;
        };
        for &(k, v) in spec_entries {
            let key = tree.scalar(k).unwrap_or_default();
            let path = format!("spec.{key}");
            match KEYS.iter().find(|known| known.spec == key) {
                None => results.push(unknown(path, known(|k| k.spec))),
                Some(known) => {
                    let before = results.len();
                    let mut budget = SHAPE_CHECK_BUDGET;
                    check_shape(tree, v, known.shape, &Place::entry(&path, key), &mut budget, results);
                    if results.len() > before {
                        continue;
                    }
                    match scalar::to_json(tree, v) {
                        Ok(value) => out.push((known.config_map.to_string(), value, path)),
                        Err(e) => results.push(KrmResult::new(Severity::Error, e.to_string()).at_field(path)),
                    }
                }
            }
        }
        return Some(out);
    }

    let what = if kind.is_empty() {
        "an object without kind".to_string()
    } else {
        format!("{api_version} {kind}")
    };
    results.push(KrmResult::new(
        Severity::Error,
        format!("functionConfig must be a v1 ConfigMap or a {GROUP}/v1alpha1 {KIND}, got {what}"),
    ));
    None
}

/// Most nodes one shape check visits (aliases and merge keys can repeat a
/// node many times); past it the check stops and `to_json` reports the
/// alias expansion.
const SHAPE_CHECK_BUDGET: usize = 100_000;

/// Where a checked value sits: its field path for the result, and how to
/// write a replacement there (`newTag: ` for a mapping entry, `- ` for a
/// list item).
struct Place {
    path: String,
    lead: String,
}

impl Place {
    fn entry(path: &str, key: &str) -> Place {
        Place {
            path: path.to_string(),
            lead: format!("{key}: "),
        }
    }

    fn key(&self, key: &str) -> Place {
        Place::entry(&format!("{}.{key}", self.path), key)
    }

    fn item(&self, i: usize) -> Place {
        Place {
            path: format!("{}[{i}]", self.path),
            lead: "- ".into(),
        }
    }

    fn error(&self, message: String, results: &mut Vec<KrmResult>) {
        results.push(KrmResult::new(Severity::Error, message).at_field(self.path.clone()));
    }
}

/// What YAML reads the node `id` (aliases followed) as, when that is not a
/// string: `None` for a string.
fn non_string(tree: &Tree<'_>, id: NodeId) -> Option<&'static str> {
    let id = tree.resolve(id);
    match &tree.node(id).kind {
        Kind::Mapping(_) => Some("a mapping"),
        Kind::Sequence(_) => Some("a list"),
        _ if tree.str(id).is_some() => None,
        _ if tree.is_null(id) => Some("null (no value)"),
        Kind::Scalar { value, .. } => Some(match scalar::resolve_plain(value) {
            Value::Bool(_) => "a boolean",
            Value::Null => "null (no value)",
            _ => "a number",
        }),
        Kind::Alias(_) => Some("an alias"),
    }
}

/// Checks that the typed setting at `id` has `shape`, pushing one error
/// result per value of a wrong YAML type: the result names the field, what
/// YAML read, and what to write instead. Values of the right type are left
/// to [`apply`] to judge.
fn check_shape(
    tree: &Tree<'_>,
    id: NodeId,
    shape: Shape,
    at: &Place,
    budget: &mut usize,
    results: &mut Vec<KrmResult>,
) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let found = non_string(tree, id);
    let text = tree.scalar(id).unwrap_or_default();
    let lead = &at.lead;
    match shape {
        Shape::Str => match found {
            None => {}
            Some("null (no value)") => at.error(
                format!("has no value, but must be a string: write {lead}\"...\", or leave the key out"),
                results,
            ),
            Some(what @ ("a mapping" | "a list")) => {
                at.error(format!("must be a string, not {what}: write {lead}\"...\""), results)
            }
            Some(what) => at.error(
                format!("must be a string, but YAML reads {text} as {what}: write {lead}{text:?}"),
                results,
            ),
        },
        Shape::Int => match found {
            None => {}
            Some(_) if scalar::resolve_plain(text).as_i64().is_some() => {}
            Some(what) => {
                let read = if text.is_empty() {
                    what.to_string()
                } else {
                    format!("{text} ({what})")
                };
                at.error(
                    format!("must be a whole number, not {read}: write {lead}10 or {lead}\"10\""),
                    results,
                );
            }
        },
        Shape::Bool => {
            let is_bool = matches!(&tree.node(tree.resolve(id)).kind, Kind::Scalar { .. })
                && (found == Some("a boolean") || boolean(&Value::String(text.to_string())).is_some());
            if !is_bool {
                let what = match found {
                    None => format!("the string {text:?}"),
                    Some(what) => what.to_string(),
                };
                at.error(
                    format!("must be true or false, not {what}: write {lead}true or {lead}false"),
                    results,
                );
            }
        }
        Shape::StrList | Shape::Images | Shape::Updater => {
            let Some(items) = tree.items(id) else {
                // One string (entries one per line) or no value at all.
                if let Some(what) = found.filter(|_| !tree.is_null(id)) {
                    let example = if what == "a number" {
                        format!("{text:?}")
                    } else {
                        "\"...\"".to_string()
                    };
                    at.error(format!("must be a list, not {what}: write {lead}[{example}]"), results);
                }
                return;
            };
            for (i, &item) in items.iter().enumerate() {
                let place = at.item(i);
                let fields: &[&str] = match shape {
                    Shape::Images => &["name", "newName", "newTag", "digest", "tagSuffix"],
                    Shape::Updater => &["image", "name", "tag", "spec"],
                    _ => &[],
                };
                if fields.is_empty() || tree.entries(item).is_none() {
                    check_shape(tree, item, Shape::Str, &place, budget, results);
                } else {
                    check_fields(tree, item, &place, budget, results, &|key| {
                        fields.contains(&key).then_some(Shape::Str)
                    });
                }
            }
        }
        Shape::Policies => {
            if tree.entries(id).is_none() {
                let what = found.unwrap_or("a string");
                at.error(
                    format!(
                        "must map environment names to policies, not {what}: write {lead}{{production: {{forbidMutableTags: true}}}}"
                    ),
                    results,
                );
                return;
            }
            check_fields(tree, id, at, budget, results, &|_| Some(Shape::Policies));
        }
    }
}

/// Checks the entries of the mapping `id` (merge keys followed): each
/// entry whose key `shape_of` knows gets that shape (`Shape::Policies` here
/// means one environment's rules); unknown keys are left to [`apply`].
fn check_fields(
    tree: &Tree<'_>,
    id: NodeId,
    at: &Place,
    budget: &mut usize,
    results: &mut Vec<KrmResult>,
    shape_of: &dyn Fn(&str) -> Option<Shape>,
) {
    let Some(entries) = tree.entries(id) else {
        return;
    };
    for &(k, v) in entries {
        if *budget == 0 {
            return;
        }
        if tree.is_merge_key(k) {
            let sources = tree.items(v).map_or_else(|| vec![v], <[NodeId]>::to_vec);
            for source in sources {
                *budget = budget.saturating_sub(1);
                check_fields(tree, source, at, budget, results, shape_of);
            }
            continue;
        }
        let key = tree.scalar(k).unwrap_or_default();
        let place = at.key(key);
        match shape_of(key) {
            Some(Shape::Policies) => {
                if tree.entries(v).is_none() {
                    let what = non_string(tree, v).unwrap_or("a string");
                    place.error(
                        format!("must be a mapping of rules, not {what}: write {key}: {{forbidMutableTags: true}}"),
                        results,
                    );
                } else {
                    check_fields(tree, v, &place, budget, results, &|rule| match rule {
                        "forbidMutableTags" | "requireDigest" => Some(Shape::Bool),
                        "allowedRegistries" => Some(Shape::StrList),
                        _ => None,
                    });
                }
            }
            Some(shape) => check_shape(tree, v, shape, &place, budget, results),
            None => {}
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The entries of a list setting: a YAML list, or (ConfigMap style) one
/// string with one entry per line.
fn list_entries(value: &Value, what: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| Value::String(l.into()))
            .collect()),
        Value::Array(items) => Ok(items.clone()),
        other => Err(format!("{what} must be a list, got {}", short(other))),
    }
}

/// Image overrides: strings in `kustomize edit set image` syntax (a YAML
/// list, or one string with one entry per line), or objects with kustomize's
/// `images:` fields.
fn parse_images(value: &Value, path: &str) -> Result<Vec<ImageOverride>, String> {
    let entries = list_entries(value, "images")?;
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let source = format!("{path}[{i}]");
        let parsed = match entry {
            Value::String(spec) => ImageOverride::parse_set_image(spec, &source),
            Value::Object(fields) => {
                // A field of another type is an error, never dropped: the
                // typed config is checked before this, but say so here too.
                let get = |k: &str| match fields.get(k) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(other) => Err(format!(
                        "{source}.{k} must be a string, got {}: write {k}: \"...\"",
                        short(other)
                    )),
                };
                if let Some(unknown) = fields
                    .keys()
                    .find(|k| !matches!(k.as_str(), "name" | "newName" | "newTag" | "digest" | "tagSuffix"))
                {
                    return Err(format!(
                        "{source}: unknown field {unknown:?}; known fields: name, newName, newTag, digest, tagSuffix"
                    ));
                }
                let o = ImageOverride {
                    name: get("name")?.unwrap_or_default(),
                    new_name: get("newName")?,
                    new_tag: get("newTag")?,
                    digest: get("digest")?,
                    tag_suffix: get("tagSuffix")?,
                    source: source.clone(),
                    ..ImageOverride::default()
                };
                o.validate().map(|()| o)
            }
            other => Err(format!("expected a string or an object, got {}", short(other))),
        };
        out.push(parsed.map_err(|e| format!("{source}: {e}"))?);
    }
    Ok(out)
}

/// Image Updater mappings: objects `{image, name, tag, spec}`, or strings
/// `<image> name=<VAR> tag=<VAR>` / `<image> spec=<VAR>`.
fn parse_updater(value: &Value) -> Result<Vec<UpdaterTarget>, String> {
    let entries = list_entries(value, "image-updater")?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let mut t = UpdaterTarget::default();
            let mut set = |k: &str, v: &str| -> Result<(), String> {
                let v = v.to_string();
                match k {
                    "image" => t.image = v,
                    "name" => t.name = Some(v),
                    "tag" => t.tag = Some(v),
                    "spec" => t.spec = Some(v),
                    other => {
                        return Err(format!(
                            "image-updater[{i}]: unknown field {other:?}; known fields: image, name, tag, spec"
                        ));
                    }
                }
                Ok(())
            };
            match entry {
                Value::String(line) => {
                    let mut words = line.split_whitespace();
                    set("image", words.next().unwrap_or_default())?;
                    for word in words {
                        let (k, v) = word
                            .split_once('=')
                            .ok_or_else(|| format!("image-updater[{i}]: {word:?} is not key=VAR"))?;
                        set(k, v)?;
                    }
                }
                Value::Object(fields) => {
                    for (k, v) in fields {
                        set(
                            k,
                            v.as_str()
                                .ok_or_else(|| format!("image-updater[{i}].{k} must be a string"))?,
                        )?;
                    }
                }
                other => {
                    return Err(format!(
                        "image-updater[{i}]: expected a string or an object, got {}",
                        short(other)
                    ));
                }
            }
            if t.image.is_empty() || (t.name.is_none() && t.tag.is_none() && t.spec.is_none()) {
                return Err(format!(
                    "image-updater[{i}]: needs an image and at least one of name, tag, spec"
                ));
            }
            Ok(t)
        })
        .collect()
}

/// Image policies: `{<environment or *>: {forbidMutableTags, requireDigest, allowedRegistries}}`.
fn parse_policies(value: &Value) -> Result<BTreeMap<String, ImagePolicy>, String> {
    let Value::Object(envs) = value else {
        return Err(format!(
            "imagePolicies must map environment names to policies, got {}",
            short(value)
        ));
    };
    let mut out = BTreeMap::new();
    for (env, rules) in envs {
        if env != "*" && !is_dns_label(env) {
            return Err(format!("imagePolicies: {env:?} is not an environment name or *"));
        }
        let Value::Object(rules) = rules else {
            return Err(format!("imagePolicies.{env} must be a mapping"));
        };
        let mut policy = ImagePolicy::default();
        for (k, v) in rules {
            let bad = || format!("imagePolicies.{env}.{k} has an invalid value {}", short(v));
            match k.as_str() {
                "forbidMutableTags" => policy.forbid_mutable_tags = boolean(v).ok_or_else(bad)?,
                "requireDigest" => policy.require_digest = boolean(v).ok_or_else(bad)?,
                "allowedRegistries" => policy.allowed_registries = list(v).ok_or_else(bad)?,
                other => {
                    return Err(format!(
                        "imagePolicies.{env}: unknown rule {other:?}; known rules: forbidMutableTags, requireDigest, allowedRegistries"
                    ));
                }
            }
        }
        out.insert(env.clone(), policy);
    }
    Ok(out)
}

/// A list given as a YAML sequence of strings, or (ConfigMap style) as one
/// string with one entry per line or separated by commas.
fn list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(Vec::new()),
        Value::String(s) => Some(
            s.split(['\n', ','])
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(String::from)
                .collect(),
        ),
        Value::Array(items) => items.iter().map(|v| v.as_str().map(|s| s.trim().to_string())).collect(),
        _ => None,
    }
}

/// `spec.mappingRules`-style paths: dot-separated keys.
fn is_field_path(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|k| !k.is_empty() && !k.contains(char::is_whitespace))
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!("{}...", &s[..s.floor_char_boundary(40)])
    } else {
        s
    }
}

/// RFC 1123 label: what Kubernetes accepts in names, and so what can be
/// part of a generated resource name.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(src: &str) -> (Config, Vec<KrmResult>) {
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs.first().map(|d| d.root);
        load(root.map(|r| (&tree, r)), &[])
    }

    #[test]
    fn kpt_placeholder_means_no_config() {
        let (config, results) =
            load_str("{metadata: {name: function-input}, data: {}, kind: ConfigMap, apiVersion: v1}");
        assert!(!config.is_set);
        assert!(results.is_empty());
    }

    #[test]
    fn reads_config_map_and_typed_forms_alike() {
        let (a, ra) = load_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  environment: staging\n  trigger-mode: revision\n",
        );
        let (b, rb) = load_str(
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata: {name: x}\nspec:\n  environment: staging\n  triggerMode: revision\n",
        );
        assert!(ra.is_empty() && rb.is_empty(), "{ra:?} {rb:?}");
        assert_eq!(a, b);
        assert_eq!(a.environment.as_deref(), Some("staging"));
        assert_eq!(a.trigger_mode, TriggerMode::Revision);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_error_results() {
        let (_, results) = load_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  enviroment: staging\n  trigger-mode: sometimes\n",
        );
        let text: Vec<String> = results.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "[error] data.enviroment: unknown key (did you mean \"environment\"?)",
                "[error] data.trigger-mode: trigger-mode must be \"content\" or \"revision\", got \"sometimes\"",
            ]
        );
    }

    fn typed(spec: &str) -> (Config, Vec<String>) {
        let (config, results) = load_str(&format!(
            "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata: {{name: x}}\nspec:\n{spec}"
        ));
        (config, results.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn wrong_yaml_types_in_typed_config_are_errors_that_say_what_to_write() {
        for (spec, want) in [
            (
                "  images:\n  - {name: app, newName: reg/app, newTag: 1.10}\n",
                "[error] spec.images[0].newTag: must be a string, but YAML reads 1.10 as a number: write newTag: \"1.10\"",
            ),
            (
                "  images:\n  - {name: app, newTag: 1.10}\n",
                "[error] spec.images[0].newTag: must be a string, but YAML reads 1.10 as a number: write newTag: \"1.10\"",
            ),
            (
                "  images:\n  - name: app\n    newTag:\n",
                "[error] spec.images[0].newTag: has no value, but must be a string: write newTag: \"...\", or leave the key out",
            ),
            (
                "  images:\n  - {name: 5000, digest: [a]}\n",
                "[error] spec.images[0].name: must be a string, but YAML reads 5000 as a number: write name: \"5000\"",
            ),
            (
                "  images:\n  - 1.10\n",
                "[error] spec.images[0]: must be a string, but YAML reads 1.10 as a number: write - \"1.10\"",
            ),
            (
                "  images: 7\n",
                "[error] spec.images: must be a list, not a number: write images: [\"7\"]",
            ),
            (
                "  imageUpdater:\n  - {image: app, tag: true}\n",
                "[error] spec.imageUpdater[0].tag: must be a string, but YAML reads true as a boolean: write tag: \"true\"",
            ),
            (
                "  imagePolicies:\n    production: {forbidMutableTags: yes, allowedRegistries: [ghcr.io, 1]}\n",
                "[error] spec.imagePolicies.production.forbidMutableTags: must be true or false, not the string \"yes\": write forbidMutableTags: true or forbidMutableTags: false",
            ),
            (
                "  imagePolicies: [production]\n",
                "[error] spec.imagePolicies: must map environment names to policies, not a list: write imagePolicies: {production: {forbidMutableTags: true}}",
            ),
            (
                "  imagePolicies: {production: true}\n",
                "[error] spec.imagePolicies.production: must be a mapping of rules, not a boolean: write production: {forbidMutableTags: true}",
            ),
            (
                "  environment: 2024\n",
                "[error] spec.environment: must be a string, but YAML reads 2024 as a number: write environment: \"2024\"",
            ),
            (
                "  triggerMode: {a: b}\n",
                "[error] spec.triggerMode: must be a string, not a mapping: write triggerMode: \"...\"",
            ),
            (
                "  sourceRevision: 1e3\n",
                "[error] spec.sourceRevision: must be a string, but YAML reads 1e3 as a number: write sourceRevision: \"1e3\"",
            ),
            (
                "  requireUpstream: ~\n",
                "[error] spec.requireUpstream: has no value, but must be a string: write requireUpstream: \"...\", or leave the key out",
            ),
            (
                "  syncWave: 1.5\n",
                "[error] spec.syncWave: must be a whole number, not 1.5 (a number): write syncWave: 10 or syncWave: \"10\"",
            ),
            (
                "  productionEnvironments: [prod, 1]\n",
                "[error] spec.productionEnvironments[1]: must be a string, but YAML reads 1 as a number: write - \"1\"",
            ),
            (
                "  productFields: true\n",
                "[error] spec.productFields: must be a list, not a boolean: write productFields: [\"...\"]",
            ),
            (
                "  requireDigest: \"maybe\"\n",
                "[error] spec.requireDigest: must be true or false, not the string \"maybe\": write requireDigest: true or requireDigest: false",
            ),
            (
                "  allowedRegistries: [{a: b}]\n",
                "[error] spec.allowedRegistries[0]: must be a string, not a mapping: write - \"...\"",
            ),
            (
                "  base: &b {name: app, newTag: 1.10}\n  images:\n  - {<<: *b, newName: reg/app}\n",
                "[error] spec.images[0].newTag: must be a string, but YAML reads 1.10 as a number: write newTag: \"1.10\"",
            ),
        ] {
            let (config, results) = typed(spec);
            assert!(
                results.iter().any(|r| r == want),
                "{spec}\nwant {want}\ngot {results:#?}"
            );
            assert!(
                config.images.is_empty() && config.image_updater.is_empty(),
                "{spec}: nothing applied"
            );
        }
        // The right types still load.
        let (config, results) = typed(
            "  images:\n  - {name: app, newTag: \"1.10\"}\n  syncWave: 5\n  requireDigest: \"true\"\n  productionEnvironments: prod\n",
        );
        assert!(results.is_empty(), "{results:?}");
        assert_eq!(config.images[0].new_tag.as_deref(), Some("1.10"));
        assert_eq!(config.sync_wave, "5");
    }

    #[test]
    fn foreign_kinds_are_rejected() {
        let (_, results) = load_str("apiVersion: fn.kpt.dev/v1alpha1\nkind: SetImage\nmetadata: {name: x}\n");
        assert_eq!(results.len(), 1);
        assert!(results[0].message.contains("got fn.kpt.dev/v1alpha1 SetImage"));
    }

    #[test]
    fn setting_values_never_reach_messages() {
        const MARK: &str = "PV-SECRET-1";
        for key in KEYS.iter().map(|k| k.config_map) {
            for value in [MARK.to_string(), format!("a:1\n{MARK}"), format!("x,{MARK}")] {
                let (_, results) = load(None, &[(key.to_string(), value.clone())]);
                for r in results {
                    assert!(!r.message.contains(MARK), "{key}={value:?}: {}", r.message);
                }
            }
        }
    }

    #[test]
    fn settings_override_the_function_config() {
        let tree = Tree::parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {environment: staging}\n")
            .unwrap();
        let (config, results) = load(
            Some((&tree, tree.docs[0].root)),
            &[("environment".into(), "production".into())],
        );
        assert!(results.is_empty());
        assert_eq!(config.environment.as_deref(), Some("production"));
    }
}
