//! What Argo CD passes to a config-management plugin, turned into the
//! component's context. Pure: it takes the environment as a list, so it is
//! unit-tested without touching the process environment.
//!
//! - `ARGOCD_APP_PARAMETERS` (JSON; `PARAM_*` when it is absent): plugin
//!   parameters, by name: `environment`, `images` (array), `trigger-mode`, ...
//! - `ARGOCD_ENV_KRM_PROMOTE_<KEY>`: the same settings from the
//!   Application's `plugin.env` (`ARGOCD_ENV_KRM_PROMOTE_TRIGGER_MODE` is
//!   `trigger-mode`). Parameters win over them.
//! - every `ARGOCD_ENV_*` is also passed as plugin env, for Argo CD Image
//!   Updater's write-back (`manifestTargets.plugin`).
//! - `ARGOCD_APP_REVISION`: the source revision.

use serde_json::Value;

/// The Argo CD part of the component's context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgoContext {
    /// Settings in precedence order (later wins).
    pub settings: Vec<(String, String)>,
    /// Plugin env with `ARGOCD_ENV_` removed.
    pub plugin_env: Vec<(String, String)>,
    /// `ARGOCD_APP_REVISION`.
    pub source_revision: Option<String>,
}

const ENV_PREFIX: &str = "ARGOCD_ENV_";
const SETTING_PREFIX: &str = "KRM_PROMOTE_";

/// `TRIGGER_MODE` -> `trigger-mode`.
fn setting_name(env_suffix: &str) -> String {
    env_suffix.to_ascii_lowercase().replace('_', "-")
}

/// Reads the Argo CD variables out of `vars` (in environment order).
pub fn from_env(vars: &[(String, String)]) -> Result<ArgoContext, String> {
    let mut ctx = ArgoContext::default();
    for (k, v) in vars {
        if let Some(name) = k.strip_prefix(ENV_PREFIX) {
            ctx.plugin_env.push((name.to_string(), v.clone()));
            if let Some(setting) = name.strip_prefix(SETTING_PREFIX).filter(|s| !s.is_empty()) {
                ctx.settings.push((setting_name(setting), v.clone()));
            }
        }
    }
    let get = |key: &str| vars.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    ctx.source_revision = get("ARGOCD_APP_REVISION").filter(|r| !r.is_empty()).map(String::from);

    match get("ARGOCD_APP_PARAMETERS") {
        Some(json) => ctx.settings.extend(parameters(json)?),
        None => {
            // Without the JSON (older Argo CD), fall back to PARAM_<NAME>
            // and PARAM_<NAME>_<i> for the known array parameter `images`.
            let mut images: Vec<(usize, String)> = Vec::new();
            for (k, v) in vars {
                let Some(name) = k.strip_prefix("PARAM_") else { continue };
                if let Some(i) = name.strip_prefix("IMAGES_").and_then(|i| i.parse().ok()) {
                    images.push((i, v.clone()));
                } else if name != "IMAGES" {
                    ctx.settings.push((setting_name(name), v.clone()));
                }
            }
            if !images.is_empty() {
                images.sort();
                ctx.settings.push((
                    "images".into(),
                    images.into_iter().map(|(_, v)| v).collect::<Vec<_>>().join("\n"),
                ));
            }
        }
    }
    Ok(ctx)
}

