//! Writes new YAML text: block style, two-space indentation, compact
//! sequences (as kpt and kustomize write), and conservative quoting.
//!
//! Strings are quoted whenever any reader in the chain could take them for
//! something else: YAML 1.2 readers (kpt, kustomize) *and* YAML 1.1 readers
//! (Argo CD's `sigs.k8s.io/yaml`, which reads `on`, `yes`, `0755` and
//! `1_000` as non-strings).

use serde_json::Value;

/// Whether a string must be quoted to be read back as the same string by
/// YAML 1.1 and 1.2 readers.
pub fn needs_quotes(s: &str) -> bool {
    // Fast path for the common case (names, paths, image references without
    // a tag): a letter, then letters, digits and `._/-` only, longer than
    // any YAML 1.1 boolean or null word. No YAML 1.1 or 1.2 reader takes
    // that for anything but a string: numbers, timestamps and `.inf` start
    // with a digit, sign or dot, and there is no indicator, space or colon.
    if s.len() > 5
        && s.as_bytes()[0].is_ascii_alphabetic()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
    {
        return false;
    }
    if s.is_empty() || s.trim() != s || s.contains('\n') || s.contains('\t') {
        return true;
    }
    if !super::scalar::plain_is_string(s) {
        return true;
    }
    // YAML 1.1 booleans and nulls.
    if ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
    {
        return true;
    }

    let bytes = s.as_bytes();
    // YAML 1.1 numbers: digits with `_`, `:` (sexagesimal), leading `.`,
    // octal/binary/hex forms, and timestamps all start with a digit, sign or
    // dot. Quoting every such string that contains no letters other than
    // those a number can hold is simplest and always safe.
    let first = bytes[0];
    if first.is_ascii_digit() || first == b'.' || first == b'-' || first == b'+' {
        let numberish = s.bytes().all(|b| {
            b.is_ascii_digit()
                || matches!(
                    b,
                    b'.' | b'_' | b':' | b'-' | b'+' | b'e' | b'E' | b'x' | b'o' | b'b' | b'T' | b't' | b'Z' | b' '
                )
                || b.is_ascii_hexdigit()
        });
        if numberish {
            return true;
        }
    }
    // Indicators that cannot start a plain scalar.
    if matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) {
        // `-` and `:` are fine when followed by a non-space (e.g. `-x`),
        // except that `-` alone or `- x` is a sequence entry. Keep it simple:
        return true;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return true;
    }
    // Control characters and non-printable text need escapes.
    s.chars().any(|c| c.is_control() || c == '\u{FEFF}')
}

/// Writes a string as a double-quoted scalar (valid YAML and JSON).
pub fn double_quoted(s: &str) -> String {
    // JSON string escaping is a subset of YAML double-quoted escaping.
    serde_json::to_string(s).expect("strings always serialize")
}

/// Writes a string as a single-quoted scalar, if it has no line breaks.
pub fn single_quoted(s: &str) -> Option<String> {
    if s.contains('\n') || s.chars().any(|c| c.is_control()) {
        None
    } else {
        Some(format!("'{}'", s.replace('\'', "''")))
    }
}

/// Writes a string scalar for block context: plain when safe, otherwise
/// single-quoted, otherwise double-quoted.
pub fn string(s: &str) -> String {
    if !needs_quotes(s) {
        s.to_string()
    } else {
        single_quoted(s).unwrap_or_else(|| double_quoted(s))
    }
}

/// Whether a multi-line string can be written as a `|` literal block and
/// read back identically: printable text, no trailing blanks on a line, no
/// leading blank on the first line, and at most one final line break.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && s.lines()
            .all(|l| !l.ends_with(' ') && !l.chars().any(|c| c.is_control() || c == '\u{FEFF}'))
}

/// Writes a literal block scalar: the indicator, then every line at `indent`.
fn literal(out: &mut String, s: &str, indent: usize) {
    out.push_str(if s.ends_with('\n') { "|\n" } else { "|-\n" });
    for line in s.lines() {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
}

/// Writes a scalar JSON value for block context.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        _ => unreachable!("collections are written by block()"),
    }
}

fn is_scalar(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => true,
    }
}

/// Writes `v` as block YAML. Every line but the first is prefixed with
/// `indent` spaces; the first line starts wherever the caller is. The text
/// ends with a newline.
///
/// For a mapping, the first line is its first key. For a sequence, the first
/// line is its first `- ` entry.
pub fn block(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_block(&mut out, v, indent, true);
    out
}

/// Like [`block`] for a sequence of `items` (not empty), without building
/// the sequence value.
pub fn block_list(items: &[Value], indent: usize) -> String {
    let mut out = String::new();
    write_items(&mut out, items, indent, true);
    out
}

fn write_items(out: &mut String, items: &[Value], indent: usize, first: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !first {
            pad(out, indent);
        }
        out.push_str("- ");
        if let Value::String(text) = item
            && literal_ok(text)
        {
            literal(out, text, indent + 2);
        } else if is_scalar(item) {
            out.push_str(&scalar(item));
            out.push('\n');
        } else {
            write_block(out, item, indent + 2, true);
        }
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_block(out: &mut String, v: &Value, indent: usize, first: bool) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (i, (k, val)) in map.iter().enumerate() {
                if i > 0 || !first {
                    pad(out, indent);
                }
                out.push_str(&string(k));
                out.push(':');
                write_value(out, val, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => write_items(out, items, indent, first),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// Writes the value part of `key:` (the key and colon are already written).
fn write_value(out: &mut String, v: &Value, indent: usize) {
    if let Value::String(text) = v
        && literal_ok(text)
    {
        out.push(' ');
        literal(out, text, indent + 2);
    } else if is_scalar(v) {
        out.push(' ');
        out.push_str(&scalar(v));
        out.push('\n');
    } else {
        out.push('\n');
        // Compact sequences: `- ` at the key's own indentation.
        let child = if v.is_array() { indent } else { indent + 2 };
        write_block(out, v, child, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_what_yaml_1_1_or_1_2_would_misread() {
        for s in [
            "on",
            "Yes",
            "~",
            "0755",
            "1e3",
            "1.10",
            "1_000",
            "12:30",
            "",
            " x",
            "a: b",
            "#x",
            "- x",
            "true",
            "2001-12-14",
        ] {
            assert!(needs_quotes(s), "{s} should be quoted");
        }
        for s in [
            "nginx:1.21",
            "ghcr.io/org/app",
            "staging",
            "a-b",
            "v1.2.3",
            "sha256:abc",
        ] {
            assert!(!needs_quotes(s), "{s} should be plain");
        }
    }

    #[test]
    fn multi_line_strings_become_literal_blocks_when_safe() {
        let v = json!({"a": "one\ntwo\n", "b": "x\n\ny", "c": " lead\n", "d": ["p\nq"]});
        assert_eq!(
            block(&v, 0),
            "a: |\n  one\n  two\nb: |-\n  x\n\n  y\nc: \" lead\\n\"\nd:\n- |-\n  p\n  q\n"
        );
    }

    #[test]
    fn writes_block_yaml() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "on"}},
            "data": {"list": [1, {"k": "v", "n": [true]}], "empty": {}}});
        let text = block(&v, 0);
        assert_eq!(
            text,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    a: 'on'\ndata:\n  list:\n  - 1\n  - k: v\n    'n':\n    - true\n  empty: {}\n"
        );
    }
}
