//! The semantic oracle: whatever bytes krm-promote writes, the output must
//! mean the input with exactly the changes its results announce.
//!
//! Input and output are read with an independent YAML reader (serde_yaml,
//! libyaml underneath), merge keys applied as kubectl reads them (a later
//! assignment wins) and as kustomize and kpt read them (explicit keys win).
//! Every info result with a field path and a proposed value is applied to
//! the input's value tree; generated promotions (and the managed ones they
//! replace) are set aside; what remains must equal the output's value tree,
//! resource by resource, and the functionConfig must be unchanged.

#![allow(dead_code)]

use krm_promote_core::{Framing, Output, Severity};
use serde_yaml::{Mapping, Value};

/// The two ways readers apply merge keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// go-yaml v2 (kubectl, Argo CD): in source order, later wins; a merged
    /// list applies last to first.
    SourceOrder,
    /// go-yaml v3 (kustomize, kpt): explicit keys, then merged mappings in
    /// order, each adding only missing keys.
    ExplicitFirst,
}

fn merge_sources(value: &Value, merge: Merge) -> Result<Vec<Mapping>, String> {
    let one = |v: &Value| match apply_merge(v, merge)? {
        Value::Mapping(m) => Ok(m),
        other => Err(format!("merge of a non-mapping {other:?}")),
    };
    match value {
        Value::Sequence(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// `value` with every merge key applied as `merge` reads it.
pub fn apply_merge(value: &Value, merge: Merge) -> Result<Value, String> {
    Ok(match value {
        Value::Mapping(map) => {
            let mut out = Mapping::new();
            let mut sources = Vec::new();
            for (k, v) in map {
                if k.as_str() == Some("<<") {
                    sources = merge_sources(v, merge)?;
                    if merge == Merge::SourceOrder {
                        for source in sources.iter().rev() {
                            for (mk, mv) in source {
                                out.insert(mk.clone(), mv.clone());
                            }
                        }
                    }
                    continue;
                }
                // Tags (`! spec`) are not part of what Kubernetes reads.
                let k = match k {
                    Value::Tagged(t) => t.value.clone(),
                    other => other.clone(),
                };
                out.insert(k, apply_merge(v, merge)?);
            }
            if merge == Merge::ExplicitFirst {
                for source in sources {
                    for (mk, mv) in source {
                        if !out.contains_key(&mk) {
                            out.insert(mk, mv);
                        }
                    }
                }
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|v| apply_merge(v, merge)).collect::<Result<_, _>>()?)
        }
        Value::Tagged(t) => apply_merge(&t.value, merge)?,
        other => other.clone(),
    })
}

/// Every document of a YAML stream.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The resources of a stream (list documents stand for their items) or of
/// a ResourceList's `items`.
fn resources(docs: &[Value], framing: Framing) -> Vec<Value> {
    match framing {
        Framing::ResourceList => docs
            .first()
            .and_then(|d| d.get("items"))
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default(),
        Framing::Stream => docs
            .iter()
            .flat_map(|d| match d.get("items").and_then(Value::as_sequence) {
                Some(items) => items.clone(),
                None => vec![d.clone()],
            })
            .collect(),
    }
}

fn text<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |at, k| at.get(*k))?.as_str()
}

