//! A bounded, deterministic mutation fuzzer over the core's entry point.
//!
//! Seeds are every fixture input and example ResourceList. Each iteration
//! mutates a seed (byte flips, YAML-significant insertions, deletions,
//! duplications, truncation) and runs `process` in both framings, checking
//! that it never panics, and that whatever it outputs parses again.
//!
//! Every output is also checked by the semantic oracle ([`oracle`]): it
//! must mean the input with exactly the changes its results announce. Besides
//! the fixtures, seeds are generated ([`generated_seeds`]) with what the
//! function edits written in every way YAML allows: anchors, aliases and
//! merge keys on images and annotations, comments, every scalar style, CRLF
//! line ends, malformed image references, every `kustomize edit set image`
//! form, and typed configs with values of the wrong YAML type.
//!
//! `KRM_PROMOTE_FUZZ_SECONDS` bounds the run (default 5; CI uses 60);
//! `KRM_PROMOTE_FUZZ_SEED` picks the random sequence. A failure prints the
//! seed, iteration and input so it can be replayed and made a fixture.

use std::path::Path;
use std::time::{Duration, Instant};

use krm_promote_core::{Context, Framing, OutputFormat, process, yaml::Tree};

mod oracle;

/// SplitMix64: small, deterministic, good enough for mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "  ",
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "#",
    "!!str ",
    "!!int ",
    "~",
    "null",
    "true",
    "0x1F",
    "1e3",
    "\t",
    "\u{0}",
    "\u{FEFF}",
    "é",
    "\\",
    "%YAML 1.2\n",
    "? ",
    "kind: ResourceList\n",
    "items: []\n",
    "metadata: {}\n",
    "apiVersion: capabilities.3scale.net/v1beta1\n",
    "kind: Product\n",
    "backendUsages:\n",
    "image: ",
    "containers:\n- image: x\n",
    "&img ",
    "*img",
    " # c",
    "\r\n",
    "'nginx:1.0'",
    "\"nginx:\"",
    "nginx@",
    "<<: *base\n",
    "image: *img\n",
    "- <<: *c\n",
];

/// Image values in every style, malformed ones included; `{A}` is where an
/// anchor may go.
const IMAGE_VALUES: &[&str] = &[
    "nginx:1.0",
    "'nginx:1.0'",
    "\"nginx:1.0\"",
    "\"nginx:\"",
    "nginx@",
    "'nginx:1.0 '",
    "ghcr.io/acme/app:1.0.0",
    "localhost:5000/app@sha256:0123",
    "|-\n            nginx:1.0",
    ">-\n            nginx:1.0",
    "!!str nginx:1.0",
];

