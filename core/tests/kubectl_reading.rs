//! The JSON lines `generate` writes for a plain directory mean what kubectl
//! reads from the same YAML: compared with kubectl's own reading
//! (`kubectl annotate --local -f FILE -o json`, which needs no cluster) over
//! tables of plain scalars, mapping keys, tags, merge keys and lists.
//!
//! Skipped when `kubectl` is not on PATH, unless `KRM_PROMOTE_REQUIRE_TOOLS`
//! is set (as in CI): then it fails.

use std::path::PathBuf;
use std::process::Command;

use krm_promote_core::{Context, Framing, OutputFormat, process};
use serde_json::Value;

fn kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("KRM_PROMOTE_REQUIRE_TOOLS").is_none(),
            "`kubectl` is not on PATH, and KRM_PROMOTE_REQUIRE_TOOLS is set"
        );
        eprintln!("SKIPPED: `kubectl` is not on PATH (set KRM_PROMOTE_REQUIRE_TOOLS=1 to make this a failure)");
    }
    found
}

const MARK: &str = "krm-promote.test/read";

/// kubectl's reading of `yaml`: the objects, or its error message.
fn kubectl_reads(kubectl: &PathBuf, yaml: &str) -> Result<Vec<Value>, String> {
    let dir = std::env::temp_dir().join(format!("krm-promote-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{:016x}.yaml", fxhash(yaml)));
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(kubectl)
        .args(["annotate", "--local", "-o", "json", "-f"])
        .arg(&file)
        .arg(format!("{MARK}=x"))
        // No cluster, no kubeconfig: kubectl must read the file alone.
        .env("KUBECONFIG", dir.join("none"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    // One object per resource, or a `List` of them, depending on the
    // kubectl version.
    let mut objects = Vec::new();
    for v in serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>() {
        let v = v.unwrap();
        match v.get("items") {
            Some(Value::Array(items)) if v["kind"] == "List" => objects.extend(items.iter().cloned()),
            _ => objects.push(v),
        }
    }
    for o in &mut objects {
        let annotations = o["metadata"]["annotations"].as_object_mut().unwrap();
        annotations.remove(MARK);
        if annotations.is_empty() {
            o["metadata"].as_object_mut().unwrap().remove("annotations");
        }
    }
    Ok(objects)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// krm-promote's reading: `generate`'s JSON lines for the stream.
fn we_read(yaml: &str) -> Result<Vec<Value>, String> {
    let mut ctx = Context::resource_list();
    ctx.framing = Framing::Stream;
    ctx.output = OutputFormat::JsonLines;
    ctx.function_config = Some(String::new());
    let out = process(yaml, &ctx).map_err(|e| e.to_string())?;
    Ok(out.document.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

/// JSON equality with numbers compared as kubectl shows them (it decodes
/// into int64 or float64 before printing).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn config_map(data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: table\ndata:\n{data}")
}

/// Plain scalars (as values) that kubectl reads without failing.
const VALUES: &[&str] = &[
    "0400",
    "0755",
    "0o17",
    "0O17",
    "0x1F",
    "0X1f",
    "+0x1F",
    "-0x1F",
    "0x_1F",
    "0b101",
    "0B11",
    "-0b11",
    "0b-1",
    "0b2",
    "0o",
    "0x",
    "0xG",
    "07_7",
    "08",
    "09.5",
    "00",
    "0",
    "-0",
    "+5",
    "-_1",
    "1_000",
    "1__000",
    "1_0.5",
    "1_e3",
    "._5",
    ".5_0",
    ".5",
    "+.5",
    ".5e3",
    ".e3",
    "0.",
    "1.0",
    "1.10",
    "1e",
    "1e3",
    "1E3",
    "1e5_0",
    "1e21",
    "1.5e-7",
    "0.000001",
    "1e-400",
    "1e400",
    "0x1p3",
    "-1.5E-7",
    "2.5e+30",
    "123e-20",
    "100000000000000000000.0",
    "123456789012345678901234567890",
    "0777777777777777777777777",
    "18446744073709551615",
    "0xFFFFFFFFFFFFFFFF",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "-0x8000000000000000",
    "-0x8000000000000001",
    "0x123456789abcdef0123",
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "yES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "oN",
    "off",
    "Off",
    "OFF",
    "true",
    "True",
    "TRUE",
    "tRUE",
    "false",
    "False",
    "FALSE",
    "~",
    "null",
    "Null",
    "NULL",
    "nULL",
    "",
    "1:30",
    "1:20:03",
    "2024-01-15",
    "2024-1-5",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    ".iNf",
    "+",
    ".",
    "<<",
    "=",
    "x",
    "0a",
    "1.2.3",
    "v1.2",
    "1.5Gi",
    "500m",
    "-1",
    "+1",
    "1_",
    "_1",
];

#[test]
fn plain_scalars_read_like_kubectl() {
    let Some(kubectl) = kubectl() else { return };
    let data: String = VALUES
        .iter()
        .enumerate()
        .map(|(i, v)| format!("  k{i}: {v}\n"))
        .collect();
    let yaml = config_map(&data);
    let theirs = kubectl_reads(&kubectl, &yaml).unwrap();
    let ours = we_read(&yaml).unwrap();
    assert_eq!(theirs[0]["data"].as_object().map(|d| d.len()), Some(VALUES.len()));
    let mut differences = Vec::new();
    for (i, v) in VALUES.iter().enumerate() {
        let key = format!("k{i}");
        let (t, o) = (&theirs[0]["data"][&key], &ours[0]["data"][&key]);
        if !same(t, o) {
            differences.push(format!("{v:?}: kubectl {t}, krm-promote {o}"));
        }
    }
    assert!(differences.is_empty(), "{differences:#?}");
}

#[test]
fn keys_tags_and_quotes_read_like_kubectl() {
    let Some(kubectl) = kubectl() else { return };
    for data in [
        "  yes: a\n  0400: b\n  1.10: c\n  1e3: d\n  1e6: e\n  1234567.0: f\n  16777217.0: g\n  3.14159265358979: h\n  .inf: i\n  off: j\n",
        "  a: !!int 0400\n  b: !!str 0400\n  c: !foo 12\n  d: !!float 1\n  e: !!binary aGVsbG8=\n  f: !!int \"0x10\"\n  g: ! 12\n",
        "  a: '0400'\n  b: \"yes\"\n  c: |\n    0400\n  d: >-\n    on\n  \"<<\": {x: y}\n",
        "  m: {a: 0, <<: [{a: 1, c: 1}, {a: 2, d: 2}], c: 9}\n  n: {<<: {a: 2, b: 2}, a: 1}\n  o: {a: 1, <<: {a: 2}}\n",
    ] {
        let yaml = config_map(data);
        let theirs = kubectl_reads(&kubectl, &yaml).unwrap();
        let ours = we_read(&yaml).unwrap();
        assert!(
            same(&theirs[0], &ours[0]),
            "{data}\nkubectl:     {}\nkrm-promote: {}",
            theirs[0],
            ours[0]
        );
    }
}

#[test]
fn what_kubectl_refuses_is_refused() {
    let Some(kubectl) = kubectl() else { return };
    for data in [
        "  a: .inf\n",
        "  a: -.Inf\n",
        "  a: .nan\n",
        "  ~: a\n",
        "  18446744073709551615: a\n",
        "  a: {<<: 1}\n",
        "  a: {<<: [1]}\n",
        "  a: {<<: ~}\n",
        "  a: !!int abc\n",
    ] {
        let yaml = config_map(data);
        assert!(kubectl_reads(&kubectl, &yaml).is_err(), "kubectl reads {data}");
        assert!(we_read(&yaml).is_err(), "krm-promote reads {data}");
    }
}

#[test]
fn lists_read_like_kubectl() {
    let Some(kubectl) = kubectl() else { return };
    let cm =
        |name: &str| format!("{{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}}}, data: {{mode: 0400}}}}");
    for (yaml, objects) in [
        (
            format!("apiVersion: v1\nkind: List\nitems:\n- {}\n- {}\n", cm("a"), cm("b")),
            2,
        ),
        (
            format!(
                "apiVersion: v1\nkind: Whatever\nmetadata: {{name: w}}\nitems:\n- {}\n",
                cm("c")
            ),
            1,
        ),
        (
            format!(
                "---\n{}\n---\napiVersion: v1\nkind: ConfigMapList\nitems: []\n",
                cm("d")
            ),
            1,
        ),
    ] {
        let theirs = kubectl_reads(&kubectl, &yaml).unwrap();
        let ours = we_read(&yaml).unwrap();
        assert_eq!(theirs.len(), objects, "{yaml}");
        assert!(
            theirs.len() == ours.len() && theirs.iter().zip(&ours).all(|(t, o)| same(t, o)),
            "{yaml}\nkubectl:     {theirs:?}\nkrm-promote: {ours:?}"
        );
    }
    // A list inside a list: both refuse.
    let nested = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items:\n  - {}\n",
        cm("e")
    );
    assert!(kubectl_reads(&kubectl, &nested).is_err());
    assert!(we_read(&nested).is_err());
}
