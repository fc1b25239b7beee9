//! A generic dependency graph over the resources of a render, with Merkle
//! digests.
//!
//! A [`Rules`] set says, per kind, which fields matter (hashed into the
//! node's own digest), how other resources refer to it (its key), and which
//! references it makes (edges). A node's digest covers its own fields and,
//! recursively, the digests of everything it depends on, so a change
//! anywhere below a product changes the product's digest and nothing else's.
//! 3scale is the first rule set ([`super::threescale`]).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::digest::{at_path, canonical_json, select, sha256_hex};
use crate::krm_result::{KrmResult, Severity};
use crate::resource_list::Item;

/// Where an edge finds its references inside a resource.
#[derive(Debug, Clone)]
pub enum Refs {
    /// The keys of the map at `map`; each entry's value is part of the edge
    /// (e.g. a backend usage's `path`). Entries that have the field `unless`
    /// are left to another edge.
    MapKeys {
        /// Dotted path of the map.
        map: &'static str,
        /// Skip entries that have this field.
        unless: Option<&'static str>,
    },
    /// For each entry of the map at `map`, the string in its field `field`.
    MapEntryField {
        /// Dotted path of the map.
        map: &'static str,
        /// Field inside each entry.
        field: &'static str,
    },
    /// Strings at a path where `[]` means every list element and `*` every
    /// map value, e.g. `spec.policies[].configurationRef.name`.
    Strings(&'static str),
}

/// How a resource refers to other resources.
#[derive(Debug, Clone)]
pub struct Edge {
    /// What the reference is, for messages (`backend usage`).
    pub name: &'static str,
    /// Where the references are.
    pub refs: Refs,
    /// The kind referred to.
    pub target_kind: &'static str,
    /// Match the target's key (true) or its `metadata.name` (false).
    pub by_key: bool,
    /// A reference to a resource missing from the render is an error (true)
    /// or only worth an info result (false, e.g. a Secret kept elsewhere).
    pub required: bool,
}

/// How one kind takes part in the graph.
#[derive(Debug, Clone)]
pub struct KindRule {
    /// API group (empty for core).
    pub group: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Dotted paths hashed into the node's own digest.
    pub fields: Vec<String>,
    /// Applies defaults (as the owning operator would) before hashing.
    pub normalize: fn(&mut Value),
    /// The key references use, when not `metadata.name`.
    pub key: Option<fn(&Value) -> Option<String>>,
    /// Name of the key for messages (`spec.systemName`).
    pub key_field: &'static str,
    /// References to other resources.
    pub edges: Vec<Edge>,
    /// The content is secret: its digest is never shown.
    pub secret: bool,
}

/// A rule set.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Per-kind rules.
    pub kinds: Vec<KindRule>,
}

/// One resource in the graph.
#[derive(Debug)]
pub struct Node<'i> {
    /// The item.
    pub item: &'i Item,
    /// Its content, normalized.
    pub value: Value,
    /// Index into [`Rules::kinds`].
    pub rule: usize,
    /// Its key, if its rule has one.
    pub key: Option<String>,
}

/// A resolved reference from one node.
#[derive(Debug, Clone)]
pub struct Dependency {
    /// The edge's name.
    pub edge: &'static str,
    /// Field path of the reference, e.g. `spec.backendUsages.payments`.
    pub field: String,
    /// The referenced key or name.
    pub reference: String,
    /// The node referred to, if it is in the render.
    pub target: Option<usize>,
    /// Extra content of the reference that is hashed with it.
    pub payload: Value,
}

/// The graph of one render.
#[derive(Debug)]
pub struct Graph<'i> {
    /// The rules.
    pub rules: Rules,
    /// The nodes, in input order.
    pub nodes: Vec<Node<'i>>,
    /// Dependencies of each node.
    pub deps: Vec<Vec<Dependency>>,
    /// Findings: dangling references, duplicate keys, cross-namespace use.
    pub results: Vec<KrmResult>,
    digests: Vec<Option<String>>,
    own: Vec<std::cell::OnceCell<String>>,
}