/// ResourceLists built from random choices of how the image fields, their
/// containers and a Promotion's trigger annotation are written.
fn generated_seeds(rng: &mut Rng, count: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut pick = |options: &[&'static str]| options[rng.below(options.len())];
        let value = pick(IMAGE_VALUES);
        let comment = pick(&["", " # keep me", "   #c"]);
        let shape = pick(&[
            "anchored-aliased",
            "alias-target",
            "merged",
            "merged-flow",
            "aliased-list",
            "two-containers",
            "plain",
        ]);
        let containers = match shape {
            "anchored-aliased" => format!(
                "        - name: a\n          image: &img {value}{comment}\n        - name: b\n          image: *img\n  x-copy: {{c: *img}}\n"
            ),
            "alias-target" => format!("        - name: a\n          image: *img{comment}\n"),
            "merged" => "        - <<: *base\n          name: m\n".to_string(),
            "merged-flow" => "        - {<<: *base, name: m}\n".to_string(),
            "aliased-list" => "          *cs\n".to_string(),
            "two-containers" => format!(
                "        - {{name: a, image: {}}}\n        - name: b\n          image: {value}{comment}\n",
                if value.starts_with(['|', '>', '!']) { "x" } else { value }
            ),
            _ => format!("        - name: a\n          image: {value}{comment}\n"),
        };
        let flowable = if value.starts_with(['|', '>']) {
            "nginx:1.0"
        } else {
            value
        };
        let prelude = match shape {
            "alias-target" => format!("  x-pin: &img {value}{comment}\n"),
            "merged" | "merged-flow" => format!("  x-base: &base {{name: app, image: {flowable}}}\n"),
            "aliased-list" => format!("  x-cs: &cs [{{name: app, image: {flowable}}}]\n"),
            _ => String::new(),
        };
        let trigger = pick(&[
            "    annotations:\n      gitops.3scale.net/trigger: &t old # c\n      copy: *t\n",
            "    annotations: &ann {team: a}\n",
            "    annotations:\n      gitops.3scale.net/trigger: 'old'\n",
            "",
        ]);
        let images = pick(&[
            "nginx:2.0",
            "nginx=registry.example.com/mirror/nginx:1.25",
            "ghcr.io/acme/app:2.0.0",
            "nginx@sha256:abcd",
            "nginx=*:3",
            "nginx=registry.example.com/nginx:*",
            "nginx@sha256:abcd=reg/nginx:2",
            "nginx:1.0@sha256:abcd=reg/nginx",
            "'=nginx:1'",
            "'nginx:'",
            "nginx=*:*",
        ]);
        // Half the time a typed KrmPromote instead, with values of every
        // YAML type where strings are expected (issue 13, class 5).
        let typed = pick(&["", "typed"]) == "typed";
        let new_tag = pick(&["'1.10'", "1.10", "true", "~", "[a]", "{a: b}", "&t 2.0", "\"3\""]);
        let wave = pick(&["5", "'5'", "1.5", "yes", "[1]"]);
        let mut doc = format!(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n{prelude}  spec:\n    template:\n      spec:\n        containers:\n{containers}- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Backend\n  metadata: {{name: b, namespace: n}}\n  spec: {{name: B, systemName: b, privateBaseURL: 'https://b:1'}}\n- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata: {{name: p, namespace: n}}\n  spec: {{name: P, backendUsages: {{b: {{path: /}}}}}}\n- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Promotion\n  metadata:\n    name: pr\n    namespace: n\n{trigger}  spec: {{productCR: {{name: p}}}}\nfunctionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: cfg}}\n  data:\n    environment: staging\n    images: {images}\n"
        );
        if typed {
            let at = doc.find("functionConfig:\n").expect("a functionConfig");
            doc.truncate(at);
            doc.push_str(&format!(
                "functionConfig:\n  apiVersion: fn.krm-promote.dev/v1alpha1\n  kind: KrmPromote\n  metadata: {{name: cfg}}\n  spec:\n    environment: staging\n    syncWave: {wave}\n    images:\n    - {{name: nginx, newName: reg/nginx, newTag: {new_tag}}}\n    - {images}\n    imagePolicies: {{staging: {{forbidMutableTags: {wave}}}}}\n"
            ));
        }
        if rng.below(4) == 0 {
            doc = doc.replace('\n', "\r\n");
        }
        out.push(doc);
    }
    out
}

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/fixtures")).unwrap() {
        let dir = entry.unwrap().path();
        if let Ok(text) = std::fs::read_to_string(dir.join("input.yaml")) {
            out.push(text);
        }
    }
    for file in [
        "examples/quickstart/resource-list.yaml",
        "examples/3scale-gitops/staging-resource-list.yaml",
    ] {
        out.push(std::fs::read_to_string(root.join(file)).unwrap());
    }
    out.sort();
    out
}

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            2 if at < bytes.len() => {
                let end = (at + 1 + rng.below(40)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 if at < bytes.len() => {
                let end = (at + 1 + rng.below(200)).min(bytes.len());
                let chunk: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, chunk);
            }
            4 => bytes.truncate(at),
            _ => {
                // Swap two lines: reorders keys, items and indentation.
                let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
                if lines.len() > 2 {
                    let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                    let mut l: Vec<Vec<u8>> = lines.iter().map(|x| x.to_vec()).collect();
                    l.swap(i, j);
                    bytes = l.join(&b'\n');
                }
            }
        }
    }
    // process() takes text: keep the input valid UTF-8 (the host rejects
    // anything else before the function sees it).
    String::from_utf8_lossy(&bytes).into_owned()
}

