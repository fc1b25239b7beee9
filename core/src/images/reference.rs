//! Image references and overrides with kustomize's `images:` semantics.
//!
//! Deliberate deviations from kustomize v5.5.0, which has bugs here:
//! - `name` is matched literally. kustomize builds an unescaped regex from
//!   it, so `.` matches any character and `(` crashes kustomize.
//! - `tagSuffix` is applied once, and not again to a tag that already ends
//!   with it (so a second render changes nothing). kustomize runs two image
//!   filters over the standard paths and appends the suffix twice.
//! - Digests of any algorithm match (`@sha512:...`), as on kustomize's
//!   master branch; v5.5.0 matches only `@sha256:`.

use std::fmt;

/// An image reference split the way kustomize splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and repository, e.g. `localhost:5000/team/app`.
    pub name: String,
    /// The tag, without `:`; empty when absent.
    pub tag: String,
    /// The digest, without `@`; empty when absent.
    pub digest: String,
}

impl ImageRef {
    /// Splits `value` into name, tag and digest. A `:` before the first `/`
    /// is a registry port, not a tag.
    pub fn parse(value: &str) -> ImageRef {
        let search_from = match value.find('/') {
            Some(i) if i > 0 => i,
            _ => 0,
        };
        let rest = &value[search_from..];
        let colon = rest.find(':').map(|i| i + search_from);
        let at = rest.find('@').map(|i| i + search_from);
        let (name, tag, digest) = match (colon, at) {
            (None, None) => (value, "", ""),
            (Some(c), Some(a)) if c < a => (&value[..c], &value[c + 1..a], &value[a + 1..]),
            (_, Some(a)) => (&value[..a], "", &value[a + 1..]),
            (Some(c), None) => (&value[..c], &value[c + 1..], ""),
        };
        ImageRef {
            name: name.to_string(),
            tag: tag.to_string(),
            digest: digest.to_string(),
        }
    }

    /// Why `value` is not a well-formed image reference, if it is not: it
    /// does not read back as itself (`nginx:` has an empty tag), or its
    /// name, tag or digest holds characters an image reference cannot.
    /// Such references are never rewritten.
    pub fn problem(value: &str) -> Option<&'static str> {
        let r = ImageRef::parse(value);
        if r.to_string() != value {
            Some("an empty tag or digest")
        } else if name_problem(&r.name).is_some() {
            Some("a name that is empty or contains blanks")
        } else if !r.tag.is_empty() && tag_problem(&r.tag).is_some() {
            Some("a tag with characters other than letters, digits, '_', '.', '-'")
        } else if !r.digest.is_empty() && digest_problem(&r.digest).is_some() {
            Some("a digest not of the form algorithm:hex")
        } else {
            None
        }
    }

    /// The registry host (`docker.io` when the name has none).
    pub fn registry(&self) -> &str {
        match self.name.split_once('/') {
            Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
            _ => "docker.io",
        }
    }

    /// Whether the reference can change under the same name: no digest, and
    /// no tag or the tag `latest`.
    pub fn is_mutable(&self) -> bool {
        self.digest.is_empty() && (self.tag.is_empty() || self.tag == "latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.tag.is_empty() {
            write!(f, ":{}", self.tag)?;
        }
        if !self.digest.is_empty() {
            write!(f, "@{}", self.digest)?;
        }
        Ok(())
    }
}

/// One override, like one entry of kustomize's `images:`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageOverride {
    /// The image to match: a name, optionally with a tag (then only that
    /// tag matches) or a digest.
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    pub new_tag: Option<String>,
    /// Replacement digest (`sha256:...`).
    pub digest: Option<String>,
    /// Suffix appended to the tag (ignored with `new_tag` or `digest`).
    pub tag_suffix: Option<String>,
    /// Where it came from, for messages (`functionConfig images[0]`).
    pub source: String,
}

impl ImageOverride {
    /// Whether this override applies to `image`.
    pub fn matches(&self, image: &ImageRef) -> bool {
        let want = ImageRef::parse(&self.name);
        want.name == image.name
            && (want.tag.is_empty() || want.tag == image.tag)
            && (want.digest.is_empty() || want.digest == image.digest)
    }

