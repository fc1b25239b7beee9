//! Attacks on the core from the manifests and the plugin env (issue 12):
//! image policies bypassed with YAML merge keys, secrets reaching output,
//! plain directories read differently from kubectl, and report injection.

use krm_promote_core::preview::{Format, Rendered, preview};
use krm_promote_core::{Context, Error, Framing, Output, OutputFormat, Severity, process};
use serde_json::Value;

mod oracle;

/// A distinctive string that must never be echoed.
const MARKER: &str = "KRMSECRETMARKER7f3a";

fn fn_mode_input(items: &str, config: &str) -> String {
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{items}functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: cfg}}\n  data:\n{config}"
    )
}

fn fn_mode(items: &str, config: &str) -> Output {
    process(&fn_mode_input(items, config), &Context::resource_list()).unwrap()
}

fn stream_ctx(config: &str, output: OutputFormat) -> Context {
    let mut ctx = Context::resource_list();
    ctx.framing = Framing::Stream;
    ctx.output = output;
    ctx.function_config = Some(format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg}}\ndata:\n{config}"
    ));
    ctx
}

/// `generate` over a plain directory: a stream in, JSON lines out.
fn generate(stream: &str, config: &str) -> Result<Output, Error> {
    process(stream, &stream_ctx(config, OutputFormat::JsonLines))
}

fn errors(out: &Output) -> Vec<String> {
    out.results
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .map(|r| format!("{} {}", r.field.as_ref().map_or("", |f| f.path.as_str()), r.message))
        .collect()
}

const POLICY: &str =
    "    allowed-registries: ghcr.io/acme\n    forbid-mutable-tags: \"true\"\n    require-digest: \"true\"\n";

/// Deployments whose only image comes through a merge key, in each form.
const MERGED_IMAGES: &[(&str, &str)] = &[
    (
        "alias",
        "x-base: &c {name: app, image: evil.example/miner:latest}\nspec:\n  template:\n    spec:\n      containers:\n      - <<: *c\n        name: app\n",
    ),
    (
        "list of aliases",
        "x-a: &a {name: app}\nx-b: &b {image: evil.example/miner:latest}\nspec:\n  template:\n    spec:\n      containers:\n      - <<: [*a, *b]\n",
    ),
    (
        "merged pod spec",
        "x-pod: &pod\n  containers:\n  - {name: app, image: evil.example/miner:latest}\nspec:\n  template:\n    spec:\n      <<: *pod\n",
    ),
    (
        "inline merge after the explicit key (kubectl reads the merged one)",
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/acme/app@sha256:0123\n        <<: {image: evil.example/miner:latest}\n",
    ),
];

fn deployment(body: &str) -> String {
    format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n{body}")
}

fn indent(text: &str, first: &str, rest: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| format!("{}{l}\n", if i == 0 { first } else { rest }))
        .collect()
}

#[test]
fn policies_see_images_given_through_merge_keys() {
    for (name, body) in MERGED_IMAGES {
        let doc = deployment(body);
        // fn mode: a ResourceList item.
        let out = fn_mode(&indent(&doc, "- ", "  "), POLICY);
        let errs = errors(&out);
        for rule in ["allowed registry", "mutable", "pinned by digest"] {
            assert!(
                errs.iter()
                    .any(|e| e.contains("evil.example/miner:latest") && e.contains(rule)),
                "fn mode, {name}: no {rule:?} error in {errs:#?}"
            );
        }
        // generate over a plain directory.
        let out = generate(&doc, POLICY).unwrap();
        assert!(out.has_errors, "generate, {name}: {:#?}", out.results);
        assert!(
            errors(&out)
                .iter()
                .any(|e| e.contains("evil.example/miner:latest") && e.contains("allowed registry")),
            "generate, {name}: {:#?}",
            out.results
        );
    }
}

#[test]
fn an_override_never_edits_a_shared_merged_mapping() {
    let doc = deployment(
        "x-base: &c {name: app, image: nginx:1.0}\nspec:\n  template:\n    spec:\n      containers:\n      - <<: *c\n",
    );
    // The override matches only through the merge key: the container gets
    // an explicit image of its own; the shared mapping is left alone.
    let items = indent(&doc, "- ", "  ");
    let out = fn_mode(&items, "    images: nginx:2.0\n");
    assert!(errors(&out).is_empty(), "{:#?}", out.results);
    assert!(
        out.document.contains("{name: app, image: nginx:1.0}"),
        "{}",
        out.document
    );
    assert!(
        out.document.contains("      - <<: *c\n          image: nginx:2.0\n"),
        "{}",
        out.document
    );
    let input = fn_mode_input(&items, "    images: nginx:2.0\n");
    assert_eq!(oracle::check(&input, Framing::ResourceList, &out), Ok(true));
}