impl<'i> Graph<'i> {
    /// Builds the graph from `(item, content)` pairs whose kinds `rules`
    /// knows (others are ignored).
    pub fn build(rules: Rules, resources: Vec<(&'i Item, Value)>) -> Graph<'i> {
        let mut results = Vec::new();
        let mut nodes = Vec::new();
        for (item, mut value) in resources {
            let Some(rule) = rules
                .kinds
                .iter()
                .position(|r| r.kind == item.kind && r.group == item.group())
            else {
                continue;
            };
            (rules.kinds[rule].normalize)(&mut value);
            let key = rules.kinds[rule].key.and_then(|f| f(&value));
            nodes.push(Node { item, value, rule, key });
        }

        // Index by (kind, namespace, key) and (kind, namespace, name).
        let mut by_key: HashMap<(&str, &str, &str), usize> = HashMap::new();
        let mut by_name: HashMap<(&str, &str, &str), usize> = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            let ns = node.item.namespace.as_deref().unwrap_or("");
            let kind = node.item.kind.as_str();
            if let Some(key) = &node.key {
                if let Some(&first) = by_key.get(&(kind, ns, key.as_str())) {
                    let rule = &rules.kinds[node.rule];
                    results.push(
                        node.item
                            .result(
                                Severity::Error,
                                format!(
                                    "{} {key:?} is also used by {} in the same namespace; 3scale would manage both as one",
                                    rule.key_field,
                                    nodes[first].item.display()
                                ),
                            )
                            .at_field(rule.key_field),
                    );
                    continue;
                }
                by_key.insert((kind, ns, key.as_str()), i);
            }
            by_name.entry((kind, ns, node.item.name.as_str())).or_insert(i);
        }

        let mut deps = Vec::with_capacity(nodes.len());
        for node in &nodes {
            let mut list = Vec::new();
            let ns = node.item.namespace.as_deref().unwrap_or("");
            for edge in &rules.kinds[node.rule].edges {
                for (field, reference, payload) in references(&node.value, &edge.refs) {
                    let index = if edge.by_key { &by_key } else { &by_name };
                    let target = index.get(&(edge.target_kind, ns, reference.as_str())).copied();
                    if target.is_none() {
                        results.push(missing(node, edge, &field, &reference, &nodes, &rules));
                    }
                    list.push(Dependency {
                        edge: edge.name,
                        field,
                        reference,
                        target,
                        payload,
                    });
                }
            }
            deps.push(list);
        }
        let digests = vec![None; nodes.len()];
        let own = (0..nodes.len()).map(|_| std::cell::OnceCell::new()).collect();
        Graph {
            rules,
            nodes,
            deps,
            results,
            digests,
            own,
        }
    }

    /// The rule of node `i`.
    pub fn rule(&self, i: usize) -> &KindRule {
        &self.rules.kinds[self.nodes[i].rule]
    }

    /// The digest of node `i` alone (its own fields), computed once.
    pub fn own_digest(&self, i: usize) -> String {
        self.own[i]
            .get_or_init(|| {
                let node = &self.nodes[i];
                let rule = self.rule(i);
                let content = canonical_json(&select(&node.value, &rule.fields));
                sha256_hex([
                    b"krm-promote/node/v1".as_slice(),
                    rule.group.as_bytes(),
                    rule.kind.as_bytes(),
                    content.as_bytes(),
                ])
            })
            .clone()
    }

    /// The Merkle digest of node `i`: its own fields and, recursively, its
    /// dependencies' digests. Dangling references hash as "missing".
    pub fn digest(&mut self, i: usize) -> String {
        self.digest_guarded(i, &mut Vec::new())
    }

    fn digest_guarded(&mut self, i: usize, path: &mut Vec<usize>) -> String {
        if let Some(d) = &self.digests[i] {
            return d.clone();
        }
        if path.contains(&i) {
            // A reference cycle: hash the back edge by name only.
            return "cycle".into();
        }
        path.push(i);
        let mut parts: Vec<String> = vec!["krm-promote/tree/v1".into(), self.own_digest(i)];
        let mut deps: Vec<Dependency> = self.deps[i].clone();
        deps.sort_by(|a, b| (a.edge, &a.field).cmp(&(b.edge, &b.field)));
        for dep in deps {
            let target = match dep.target {
                Some(t) => self.digest_guarded(t, path),
                None => "missing".into(),
            };
            parts.extend([
                dep.edge.to_string(),
                dep.field,
                dep.reference,
                canonical_json(&dep.payload),
                target,
            ]);
        }
        path.pop();
        let digest = sha256_hex(parts.iter().map(|p| p.as_bytes()));
        self.digests[i] = Some(digest.clone());
        digest
    }

    /// Every node `i` depends on, directly or not, in a stable order.
    pub fn inputs(&self, i: usize) -> Vec<usize> {
        let mut seen = BTreeMap::new();
        let mut stack = vec![i];
        while let Some(n) = stack.pop() {
            for dep in &self.deps[n] {
                if let Some(t) = dep.target
                    && t != i
                    && seen.insert(t, ()).is_none()
                {
                    stack.push(t);
                }
            }
        }
        seen.into_keys().collect()
    }
}

fn missing(node: &Node<'_>, edge: &Edge, field: &str, reference: &str, nodes: &[Node<'_>], rules: &Rules) -> KrmResult {
    let ns = node.item.namespace.as_deref().unwrap_or("");
    // Is it in another namespace? The operator only looks in the product's.
    let elsewhere = nodes.iter().find(|n| {
        n.item.kind == edge.target_kind
            && n.item.namespace.as_deref().unwrap_or("") != ns
            && if edge.by_key {
                n.key.as_deref() == Some(reference)
            } else {
                n.item.name == reference
            }
    });
    let what = if edge.by_key {
        format!(
            "{} with {} {reference:?}",
            edge.target_kind,
            rules_key_field(rules, edge.target_kind)
        )
    } else {
        format!("{} {reference:?}", edge.target_kind)
    };
    let (severity, message) = match (elsewhere, edge.required) {
        (Some(other), _) => (
            Severity::Error,
            format!(
                "{} {reference:?} matches {} in namespace {:?}, but {} is in namespace {:?}: references only resolve within one namespace",
                edge.name,
                other.item.display(),
                other.item.namespace.as_deref().unwrap_or(""),
                node.item.kind,
                ns
            ),
        ),
        (None, true) => (
            Severity::Error,
            format!("{} {reference:?} matches no {what} in this render", edge.name),
        ),
        (None, false) => (
            Severity::Info,
            format!(
                "{} {reference:?}: {what} is not in this render, so its changes do not trigger promotions",
                edge.name
            ),
        ),
    };
    node.item.result(severity, message).at_field(field)
}