    /// Whether `image` reads as what this override writes, so that it was
    /// applied already (by an earlier render whose output is this input):
    /// the name it writes, and the tag and digest it sets.
    pub fn already_applied(&self, image: &ImageRef) -> bool {
        let want = ImageRef::parse(&self.name);
        let name = self.new_name.as_deref().unwrap_or(&want.name);
        if image.name != name {
            return false;
        }
        match (&self.new_tag, &self.digest, &self.tag_suffix) {
            (Some(t), Some(d), _) => image.tag == *t && image.digest == *d,
            (Some(t), None, _) => image.tag == *t && image.digest.is_empty(),
            (None, Some(d), _) => image.tag.is_empty() && image.digest == *d,
            (None, None, Some(s)) => image.tag.ends_with(s.as_str()) && image.digest.is_empty(),
            (None, None, None) => true,
        }
    }

    /// The new reference, with kustomize's precedence: `newName`, then
    /// `newTag` + `digest`, `newTag`, `digest`, `tagSuffix`.
    pub fn apply(&self, image: &ImageRef) -> ImageRef {
        let mut out = image.clone();
        if let Some(n) = &self.new_name {
            out.name = n.clone();
        }
        match (&self.new_tag, &self.digest, &self.tag_suffix) {
            (Some(t), Some(d), _) => {
                out.tag = t.clone();
                out.digest = d.clone();
            }
            (Some(t), None, _) => {
                out.tag = t.clone();
                out.digest.clear();
            }
            (None, Some(d), _) => {
                out.tag.clear();
                out.digest = d.clone();
            }
            (None, None, Some(s)) => {
                // Idempotent: `kpt fn render` runs the function on its own
                // output, so a suffix already present is not added again.
                if !out.tag.ends_with(s.as_str()) {
                    out.tag.push_str(s);
                }
                out.digest.clear();
            }
            (None, None, None) => {}
        }
        out
    }

    /// Parses `kustomize edit set image` syntax: `name=newName:newTag@digest`,
    /// `name=newName`, `name:newTag`, `name@digest`, `name:newTag@digest`.
    pub fn parse_set_image(spec: &str, source: impl Into<String>) -> Result<ImageOverride, String> {
        let spec = spec.trim();
        let source = source.into();
        if spec.is_empty() {
            return Err("empty image override".into());
        }
        let (name, replacement) = match spec.split_once('=') {
            Some((n, r)) => (n.trim(), Some(r.trim())),
            None => (spec, None),
        };
        let mut o = ImageOverride {
            source,
            ..ImageOverride::default()
        };
        match replacement {
            Some(r) => {
                if name.is_empty() || r.is_empty() {
                    return Err(format!("{spec:?} is not `name=newName[:newTag][@digest]`"));
                }
                o.name = name.to_string();
                let new = ImageRef::parse(r);
                o.new_name = Some(new.name);
                o.new_tag = Some(new.tag).filter(|t| !t.is_empty());
                o.digest = Some(new.digest).filter(|d| !d.is_empty());
            }
            None => {
                let r = ImageRef::parse(name);
                if r.tag.is_empty() && r.digest.is_empty() {
                    return Err(format!(
                        "{spec:?} sets nothing: write `name:newTag`, `name@digest` or `name=newName[:newTag]`"
                    ));
                }
                o.name = r.name;
                o.new_tag = Some(r.tag).filter(|t| !t.is_empty());
                o.digest = Some(r.digest).filter(|d| !d.is_empty());
            }
        }
        o.validate()?;
        Ok(o)
    }

    /// The override in `kustomize edit set image` syntax (without
    /// `tagSuffix`, which that syntax cannot express).
    pub fn to_set_image(&self) -> String {
        let matched = ImageRef::parse(&self.name);
        let mut out = self.name.clone();
        match &self.new_name {
            Some(n) => {
                out.push('=');
                out.push_str(n);
            }
            // `name:tag` alone would read as "set the tag": spell it out.
            None if !matched.tag.is_empty() || !matched.digest.is_empty() => {
                out.push('=');
                out.push_str(&matched.name);
            }
            None => {}
        }
        if let Some(t) = &self.new_tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }

