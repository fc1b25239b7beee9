//! Writes YAML nodes as compact JSON, for Argo CD's repo-server.
//!
//! JSON avoids the YAML 1.1 readings of Argo CD's `sigs.k8s.io/yaml`
//! (`on`, `yes`, `0755`). Scalars resolve as in [`super::scalar`], except
//! that a plain number that is already valid JSON is copied verbatim, so
//! integers too large for 64 bits keep every digit.

use super::scalar::{self, MAX_EXPANDED_NODES};
use super::tree::{Kind, NodeId, Style, Tree};
use crate::Error;

/// Whether `s` is a JSON number literal.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Writes the subtree at `id` as compact JSON.
pub fn write(tree: &Tree<'_>, id: NodeId, out: &mut String) -> Result<(), Error> {
    let mut budget = MAX_EXPANDED_NODES;
    write_node(tree, id, out, &mut budget, 0)
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
            let tag = node.tag().unwrap_or("");
            let is_str = *style != Style::Plain || tag == "!!str" || tag == "tag:yaml.org,2002:str";
            if !is_str && is_json_number(value) {
                out.push_str(value);
            } else if is_str {
                out.push_str(&serde_json::Value::String(value.to_string()).to_string());
            } else {
                out.push_str(&scalar::resolve_plain(value).to_string());
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
            if entries.iter().any(|&(k, _)| tree.scalar(k) == Some("<<")) {
                // Merge keys: rare in manifests; resolve through serde_json.
                out.push_str(&scalar::to_json(tree, id)?.to_string());
                return Ok(());
            }
            out.push('{');
            for (i, &(k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = tree.scalar(k).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "unsupported non-scalar mapping key at line {}",
                        tree.node(k).line
                    ))
                })?;
                out.push_str(&serde_json::Value::String(key.to_string()).to_string());
                out.push(':');
                write_node(tree, v, out, budget, depth + 1)?;
            }
            out.push('}');
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
        write(&tree, tree.docs[0].root, &mut out).unwrap();
        out
    }

    #[test]
    fn writes_yaml_as_compact_json() {
        assert_eq!(
            json(
                "a: 1\nb: '1'\nc: on\nd: \"on\"\ne: ~\nf: [true, 1.5, 0x1F, 123456789012345678901234567890]\ng: |\n  x\n"
            ),
            r#"{"a":1,"b":"1","c":"on","d":"on","e":null,"f":[true,1.5,31,123456789012345678901234567890],"g":"x\n"}"#
        );
    }

    #[test]
    fn recognises_json_numbers() {
        for n in ["0", "-1", "1.5", "1e3", "1E-3", "123456789012345678901234567890"] {
            assert!(is_json_number(n), "{n}");
        }
        for n in ["01", "1.", ".5", "+1", "0x1F", "1e", "-", ""] {
            assert!(!is_json_number(n), "{n}");
        }
    }
}