#[test]
fn shared_image_values_are_edited_exactly() {
    let containers = "spec:\n  template:\n    spec:\n      containers:\n";
    for (name, doc, changed, expect) in [
        (
            "an anchored container merged into another",
            deployment(&format!(
                "{containers}      - &c {{name: a, image: nginx:1.0}}\n      - <<: *c\n        name: b\n"
            )),
            2,
            "- &c {name: a, image: \"nginx:2.0\"}",
        ),
        (
            "an anchored image that an annotation aliases",
            format!(
                "apiVersion: apps/v1\nkind: Deployment\n{containers}      - {{name: a, image: &img nginx:1.0}}\nmetadata:\n  name: web\n  annotations: {{copy: *img}}\n"
            ),
            1,
            "image: &img \"nginx:2.0\"}",
        ),
        (
            "one anchored image used by two containers",
            deployment(&format!(
                "{containers}      - {{name: a, image: &img nginx:1.0}}\n      - {{name: b, image: *img}}\n"
            )),
            2,
            "{name: b, image: *img}",
        ),
        (
            "an aliased list of containers",
            deployment(&format!(
                "x: &cs [{{name: a, image: nginx:1.0}}]\n{containers}        *cs\n"
            )),
            1,
            "containers:\n          [{\"name\":\"a\",\"image\":\"nginx:2.0\"}]",
        ),
    ] {
        let items = indent(&doc, "- ", "  ");
        let out = fn_mode(&items, "    images: nginx:2.0\n");
        let input = fn_mode_input(&items, "    images: nginx:2.0\n");
        let infos = out
            .results
            .iter()
            .filter(|r| r.message.starts_with("image nginx:1.0 -> nginx:2.0"))
            .count();
        assert_eq!((errors(&out), infos), (vec![], changed), "{name}: {:#?}", out.results);
        assert!(out.document.contains(expect), "{name}: {}", out.document);
        assert_eq!(
            oracle::check(&input, Framing::ResourceList, &out),
            Ok(true),
            "{name}: {}",
            out.document
        );
    }
}

#[test]
fn identities_read_through_merge_keys_must_agree() {
    let ok = "apiVersion: v1\nkind: ConfigMap\nx-meta: &m {name: settings, namespace: apps}\nmetadata: {<<: *m}\n";
    let out = generate(ok, "").unwrap();
    assert!(!out.has_errors, "{:#?}", out.results);
    let line: Value = serde_json::from_str(out.document.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["metadata"],
        serde_json::json!({"name": "settings", "namespace": "apps"})
    );

    // kubectl reads `kind: Deployment`, kustomize `CustomResourceDefinition`
    // (whose images are not checked): refused.
    let ambiguous =
        "apiVersion: apps/v1\nkind: CustomResourceDefinition\n<<: {kind: Deployment}\nmetadata: {name: x}\n";
    let err = generate(ambiguous, POLICY).unwrap_err();
    assert!(err.to_string().contains("document 1 (line 1): kind near line"), "{err}");
}

#[test]
fn plugin_env_values_are_never_echoed() {
    let doc = deployment(
        "spec:\n  template:\n    spec:\n      containers:\n      - {name: app, image: ghcr.io/acme/app:1.0}\n",
    );
    let bad = format!("{MARKER}/token+value=");
    let config = "    image-updater: |\n      ghcr.io/acme/app tag=APP_TAG\n      ghcr.io/acme/app name=APP_NAME\n      ghcr.io/acme/other spec=APP_SPEC\n";
    for (var, value) in [
        ("APP_TAG", bad.clone()),
        ("APP_TAG", format!(":{MARKER}")),
        ("APP_NAME", format!("{MARKER} with blanks")),
        ("APP_SPEC", format!("ghcr.io/acme/other:{MARKER}+x")),
    ] {
        let mut ctx = stream_ctx(config, OutputFormat::JsonLines);
        ctx.plugin_env = vec![(var.to_string(), value.clone())];
        let out = process(&doc, &ctx).unwrap();
        assert!(out.has_errors, "{var}={value}: {:#?}", out.results);
        let text = format!("{:?}\n{}", out.results, out.document);
        assert!(!text.contains(MARKER), "{var}: the value leaked: {text}");
        assert!(
            errors(&out)
                .iter()
                .any(|e| e.contains(&format!("Image Updater env {var}"))),
            "{var}: {:#?}",
            out.results
        );
    }
}

