//! Image overrides compared with kustomize's own `images:` on the same
//! inputs (`kubectl kustomize`, kustomize v5.5.0). Both outputs go through
//! `kubectl kustomize` so that formatting and ordering are normalized; the
//! comparison is then byte for byte.
//!
//! A second, differential test generates 240 override/reference
//! combinations (8,400 images) and builds them with kustomize in one
//! `kubectl kustomize` run; every image krm-promote writes differently must
//! be one of the deliberate deviations listed in README.md, and each of
//! them must show up.

use std::path::Path;
use std::process::Command;

use crate::support::{self, describe, krm_promote, run_with_stdin};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn deployment(name: &str, containers: &str, init: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n{containers}{init}"
    )
}

fn containers(images: &[&str]) -> String {
    images
        .iter()
        .enumerate()
        .map(|(i, img)| format!("      - name: c{i}\n        image: {img}\n"))
        .collect()
}

/// (case, resources, kustomize `images:` entries as YAML flow mappings)
fn cases() -> Vec<(&'static str, String, Vec<String>)> {
    let d = |imgs: &[&str]| deployment("web", &containers(imgs), "");
    vec![
        ("tag only", d(&["nginx:1.20"]), vec!["{name: nginx, newTag: '1.25'}".into()]),
        ("name only", d(&["nginx:1.20"]), vec!["{name: nginx, newName: registry.example.com/mirror/nginx}".into()]),
        ("name and tag", d(&["nginx"]), vec!["{name: nginx, newName: ghcr.io/org/nginx, newTag: 1.25.3}".into()]),
        ("digest only", d(&["nginx:1.20"]), vec![format!("{{name: nginx, digest: '{D1}'}}")]),
        ("tag and digest", d(&["nginx:1.20"]), vec![format!("{{name: nginx, newTag: '1.21', digest: '{D2}'}}")]),
        ("registry with port", d(&["localhost:5000/team/app:1.0", "localhost:5000/team/other:1.0"]), vec!["{name: 'localhost:5000/team/app', newTag: '2.0'}".into()]),
        (
            "init containers",
            deployment("web", &containers(&["app:1"]), "      initContainers:\n      - name: init\n        image: busybox:1.36\n"),
            vec!["{name: busybox, newTag: '1.37'}".into(), "{name: app, newTag: '2'}".into()],
        ),
        (
            "cronjob",
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: job\n            image: ghcr.io/org/batch:1.0\n".into(),
            vec!["{name: ghcr.io/org/batch, newTag: '1.1'}".into()],
        ),
        (
            "custom resource with pod templates",
            "apiVersion: example.com/v1\nkind: WorkerPool\nmetadata:\n  name: pool\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        image: ghcr.io/org/worker:3\n  canary:\n    podTemplate:\n      spec:\n        initContainers:\n        - name: warm\n          image: ghcr.io/org/worker:3\n".into(),
            vec!["{name: ghcr.io/org/worker, newTag: '4'}".into()],
        ),
        (
            "image twice across kinds",
            format!(
                "{}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: debug\nspec:\n  containers:\n  - name: a\n    image: redis:7.0\n  - name: b\n    image: redis:7.0\n",
                d(&["redis:7.0", "nginx:1"])
            ),
            vec!["{name: redis, newTag: 7.2.4}".into()],
        ),
        ("no match", d(&["nginx:1.20"]), vec!["{name: httpd, newTag: '2.4'}".into(), "{name: ngin, newTag: '9'}".into()]),
        (
            "name with a tag matches that tag only",
            d(&["nginx:1.20", "nginx:1.20-alpine", &format!("nginx:1.20@{D1}"), "nginx:1.2"]),
            vec!["{name: 'nginx:1.20', newTag: '1.21'}".into()],
        ),
        ("digest input, new tag", d(&[&format!("app@{D1}")]), vec!["{name: app, newTag: '5'}".into()]),
        (
            "chained entries see earlier results",
            d(&["nginx:1.20"]),
            vec!["{name: nginx, newName: ghcr.io/mirror/nginx}".into(), "{name: ghcr.io/mirror/nginx, newTag: '1.27'}".into()],
        ),
        (
            "statefulset daemonset job",
            [
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  serviceName: db\n  selector:\n    matchLabels: {app: db}\n  template:\n    metadata:\n      labels: {app: db}\n    spec:\n      containers:\n      - name: pg\n        image: postgres:15\n",
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - name: a\n        image: postgres:15\n",
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: m\n        image: postgres:15\n",
            ]
            .join("---\n"),
            vec!["{name: postgres, newName: docker.io/library/postgres, newTag: '16.1'}".into()],
        ),
    ]
}

