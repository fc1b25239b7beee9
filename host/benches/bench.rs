//! krm-promote's benchmarks, measured side by side in one run.
//!
//! ```sh
//! cargo bench -p krm-promote-host --bench bench            # full run (several minutes)
//! cargo bench -p krm-promote-host --bench bench -- --quick # fewer repetitions, smaller sizes
//! ```
//!
//! Prints Markdown tables (median and min-max of the repetitions, and ratios
//! computed from medians of the same run) for:
//! 1. the core natively vs the same code in the WebAssembly guest (a fresh
//!    instance per call, as the binary does, and one instance reused), on
//!    Deployments, 3scale Products/Backends and a mix of both;
//! 2. the `krm-promote` process: warm start, cold start (empty cache: the
//!    artifact compiled at build time), the fallback that compiles the
//!    component, and peak memory against input size;
//! 3. image overrides: `krm-promote` vs `kubectl kustomize` with the same
//!    `images:` entry on the same Deployments;
//! 4. `krm-promote generate` vs plain `kubectl kustomize` on the same overlay;
//! 5. promotion triggers vs the seed design's CI script
//!    (`benches/seed-ci-trigger.sh`: `git diff` + `yq`) at 50 Products;
//! 6. `examples/platform-gitops` generated with 240 applications: `generate`
//!    vs `kubectl kustomize` over every directory, and `preview` over all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use krm_promote_core as core;
use krm_promote_host::bindings::exports::krm_promote::function::krm;
use krm_promote_host::cache::{CacheMode, Loader};
use krm_promote_host::runtime::{Guest, Limits};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_krm-promote"))
}

/// Median, min and max of `runs` timings of `f` (after one warm-up).
fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0], times[times.len() - 1])
}

/// Like [`measure`] for two commands, alternating them run by run so that
/// both see the same machine load; returns both summaries.
fn measure_pair(
    runs: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> ((Duration, Duration, Duration), (Duration, Duration, Duration)) {
    a();
    b();
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        a();
        ta.push(start.elapsed());
        let start = Instant::now();
        b();
        tb.push(start.elapsed());
    }
    let summary = |mut t: Vec<Duration>| {
        t.sort();
        (t[t.len() / 2], t[0], t[t.len() - 1])
    };
    (summary(ta), summary(tb))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn range(t: (Duration, Duration, Duration)) -> String {
    format!("{} ({}-{})", ms(t.0), ms(t.1), ms(t.2))
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

/// `n` Deployments (two containers each) as ResourceList items.
fn deployments(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: app-{i}\n    namespace: team-{}\n    labels:\n      app.kubernetes.io/name: app-{i}\n  spec:\n    replicas: 2\n    selector:\n      matchLabels:\n        app.kubernetes.io/name: app-{i}\n    template:\n      metadata:\n        labels:\n          app.kubernetes.io/name: app-{i}\n      spec:\n        containers:\n        - name: api\n          image: ghcr.io/example/app:1.0.{}\n          ports:\n          - containerPort: 8080\n          env:\n          - name: FLAG\n            value: \"on\"\n        - name: proxy\n          image: envoyproxy/envoy:v1.30.1\n",
            i % 10,
            i % 7
        ));
    }
    s
}

/// A 3scale render: `n` resources, one Backend per 4 Products.
fn threescale(n: usize) -> String {
    // At least two: every Product uses two different Backends.
    let backends = (n / 5).max(2);
    threescale_with(n - backends, backends)
}

/// Half Deployments, half a 3scale render: an environment with both.
fn mixed(n: usize) -> String {
    deployments(n / 2) + &threescale(n - n / 2)
}