/// A Secret with `MARKER` in every value, at `revision`.
fn secret(revision: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{{\"data\":{{\"password\":\"{MARKER}-{revision}\"}}}}'\ndata:\n  password: {MARKER}-{revision}\n  same: {MARKER}-same\n{extra}stringData:\n  token: {MARKER}-token-{revision}\n"
    )
}

#[test]
fn preview_never_shows_secret_values() {
    let env = Rendered {
        path: "envs/staging".into(),
        base: Some(secret("old", "  removed: gone\n")),
        head: Some(secret("new", "  added: new\n")),
    };
    for format in [Format::Human, Format::HumanColor, Format::Markdown, Format::Json] {
        let report = preview(std::slice::from_ref(&env), format).unwrap();
        assert!(report.changed);
        assert!(!report.text.contains(MARKER), "{format:?}:\n{}", report.text);
        assert!(
            !report.text.contains("gone") && !report.text.contains(": new"),
            "{format:?}"
        );
    }
    // A Secret inside a List is a Secret too.
    let in_list = |doc: String| format!("apiVersion: v1\nkind: List\nitems:\n{}", indent(&doc, "- ", "  "));
    let listed = Rendered {
        path: "envs/listed".into(),
        base: Some(in_list(secret("old", ""))),
        head: Some(in_list(secret("new", ""))),
    };
    for format in [Format::Human, Format::Markdown, Format::Json] {
        let report = preview(std::slice::from_ref(&listed), format).unwrap();
        assert!(
            report.changed && !report.text.contains(MARKER),
            "{format:?}:\n{}",
            report.text
        );
        assert!(report.text.contains("Secret/apps/creds"), "{}", report.text);
    }
    let human = preview(std::slice::from_ref(&env), Format::Human).unwrap().text;
    for line in [
        "    -  password: (hidden)\n",
        "    +  password: (hidden, changed)\n",
        "       same: (hidden)\n",
        "    -  removed: (hidden)\n",
        "    +  added: (hidden)\n",
        "    +  token: (hidden, changed)\n",
        "    +    kubectl.kubernetes.io/last-applied-configuration: (hidden, changed)\n",
    ] {
        assert!(human.contains(line), "{line:?} missing in:\n{human}");
    }
}

#[test]
fn plain_directories_read_like_kubectl() {
    let stream = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n  - name: s\n    secret: {secretName: s, defaultMode: 0400}\n  containers:\n  - {name: c, image: nginx, tty: yes, stdin: off}\n";
    let out = generate(stream, "").unwrap();
    let line: Value = serde_json::from_str(out.document.lines().next().unwrap()).unwrap();
    assert_eq!(line["spec"]["volumes"][0]["secret"]["defaultMode"], 256);
    assert_eq!(line["spec"]["containers"][0]["tty"], true);
    assert_eq!(line["spec"]["containers"][0]["stdin"], false);
}

const PRODUCT_LIST: &str = "apiVersion: v1
kind: List
items:
- apiVersion: capabilities.3scale.net/v1beta1
  kind: Backend
  metadata: {name: payments-backend, namespace: apis}
  spec: {name: Payments, systemName: payments, privateBaseURL: 'https://payments:8443'}
- apiVersion: capabilities.3scale.net/v1beta1
  kind: Product
  metadata: {name: payments-api, namespace: apis}
  spec:
    name: Payments API
    backendUsages: {payments: {path: /v1}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: apis}
  spec: {template: {spec: {containers: [{name: app, image: 'nginx:1.0'}]}}}
";

#[test]
fn lists_in_plain_streams_are_their_items() {
    let config = "    environment: staging\n    images: nginx:2.0\n";
    let out = generate(PRODUCT_LIST, config).unwrap();
    assert!(!out.has_errors, "{:#?}", out.results);
    let kinds: Vec<String> = out
        .document
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["Backend", "Product", "Deployment", "ProxyConfigPromote"]);
    assert!(out.document.contains(r#""image":"nginx:2.0""#), "{}", out.document);

    // The legacy plugin's stream keeps the list, edited in place, and
    // appends the promotion as a document of its own; a second run gives
    // the same bytes.
    let legacy = process(PRODUCT_LIST, &stream_ctx(config, OutputFormat::SameAsInput)).unwrap();
    assert!(legacy.document.starts_with("apiVersion: v1\nkind: List\nitems:\n"));
    assert!(legacy.document.contains("image: \"nginx:2.0\""), "{}", legacy.document);
    assert!(legacy.document.contains("kind: ProxyConfigPromote"));
    let again = process(&legacy.document, &stream_ctx(config, OutputFormat::SameAsInput)).unwrap();
    assert_eq!(again.document, legacy.document);
}

#[test]
fn generated_promotions_inside_a_list_are_replaced_there() {
    let config = "    environment: staging\n";
    let first = generate(PRODUCT_LIST, config).unwrap();
    let pcp = first.document.lines().last().unwrap();
    // Put the generated promotion (as YAML flow) inside the list, with a
    // stale name: it is removed from the list and generated again.
    let stale = pcp.replace("payments-api-staging-", "payments-api-staging-0");
    let input = format!("{PRODUCT_LIST}- {stale}\n");
    let out = process(&input, &stream_ctx(config, OutputFormat::SameAsInput)).unwrap();
    assert!(!out.has_errors, "{:#?}", out.results);
    assert!(!out.document.contains("payments-api-staging-0"), "{}", out.document);
    let json = generate(&input, config).unwrap();
    assert_eq!(json.document, first.document);
}

#[test]
fn empty_lists_contribute_nothing() {
    for stream in [
        "apiVersion: v1\nkind: List\nitems: []\n",
        "apiVersion: v1\nkind: ConfigMapList\nitems:\n",
        "apiVersion: v1\nkind: List\nmetadata: {}\nitems: null\n",
    ] {
        let out = generate(stream, "").unwrap();
        assert_eq!(out.document, "", "{stream}");
    }
    let err = generate(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n",
        "",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("document 1 items[0] (line 4) is a list inside a list"),
        "{err}"
    );
    let err = generate(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n",
        "",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("document 1 items[0] (line 4) (ConfigMap) has no metadata"),
        "{err}"
    );
}

/// A name that tries every trick on every format.
const HOSTILE: &str = "x`y```\n</details>\n<img src=x onerror=alert(1)>\x1b]0;pwned\x07\x1b[2J\u{9b}31m|z\u{202e}@team";

#[test]
fn preview_reports_resist_injection() {
    let cm = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\ndata:\n  k: {}\n",
            serde_json::to_string(name).unwrap(),
            serde_json::to_string(value).unwrap()
        )
    };
    let env = Rendered {
        path: format!("envs/{HOSTILE}"),
        base: Some(cm(HOSTILE, "old")),
        head: Some(cm(HOSTILE, &format!("new {HOSTILE}\n```\n</details>"))),
    };
    for format in [Format::Human, Format::HumanColor, Format::Markdown, Format::Json] {
        let text = preview(std::slice::from_ref(&env), format).unwrap().text;
        // No raw control character but the report's own colours.
        let own = text.replace("\x1b[1m", "").replace("\x1b[0m", "");
        let own = ["32", "31", "36"]
            .iter()
            .fold(own, |t, c| t.replace(&format!("\x1b[{c}m"), ""));
        assert!(
            !own.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
            "{format:?}:\n{text}"
        );
        if format == Format::Markdown {
            check_markdown(&text);
        }
        if format == Format::Json {
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["environments"][0]["path"], format!("envs/{HOSTILE}"));
        }
    }
}

