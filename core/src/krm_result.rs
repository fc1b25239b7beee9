//! The KRM function spec's `Result` type, written into the output's
//! `results` and mirrored on stderr by the host.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a result is. Always written explicitly: kpt and kyaml show a
/// missing severity as `info`, although the spec's default is `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    Info,
    /// Suspicious, but the output is usable.
    Warning,
    /// The render must fail.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The resource a result is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// `group/version` or `version`.
    pub api_version: String,
    /// The kind.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The field a result is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Field {
    /// Dotted path, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    /// The value found, if worth showing (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_value: Option<serde_json::Value>,
    /// The value the function proposes or set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_value: Option<serde_json::Value>,
}

/// The file a result is about, from the resource's path annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Path relative to the package.
    pub path: String,
    /// Position of the resource within the file (omitted when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub index: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One entry of a ResourceList's `results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KrmResult {
    /// What happened, one line.
    pub message: String,
    /// How serious it is.
    pub severity: Severity,
    /// The resource concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ref: Option<ResourceRef>,
    /// The field concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// The file concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    /// Machine-readable labels, e.g. `product: payments`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl KrmResult {
    /// A result with only a message and a severity.
    pub fn new(severity: Severity, message: impl Into<String>) -> Self {
        KrmResult {
            message: message.into(),
            severity,
            resource_ref: None,
            field: None,
            file: None,
            tags: BTreeMap::new(),
        }
    }

    /// Sets the field path.
    pub fn at_field(mut self, path: impl Into<String>) -> Self {
        self.field = Some(Field {
            path: path.into(),
            current_value: None,
            proposed_value: None,
        });
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: &str, value: impl Into<String>) -> Self {
        self.tags.insert(key.to_string(), value.into());
        self
    }
}

/// kpt's one-line form: `[warning] apps/v1/Deployment/ns/web spec.replicas: message`.
impl fmt::Display for KrmResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.severity)?;
        if let Some(r) = &self.resource_ref {
            write!(f, " {}/{}/", r.api_version, r.kind)?;
            if let Some(ns) = &r.namespace {
                write!(f, "{ns}/")?;
            }
            f.write_str(&r.name)?;
        }
        if let Some(field) = &self.field {
            write!(f, " {}", field.path)?;
        }
        if self.resource_ref.is_some() || self.field.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_kpt() {
        let mut r = KrmResult::new(Severity::Warning, "this is a warning").at_field("spec.replicas");
        r.resource_ref = Some(ResourceRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            namespace: None,
        });
        assert_eq!(
            r.to_string(),
            "[warning] apps/v1/Deployment/web spec.replicas: this is a warning"
        );
        assert_eq!(KrmResult::new(Severity::Info, "done").to_string(), "[info] done");
    }

    #[test]
    fn serializes_in_spec_order_without_empty_fields() {
        let r = KrmResult::new(Severity::Error, "bad").at_field("data.x");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"message":"bad","severity":"error","field":{"path":"data.x"}}"#
        );
    }
}
