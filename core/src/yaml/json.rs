//! Writes YAML nodes as compact JSON, for Argo CD's repo-server.
//!
//! The JSON means what kubectl and Argo CD would have read from the YAML
//! themselves (`sigs.k8s.io/yaml`, i.e. go-yaml v2): plain scalars resolve
//! as YAML 1.1 ([`super::yaml11`]: `0400` is 256, `on` is `true`), mapping
//! keys too, and merge keys apply in source order ([`Merge::SourceOrder`]).
//! Writing JSON fixes that reading: nothing downstream reads the YAML again.

use std::borrow::Cow;

use super::scalar::MAX_EXPANDED_NODES;
use super::tree::{Kind, Merge, NodeId, Tree};
use super::yaml11;
use crate::Error;

/// Whether `s` is a decimal integer literal that go-yaml v2 reads as the
/// same integer and JSON writes the same way: copied verbatim.
fn is_plain_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0"
}

/// Writes the subtree at `id` as compact JSON, read as kubectl reads YAML.
///
/// # Errors
/// What kubectl would refuse too (see [`super::yaml11`]), two keys of one
/// mapping that read as the same JSON key, and aliases or merge keys that
/// expand too far.
pub fn write(tree: &Tree<'_>, id: NodeId, out: &mut String) -> Result<(), Error> {
    let mut budget = MAX_EXPANDED_NODES;
    write_node(tree, id, out, &mut budget, 0)
}

/// The subtree at `id` as a JSON value, read as kubectl reads YAML.
///
/// # Errors
/// As [`write()`].
pub fn to_value(tree: &Tree<'_>, id: NodeId) -> Result<serde_json::Value, Error> {
    let mut out = String::new();
    write(tree, id, &mut out)?;
    Ok(serde_json::from_str(&out).expect("the JSON written is valid"))
}

/// The JSON key kubectl makes of the key node `k`, and the key's text.
fn json_key<'t>(tree: &'t Tree<'_>, k: NodeId) -> Result<(Cow<'t, str>, &'t str), Error> {
    let key_node = tree.node(tree.resolve(k));
    let line = tree.node(k).line;
    let Kind::Scalar { value, style } = &key_node.kind else {
        return Err(Error::InvalidInput(format!(
            "unsupported non-scalar mapping key at line {line}"
        )));
    };
    let key = yaml11::key_string(yaml11::resolve(value, *style, key_node.tag(), line)?, line)?;
    Ok((key, value.as_ref()))
}

fn write_node(tree: &Tree<'_>, id: NodeId, out: &mut String, budget: &mut usize, depth: usize) -> Result<(), Error> {
    if *budget == 0 || depth > 4 * super::tree::MAX_DEPTH {
        return Err(Error::InvalidInput(format!(
            "YAML aliases near line {} expand to too many nodes",
            tree.node(id).line
        )));
    }
    *budget -= 1;
    let node = tree.node(id);
    match &node.kind {
        Kind::Alias(target) => write_node(tree, *target, out, budget, depth + 1)?,
        Kind::Scalar { value, style } => {
            if *style == super::tree::Style::Plain && node.tag().is_none() && is_plain_integer(value) {
                out.push_str(value);
            } else {
                let scalar = yaml11::resolve(value, *style, node.tag(), node.line)?;
                yaml11::write_json(&scalar, node.line, out)?;
            }
        }
        Kind::Sequence(items) => {
            out.push('[');
            for (i, &item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_node(tree, item, out, budget, depth + 1)?;
            }
            out.push(']');
        }
        Kind::Mapping(entries) => {
            let merged;
            let entries: Cow<'_, [(NodeId, NodeId)]> = if tree.has_merge_key(id) {
                merged = tree
                    .merged_entries(id, Merge::SourceOrder)?
                    .expect("a mapping")
                    .iter()
                    .map(|e| (e.key, e.value))
                    .collect::<Vec<_>>();
                Cow::Owned(merged)
            } else {
                Cow::Borrowed(entries.as_slice())
            };
            // Keys that read as something other than their text (`yes`,
            // `0x1`) can meet another key: check only then.
            let mut check = false;
            out.push('{');
            for (i, &(k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let (key, text) = json_key(tree, k)?;
                check |= key.as_ref() != text;
                out.push_str(&serde_json::to_string(key.as_ref()).expect("strings serialize"));
                out.push(':');
                write_node(tree, v, out, budget, depth + 1)?;
            }
            out.push('}');
            if check {
                let mut keys = entries
                    .iter()
                    .map(|&(k, _)| json_key(tree, k).map(|(key, _)| key))
                    .collect::<Result<Vec<_>, _>>()?;
                keys.sort_unstable();
                if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(Error::InvalidInput(format!(
                        "two keys of the mapping at line {} both read as {:?} (kubectl would keep only the last); write one",
                        node.line, w[0]
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(src: &str) -> String {
        let tree = Tree::parse(src).unwrap();
        let mut out = String::new();
        match write(&tree, tree.docs[0].root, &mut out) {
            Ok(()) => out,
            Err(e) => format!("ERROR {e}"),
        }
    }

    #[test]
    fn writes_yaml_as_kubectl_reads_it() {
        assert_eq!(
            json(
                "a: 1\nb: '1'\nc: on\nd: \"on\"\ne: ~\nf: [true, 1.5, 0x1F, 123456789012345678901234567890]\ng: |\n  x\nh: 0400\ni: !!str 0400\n"
            ),
            r#"{"a":1,"b":"1","c":true,"d":"on","e":null,"f":[true,1.5,31,1.2345678901234568e+29],"g":"x\n","h":256,"i":"0400"}"#
        );
    }

    #[test]
    fn keys_resolve_and_must_stay_distinct() {
        assert_eq!(
            json("{yes: a, 0400: b, 1.10: c}"),
            r#"{"true":"a","256":"b","1.1":"c"}"#
        );
        assert!(json("{1: a, 0x1: b}").contains("both read as \"1\""));
        assert!(json("{true: a, yes: b}").contains("both read as \"true\""));
        assert!(json("{~: a}").starts_with("ERROR"));
    }

    #[test]
    fn merge_keys_apply_in_source_order() {
        // As kubectl 1.32 reads them (see `Merge::SourceOrder`).
        let src = "b1: &b1 {a: 1, c: 1}\nb2: &b2 {a: 2, d: 2}\nm: {a: 0, <<: [*b1, *b2], c: 9}\n";
        assert!(json(src).ends_with(r#""m":{"a":1,"d":2,"c":9}}"#), "{}", json(src));
        assert_eq!(json("{<<: [{a: 1}, {a: 2}], a: 3}"), r#"{"a":3}"#);
        assert!(json("{<<: 1}").contains("needs a mapping"));
    }

    #[test]
    fn infinities_are_refused() {
        assert!(json("a: .inf\n").contains("infinity or NaN"));
        assert_eq!(json("a: '.inf'\n"), r#"{"a":".inf"}"#);
    }

    #[test]
    fn plain_integers_are_copied() {
        for n in ["0", "-1", "123456789012345678"] {
            assert!(is_plain_integer(n), "{n}");
        }
        for n in ["01", "-0", "1.5", "1234567890123456789", "", "-"] {
            assert!(!is_plain_integer(n), "{n}");
        }
    }
}