/// `products` Products, each using two of `backends` Backends.
fn threescale_with(products: usize, backends: usize) -> String {
    let mut s = String::new();
    for b in 0..backends {
        s.push_str(&format!(
            "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Backend\n  metadata:\n    name: backend-{b}\n    namespace: apis\n  spec:\n    name: Backend {b}\n    systemName: backend{b}\n    privateBaseURL: https://backend-{b}.internal:8443\n    mappingRules:\n    - httpMethod: GET\n      pattern: /items$\n      metricMethodRef: hits\n      increment: 1\n"
        ));
    }
    for p in 0..products {
        s.push_str(&format!(
            "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Product\n  metadata:\n    name: product-{p}\n    namespace: apis\n  spec:\n    name: Product {p}\n    systemName: product{p}\n    backendUsages:\n      backend{}:\n        path: /a\n      backend{}:\n        path: /b\n    policies:\n    - name: apicast\n      version: builtin\n      enabled: true\n      configuration: {{}}\n    applicationPlans:\n      basic:\n        name: Basic\n        costMonth: \"0.00\"\n",
            p % backends,
            (p + 1) % backends
        ));
    }
    s
}

fn resource_list(items: &str, data: &str) -> String {
    format!(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n{items}functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: function-input\n  data:\n{data}"
    )
}

const CONFIG: &str = "    environment: staging\n    images: ghcr.io/example/app:2.0.0\n";

fn run_process(cache: &Path, input: &[u8]) -> std::process::Output {
    run_process_with(cache, input, &[])
}