    /// Checks the fields for characters that cannot be in an image reference.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(why) = name_problem(&self.name) {
            return Err(format!("image name {:?} {why}", self.name));
        }
        if let Some(n) = &self.new_name
            && let Some(why) = name_problem(n)
        {
            return Err(format!("newName {n:?} {why}"));
        }
        if let Some(t) = &self.new_tag
            && let Some(why) = tag_problem(t)
        {
            return Err(format!("newTag {t:?} {why}"));
        }
        if let Some(d) = &self.digest
            && let Some(why) = digest_problem(d)
        {
            return Err(format!("digest {d:?} {why}"));
        }
        if self.new_name.is_none() && self.new_tag.is_none() && self.digest.is_none() && self.tag_suffix.is_none() {
            return Err(format!(
                "override for {:?} sets none of newName, newTag, digest, tagSuffix",
                self.name
            ));
        }
        Ok(())
    }
}

/// Why `name` cannot be an image name, if it cannot (the reason never
/// repeats the value).
pub fn name_problem(name: &str) -> Option<&'static str> {
    (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then_some("is empty or contains blanks")
}

/// Why `tag` cannot be an image tag, if it cannot.
pub fn tag_problem(tag: &str) -> Option<&'static str> {
    (tag.is_empty()
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    .then_some("is not a valid tag (letters, digits, '_', '.', '-')")
}

