//! The binary's stdin/stdout/exit-code protocol.

use crate::support::{self, describe, krm_promote, run_with_stdin};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(support::repo().join("tests/fixtures").join(name).join("input.yaml")).unwrap()
}

#[test]
fn success_prints_the_resource_list_and_exits_0() {
    for args in [&[][..], &["fn"][..]] {
        let out = run_with_stdin(krm_promote().args(args), &fixture("kpt-eval-environment"));
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.starts_with("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n"),
            "{stdout}"
        );
        assert!(stdout.contains("results:\n- message: 'environment staging: 4 resources, 0 promotions'"));
        assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn error_results_print_the_whole_list_and_exit_1() {
    let out = run_with_stdin(&mut krm_promote(), &fixture("kpt-eval-configmap-args"));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Complete: every item is still there, and the results explain why.
    assert_eq!(
        stdout.matches("\n- apiVersion:").count() + stdout.matches("\n- # ").count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains("severity: error"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[error] data.name: unknown key"), "{stderr}");
    assert!(stderr.ends_with("krm-promote: 2 error results\n"), "{stderr}");
}

#[test]
fn unreadable_input_exits_2_with_nothing_on_stdout() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "the input is empty"),
        (
            b"apiVersion: v1\nkind: List\nitems: []\n",
            "expected kind ResourceList, got kind \"List\"",
        ),
        (b"items: [unclosed\n", "invalid YAML at line 2"),
        (b"kind: ResourceList\n\xff\xfe", "stdin is not valid UTF-8 (at byte 19)"),
        (
            b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: X\n  metadata: {name: a}\n",
            "items[0] (line 4) has no apiVersion",
        ),
    ];
    for (input, message) in cases {
        let out = run_with_stdin(&mut krm_promote(), input);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("krm-promote: error: "), "{stderr}");
        assert!(stderr.contains(message), "expected {message:?} in {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
}

#[test]
fn usage_errors_exit_2() {
    for (args, message) in [
        (&["--frobnicate"][..], "unknown option \"--frobnicate\""),
        (&["/no/such/config.yaml"][..], "missing config file"),
        (
            &["fn", "--timeout", "soon"][..],
            "--timeout must be a number of seconds",
        ),
    ] {
        let out = run_with_stdin(krm_promote().args(args), b"");
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{}",
            describe(&out)
        );
    }
}

#[test]
fn help_documents_modes_and_exit_codes() {
    let out = run_with_stdin(krm_promote().arg("--help"), b"");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "kpt fn eval --exec",
        "--enable-alpha-plugins",
        "EXIT CODES",
        "3  the function crashed",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from --help");
    }
}

#[test]
fn oversized_input_exits_2() {
    let big = vec![b'#'; (1 << 20) + 10];
    let out = run_with_stdin(krm_promote().args(["--max-input", "1"]), &big);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdin is larger than 1 MiB"));
}

/// A large input with a tiny memory cap trips the cap: exit 3, one line.
#[test]
fn memory_limit_exits_3() {
    let mut input = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for i in 0..20_000 {
        input.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n  data:\n    k: v\n"
        ));
    }
    let out = run_with_stdin(krm_promote().args(["--memory-limit", "8"]), input.as_bytes());
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exceeded its memory limit of 8 MiB"), "{stderr}");
}

/// A time cap shorter than the work trips: exit 3, and the message says so.
#[test]
fn time_limit_exits_3() {
    let mut input = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for i in 0..50_000 {
        input.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: cm-{i}\n"
        ));
    }
    let out = run_with_stdin(
        krm_promote()
            .args(["--timeout", "0.001"])
            .env("KRM_PROMOTE_MEMORY_LIMIT", "4000"),
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exceeded its time limit of 0.001s"),
        "{}",
        describe(&out)
    );
}

#[test]
fn legacy_plugin_mode_reads_the_config_file_and_writes_a_stream() {
    let dir = support::repo().join("tests/fixtures/legacy-plugin-stream");
    let out = run_with_stdin(
        krm_promote().arg(dir.join("function-config.yaml")),
        &std::fs::read(dir.join("input.yaml")).unwrap(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(out.stdout, std::fs::read(dir.join("input.yaml")).unwrap());

    let bad = support::repo().join("tests/fixtures/legacy-plugin-unknown-key");
    let out = run_with_stdin(
        krm_promote().arg(bad.join("function-config.yaml")),
        &std::fs::read(bad.join("input.yaml")).unwrap(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "a failing legacy plugin prints no stream");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[error] spec.enviroment: unknown key"),
        "{}",
        describe(&out)
    );
}

/// The binary loads the component compiled at build time: a run with an
/// empty cache directory writes nothing there, and gives the same output as
/// a run that ignores the built-in artifact and compiles (and caches) it.
#[test]
fn the_built_in_compiled_component_is_used() {
    assert!(
        !krm_promote_host::runtime::GUEST_CWASM.is_empty(),
        "build.rs precompiles the component for a native build"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("kpt-fn-source");
    let built_in = run_with_stdin(
        Command::new(support::bin()).env("KRM_PROMOTE_CACHE_DIR", dir.path()),
        &input,
    );
    assert_eq!(built_in.status.code(), Some(0), "{}", describe(&built_in));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was cached");
    let compiled = run_with_stdin(
        Command::new(support::bin())
            .env("KRM_PROMOTE_CACHE_DIR", dir.path())
            .env("KRM_PROMOTE_PRECOMPILED", "off"),
        &input,
    );
    assert_eq!(compiled.status.code(), Some(0), "{}", describe(&compiled));
    assert_eq!(compiled.stdout, built_in.stdout);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "the fallback cached its artifact"
    );
}

/// A damaged cache artifact is detected and replaced, never loaded.
#[test]
fn corrupted_cache_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("kpt-fn-source");
    let run = || {
        let out = run_with_stdin(
            Command::new(support::bin())
                .env("KRM_PROMOTE_CACHE_DIR", dir.path())
                .env("KRM_PROMOTE_PRECOMPILED", "off"),
            &input,
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        out.stdout
    };
    let first = run();
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact was cached");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&artifact, &bytes).unwrap();
    assert_eq!(run(), first);
    std::fs::write(&artifact, &bytes[..100]).unwrap();
    assert_eq!(run(), first);
    let healed = std::fs::read(&artifact).unwrap();
    assert!(
        krm_promote_host::cache::verify(&healed).is_some(),
        "the artifact was rewritten"
    );
}

use std::process::Command;

/// Sixteen processes started at once with an empty cache (and the built-in
/// artifact ignored) all compile, race to store the artifact, and print
/// identical output.
#[test]
fn sixteen_parallel_processes_with_a_cold_cache() {
    let dir = tempfile::tempdir().unwrap();
    let input = std::fs::read(support::repo().join("examples/3scale-gitops/staging-resource-list.yaml")).unwrap();
    let outputs: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    let out = run_with_stdin(
                        Command::new(support::bin())
                            .env("KRM_PROMOTE_CACHE_DIR", dir.path())
                            .env("KRM_PROMOTE_PRECOMPILED", "off"),
                        &input,
                    );
                    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
                    out.stdout
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(outputs.iter().all(|o| o == &outputs[0]));
    assert!(String::from_utf8_lossy(&outputs[0]).contains("3 promotions"));
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "one artifact and no temporary files left: {files:?}");
}
