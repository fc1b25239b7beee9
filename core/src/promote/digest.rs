//! Content digests: SHA-256 over canonical JSON.
//!
//! Canonical JSON sorts object keys (recursively), keeps list order (a list's
//! order means something: mapping rules are evaluated in order), writes no
//! whitespace and formats numbers as serde_json does. So key order, resource
//! order, YAML style and comments never change a digest.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Writes `v` as canonical JSON.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::new();
    write(&mut out, v);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes `v` into `out`; strings and numbers exactly as serde_json writes
/// them (digests depend on these bytes), without an allocation per value.
fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("writing to a Vec cannot fail");
                out.push(b':');
                write(out, &map[k]);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to a Vec cannot fail"),
    }
}

/// Lowercase hex SHA-256 of `parts`, each length-prefixed so that no two
/// different part lists hash alike.
pub fn sha256_hex<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for b in h.finalize() {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 0xf)] as char);
    }
    hex
}

/// The value at a dotted path (`spec.mappingRules`), if present.
pub fn at_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// The subset of `value` at `paths`, as an object keyed by path. Absent
/// fields are left out, so adding an empty optional field changes nothing
/// only if it is absent in both versions.
pub fn select(value: &Value, paths: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for path in paths {
        if let Some(v) = at_path(value, path)
            && !v.is_null()
        {
            out.insert(path.clone(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter_list_order_does() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
        let c = json!({"a": {"y": [2, 1], "x": null}, "b": 1});
        assert_ne!(canonical_json(&a), canonical_json(&c));
    }

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(
            sha256_hex([b"ab".as_slice(), b"c"]),
            sha256_hex([b"a".as_slice(), b"bc"])
        );
        assert_eq!(sha256_hex([b"x".as_slice()]).len(), 64);
    }

    #[test]
    fn select_takes_present_paths_only() {
        let v = json!({"spec": {"a": 1, "b": {"c": 2}, "n": null}});
        let paths = ["spec.a", "spec.b.c", "spec.missing", "spec.n"].map(String::from);
        assert_eq!(select(&v, &paths), json!({"spec.a": 1, "spec.b.c": 2}));
    }
}