/// Why `digest` cannot be an image digest, if it cannot.
pub fn digest_problem(digest: &str) -> Option<&'static str> {
    (!digest
        .split_once(':')
        .is_some_and(|(alg, hex)| !alg.is_empty() && !hex.is_empty()))
    .then_some("is not of the form algorithm:hex (e.g. sha256:...)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s)
    }

    #[test]
    fn splits_like_kustomize() {
        assert_eq!(
            r("nginx"),
            ImageRef {
                name: "nginx".into(),
                tag: "".into(),
                digest: "".into()
            }
        );
        assert_eq!(r("nginx:1.21").tag, "1.21");
        assert_eq!(r("localhost:5000/app").name, "localhost:5000/app");
        assert_eq!(r("localhost:5000/app:v1").tag, "v1");
        let both = r("ghcr.io/org/app:1.0@sha256:abc");
        assert_eq!(
            (both.name.as_str(), both.tag.as_str(), both.digest.as_str()),
            ("ghcr.io/org/app", "1.0", "sha256:abc")
        );
        let digest = r("app@sha256:abc");
        assert_eq!((digest.tag.as_str(), digest.digest.as_str()), ("", "sha256:abc"));
        for s in ["nginx", "a/b:c", "h:1/x:y@sha256:z", "x@sha512:q"] {
            assert_eq!(r(s).to_string(), s);
        }
    }

    #[test]
    fn malformed_references_are_recognised() {
        for bad in [
            "nginx:",
            "nginx@",
            "nginx:@sha256:a",
            "nginx:1:2",
            "nginx:1.0\n",
            "",
            "a b:1",
            "app@sha256",
        ] {
            assert!(ImageRef::problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "nginx",
            "nginx:1.21",
            "localhost:5000/a/b:v1_2.3-x",
            "app@sha512:ab",
            "app:1@sha256:ab",
        ] {
            assert_eq!(ImageRef::problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn registries_and_mutability() {
        assert_eq!(r("nginx").registry(), "docker.io");
        assert_eq!(r("library/nginx").registry(), "docker.io");
        assert_eq!(r("ghcr.io/org/app").registry(), "ghcr.io");
        assert_eq!(r("localhost:5000/app").registry(), "localhost:5000");
        assert!(r("nginx").is_mutable() && r("nginx:latest").is_mutable());
        assert!(!r("nginx:1.2").is_mutable() && !r("nginx:latest@sha256:a").is_mutable());
    }

    #[test]
    fn matches_literally_and_by_tag() {
        let o = ImageOverride {
            name: "ghcr.io/org/app".into(),
            new_tag: Some("2".into()),
            ..Default::default()
        };
        assert!(o.matches(&r("ghcr.io/org/app:1")));
        assert!(o.matches(&r("ghcr.io/org/app@sha256:x")));
        assert!(!o.matches(&r("ghcr.io/org/apps:1")));
        assert!(!o.matches(&r("ghcrxio/org/app:1")), "`.` is not a wildcard");
        let tagged = ImageOverride {
            name: "app:1.0".into(),
            new_tag: Some("2".into()),
            ..Default::default()
        };
        assert!(tagged.matches(&r("app:1.0")) && tagged.matches(&r("app:1.0@sha256:x")));
        assert!(!tagged.matches(&r("app:1.0-alpine")));
    }

    #[test]
    fn knows_when_its_result_is_in_place() {
        let p = |s| ImageOverride::parse_set_image(s, "t").unwrap();
        for (spec, before) in [
            ("nginx=reg/mirror/nginx:1.2", "nginx:1.0"),
            ("nginx=reg/mirror/nginx", "nginx:1.0"),
            ("app:1.0=app:2.0", "app:1.0"),
            ("app@sha256:abc", "app:1"),
        ] {
            let o = p(spec);
            let after = o.apply(&r(before));
            assert!(o.already_applied(&after), "{spec}: {after}");
            assert!(!o.already_applied(&r(before)), "{spec}: {before}");
        }
        assert!(!p("nginx=reg/nginx:1.2").already_applied(&r("reg/nginx:1.3")));
    }

    #[test]
    fn applies_with_kustomize_precedence() {
        let img = r("app:1.0@sha256:old");
        let o = |t: Option<&str>, d: Option<&str>, s: Option<&str>| ImageOverride {
            name: "app".into(),
            new_name: Some("reg/app".into()),
            new_tag: t.map(String::from),
            digest: d.map(String::from),
            tag_suffix: s.map(String::from),
            ..Default::default()
        };
        assert_eq!(
            o(Some("2"), Some("sha256:new"), None).apply(&img).to_string(),
            "reg/app:2@sha256:new"
        );
        assert_eq!(o(Some("2"), None, Some("-x")).apply(&img).to_string(), "reg/app:2");
        assert_eq!(
            o(None, Some("sha256:new"), None).apply(&img).to_string(),
            "reg/app@sha256:new"
        );
        assert_eq!(
            o(None, None, Some("-x")).apply(&img).to_string(),
            "reg/app:1.0-x",
            "suffix applied once"
        );
        assert_eq!(o(None, None, None).apply(&img).to_string(), "reg/app:1.0@sha256:old");
    }

    #[test]
    fn parses_kustomize_edit_set_image_syntax() {
        let p = |s| ImageOverride::parse_set_image(s, "t").unwrap();
        let a = p("nginx=registry.example.com:5000/nginx:1.25@sha256:abc");
        assert_eq!(
            (
                a.name.as_str(),
                a.new_name.as_deref(),
                a.new_tag.as_deref(),
                a.digest.as_deref()
            ),
            (
                "nginx",
                Some("registry.example.com:5000/nginx"),
                Some("1.25"),
                Some("sha256:abc")
            )
        );
        let b = p("ghcr.io/parraletz/books-api:2.0.0");
        assert_eq!(
            (b.name.as_str(), b.new_tag.as_deref(), b.new_name),
            ("ghcr.io/parraletz/books-api", Some("2.0.0"), None)
        );
        let c = p("app@sha256:def");
        assert_eq!((c.new_tag, c.digest.as_deref()), (None, Some("sha256:def")));
        for spec in [
            "nginx=reg/nginx:1.25@sha256:abc",
            "app:2.0.0",
            "app@sha256:def",
            "app:1.0=app:2.0",
        ] {
            assert_eq!(p(spec).to_set_image(), spec, "round trip");
        }
        for bad in ["", "nginx", "=x", "nginx=", "app:bad tag", "app@nodigest", "a=b:c d"] {
            assert!(
                ImageOverride::parse_set_image(bad, "t").is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}