fn kustomize(kubectl: &Path, dir: &Path) -> String {
    let out = Command::new(kubectl).arg("kustomize").arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn overrides_match_kustomize_images() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let cases = cases();
    assert!(cases.len() >= 12);
    let tmp = tempfile::tempdir().unwrap();
    for (i, (name, resources, images)) in cases.iter().enumerate() {
        // kustomize's own `images:`.
        let expected_dir = tmp.path().join(format!("{i}-kustomize"));
        std::fs::create_dir_all(&expected_dir).unwrap();
        std::fs::write(expected_dir.join("resources.yaml"), resources).unwrap();
        let entries: String = images.iter().map(|e| format!("- {e}\n")).collect();
        std::fs::write(
            expected_dir.join("kustomization.yaml"),
            format!("resources:\n- resources.yaml\nimages:\n{entries}"),
        )
        .unwrap();
        let expected = kustomize(&kubectl, &expected_dir);

        // krm-promote with the same entries in its functionConfig.
        let mut list = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for doc in resources.split("---\n") {
            for (j, line) in doc.lines().enumerate() {
                list.push_str(if j == 0 { "- " } else { "  " });
                list.push_str(line);
                list.push('\n');
            }
        }
        list.push_str("functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata:\n    name: images\n  spec:\n    images:\n");
        for e in images {
            list.push_str(&format!("    - {e}\n"));
        }
        let out = run_with_stdin(&mut krm_promote(), list.as_bytes());
        assert_eq!(out.status.code(), Some(0), "{name}: {}", describe(&out));
        let doc: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
        let stream: Vec<String> = doc["items"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|item| serde_yaml::to_string(item).unwrap())
            .collect();
        let actual_dir = tmp.path().join(format!("{i}-krm-promote"));
        std::fs::create_dir_all(&actual_dir).unwrap();
        std::fs::write(actual_dir.join("resources.yaml"), stream.join("---\n")).unwrap();
        std::fs::write(actual_dir.join("kustomization.yaml"), "resources:\n- resources.yaml\n").unwrap();
        let actual = kustomize(&kubectl, &actual_dir);
        assert_eq!(actual, expected, "case {name:?}: krm-promote and kustomize disagree");

        // Each case really exercises a change (or, for "no match", none),
        // and every change or unmatched override is reported.
        let plain_dir = tmp.path().join(format!("{i}-plain"));
        std::fs::create_dir_all(&plain_dir).unwrap();
        std::fs::write(plain_dir.join("resources.yaml"), resources).unwrap();
        std::fs::write(plain_dir.join("kustomization.yaml"), "resources:\n- resources.yaml\n").unwrap();
        let plain = kustomize(&kubectl, &plain_dir);
        let results = doc["results"].as_sequence().unwrap();
        let changes = results
            .iter()
            .filter(|r| r["severity"] == "info" && r["message"].as_str().unwrap().starts_with("image "))
            .count();
        let warnings = results.iter().filter(|r| r["severity"] == "warning").count();
        if *name == "no match" {
            assert_eq!(expected, plain, "{name}");
            assert_eq!(
                (changes, warnings),
                (0, 2),
                "{name}: one warning per unmatched override"
            );
        } else {
            assert_ne!(expected, plain, "{name}: the case changes nothing");
            assert!(
                changes > 0 && warnings == 0,
                "{name}: {changes} changes, {warnings} warnings"
            );
        }
    }
}

/// One generated `images:` entry.
#[derive(Debug, Clone, Default)]
struct Entry {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
    tag_suffix: Option<String>,
}

