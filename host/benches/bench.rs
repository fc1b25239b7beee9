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
//!    instance per call, as the binary does);
//! 2. the `krm-promote` process: warm start (compiled component cached) and
//!    cold start (empty cache), and peak memory against input size;
//! 3. image overrides: `krm-promote` vs `kubectl kustomize` with the same
//!    `images:` entry on the same Deployments;
//! 4. `krm-promote generate` vs plain `kubectl kustomize` on the same overlay.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use krm_promote_core as core;
use krm_promote_host::bindings::exports::krm_promote::function::krm;
use krm_promote_host::cache::{self, CacheMode};
use krm_promote_host::runtime::{GUEST_SHA256, GUEST_WASM, Guest, Limits};

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
    let backends = (n / 5).max(1);
    let mut s = String::new();
    for b in 0..backends {
        s.push_str(&format!(
            "- apiVersion: capabilities.3scale.net/v1beta1\n  kind: Backend\n  metadata:\n    name: backend-{b}\n    namespace: apis\n  spec:\n    name: Backend {b}\n    systemName: backend{b}\n    privateBaseURL: https://backend-{b}.internal:8443\n    mappingRules:\n    - httpMethod: GET\n      pattern: /items$\n      metricMethodRef: hits\n      increment: 1\n"
        ));
    }
    for p in 0..n - backends {
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
    use std::io::Write;
    let mut child = Command::new(bin())
        .env("KRM_PROMOTE_CACHE_DIR", cache)
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
    let engine = Guest::engine().unwrap();
    let component = cache::load_component(
        &engine,
        GUEST_WASM,
        GUEST_SHA256,
        &CacheMode::Dir(tmp.path().join("c1")),
    )
    .unwrap();
    let guest = Guest::from_component(engine, &component).unwrap();
    let limits = Limits::default();
    println!("## 1. The core natively vs in the WebAssembly guest\n");
    println!(
        "| input | resources | size | native | wasm (fresh instance per call) | wasm / native | wasm throughput |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, make) in [
        ("Deployments + image override", deployments as fn(usize) -> String),
        ("3scale Products/Backends", threescale),
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
            let mbps = input.len() as f64 / 1e6 / wasm.0.as_secs_f64();
            println!(
                "| {label} | {n} | {:.1} MB | {} | {} | {} | {mbps:.1} MB/s |",
                input.len() as f64 / 1e6,
                range(native),
                range(wasm),
                ratio(wasm.0, native.0)
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
    let cold = measure(if quick { 3 } else { 5 }, || {
        k += 1;
        run_process(&tmp.path().join(format!("cold-{k}")), small.as_bytes());
    });
    println!("| 10 Deployments | median (min-max) |\n|---|---:|");
    println!("| warm start (compiled component cached) | {} |", range(warm));
    println!("| cold start (empty cache: compiles the component) | {} |", range(cold));
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
        let runs = if n >= 1000 { 3 } else { 5 };
        let plain = measure(runs, || {
            assert!(
                Command::new(&kubectl)
                    .arg("kustomize")
                    .arg(&dir)
                    .output()
                    .unwrap()
                    .status
                    .success()
            );
        });
        let generate = measure(runs, || {
            let out = Command::new(bin())
                .arg("generate")
                .current_dir(&dir)
                .env("KRM_PROMOTE_CACHE_DIR", &warm_cache)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        });
        let overhead = (generate.0.as_secs_f64() / plain.0.as_secs_f64() - 1.0) * 100.0;
        println!("| {n} | {} | {} | {overhead:+.1}% |", range(plain), range(generate));
    }
}
