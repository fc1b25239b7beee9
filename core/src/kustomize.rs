//! Lets kustomize build a directory whose kustomization runs krm-promote
//! itself as a transformer, without running anything.
//!
//! `krm-promote preview` renders environments that list a `KrmPromote`
//! config under `transformers:` (the kustomize-CLI wiring). It must not let
//! kustomize run exec functions, so in its private copy of the tree it
//! removes that entry and runs the function itself with the entry's config.

use crate::Error;
use crate::config::{GROUP, KIND};
use crate::yaml::{Edits, Tree, edit};

/// A kustomization with krm-promote's own transformer entry removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The kustomization to build.
    pub kustomization: String,
    /// The removed entry's config (the functionConfig), if there was one.
    pub function_config: Option<String>,
}

fn is_krm_promote(text: &str) -> bool {
    let Ok(tree) = Tree::parse(text) else { return false };
    let Some(doc) = tree.docs.first() else { return false };
    let get = |k: &str| {
        tree.get(doc.root, k)
            .and_then(|v| tree.str(v))
            .unwrap_or_default()
            .to_string()
    };
    get("kind") == KIND && get("apiVersion").rsplit_once('/').is_some_and(|(g, _)| g == GROUP)
}

/// Removes the `transformers:` entries of `kustomization` that are
/// krm-promote configs: file names resolved in `files` (name, content), or
/// inline YAML. Other entries are left for kustomize (which refuses them
/// without its plugin flags).
///
/// # Errors
/// When the kustomization is not YAML, or names krm-promote twice.
pub fn prepare(kustomization: &str, files: &[(String, String)]) -> Result<Prepared, Error> {
    let tree = Tree::parse(kustomization)?;
    let unchanged = Prepared {
        kustomization: kustomization.to_string(),
        function_config: None,
    };
    let Some(doc) = tree.docs.first() else {
        return Ok(unchanged);
    };
    let Some(list) = tree.get(doc.root, "transformers").filter(|l| tree.items(*l).is_some()) else {
        return Ok(unchanged);
    };
    let mut remove = Vec::new();
    let mut config = None;
    for (i, &entry) in tree.items(list).unwrap_or_default().iter().enumerate() {
        let Some(value) = tree.str(entry) else { continue };
        let text = if value.contains('\n') {
            Some(value.to_string())
        } else {
            let name = value.trim_start_matches("./");
            files
                .iter()
                .find(|(n, _)| n.trim_start_matches("./") == name)
                .map(|(_, c)| c.clone())
        };
        if let Some(text) = text.filter(|t| is_krm_promote(t)) {
            if config.is_some() {
                return Err(Error::InvalidConfig(format!(
                    "the kustomization lists krm-promote twice under transformers (entry {i})"
                )));
            }
            config = Some(text);
            remove.push(i);
        }
    }
    if remove.is_empty() {
        return Ok(unchanged);
    }
    let mut edits = Edits::new();
    edit::remove_items(&mut edits, &tree, list, &remove);
    Ok(Prepared {
        kustomization: edits.apply(kustomization),
        function_config: config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: fn.krm-promote.dev/v1alpha1\nkind: KrmPromote\nmetadata:\n  name: p\nspec:\n  environment: staging\n";

    #[test]
    fn removes_only_the_krm_promote_entry() {
        let k = "resources:\n  - backends\ntransformers:\n  - other.yaml\n  - promote.yaml\n  - last.yaml\n";
        let files = vec![
            ("promote.yaml".to_string(), CONFIG.to_string()),
            ("other.yaml".into(), "kind: Other\n".into()),
        ];
        let p = prepare(k, &files).unwrap();
        assert_eq!(
            p.kustomization,
            "resources:\n  - backends\ntransformers:\n  - other.yaml\n  - last.yaml\n"
        );
        assert_eq!(p.function_config.as_deref(), Some(CONFIG));
        let flow = prepare("transformers: [./promote.yaml, x.yaml]\n", &files).unwrap();
        assert_eq!(flow.kustomization, "transformers: [x.yaml]\n");
    }

    #[test]
    fn leaves_kustomizations_without_krm_promote_alone() {
        let k = "resources: [a.yaml]\n";
        assert_eq!(
            prepare(k, &[]).unwrap(),
            Prepared {
                kustomization: k.into(),
                function_config: None
            }
        );
        let twice = "transformers:\n- a.yaml\n- b.yaml\n";
        let files = vec![
            ("a.yaml".to_string(), CONFIG.to_string()),
            ("b.yaml".into(), CONFIG.into()),
        ];
        assert!(prepare(twice, &files).is_err());
    }
}