impl Entry {
    /// The entry as a YAML flow mapping, every value single-quoted: the
    /// same text goes into the kustomization and the functionConfig.
    fn yaml(&self) -> String {
        let mut fields = vec![format!("name: '{}'", self.name)];
        for (key, value) in [
            ("newName", &self.new_name),
            ("newTag", &self.new_tag),
            ("digest", &self.digest),
            ("tagSuffix", &self.tag_suffix),
        ] {
            if let Some(v) = value {
                fields.push(format!("{key}: '{v}'"));
            }
        }
        format!("{{{}}}", fields.join(", "))
    }
}

/// The deliberate deviations from kustomize v5.5's `images:`, as listed in
/// README.md ("Image-tag overrides"); every difference the differential
/// test finds must be one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Deviation {
    /// A malformed reference, or a tag that is not a valid image tag, is
    /// never rewritten (kustomize rewrites `nginx:` and `nginx:-x`).
    MalformedNeverRewritten,
    /// Digests of any algorithm match (v5.5 matches only `@sha256:`).
    AnyDigestAlgorithm,
    /// `tagSuffix` is appended once (kustomize appends it twice).
    TagSuffixOnce,
    /// Names match literally (kustomize reads `.` as any character).
    LiteralNames,
    /// An override that would write an invalid reference (`newTag:
    /// 1.0+meta`) is an error and changes nothing (kustomize writes it).
    InvalidOverrideRejected,
}

impl Deviation {
    /// Its entry in README.md's deviation list.
    fn readme_entry(self) -> &'static str {
        match self {
            Deviation::MalformedNeverRewritten => {
                "**Malformed references and tags that are not valid image tags are never\n   rewritten**"
            }
            Deviation::AnyDigestAlgorithm => "**Digests of any algorithm match**",
            Deviation::TagSuffixOnce => "**`tagSuffix` is applied once**",
            Deviation::LiteralNames => "**Names match literally.**",
            Deviation::InvalidOverrideRejected => "**An override that would write an invalid reference is an error**",
        }
    }
}

const HEX: &str = "0123456789abcdef";

fn digest(algorithm: &str, seed: usize) -> String {
    let len = match algorithm {
        "sha512" => 128,
        "sha384" => 96,
        _ => 64,
    };
    let hex: String = (0..len).map(|i| HEX.as_bytes()[(i * 7 + seed) % 16] as char).collect();
    format!("{algorithm}:{hex}")
}

/// A tag that is valid for an image reference (OCI grammar).
fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Splits like kustomize (and krm-promote): a `:` before the first `/`
/// belongs to the registry.
fn split(reference: &str) -> (String, Option<String>, Option<String>) {
    let from = reference.find('/').filter(|&i| i > 0).unwrap_or(0);
    let (rest, digest) = match reference[from..].find('@') {
        Some(i) => (&reference[..from + i], Some(reference[from + i + 1..].to_string())),
        None => (reference, None),
    };
    match rest[from..].find(':') {
        Some(i) => (
            rest[..from + i].to_string(),
            Some(rest[from + i + 1..].to_string()),
            digest,
        ),
        None => (rest.to_string(), None, digest),
    }
}