/// Every line outside the diff block is our own or holds manifest text
/// only inside code spans; the diff block closes exactly once, at the end.
fn check_markdown(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    let open = lines
        .iter()
        .position(|l| l.ends_with("diff") && l.starts_with("```"))
        .unwrap();
    let fence = lines[open].trim_end_matches("diff");
    assert!(
        fence.len() > 3,
        "the fence must outgrow the content's backtick runs: {fence}"
    );
    let closes: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| *i > open && l.trim_start().starts_with(fence))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(closes.len(), 1, "{text}");
    assert_eq!(lines[closes[0] + 2], "</details>", "{text}");
    // Outside the block, HTML only in code spans: strip the spans and look.
    for line in lines[..open].iter().chain(&lines[closes[0] + 1..]) {
        let mut rest = line.to_string();
        while let Some(start) = rest.find('`') {
            let run = rest[start..].chars().take_while(|&c| c == '`').count();
            let fence = "`".repeat(run);
            let end = rest[start + run..]
                .find(&fence)
                .unwrap_or_else(|| panic!("unclosed code span in {line:?}"));
            rest.replace_range(start..start + run + end + run, "CODE");
        }
        assert!(
            !rest.contains('<') || rest.starts_with("<details><summary>") || rest == "</details>",
            "{line:?}"
        );
    }
}
