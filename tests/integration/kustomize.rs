//! krm-promote under `kubectl kustomize` (kustomize v5.5.0): as a legacy
//! exec plugin, and through kustomize's own KRM function pipeline.

use std::path::Path;
use std::process::Command;

use crate::support::{self, describe};

const BAD_CONFIG: &str = "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: promote\nspec:\n  enviroment: staging\n";

fn kubectl() -> Option<std::path::PathBuf> {
    support::tool("kubectl")
}

fn plain_build(kubectl: &Path, dir: &Path) -> String {
    let out = Command::new(kubectl).arg("kustomize").arg(dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// A plugin home with krm-promote installed where kustomize looks for the
/// `fn.krm-promote.dev/v1alpha1` `KrmPromote` exec plugin.
fn plugin_home(root: &Path) -> std::path::PathBuf {
    let home = root.join("plugins");
    let dir = home.join("fn.krm-promote.dev/v1alpha1/krmpromote");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(support::bin(), dir.join("KrmPromote")).unwrap();
    home
}

#[test]
fn legacy_exec_plugin_with_enable_alpha_plugins() {
    let Some(kubectl) = kubectl() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let home = plugin_home(tmp.path());
    let example = support::repo().join("examples/quickstart");
    let base = example.join("package");
    let run = |dir: &Path| {
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(dir)
            .env("KUSTOMIZE_PLUGIN_HOME", &home)
            .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir())
            .output()
            .unwrap()
    };
    let out = run(&example.join("kustomize/legacy-plugin"));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), plain_build(&kubectl, &base));

    // A config error fails the build, and kustomize shows our message.
    let overlay = tmp.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    for file in ["deployment.yaml", "service.yaml"] {
        std::fs::copy(base.join(file), overlay.join(file)).unwrap();
    }
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources:\n- deployment.yaml\n- service.yaml\ntransformers:\n- promote.yaml\n",
    )
    .unwrap();
    std::fs::write(overlay.join("promote.yaml"), BAD_CONFIG).unwrap();
    let out = run(&overlay);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[error] spec.enviroment: unknown key"), "{stderr}");
}

/// kustomize's KRM function runtime, driven through its container runtime
/// with a stand-in `docker` that runs krm-promote as a local process (no
/// container engine on the build machines; see the reference captures).
#[test]
fn krm_function_pipeline_via_container_runtime_stand_in() {
    let Some(kubectl) = kubectl() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let shim_dir = support::docker_shim(tmp.path());

    let example = support::repo().join("examples/quickstart");
    let base = example.join("package");
    let overlay = tmp.path().join("overlay");
    std::fs::create_dir_all(&overlay).unwrap();
    for file in ["deployment.yaml", "service.yaml"] {
        std::fs::copy(base.join(file), overlay.join(file)).unwrap();
    }
    let write_config = |spec: &str| {
        std::fs::write(
            overlay.join("promote.yaml"),
            format!(
                "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: promote\n  annotations:\n    config.kubernetes.io/function: |\n      container:\n        image: example.com/krm-promote:v1\nspec:\n{spec}"
            ),
        )
        .unwrap();
    };
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "resources:\n- deployment.yaml\n- service.yaml\ntransformers:\n- promote.yaml\n",
    )
    .unwrap();
    let path = support::path_with(&shim_dir);
    let run = || {
        Command::new(&kubectl)
            .args(["kustomize", "--enable-alpha-plugins"])
            .arg(&overlay)
            .env("PATH", &path)
            .env("KRM_FN_EXEC", support::bin())
            .env("KRM_PROMOTE_CACHE_DIR", support::cache_dir())
            .output()
            .unwrap()
    };

    write_config("  environment: staging\n");
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), plain_build(&kubectl, &base));

    write_config("  enviroment: staging\n");
    let out = run();
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[error] spec.enviroment: unknown key"), "{stderr}");
}