fn rules_key_field(rules: &Rules, kind: &str) -> &'static str {
    rules
        .kinds
        .iter()
        .find(|r| r.kind == kind)
        .map_or("metadata.name", |r| r.key_field)
}

/// `(field path, reference, payload)` for each reference `refs` finds.
fn references(value: &Value, refs: &Refs) -> Vec<(String, String, Value)> {
    match refs {
        Refs::MapKeys { map, unless } => match at_path(value, map) {
            Some(Value::Object(entries)) => entries
                .iter()
                .filter(|(_, v)| unless.is_none_or(|u| v.get(u).is_none()))
                .map(|(k, v)| (format!("{map}.{k}"), k.clone(), v.clone()))
                .collect(),
            _ => Vec::new(),
        },
        Refs::MapEntryField { map, field } => match at_path(value, map) {
            Some(Value::Object(entries)) => entries
                .iter()
                .filter_map(|(k, v)| {
                    let target = v.get(*field)?.as_str()?;
                    Some((format!("{map}.{k}.{field}"), target.to_string(), v.clone()))
                })
                .collect(),
            _ => Vec::new(),
        },
        Refs::Strings(pattern) => {
            let mut out = Vec::new();
            collect_strings(value, &pattern.split('.').collect::<Vec<_>>(), String::new(), &mut out);
            out.into_iter().map(|(path, s)| (path, s, Value::Null)).collect()
        }
    }
}

fn collect_strings(value: &Value, segments: &[&str], path: String, out: &mut Vec<(String, String)>) {
    let Some((first, rest)) = segments.split_first() else {
        if let Some(s) = value.as_str() {
            out.push((path, s.to_string()));
        }
        return;
    };
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_string()
        } else {
            format!("{p}.{s}")
        }
    };
    if let Some(key) = first.strip_suffix("[]") {
        if let Some(Value::Array(items)) = value.get(key) {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, rest, format!("{}[{i}]", join(&path, key)), out);
            }
        }
    } else if *first == "*" {
        if let Value::Object(map) = value {
            for (k, v) in map {
                collect_strings(v, rest, join(&path, k), out);
            }
        }
    } else if let Some(v) = value.get(*first) {
        collect_strings(v, rest, join(&path, first), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_pattern_walks_lists_and_maps() {
        let v = json!({"spec": {"policies": [{"configurationRef": {"name": "a"}}, {"name": "x"}, {"configurationRef": {"name": "b"}}],
            "deployment": {"apicastHosted": {"authentication": {"oidc": {"issuerEndpointRef": {"name": "s"}}}}}}});
        let found: Vec<(String, String)> = references(&v, &Refs::Strings("spec.policies[].configurationRef.name"))
            .into_iter()
            .map(|(p, s, _)| (p, s))
            .collect();
        assert_eq!(
            found,
            [
                ("spec.policies[0].configurationRef.name".to_string(), "a".to_string()),
                ("spec.policies[2].configurationRef.name".to_string(), "b".to_string())
            ]
        );
        let oidc = references(
            &v,
            &Refs::Strings("spec.deployment.*.authentication.oidc.issuerEndpointRef.name"),
        );
        assert_eq!(
            oidc[0].0,
            "spec.deployment.apicastHosted.authentication.oidc.issuerEndpointRef.name"
        );
    }
}
