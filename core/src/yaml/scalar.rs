//! Plain-scalar resolution and conversion of a tree to `serde_json::Value`.
//!
//! Resolution follows the YAML 1.2 core schema, which is what kpt and
//! kustomize (go-yaml v3) use when reading. Where YAML 1.1 readers (Argo CD's
//! `sigs.k8s.io/yaml`) would read a plain scalar differently, the emitter
//! quotes it instead; see [`super::emit::needs_quotes`]. JSON for Argo CD
//! is written with kubectl's YAML 1.1 reading instead ([`super::json`]).

use serde_json::{Map, Number, Value};

use super::tree::{Kind, NodeId, Style, Tree};
use crate::Error;

/// Whether a plain scalar means null.
pub fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<Number> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if neg {
        let v = i64::try_from(magnitude).ok()?.checked_neg()?;
        Some(Number::from(v))
    } else {
        Some(Number::from(magnitude))
    }
}

fn is_float_syntax(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = match frac {
        Some(f) => digits(int) && digits(f) && !(int.is_empty() && f.is_empty()),
        None => !int.is_empty() && digits(int),
    };
    let exponent_ok = match exponent {
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
        None => true,
    };
    mantissa_ok && exponent_ok
}

fn is_special_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    matches!(s, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
}

/// Whether a plain scalar resolves to a string (not null, bool or number).
pub fn plain_is_string(s: &str) -> bool {
    // Fast path: nulls, booleans and numbers start with one of these.
    match s.as_bytes().first() {
        None => return false,
        Some(b) if b.is_ascii_alphabetic() && !matches!(b, b'n' | b'N' | b't' | b'T' | b'f' | b'F') => return true,
        _ => {}
    }
    !(is_null(s) || parse_bool(s).is_some() || parse_int(s).is_some() || is_float_syntax(s) || is_special_float(s))
}

/// Resolves a plain scalar to a JSON value. Numbers that JSON cannot hold
/// exactly (huge integers, `.inf`, `.nan`) keep their source text as a string.
pub fn resolve_plain(s: &str) -> Value {
    if is_null(s) {
        Value::Null
    } else if let Some(b) = parse_bool(s) {
        Value::Bool(b)
    } else if let Some(n) = parse_int(s) {
        Value::Number(n)
    } else if is_float_syntax(s) {
        match s.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) if !s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+') => Value::Number(n),
            _ => Value::String(s.to_string()),
        }
    } else {
        Value::String(s.to_string())
    }
}

/// Most JSON nodes one conversion may produce; stops alias bombs.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Converts the subtree at `id` to JSON, expanding aliases.
///
/// Mapping keys are converted to their scalar text. The number of nodes
/// produced is capped at [`MAX_EXPANDED_NODES`] so that "billion laughs"
/// alias chains fail fast instead of exhausting memory.
pub fn to_json(tree: &Tree<'_>, id: NodeId) -> Result<Value, Error> {
    let mut budget = MAX_EXPANDED_NODES;
    convert(tree, id, &mut budget, 0)
}

fn convert(tree: &Tree<'_>, id: NodeId, budget: &mut usize, depth: usize) -> Result<Value, Error> {
    if *budget == 0 || depth > 4 * super::tree::MAX_DEPTH {
        return Err(Error::InvalidInput(format!(
            "YAML aliases near line {} expand to too many nodes",
            tree.node(id).line
        )));
    }
    *budget -= 1;
    let node = tree.node(id);
    Ok(match &node.kind {
        Kind::Alias(target) => convert(tree, *target, budget, depth + 1)?,
        Kind::Scalar { value, style } => {
            let tag = node.tag().unwrap_or("");
            let is_str_tag = tag == "!!str" || tag == "tag:yaml.org,2002:str";
            if *style != Style::Plain || is_str_tag {
                Value::String(value.to_string())
            } else {
                resolve_plain(value)
            }
        }
        Kind::Sequence(items) => Value::Array(
            items
                .iter()
                .map(|&i| convert(tree, i, budget, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Mapping(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for &(k, v) in entries {
                let key = match tree.scalar(k) {
                    Some(s) => s.to_string(),
                    None => {
                        return Err(Error::InvalidInput(format!(
                            "unsupported non-scalar mapping key at line {}",
                            tree.node(k).line
                        )));
                    }
                };
                if key == "<<" && tree.node(k).tag().is_none() {
                    // Merge key: copy entries that are not set explicitly.
                    let merged = convert(tree, v, budget, depth + 1)?;
                    let sources = match merged {
                        Value::Array(a) => a,
                        other => vec![other],
                    };
                    for source in sources {
                        if let Value::Object(m) = source {
                            for (mk, mv) in m {
                                if entries.iter().all(|&(ek, _)| tree.scalar(ek) != Some(mk.as_str())) {
                                    map.entry(mk).or_insert(mv);
                                }
                            }
                        }
                    }
                    continue;
                }
                let value = convert(tree, v, budget, depth + 1)?;
                map.insert(key, value);
            }
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_core_schema() {
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("True"), Value::Bool(true));
        assert_eq!(resolve_plain("on"), Value::String("on".into()));
        assert_eq!(resolve_plain("0x1F"), Value::from(31));
        assert_eq!(resolve_plain("-12"), Value::from(-12));
        assert_eq!(resolve_plain("1e3"), Value::from(1000.0));
        assert_eq!(resolve_plain("1.10"), Value::from(1.1));
        assert_eq!(resolve_plain("1.2.3"), Value::String("1.2.3".into()));
        // Too large for JSON integers: keep the exact text.
        assert_eq!(
            resolve_plain("123456789012345678901234567890"),
            Value::String("123456789012345678901234567890".into())
        );
    }

    #[test]
    fn quoted_and_tagged_scalars_stay_strings() {
        let tree = Tree::parse("a: '1.10'\nb: !!str 0755\nc: 0755\n").unwrap();
        let v = to_json(&tree, tree.docs[0].root).unwrap();
        assert_eq!(v["a"], "1.10");
        assert_eq!(v["b"], "0755");
        assert_eq!(v["c"], 755);
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let tree = Tree::parse(&src).unwrap();
        let err = to_json(&tree, tree.docs[0].root).unwrap_err();
        assert!(err.to_string().contains("expand to too many nodes"), "{err}");
    }

    #[test]
    fn merge_keys_are_applied() {
        let tree = Tree::parse("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n").unwrap();
        let v = to_json(&tree, tree.docs[0].root).unwrap();
        assert_eq!(v["d"], serde_json::json!({"y": 3, "x": 1}));
    }
}