/// Settings from `ARGOCD_APP_PARAMETERS`: `string` as is, `array` one entry
/// per line. `null` means no parameters.
fn parameters(json: &str) -> Result<Vec<(String, String)>, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("ARGOCD_APP_PARAMETERS is not valid JSON: {e}"))?;
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list,
        _ => return Err("ARGOCD_APP_PARAMETERS must be a JSON array".into()),
    };
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("ARGOCD_APP_PARAMETERS[{i}] has no name"))?;
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(format!(
                "ARGOCD_APP_PARAMETERS[{i}]: a parameter name must be a non-empty name without control characters"
            ));
        }
        let name = name.to_string();
        // Values are never echoed: a parameter may carry a credential.
        let bad = |what: &str| format!("parameter {name:?}: {what}");
        match p.get("string") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.push((name.clone(), s.clone())),
            Some(_) => return Err(bad("\"string\" must be a JSON string")),
        }
        match p.get("array") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let items: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
                let items = items.ok_or_else(|| bad("\"array\" must hold only strings"))?;
                out.push((name.clone(), items.join("\n")));
            }
            Some(_) => return Err(bad("\"array\" must be a JSON array of strings")),
        }
        match p.get("map") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) if m.is_empty() => {}
            Some(Value::Object(_)) => return Err(bad("map parameters are not supported by krm-promote")),
            Some(_) => return Err(bad("\"map\" must be a JSON object")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parameters_win_over_plugin_env_settings() {
        let ctx = from_env(&vars(&[
            ("ARGOCD_ENV_KRM_PROMOTE_ENVIRONMENT", "staging"),
            ("ARGOCD_ENV_BOOKS_API_IMAGE_TAG", "2.0.0"),
            ("ARGOCD_APP_REVISION", "9b1f0c4"),
            (
                "ARGOCD_APP_PARAMETERS",
                r#"[{"name":"environment","string":"production"},{"array":["a:1","b:2"],"name":"images"},{"map":{},"name":"empty"}]"#,
            ),
            ("PARAM_ENVIRONMENT", "ignored-when-json-is-present"),
        ]))
        .unwrap();
        assert_eq!(
            ctx.settings,
            vars(&[
                ("environment", "staging"),
                ("environment", "production"),
                ("images", "a:1\nb:2")
            ])
        );
        assert_eq!(
            ctx.plugin_env,
            vars(&[("KRM_PROMOTE_ENVIRONMENT", "staging"), ("BOOKS_API_IMAGE_TAG", "2.0.0")])
        );
        assert_eq!(ctx.source_revision.as_deref(), Some("9b1f0c4"));
    }

    #[test]
    fn param_variables_are_the_fallback() {
        let ctx = from_env(&vars(&[
            ("PARAM_IMAGES_1", "b:2"),
            ("PARAM_IMAGES_0", "a:1"),
            ("PARAM_TRIGGER_MODE", "revision"),
        ]))
        .unwrap();
        assert_eq!(
            ctx.settings,
            vars(&[("trigger-mode", "revision"), ("images", "a:1\nb:2")])
        );
    }

    #[test]
    fn null_parameters_and_bad_json() {
        assert!(
            from_env(&vars(&[("ARGOCD_APP_PARAMETERS", "null")]))
                .unwrap()
                .settings
                .is_empty()
        );
        assert!(
            from_env(&vars(&[("ARGOCD_APP_PARAMETERS", "[{")]))
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            from_env(&vars(&[("ARGOCD_APP_PARAMETERS", r#"[{"name":"m","map":{"a":"b"}}]"#)]))
                .unwrap_err()
                .contains("map parameters")
        );
    }

    #[test]
    fn malformed_parameters_are_refused_without_echoing_values() {
        for (json, expect) in [
            (r#"[{"name":"","string":"x"}]"#, "non-empty name"),
            ("[{\"name\":\"a\\u0000b\",\"string\":\"x\"}]", "control characters"),
            (r#"[{"string":"x"}]"#, "has no name"),
            (r#"[{"name":"environment","string":1}]"#, "must be a JSON string"),
            (r#"[{"name":"images","array":"s3cr3t-token"}]"#, "must be a JSON array"),
            (r#"[{"name":"images","array":[1]}]"#, "only strings"),
            (r#"[{"name":"m","map":"s3cr3t-token"}]"#, "must be a JSON object"),
        ] {
            let e = from_env(&vars(&[("ARGOCD_APP_PARAMETERS", json)])).unwrap_err();
            assert!(e.contains(expect), "{json}: {e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    /// Random `ARGOCD_APP_PARAMETERS` and `PARAM_*` values from hostile
    /// pieces never panic: they parse or are refused.
    #[test]
    fn random_parameters_never_panic() {
        const NAMES: [&str; 6] = ["environment", "images", "", "\\u0000", "ı", "a b"];
        const VALUES: [&str; 9] = [
            r#""x""#,
            "1",
            "null",
            "[]",
            r#"["a", 1]"#,
            "{}",
            r#"{"k": "v"}"#,
            r#"{"k": 1}"#,
            "true",
        ];
        const FIELDS: [&str; 4] = ["string", "array", "map", "name"];
        let mut state = 0x7061_7261u64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        for _ in 0..3000 {
            let params: Vec<String> = (0..next(4))
                .map(|_| {
                    let mut fields = vec![format!(r#""name": "{}""#, NAMES[next(NAMES.len())])];
                    for _ in 0..next(3) {
                        fields.push(format!(
                            r#""{}": {}"#,
                            FIELDS[next(FIELDS.len())],
                            VALUES[next(VALUES.len())]
                        ));
                    }
                    format!("{{{}}}", fields.join(", "))
                })
                .collect();
            let json = match next(5) {
                0 => "null".to_string(),
                1 => format!("{{{}", params.join(",")),
                _ => format!("[{}]", params.join(",")),
            };
            let _ = from_env(&vars(&[
                ("ARGOCD_APP_PARAMETERS", &json),
                ("ARGOCD_ENV_KRM_PROMOTE_", "x"),
                ("ARGOCD_ENV_", "y"),
            ]));
            let _ = from_env(&vars(&[
                ("PARAM_IMAGES_x", "a"),
                ("PARAM_", "b"),
                ("PARAM_IMAGES_99999999999999999999", "c"),
            ]));
        }
    }
}