/// A scalar as the text a result would show (numbers and booleans too).
fn scalar_text(v: &Value, path: &[&str]) -> String {
    match path.iter().try_fold(v, |at, k| at.get(*k)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Whether the resource is a promotion krm-promote generates (and replaces).
fn generated(v: &Value) -> bool {
    text(v, &["kind"]) == Some("ProxyConfigPromote")
        && text(v, &["metadata", "labels", "app.kubernetes.io/managed-by"]) == Some("krm-promote")
}

/// Splits a result's field path: dotted keys with `[n]` indexes; after
/// `metadata.annotations` or `metadata.labels` the rest is one key.
fn split_path(path: &str) -> Vec<Result<String, usize>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let under_metadata = out.len() == 2 && out[0] == Ok("metadata".to_string());
        if under_metadata && matches!(out.last(), Some(Ok(k)) if k == "annotations" || k == "labels") {
            out.push(Ok(rest.to_string()));
            break;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        if end > 0 {
            out.push(Ok(rest[..end].to_string()));
        }
        rest = &rest[end..];
        while let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            out.push(Err(r[..close].parse().unwrap_or(usize::MAX)));
            rest = r.get(close + 1..).unwrap_or("");
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    out
}

fn set(v: &mut Value, path: &[Result<String, usize>], new: Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *v = new;
        return Ok(());
    };
    let next = match first {
        Ok(key) => {
            if v.is_null() {
                *v = Value::Mapping(Mapping::new());
            }
            let map = v.as_mapping_mut().ok_or_else(|| format!("{key}: not a mapping"))?;
            if !map.contains_key(key.as_str()) {
                map.insert(Value::String(key.clone()), Value::Null);
            }
            map.get_mut(key.as_str()).expect("inserted")
        }
        Err(i) => v
            .as_sequence_mut()
            .and_then(|s| s.get_mut(*i))
            .ok_or_else(|| format!("[{i}]: no such item"))?,
    };
    set(next, rest, new)
}

fn identity(v: &Value) -> (String, String, String, String) {
    let s = |p: &[&str]| scalar_text(v, p);
    (
        s(&["apiVersion"]),
        s(&["kind"]),
        s(&["metadata", "name"]),
        s(&["metadata", "namespace"]),
    )
}

/// Checks `out` against `input` (framed as `framing`; YAML output only).
/// `Ok(false)` when serde_yaml cannot read the input (nothing to compare).
pub fn check(input: &str, framing: Framing, out: &Output) -> Result<bool, String> {
    // An anchor or tag before a key that starts a block line (`&a key: v`)
    // belongs to the key for saphyr and to the mapping for libyaml: the
    // readers disagree, so there is no one reading to compare against.
    let property_before_key = input.lines().any(|l| {
        let l = l.trim_start().trim_start_matches("- ").trim_start();
        l.starts_with(['&', '!'])
            && l.split_once(char::is_whitespace).is_some_and(|(_, rest)| {
                let rest = rest.trim_start();
                !rest.starts_with(['{', '[', '"', '\'']) && (rest.contains(": ") || rest.ends_with(':'))
            })
    });
    if property_before_key {
        return Ok(false);
    }
    let Ok(before_docs) = documents(input) else {
        return Ok(false);
    };
    let after_docs = documents(&out.document).map_err(|e| format!("serde_yaml cannot read the output: {e}"))?;
    for merge in [Merge::SourceOrder, Merge::ExplicitFirst] {
        let read =
            |docs: &[Value]| -> Result<Vec<Value>, String> { docs.iter().map(|d| apply_merge(d, merge)).collect() };
        // Merge keys the reader cannot apply (`<<: ~`) in the input: no
        // reading to compare against.
        let Ok(before) = read(&before_docs) else {
            return Ok(false);
        };
        let after = read(&after_docs)?;
        let mut expected = resources(&before, framing);
        for r in &out.results {
            let (Some(field), Some(target)) = (&r.field, &r.resource_ref) else {
                continue;
            };
            let Some(new) = &field.proposed_value else { continue };
            if r.severity != Severity::Info {
                continue;
            }
            let want = (
                target.api_version.clone(),
                target.kind.clone(),
                target.name.clone(),
                target.namespace.clone().unwrap_or_default(),
            );
            let mut hits = expected.iter_mut().filter(|v| identity(v) == want);
            let (Some(resource), None) = (hits.next(), hits.next()) else {
                // The reader spells the identity differently (a number
                // written as a name), or two resources share it: the result
                // does not say which one is meant.
                return Ok(false);
            };
            let new: Value = serde_yaml::to_value(new).map_err(|e| e.to_string())?;
            if set(resource, &split_path(&field.path), new).is_err() {
                // A key with `.` or `[` makes the dotted path ambiguous.
                return Ok(false);
            }
        }
        expected.retain(|v| !generated(v));
        let mut actual = resources(&after, framing);
        actual.retain(|v| !generated(v));
        if expected.len() != actual.len() {
            return Err(format!(
                "{merge:?}: {} resources expected, {} in the output",
                expected.len(),
                actual.len()
            ));
        }
        for (e, a) in expected.iter().zip(&actual) {
            if e != a {
                return Err(format!(
                    "{merge:?}: resource {:?} differs\n--- expected ---\n{}--- output ---\n{}",
                    identity(e),
                    serde_yaml::to_string(e).unwrap_or_default(),
                    serde_yaml::to_string(a).unwrap_or_default()
                ));
            }
        }
        if framing == Framing::ResourceList {
            let fc = |docs: &[Value]| docs.first().and_then(|d| d.get("functionConfig")).cloned();
            if fc(&before) != fc(&after) {
                return Err(format!("{merge:?}: the functionConfig changed"));
            }
        }
    }
    Ok(true)
}