/// When the fast YAML path accepts `input`, saphyr-parser must accept it
/// too and build the identical tree (kinds, values, spans, lines).
fn fast_path_agrees(input: &str) -> Result<bool, String> {
    let Some(fast) = Tree::parse_fast(input) else {
        return Ok(false);
    };
    let reference =
        Tree::parse_with_saphyr(input).map_err(|e| format!("the fast path accepted input that saphyr rejects: {e}"))?;
    if format!("{:?}", fast.docs) != format!("{:?}", reference.docs) {
        return Err(format!(
            "documents differ: fast {:?}, saphyr {:?}",
            fast.docs, reference.docs
        ));
    }
    if fast.nodes.len() != reference.nodes.len() {
        return Err(format!(
            "node counts differ: fast {}, saphyr {}",
            fast.nodes.len(),
            reference.nodes.len()
        ));
    }
    for (i, (a, b)) in fast.nodes.iter().zip(&reference.nodes).enumerate() {
        let (a, b) = (format!("{a:?}"), format!("{b:?}"));
        if a != b {
            return Err(format!("node {i} differs:\n  fast   {a}\n  saphyr {b}"));
        }
    }
    Ok(true)
}

/// Every seed: the fast path agrees with saphyr, and handles most of them.
#[test]
fn fast_yaml_path_matches_saphyr_on_every_seed() {
    let corpus = seeds();
    let mut accepted = 0;
    for (i, input) in corpus.iter().enumerate() {
        match fast_path_agrees(input) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(e) => panic!("seed {i}: {e}\n--- input ---\n{input}"),
        }
    }
    assert!(
        accepted * 2 > corpus.len(),
        "the fast path handled only {accepted} of {} seeds",
        corpus.len()
    );
}

/// What kpt and kustomize actually send (the fixtures captured from them)
/// takes the fast path: it is the common case the fast path exists for.
#[test]
fn orchestrator_captures_take_the_fast_yaml_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("kpt-") || name.starts_with("kustomize-")) {
            continue;
        }
        let input = std::fs::read_to_string(dir.join("input.yaml")).unwrap();
        assert_eq!(
            fast_path_agrees(&input),
            Ok(true),
            "{name}: the fast YAML path declined it"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} orchestrator fixtures");
}

/// Runs every check on `input`; `Ok(true)` when the fast YAML path took it.
fn check(input: &str) -> Result<bool, String> {
    let fast = fast_path_agrees(input)?;
    for (framing, output) in [
        (Framing::ResourceList, OutputFormat::SameAsInput),
        (Framing::Stream, OutputFormat::SameAsInput),
        (Framing::Stream, OutputFormat::JsonLines),
    ] {
        let ctx = Context {
            framing,
            output,
            function_config: (framing == Framing::Stream)
                .then(|| "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\ndata: {environment: staging}\n".into()),
            ..Context::resource_list()
        };
        let result = std::panic::catch_unwind(|| process(input, &ctx))
            .map_err(|_| format!("panic ({framing:?}, {output:?})"))?;
        if let Ok(out) = result
            && output == OutputFormat::SameAsInput
        {
            if let Err(e) = Tree::parse(&out.document) {
                return Err(format!("output does not parse ({framing:?}): {e}"));
            }
            oracle::check(input, framing, &out).map_err(|e| format!("oracle ({framing:?}): {e}"))?;
        }
    }
    Ok(fast)
}

#[test]
fn mutated_inputs_never_panic() {
    let seconds: u64 = std::env::var("KRM_PROMOTE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("KRM_PROMOTE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b72_6d70);
    let mut rng = Rng(seed);
    let mut corpus = seeds();
    assert!(corpus.len() > 20);
    corpus.extend(generated_seeds(&mut rng, 200));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    std::panic::set_hook(Box::new(|_| {})); // failures are reported below, with the input
    let mut iterations = 0u64;
    let mut fast = 0u64;
    while Instant::now() < deadline {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base);
        match check(&input) {
            Ok(took) => fast += u64::from(took),
            Err(e) => {
                let _ = std::panic::take_hook();
                panic!("seed {seed}, iteration {iterations}: {e}\n--- input ---\n{input}");
            }
        }
        iterations += 1;
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "fuzz: {iterations} inputs in {seconds}s, no panic (seed {seed}); the fast YAML path took {fast} of them, \
         each with the same tree as saphyr-parser"
    );
    assert!(iterations > 0);
}