/// Generated cases: every (image to match, change) combination over
/// names with registries, ports, paths, `.`, `_`, `-`; each applied to
/// every reference of the same name (tags with `.`, `_`, `-`, `+`, empty,
/// leading `-`; digests of two algorithms) and to lookalike names.
fn generated() -> Vec<(Entry, Vec<String>)> {
    let names = [
        "nginx",
        "library/redis",
        "ghcr.io/org/app",
        "localhost:5000/team/app",
        "registry.example.com:8443/a/b/c",
        "my.reg/x_y/z-w",
    ];
    let (d256, d384, d512) = (digest("sha256", 1), digest("sha384", 6), digest("sha512", 2));
    let mut cases = Vec::new();
    for name in names {
        let mut references = Vec::new();
        for tag in [
            None,
            Some("1.10"),
            Some("v1.2.3_rc-1"),
            Some("1.0+build"),
            Some("latest"),
            Some("-dash"),
            Some(""),
            Some("v{rev}"),
        ] {
            for dig in [None, Some(&d256), Some(&d384), Some(&d512)] {
                let mut r = name.to_string();
                if let Some(t) = tag {
                    r.push(':');
                    r.push_str(t);
                }
                if let Some(d) = dig {
                    r.push('@');
                    r.push_str(d);
                }
                references.push(r);
            }
        }
        // Lookalikes: another registry, a longer name, `.` read as a wildcard.
        references.push(format!("other.example.com/{name}:1.10"));
        references.push(format!("{name}-x:1.10"));
        references.push(format!("{}:1.10", name.replacen('.', "X", 1)));
        let last = name.rsplit('/').next().unwrap_or(name);
        let keys = [
            name.to_string(),
            format!("{name}:1.10"),
            format!("{name}@{d256}"),
            format!("{name}:1.10@{d256}"),
            format!("{name}@{d512}"),
        ];
        for key in keys {
            let entry = |f: &dyn Fn(&mut Entry)| {
                let mut e = Entry {
                    name: key.clone(),
                    ..Entry::default()
                };
                f(&mut e);
                e
            };
            let changes = [
                entry(&|e| e.new_tag = Some("2.0_rc.1".into())),
                entry(&|e| e.new_name = Some(format!("mirror.example.com:5000/m/{last}"))),
                entry(&|e| e.digest = Some(digest("sha256", 3))),
                entry(&|e| e.digest = Some(digest("sha512", 4))),
                entry(&|e| {
                    e.new_tag = Some("3".into());
                    e.digest = Some(digest("sha256", 5));
                }),
                entry(&|e| e.tag_suffix = Some("-fips".into())),
                entry(&|e| {
                    e.new_name = Some(format!("quay.io/mirror/{last}"));
                    e.new_tag = Some("4.0".into());
                }),
                entry(&|e| e.new_tag = Some("1.0+meta".into())),
            ];
            for change in changes {
                cases.push((change, references.clone()));
            }
        }
    }
    cases
}

/// Which documented deviation explains krm-promote writing `ours` where
/// kustomize wrote `theirs` for `reference` under `entry`, if one does.
/// `twin` is what kustomize wrote for the same reference with a `sha256`
/// digest instead of its own, and the two digests.
fn explain(
    entry: &Entry,
    (reference, ours, theirs): (&str, &str, &str),
    twin: Option<(&str, &str, &str)>,
    our_errors: bool,
) -> Option<Deviation> {
    let with_suffix = |image: &str| {
        let (n, t, d) = split(image);
        let suffix = entry.tag_suffix.as_deref()?;
        let mut out = format!("{n}:{}{suffix}", t?);
        if let Some(d) = d {
            out.push('@');
            out.push_str(&d);
        }
        Some(out)
    };
    let (name, tag, dig) = split(reference);
    let malformed = tag.as_deref().is_some_and(|t| !valid_tag(t)) || dig.as_deref() == Some("");
    if our_errors && entry.new_tag.as_deref().is_some_and(|t| !valid_tag(t)) && ours == reference {
        return Some(Deviation::InvalidOverrideRejected);
    }
    if malformed && ours == reference {
        return Some(Deviation::MalformedNeverRewritten);
    }
    // kustomize leaves it alone; krm-promote does to it what kustomize does
    // to its sha256 twin (but for the suffix, added once).
    if let Some((twin_theirs, d256, own)) = twin
        && theirs == reference
        && ours != reference
    {
        let expected = twin_theirs.replace(d256, own);
        if ours == expected || with_suffix(ours).as_deref() == Some(expected.as_str()) {
            return Some(Deviation::AnyDigestAlgorithm);
        }
    }
    if with_suffix(ours).as_deref() == Some(theirs) {
        return Some(Deviation::TagSuffixOnce);
    }
    let wanted = split(&entry.name).0;
    if name != wanted && entry.name.contains('.') && ours == reference {
        return Some(Deviation::LiteralNames);
    }
    None
}