fn run_process_with(cache: &Path, input: &[u8], env: &[(&str, &str)]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .env("KRM_PROMOTE_CACHE_DIR", cache)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(name)).find(|p| p.is_file()))
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick { &[10, 1000] } else { &[10, 1000, 10_000] };
    let reps = |n: usize| {
        if quick {
            3
        } else if n >= 10_000 {
            5
        } else {
            11
        }
    };
    let tmp = tempfile::tempdir().unwrap();

    println!(
        "## Machine\n\n{} CPUs; `{}`\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::env::consts::ARCH
    );

    // 1. Native vs wasm.
    let guest = Guest::load(&Loader {
        precompiled: true,
        cache: CacheMode::Dir(tmp.path().join("c1")),
    })
    .unwrap();
    let limits = Limits::default();
    println!("## 1. The core natively vs in the WebAssembly guest\n");
    println!(
        "| input | resources | size | native | wasm (fresh instance per call) | wasm / native | wasm (one instance reused) | reused / native | wasm throughput (fresh) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, make) in [
        ("Deployments + image override", deployments as fn(usize) -> String),
        ("3scale Products/Backends", threescale),
        ("mixed: half Deployments, half 3scale", mixed),
    ] {
        for &n in sizes {
            let input = resource_list(&make(n), CONFIG);
            let ctx = core::Context::resource_list();
            let wctx = krm::Context {
                framing: krm::Framing::ResourceList,
                output_format: krm::OutputFormat::SameAsInput,
                function_config: None,
                settings: Vec::new(),
                source_revision: None,
                plugin_env: Vec::new(),
                operator_settings: Vec::new(),
            };
            let native_out = core::process(&input, &ctx).unwrap().document;
            let wasm_out = guest.call(&input, &wctx, &limits).unwrap().unwrap().document;
            assert_eq!(native_out, wasm_out, "native and wasm differ");
            let native = measure(reps(n), || {
                core::process(&input, &ctx).unwrap();
            });
            let wasm = measure(reps(n), || {
                guest.call(&input, &wctx, &limits).unwrap().unwrap();
            });
            let mut instance = guest.instance(&limits).unwrap();
            let reused = measure(reps(n), || {
                let out = instance.call(&input, &wctx).unwrap().unwrap();
                assert_eq!(out.document, native_out, "a reused instance gives the same output");
            });
            drop(instance);
            let mbps = input.len() as f64 / 1e6 / wasm.0.as_secs_f64();
            println!(
                "| {label} | {n} | {:.1} MB | {} | {} | {} | {} | {} | {mbps:.1} MB/s |",
                input.len() as f64 / 1e6,
                range(native),
                range(wasm),
                ratio(wasm.0, native.0),
                range(reused),
                ratio(reused.0, native.0)
            );
        }
    }

    // 2. Process start and memory.
    println!("\n## 2. The `krm-promote` process\n");
    let small = resource_list(&deployments(10), CONFIG);
    let warm_cache = tmp.path().join("warm");
    run_process(&warm_cache, small.as_bytes());
    let warm = measure(reps(10), || {
        run_process(&warm_cache, small.as_bytes());
    });
    let mut k = 0;
    let cold = measure(reps(10), || {
        k += 1;
        run_process(&tmp.path().join(format!("cold-{k}")), small.as_bytes());
    });
    let jit = measure(if quick { 3 } else { 5 }, || {
        k += 1;
        run_process_with(
            &tmp.path().join(format!("cold-{k}")),
            small.as_bytes(),
            &[("KRM_PROMOTE_PRECOMPILED", "off")],
        );
    });
    let jit_cached = measure(reps(10), || {
        run_process_with(&warm_cache, small.as_bytes(), &[("KRM_PROMOTE_PRECOMPILED", "off")]);
    });
    println!("| 10 Deployments | median (min-max) |\n|---|---:|");
    println!("| warm start (second run) | {} |", range(warm));
    println!(
        "| cold start (empty cache; the artifact compiled at build time) | {} |",
        range(cold)
    );
    println!(
        "| fallback when the built-in artifact does not fit the machine: first run (compiles) | {} |",
        range(jit)
    );
    println!("| fallback: later runs (on-disk cache) | {} |", range(jit_cached));
    if let Some(time) = tool("time").or_else(|| {
        Path::new("/usr/bin/time")
            .is_file()
            .then(|| PathBuf::from("/usr/bin/time"))
    }) {
        println!("\n| input | size | peak RSS | RSS / input |\n|---|---:|---:|---:|");
        for &n in sizes.iter().filter(|&&n| n >= 1000) {
            let input = resource_list(&deployments(n), CONFIG);
            let file = tmp.path().join(format!("in-{n}.yaml"));
            std::fs::write(&file, &input).unwrap();
            let out = Command::new(&time)
                .args(["-f", "%M"])
                .arg(bin())
                .env("KRM_PROMOTE_CACHE_DIR", &warm_cache)
                .stdin(std::fs::File::open(&file).unwrap())
                .stdout(Stdio::null())
                .output()
                .unwrap();
            let kb: f64 = String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0.0);
            let mb = kb / 1024.0;
            println!(
                "| {n} Deployments | {:.1} MB | {mb:.0} MB | {:.1}x |",
                input.len() as f64 / 1e6,
                mb * 1e6 / 1048576.0 / (input.len() as f64 / 1e6)
            );
        }
    }

    // 3. Image overrides vs kubectl kustomize.
    let Some(kubectl) = tool("kubectl") else {
        println!("\n(kubectl not found: sections 3 and 4 skipped)");
        return;
    };
    println!("\n## 3. Image overrides: krm-promote vs `kubectl kustomize` with `images:`\n");
    println!(
        "| Deployments | kubectl kustomize | krm-promote (process, warm) | kustomize / krm-promote |\n|---:|---:|---:|---:|"
    );
    let kustomize_sizes: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    for &n in kustomize_sizes {
        let dir = tmp.path().join(format!("k-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let stream: String = deployments(n)
            .split("- apiVersion")
            .filter(|s| !s.is_empty())
            .map(|d| {
                let body: String = format!("apiVersion{d}")
                    .lines()
                    .map(|l| l.strip_prefix("  ").unwrap_or(l).to_string() + "\n")
                    .collect();
                format!("---\n{body}")
            })
            .collect();
        std::fs::write(dir.join("resources.yaml"), &stream).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "resources:\n- resources.yaml\nimages:\n- name: ghcr.io/example/app\n  newTag: 2.0.0\n",
        )
        .unwrap();
        let kust = measure(if n >= 1000 { 3 } else { reps(n).min(5) }, || {
            let out = Command::new(&kubectl).arg("kustomize").arg(&dir).output().unwrap();
            assert!(out.status.success());
        });
        let input = resource_list(&deployments(n), "    images: ghcr.io/example/app:2.0.0\n");
        let ours = measure(reps(n).min(5), || {
            run_process(&warm_cache, input.as_bytes());
        });
        println!(
            "| {n} | {} | {} | {} |",
            range(kust),
            range(ours),
            ratio(kust.0, ours.0)
        );
    }

    // 4. generate vs kubectl kustomize on the same overlay.
    println!("\n## 4. `krm-promote generate` vs plain `kubectl kustomize` on the same overlay\n");
    println!("| Deployments | kubectl kustomize | krm-promote generate | overhead |\n|---:|---:|---:|---:|");
    for &n in kustomize_sizes {
        let dir = tmp.path().join(format!("g-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            tmp.path().join(format!("k-{n}/resources.yaml")),
            dir.join("resources.yaml"),
        )
        .unwrap();
        std::fs::write(dir.join("kustomization.yaml"), "resources:\n- resources.yaml\n").unwrap();
        std::fs::write(dir.join("krm-promote.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  environment: staging\n  images: ghcr.io/example/app:2.0.0\n").unwrap();
        let runs = if quick {
            3
        } else if n >= 1000 {
            9
        } else {
            15
        };
        let (plain, generate) = measure_pair(
            runs,
            || {
                assert!(
                    Command::new(&kubectl)
                        .arg("kustomize")
                        .arg(&dir)
                        .output()
                        .unwrap()
                        .status
                        .success()
                );
            },
            || {
                let out = Command::new(bin())
                    .arg("generate")
                    .current_dir(&dir)
                    .env("KRM_PROMOTE_CACHE_DIR", &warm_cache)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            },
        );
        let overhead = (generate.0.as_secs_f64() / plain.0.as_secs_f64() - 1.0) * 100.0;
        println!("| {n} | {} | {} | {overhead:+.1}% |", range(plain), range(generate));
    }

    seed_baseline(tmp.path(), &warm_cache, quick);
    platform(tmp.path(), &warm_cache, &kubectl, quick);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Strips the two-space ResourceList item indentation: one file per item.
fn item_files(items: &str) -> Vec<String> {
    items
        .split("- apiVersion")
        .filter(|s| !s.is_empty())
        .map(|d| {
            format!("apiVersion{d}")
                .lines()
                .map(|l| l.strip_prefix("  ").unwrap_or(l).to_string() + "\n")
                .collect()
        })
        .collect()
}

/// `krm-promote preview ARGS --format json` in `repo`: the parsed report.
fn preview_json(repo: &Path, args: &[&str], warm_cache: &Path) -> serde_json::Value {
    let out = Command::new(bin())
        .arg("preview")
        .args(args)
        .args(["--format", "json"])
        .current_dir(repo)
        .env("KRM_PROMOTE_CACHE_DIR", warm_cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// 5. Trigger computation vs the seed design's CI script.
fn seed_baseline(tmp: &Path, warm_cache: &Path, quick: bool) {
    println!("\n## 5. Promotion triggers: krm-promote vs the seed's CI script (`git diff` + `yq`)\n");
    let (Some(_), Some(_), Some(_)) = (tool("yq"), tool("jq"), tool("git")) else {
        println!("(yq, jq or git not found: section 5 skipped)");
        return;
    };
    let products = 50;
    let backends = 10;
    let repo = tmp.join("seed-repo");
    let items = threescale_with(products, backends);
    let files = item_files(&items);
    let envs = ["staging", "production"];
    for env in envs {
        let root = repo.join("environments").join(env);
        for sub in ["products", "backends", "promotions"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for file in &files {
            let name = file.split("name: ").nth(1).unwrap().lines().next().unwrap().to_string();
            let kind = if file.contains("kind: Backend") {
                "backends"
            } else {
                "products"
            };
            std::fs::write(root.join(kind).join(format!("{name}.yaml")), file).unwrap();
            if kind == "products" {
                std::fs::write(
                    root.join("promotions").join(format!("{name}.yaml")),
                    format!("apiVersion: capabilities.3scale.net/v1beta1\nkind: Promotion\nmetadata:\n  name: {name}\n  annotations:\n    gitops.3scale.net/trigger: initial\nspec:\n  productCR:\n    name: {name}\n  environment: {env}\n"),
                )
                .unwrap();
            }
        }
        std::fs::write(root.join("kustomization.yaml"), "resources:\n- backends\n- products\n").unwrap();
        for sub in ["backends", "products"] {
            let mut names: Vec<String> = std::fs::read_dir(root.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let listing: String = names.iter().map(|n| format!("- {n}\n")).collect();
            std::fs::write(
                root.join(sub).join("kustomization.yaml"),
                format!("resources:\n{listing}"),
            )
            .unwrap();
        }
        std::fs::write(
            root.join("krm-promote.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  environment: {env}\n"),
        )
        .unwrap();
    }
    // The render stream kpt or kustomize would send: every Backend and
    // Product file of the environment, as ResourceList items.
    let write_list = |env: &str| {
        let root = repo.join("environments").join(env);
        let mut list = String::new();
        for sub in ["backends", "products"] {
            let mut names: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| !p.ends_with("kustomization.yaml"))
                .collect();
            names.sort();
            for path in names {
                let file = std::fs::read_to_string(path).unwrap();
                list.push_str(&format!("- {}\n", file.replace('\n', "\n  ").trim_end()));
            }
        }
        std::fs::write(
            root.join("list.yaml"),
            resource_list(&list, &format!("    environment: {env}\n")),
        )
        .unwrap();
    };
    for env in envs {
        write_list(env);
    }
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    // The change: one Backend's mapping rule, in both environments.
    for env in envs {
        let path = repo.join(format!("environments/{env}/backends/backend-3.yaml"));
        let text = std::fs::read_to_string(&path).unwrap().replace("/items$", "/items/v2$");
        std::fs::write(&path, text).unwrap();
        write_list(env);
    }
    git(&repo, &["commit", "-q", "-am", "backend-3: new mapping rule"]);

    let script = repo_root().join("benches/seed-ci-trigger.sh");
    let runs = if quick { 1 } else { 3 };
    let mut stamped = 0;
    let seed = measure(runs, || {
        git(&repo, &["checkout", "-q", "--", "."]);
        let out = Command::new("bash")
            .arg(&script)
            .args(["HEAD~1", "HEAD"])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        stamped = String::from_utf8_lossy(&out.stdout).lines().count();
    });
    git(&repo, &["checkout", "-q", "--", "."]);
    // Product p uses backend{p % 10} and backend{(p + 1) % 10}.
    let expected = 2
        * (0..products)
            .filter(|p| p % backends == 3 || (p + 1) % backends == 3)
            .count();
    assert_eq!(
        stamped, expected,
        "the seed script re-stamps the dependents of backend-3"
    );
    let inputs: Vec<Vec<u8>> = envs
        .iter()
        .map(|env| std::fs::read(repo.join(format!("environments/{env}/list.yaml"))).unwrap())
        .collect();
    let ours = measure(if quick { 3 } else { 11 }, || {
        for input in &inputs {
            let out = run_process(warm_cache, input);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout)
                    .matches("kind: ProxyConfigPromote")
                    .count(),
                products
            );
        }
    });
    let preview = measure(if quick { 1 } else { 5 }, || {
        let report = preview_json(
            &repo,
            &["environments/staging", "environments/production", "--base", "HEAD~1"],
            warm_cache,
        );
        let created: usize = report["environments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["promotions_created"].as_array().unwrap().len())
            .sum();
        assert_eq!(created, stamped, "preview names the same promotions as the seed script");
    });
    println!(
        "{products} Products and {backends} Backends in 2 environments; the change edits one Backend in both (the script re-stamps {stamped} promotions; krm-promote renames the same {stamped}).\n"
    );
    println!("| | median (min-max) | seed script / this |\n|---|---:|---:|");
    println!(
        "| seed CI script (`benches/seed-ci-trigger.sh`: git diff + one `yq` per file question) | {} | 1.00x |",
        range(seed)
    );
    println!(
        "| `krm-promote` on both environments' render streams (2 processes: all {} promotions recomputed) | {} | {} |",
        2 * products,
        range(ours),
        ratio(seed.0, ours.0)
    );
    println!(
        "| `krm-promote preview` of both environments against `HEAD~1` (git + kustomize, both revisions) | {} | {} |",
        range(preview),
        ratio(seed.0, preview.0)
    );
    let yq_call = measure(if quick { 3 } else { 9 }, || {
        let out = Command::new("yq")
            .args(["-r", ".metadata.name"])
            .arg(repo.join("environments/staging/products/product-0.yaml"))
            .output()
            .unwrap();
        assert!(out.status.success());
    });
    println!(
        "\nOne `yq` call here costs {} (`yq` is Debian's jq-wrapping yq); the script makes {} of them.",
        range(yq_call),
        2 * (backends + products) + stamped
    );
}

/// 6. The platform-gitops example at 240 applications.
fn platform(tmp: &Path, warm_cache: &Path, kubectl: &Path, quick: bool) {
    let apps = if quick { 24 } else { 240 };
    println!("\n## 6. `examples/platform-gitops` with {apps} applications in 3 environments\n");
    let repo = tmp.join("platform");
    let out = Command::new("bash")
        .arg(repo_root().join("examples/platform-gitops/generate.sh"))
        .args(["--apps", &apps.to_string()])
        .arg(&repo)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let mut dirs = Vec::new();
    for env in ["dev", "staging", "prod"] {
        for team in std::fs::read_dir(repo.join("values").join(env)).unwrap() {
            for app in std::fs::read_dir(team.unwrap().path()).unwrap() {
                dirs.push(app.unwrap().path());
            }
        }
    }
    dirs.sort();
    assert_eq!(dirs.len(), apps * 3);

    // generate vs kubectl kustomize, alternating directory by directory.
    let (mut plain, mut ours) = (Vec::new(), Vec::new());
    for dir in &dirs {
        let start = Instant::now();
        let out = Command::new(kubectl).arg("kustomize").arg(dir).output().unwrap();
        assert!(out.status.success());
        plain.push(start.elapsed());
        let start = Instant::now();
        let out = Command::new(bin())
            .arg("generate")
            .current_dir(dir)
            .env("KRM_PROMOTE_CACHE_DIR", warm_cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        ours.push(start.elapsed());
    }
    let sum = |t: &[Duration]| t.iter().sum::<Duration>();
    let med = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let (plain_sum, ours_sum) = (sum(&plain), sum(&ours));
    println!(
        "| every Application ({} directories) | total | per directory (median) |\n|---|---:|---:|",
        dirs.len()
    );
    println!(
        "| `kubectl kustomize` | {:.1} s | {} |",
        plain_sum.as_secs_f64(),
        ms(med(&mut plain))
    );
    println!(
        "| `krm-promote generate` (kustomize + the function) | {:.1} s | {} |",
        ours_sum.as_secs_f64(),
        ms(med(&mut ours))
    );
    println!(
        "| overhead | {:+.1}% | |",
        (ours_sum.as_secs_f64() / plain_sum.as_secs_f64() - 1.0) * 100.0
    );

    // preview: one Backend and one prod image tag change.
    let backend = std::fs::read_dir(repo.join("apps/payments"))
        .unwrap()
        .map(|e| e.unwrap().path().join("base/backend.yaml"))
        .find(|p| p.is_file())
        .unwrap();
    let text = std::fs::read_to_string(&backend)
        .unwrap()
        .replace("/v1/items$", "/v2/items$");
    std::fs::write(&backend, text).unwrap();
    let prod_config = dirs
        .iter()
        .find(|d| d.starts_with(repo.join("values/prod")))
        .unwrap()
        .join("krm-promote.yaml");
    let text = std::fs::read_to_string(&prod_config).unwrap();
    let bumped = text.replace(":1.", ":9.");
    assert_ne!(text, bumped);
    std::fs::write(&prod_config, bumped).unwrap();
    let rel: Vec<String> = dirs
        .iter()
        .map(|d| d.strip_prefix(&repo).unwrap().to_string_lossy().into_owned())
        .collect();
    let preview = measure(if quick { 1 } else { 3 }, || {
        let mut args: Vec<&str> = rel.iter().map(String::as_str).collect();
        args.extend(["--base", "HEAD"]);
        let report = preview_json(&repo, &args, warm_cache);
        let envs = report["environments"].as_array().unwrap();
        assert_eq!(envs.len(), dirs.len());
        let created: usize = envs
            .iter()
            .map(|e| e["promotions_created"].as_array().unwrap().len())
            .sum();
        let images: usize = envs.iter().map(|e| e["images"].as_array().unwrap().len()).sum();
        assert_eq!((created, images), (3, 1), "one API in three environments; one image");
    });
    println!(
        "\n| `krm-promote preview` of all {} directories (a Backend and a prod image tag changed) | median (min-max) |\n|---|---:|",
        dirs.len()
    );
    println!("| against `HEAD` | {} |", range(preview));
}