/// Every generated seed, unmutated, passes every check (the oracle
/// included): the generator's shapes are the cases issue 13 is about.
#[test]
fn generated_seeds_are_edited_exactly() {
    let mut rng = Rng(7);
    for (i, input) in generated_seeds(&mut rng, 300).iter().enumerate() {
        if let Err(e) = check(input) {
            panic!("generated seed {i}: {e}\n--- input ---\n{input}");
        }
    }
}

/// What `generate` and `parameters` receive besides the manifests: settings
/// (Argo CD parameters and plugin env), plugin env for Image Updater
/// mappings, the operator's policies and the revision. Random contexts
/// built from hostile values never panic, in `process` (every framing) and
/// in `parameters`.
#[test]
fn random_settings_and_parameters_never_panic() {
    const KEYS: &[&str] = &[
        "environment",
        "production-environments",
        "trigger-mode",
        "source-revision",
        "require-upstream",
        "sync-wave",
        "images",
        "image-updater",
        "image-policies",
        "forbid-mutable-tags",
        "require-digest",
        "allowed-registries",
        "product-fields",
        "backend-fields",
        "",
        "\0",
        "ENVIRONMENT",
        "unknown-setting",
        "ımages",
    ];
    const VALUES: &[&str] = &[
        "",
        "staging",
        "production",
        "true",
        "no",
        "1.10",
        "-1",
        "99999999999999999999999",
        "nginx:1.26",
        "nginx=*:1.27",
        "nginx@sha256:0123=*:1",
        "=app:1",
        "*",
        "*:*",
        "nginx:",
        "nginx@",
        "a:1\nb:2\n\n",
        "a,b,,c",
        "ghcr.io/org",
        "content",
        "revision",
        "\u{1b}[31m",
        "\0",
        "x\ny: z",
        "[unclosed",
        "{a: 1}",
        "- a\n- b",
        "spec.mappingRules",
        "..",
        "ı",
    ];
    const CONFIGS: &[&str] = &[
        "",
        "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata: {name: p}\nspec:\n  environment: staging\n  imageUpdater:\n  - {image: nginx, tag: TAG, name: NAME, spec: SPEC}\n  imagePolicies:\n    '*': {forbidMutableTags: true}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {images: 'nginx=*:2'}\n",
        "kind: KrmPromote\n",
        "[",
    ];
    let input = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: web}\n  spec:\n    template:\n      spec:\n        containers:\n        - {name: app, image: 'nginx:1.25'}\n- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata: {name: api, namespace: apis}\n  spec: {name: API}\n";
    let stream = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: app, image: 'nginx:1.25'}\n";
    let mut rng = Rng(0x7365_7474);
    let mut pick = |list: &[&str], rng: &mut Rng| list[rng.below(list.len())].to_string();
    for iteration in 0..4000 {
        let pairs = |rng: &mut Rng, keys: &[&str], pick: &mut dyn FnMut(&[&str], &mut Rng) -> String| {
            (0..rng.below(4))
                .map(|_| {
                    let mut value = pick(VALUES, rng);
                    if rng.below(4) == 0 {
                        value.push_str(&pick(VALUES, rng));
                    }
                    (pick(keys, rng), value)
                })
                .collect::<Vec<_>>()
        };
        let settings = pairs(&mut rng, KEYS, &mut pick);
        let plugin_env = pairs(&mut rng, &["TAG", "NAME", "SPEC", ""], &mut pick);
        let operator_settings = pairs(&mut rng, KEYS, &mut pick);
        let function_config = Some(pick(CONFIGS, &mut rng));
        let source_revision = (rng.below(2) == 0).then(|| pick(VALUES, &mut rng));
        for (framing, output, text) in [
            (Framing::ResourceList, OutputFormat::SameAsInput, input),
            (Framing::Stream, OutputFormat::SameAsInput, stream),
            (Framing::Stream, OutputFormat::JsonLines, stream),
        ] {
            let ctx = Context {
                framing,
                output,
                function_config: function_config.clone(),
                settings: settings.clone(),
                source_revision: source_revision.clone(),
                plugin_env: plugin_env.clone(),
                operator_settings: operator_settings.clone(),
            };
            let ran = std::panic::catch_unwind(|| {
                let _ = process(text, &ctx);
                let _ = krm_promote_core::parameters(&ctx);
            });
            assert!(ran.is_ok(), "iteration {iteration}: a panic with {ctx:?}");
        }
    }
}