fn images_by_deployment(docs: Vec<serde_yaml::Value>) -> std::collections::BTreeMap<String, Vec<String>> {
    docs.into_iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(|d| {
            let images = d["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|c| c["image"].as_str().unwrap().to_string())
                .collect();
            (d["metadata"]["name"].as_str().unwrap().to_string(), images)
        })
        .collect()
}

/// The differential test of issue 13: generated override/reference
/// combinations through kustomize's `images:` (all cases in one
/// `kubectl kustomize` build, one sub-kustomization each) and through
/// krm-promote's core. Every difference must be a documented deviation,
/// and each documented deviation must show up.
#[test]
fn generated_overrides_match_kustomize_images_but_for_documented_deviations() {
    let Some(kubectl) = support::tool("kubectl") else {
        return;
    };
    let cases = generated();
    let tmp = tempfile::tempdir().unwrap();
    let mut top = String::from("resources:\n");
    let deployment_of = |i: usize, references: &[String]| {
        let containers: String = references
            .iter()
            .enumerate()
            .map(|(j, r)| format!("      - name: c{j}\n        image: '{r}'\n"))
            .collect();
        deployment(&format!("case-{i}"), &containers, "")
    };
    for (i, (entry, references)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("deployment.yaml"), deployment_of(i, references)).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            format!("resources:\n- deployment.yaml\nimages:\n- {}\n", entry.yaml()),
        )
        .unwrap();
        top.push_str(&format!("- case-{i}\n"));
    }
    std::fs::write(tmp.path().join("kustomization.yaml"), top).unwrap();
    let built = kustomize(&kubectl, tmp.path());
    let theirs = images_by_deployment(
        serde_yaml::Deserializer::from_str(&built)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect(),
    );

    let mut seen = std::collections::BTreeMap::<Deviation, usize>::new();
    let mut unexplained = Vec::new();
    let (mut changed, mut compared) = (0, 0);
    for (i, (entry, references)) in cases.iter().enumerate() {
        let mut list = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for (j, line) in deployment_of(i, references).lines().enumerate() {
            list.push_str(if j == 0 { "- " } else { "  " });
            list.push_str(line);
            list.push('\n');
        }
        list.push_str(&format!(
            "functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata:\n    name: images\n  spec:\n    images:\n    - {}\n",
            entry.yaml()
        ));
        let out = krm_promote_core::process(&list, &krm_promote_core::Context::resource_list()).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&out.document).unwrap();
        let ours = images_by_deployment(doc["items"].as_sequence().unwrap().clone());
        let (ours, theirs) = (&ours[&format!("case-{i}")], &theirs[&format!("case-{i}")]);
        let d256 = digest("sha256", 1);
        let twin_of = |reference: &str| {
            let (_, _, own) = split(reference);
            let own = own.filter(|d| !d.starts_with("sha256:") && !d.is_empty())?;
            let twin = reference.replace(&own, &d256);
            let at = references.iter().position(|r| *r == twin)?;
            Some((theirs[at].clone(), own))
        };
        for ((reference, ours), theirs) in references.iter().zip(ours).zip(theirs) {
            compared += 1;
            changed += usize::from(theirs != reference);
            if ours == theirs {
                continue;
            }
            let twin = twin_of(reference);
            let twin = twin.as_ref().map(|(t, own)| (t.as_str(), d256.as_str(), own.as_str()));
            match explain(entry, (reference, ours, theirs), twin, out.has_errors) {
                Some(d) => *seen.entry(d).or_default() += 1,
                None => unexplained.push(format!(
                    "{}: {reference}\n    kustomize:   {theirs}\n    krm-promote: {ours}",
                    entry.yaml()
                )),
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "{} of {compared} images differ from kustomize without a documented deviation:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    assert!(
        changed > compared / 10,
        "the cases change too little: {changed} of {compared}"
    );
    for d in [
        Deviation::MalformedNeverRewritten,
        Deviation::AnyDigestAlgorithm,
        Deviation::TagSuffixOnce,
        Deviation::LiteralNames,
        Deviation::InvalidOverrideRejected,
    ] {
        assert!(seen.contains_key(&d), "{d:?} never showed up: {seen:?}");
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        assert!(
            readme.contains(d.readme_entry()),
            "{d:?} is not in README.md's deviation list"
        );
    }
    eprintln!(
        "{} cases, {compared} images, {changed} changed by kustomize; deviations: {seen:?}",
        cases.len()
    );
}
