//! The 3scale rule set: `Product`, `Backend` and the Secrets they reference
//! (`capabilities.3scale.net/v1beta1`, as the 3scale operator defines them).
//!
//! What counts as *proxy-affecting* follows 3scale's own notion of a "proxy
//! config affecting change" (porta): a product's deployment, mapping rules,
//! policies, backend usages, metrics and methods, name and description; a
//! backend's private base URL, mapping rules, metrics and methods. A
//! product's application plans are *not* included: changing only them makes
//! the operator fail a promotion with "no product changes detected".

use serde_json::{Value, json};

use super::graph::{Edge, KindRule, Refs, Rules};

/// API group of the 3scale operator's CRDs.
pub const GROUP: &str = "capabilities.3scale.net";

/// Default proxy-affecting fields of a Product.
pub const PRODUCT_FIELDS: &[&str] = &[
    "spec.name",
    "spec.systemName",
    "spec.description",
    "spec.deployment",
    "spec.mappingRules",
    "spec.backendUsages",
    "spec.metrics",
    "spec.methods",
    "spec.policies",
    "spec.providerAccountRef",
];

/// Default proxy-affecting fields of a Backend.
pub const BACKEND_FIELDS: &[&str] = &[
    "spec.systemName",
    "spec.privateBaseURL",
    "spec.mappingRules",
    "spec.metrics",
    "spec.methods",
    "spec.providerAccountRef",
];

/// The system name the operator derives from `spec.name` when
/// `spec.systemName` is empty: the name with every run of characters other
/// than ASCII letters and digits removed.
pub fn default_system_name(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

fn system_name(value: &Value) -> Option<String> {
    let spec = value.get("spec")?;
    match spec.get("systemName").and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => spec.get("name").and_then(Value::as_str).map(default_system_name),
    }
}

/// Fills the defaults the operator writes back into a Product or Backend
/// (`SetDefaults`), so that writing them out explicitly or leaving them to
/// the operator gives the same digest.
fn defaults(value: &mut Value, product: bool) {
    let system = system_name(value);
    let Some(spec) = value.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(s) = system {
        spec.insert("systemName".into(), Value::String(s));
    }
    let metrics = spec.entry("metrics").or_insert_with(|| json!({}));
    if let Some(m) = metrics.as_object_mut() {
        m.entry("hits")
            .or_insert_with(|| json!({"friendlyName": "Hits", "unit": "hit", "description": "Number of API hits"}));
    }
    if product && let Some(policies) = spec.get_mut("policies").and_then(Value::as_array_mut) {
        for p in policies.iter_mut() {
            if let Some(obj) = p.as_object_mut()
                && obj.get("configuration").is_none_or(Value::is_null)
            {
                obj.insert("configuration".into(), json!({}));
            }
        }
        if !policies
            .iter()
            .any(|p| p.get("name").and_then(Value::as_str) == Some("apicast"))
        {
            policies.push(json!({"name": "apicast", "version": "builtin", "configuration": {}, "enabled": true}));
        }
    }
}

/// The 3scale rule set with the given field sets.
pub fn rules(product_fields: Option<&[String]>, backend_fields: Option<&[String]>) -> Rules {
    let own = |fields: Option<&[String]>, default: &[&str]| {
        fields.map_or_else(|| default.iter().map(|s| s.to_string()).collect(), <[String]>::to_vec)
    };
    Rules {
        kinds: vec![
            KindRule {
                group: GROUP,
                kind: "Product",
                fields: own(product_fields, PRODUCT_FIELDS),
                normalize: |v| defaults(v, true),
                key: Some(system_name),
                key_field: "spec.systemName",
                edges: vec![
                    Edge {
                        name: "backend usage",
                        refs: Refs::MapKeys {
                            map: "spec.backendUsages",
                            unless: Some("backend"),
                        },
                        target_kind: "Backend",
                        by_key: true,
                        required: true,
                    },
                    // The seed design's shape: `backendUsages.<key>.backend: <Backend metadata.name>`.
                    Edge {
                        name: "backend usage",
                        refs: Refs::MapEntryField {
                            map: "spec.backendUsages",
                            field: "backend",
                        },
                        target_kind: "Backend",
                        by_key: false,
                        required: true,
                    },
                    Edge {
                        name: "policy configurationRef",
                        refs: Refs::Strings("spec.policies[].configurationRef.name"),
                        target_kind: "Secret",
                        by_key: false,
                        required: false,
                    },
                    Edge {
                        name: "OIDC issuerEndpointRef",
                        refs: Refs::Strings("spec.deployment.*.authentication.oidc.issuerEndpointRef.name"),
                        target_kind: "Secret",
                        by_key: false,
                        required: false,
                    },
                ],
                secret: false,
            },
            KindRule {
                group: GROUP,
                kind: "Backend",
                fields: own(backend_fields, BACKEND_FIELDS),
                normalize: |v| defaults(v, false),
                key: Some(system_name),
                key_field: "spec.systemName",
                edges: Vec::new(),
                secret: false,
            },
            KindRule {
                group: "",
                kind: "Secret",
                fields: vec!["data".into(), "stringData".into(), "type".into()],
                normalize: |_| {},
                key: None,
                key_field: "metadata.name",
                edges: Vec::new(),
                secret: true,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_names_default_like_the_operator() {
        assert_eq!(default_system_name("Payments API (v2)"), "PaymentsAPIv2");
        assert_eq!(
            system_name(&json!({"spec": {"name": "A b", "systemName": ""}})).as_deref(),
            Some("Ab")
        );
        assert_eq!(
            system_name(&json!({"spec": {"name": "A b", "systemName": "x"}})).as_deref(),
            Some("x")
        );
    }

    #[test]
    fn defaults_make_implicit_and_explicit_forms_equal() {
        let mut implicit = json!({"spec": {"name": "Pay", "policies": [{"name": "cors", "configuration": null}]}});
        let mut explicit = json!({"spec": {"name": "Pay", "systemName": "Pay",
            "metrics": {"hits": {"friendlyName": "Hits", "unit": "hit", "description": "Number of API hits"}},
            "policies": [{"name": "cors", "configuration": {}}, {"name": "apicast", "version": "builtin", "configuration": {}, "enabled": true}]}});
        defaults(&mut implicit, true);
        defaults(&mut explicit, true);
        assert_eq!(implicit, explicit);
    }
}
