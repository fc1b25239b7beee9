//! Image references and overrides with kustomize's `images:` semantics.
//!
//! Deliberate deviations from kustomize v5.5.0 (the full list, with what
//! tests each, is in README.md, "Image-tag overrides"):
//! - `name` is matched literally. kustomize builds an unescaped regex from
//!   it, so `.` matches any character and `(` crashes kustomize.
//! - `tagSuffix` is applied once, and not again to a tag that already ends
//!   with it (so a second render changes nothing). kustomize runs two image
//!   filters over the standard paths and appends the suffix twice.
//! - Digests of any algorithm match (`@sha512:...`), as on kustomize's
//!   master branch; v5.5.0 matches only `@sha256:`.
//! - Malformed references, and tags that are not valid image tags, are
//!   never rewritten ([`ImageRef::problem`]).
//! - Overrides that would write an invalid reference, and `kustomize edit
//!   set image` entries with an empty name or that set nothing, are errors
//!   ([`ImageOverride::parse_set_image`], [`ImageOverride::validate`]).

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
            Some("a tag with characters other than letters, digits, '_', '.', '-', or starting with '.' or '-'")
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
    /// Parts written `*` in `kustomize edit set image` syntax: kept from
    /// the override of the same image this one replaces.
    pub keep: Keep,
}

/// Which parts of an override were written `*` (`app=*:2.0` keeps the new
/// name): like `kustomize edit set image` on a kustomization that already
/// lists the image, an override that replaces another one for the same
/// image (an Argo CD parameter replacing the functionConfig's entry) takes
/// those parts from it. With nothing to replace, the part is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Keep {
    /// `*` as the new name.
    pub new_name: bool,
    /// `*` as the new tag.
    pub new_tag: bool,
    /// `*` as the digest.
    pub digest: bool,
}

impl ImageOverride {
    /// Whether this override applies to `image`.
    ///
    /// A name alone matches every tag and digest of that name; a name with
    /// a tag matches that tag, with or without a digest; a name with a
    /// digest matches exactly that reference (`app@sha256:...` does not
    /// match `app:1@sha256:...`), as kustomize's matching does.
    pub fn matches(&self, image: &ImageRef) -> bool {
        let want = ImageRef::parse(&self.name);
        want.name == image.name
            && if want.digest.is_empty() {
                want.tag.is_empty() || want.tag == image.tag
            } else {
                want.tag == image.tag && want.digest == image.digest
            }
    }

    /// Takes the parts written `*` from `replaced`, the override of the
    /// same image that this one replaces (see [`Keep`]).
    pub fn keep_from(&mut self, replaced: &ImageOverride) {
        if self.keep.new_name {
            self.new_name.clone_from(&replaced.new_name);
        }
        if self.keep.new_tag {
            self.new_tag.clone_from(&replaced.new_tag);
        }
        if self.keep.digest {
            self.digest.clone_from(&replaced.digest);
        }
    }

    /// Whether the override sets anything at all.
    pub fn sets_something(&self) -> bool {
        self.new_name.is_some() || self.new_tag.is_some() || self.digest.is_some() || self.tag_suffix.is_some()
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

    /// Parses one `kustomize edit set image` argument, with the meaning
    /// kustomize v5.5 gives it:
    ///
    /// - `name:newTag`, `name@digest`, `name:newTag@digest` set the tag
    ///   and/or digest of `name`;
    /// - `name=newName`, `name=newName:newTag`, `name=newName@digest`,
    ///   `name=newName:newTag@digest` also rename it;
    /// - `*` as the new name, tag or digest (`name=*:newTag`,
    ///   `name=newName:*`, `name=*@digest`, `name=newName@*`) keeps that
    ///   part: it is taken from an earlier override of the same image that
    ///   this one replaces (see [`Keep`]), and otherwise left as the
    ///   image has it;
    /// - `name` before `=` may carry a tag or a digest (`app:1.0=...`,
    ///   `app@sha256:...=...`): only images with exactly that tag or
    ///   digest match, as in kustomize.
    ///
    /// # Errors
    /// What `kustomize edit set image` rejects (a bare name: nothing to
    /// set), and, deliberately, what it accepts but cannot mean anything
    /// sensible: an empty name before `=` (kustomize reads `=app:1` as
    /// `app:1`; an unset shell variable writes it), an entry that sets
    /// nothing (`app=*:*`, `app:`), an image to match that is not a valid
    /// reference, and a new name, tag or digest that is not valid.
    pub fn parse_set_image(spec: &str, source: impl Into<String>) -> Result<ImageOverride, String> {
        const FORMS: &str = "use name:newTag, name@digest, name:newTag@digest, name=newName, name=newName:newTag, name=newName@digest or name=newName:newTag@digest (`*` for a part keeps it)";
        let spec = spec.trim();
        let source = source.into();
        if spec.is_empty() {
            return Err(format!("empty image override; {FORMS}"));
        }
        // kustomize splits at the first `=`: the image to match, then what
        // to make of it.
        let (key, value) = match spec.split_once('=') {
            Some((k, v)) => (Some(k), v),
            None => (None, spec),
        };
        let new = ImageRef::parse(value);
        let mut o = ImageOverride {
            source,
            ..ImageOverride::default()
        };
        let star = |part: String, keep: &mut bool| {
            if part == "*" {
                *keep = true;
                None
            } else {
                Some(part).filter(|p| !p.is_empty())
            }
        };
        match key {
            None => {
                if new.name == spec {
                    return Err(format!("{spec:?} names an image but sets nothing; {FORMS}"));
                }
                o.name = new.name;
            }
            Some(key) => {
                if key.is_empty() {
                    return Err(format!(
                        "{spec:?} has no image name before `=` (kustomize would read it as {value:?}); {FORMS}"
                    ));
                }
                if let Some(why) = ImageRef::problem(key) {
                    return Err(format!(
                        "the image to match, {key:?}, is not a valid image reference (it has {why})"
                    ));
                }
                o.name = key.to_string();
                o.new_name = star(new.name, &mut o.keep.new_name);
                if let Some(n) = &o.new_name
                    && n.contains(['=', '*'])
                {
                    return Err(format!("newName {n:?} is not a valid image name"));
                }
            }
        }
        o.new_tag = star(new.tag, &mut o.keep.new_tag);
        o.digest = star(new.digest, &mut o.keep.digest);
        if o.new_name.is_none()
            && o.new_tag.is_none()
            && o.digest.is_none()
            && !(o.keep.new_name || o.keep.new_tag || o.keep.digest)
        {
            return Err(format!("{spec:?} sets nothing (an empty tag or digest); {FORMS}"));
        }
        o.validate()?;
        Ok(o)
    }

    /// The override in `kustomize edit set image` syntax (without
    /// `tagSuffix`, which that syntax cannot express); parts still to be
    /// kept from a replaced override are written `*`.
    pub fn to_set_image(&self) -> String {
        let matched = ImageRef::parse(&self.name);
        let mut out = self.name.clone();
        match &self.new_name {
            Some(n) => {
                out.push('=');
                out.push_str(n);
            }
            None if self.keep.new_name => out.push_str("=*"),
            // `name:tag` alone would read as "set the tag": spell it out.
            None if !matched.tag.is_empty() || !matched.digest.is_empty() => {
                out.push('=');
                out.push_str(&matched.name);
            }
            None => {}
        }
        match &self.new_tag {
            Some(t) => {
                out.push(':');
                out.push_str(t);
            }
            None if self.keep.new_tag => out.push_str(":*"),
            None => {}
        }
        match &self.digest {
            Some(d) => {
                out.push('@');
                out.push_str(d);
            }
            None if self.keep.digest => out.push_str("@*"),
            None => {}
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
        if !self.sets_something() && self.keep == Keep::default() {
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

/// Why `tag` cannot be an image tag, if it cannot: the OCI distribution
/// grammar, 1 to 128 of letters, digits, `_`, `.`, `-`, not starting with
/// `.` or `-`.
pub fn tag_problem(tag: &str) -> Option<&'static str> {
    (tag.is_empty()
        || tag.len() > 128
        || tag.starts_with(['.', '-'])
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    .then_some("is not a valid tag (1 to 128 letters, digits, '_', '.', '-', not starting with '.' or '-')")
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
            "nginx:-x",
            "nginx:.x",
            "nginx:v{rev}",
            "nginx:1.0+build",
        ] {
            assert!(ImageRef::problem(bad).is_some(), "{bad:?}");
        }
        let long = |n: usize| format!("nginx:{}", "a".repeat(n));
        assert!(ImageRef::problem(&long(129)).is_some(), "a tag over 128 characters");
        assert_eq!(ImageRef::problem(&long(128)), None);
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

    /// Every form `kustomize edit set image` accepts (its own test table,
    /// kustomize v5.5.0 `setimage_test.go`, re-expressed), with the
    /// fields kustomize writes for it when the kustomization does not list
    /// the image yet: (argument, name, newName, newTag, digest).
    #[test]
    fn every_kustomize_edit_set_image_form_means_what_kustomize_writes() {
        const D: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";
        const PINNED: &str = "app@sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";
        type Form = (
            String,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: Vec<Form> = vec![
            (
                "image1=my-image1:my-tag".into(),
                "image1",
                Some("my-image1"),
                Some("my-tag"),
                None,
            ),
            (
                "image1=my-image1:1234".into(),
                "image1",
                Some("my-image1"),
                Some("1234"),
                None,
            ),
            (
                "image1=my-image1:3.2e2".into(),
                "image1",
                Some("my-image1"),
                Some("3.2e2"),
                None,
            ),
            (
                format!("image1=my-image1@{D}"),
                "image1",
                Some("my-image1"),
                None,
                Some(D),
            ),
            ("image1:my-tag".into(), "image1", None, Some("my-tag"), None),
            (format!("image1@{D}"), "image1", None, None, Some(D)),
            (
                format!("my-image1:my-tag@{D}"),
                "my-image1",
                None,
                Some("my-tag"),
                Some(D),
            ),
            (
                format!("image1=my-image1:my-tag@{D}"),
                "image1",
                Some("my-image1"),
                Some("my-tag"),
                Some(D),
            ),
            (
                "ngnix=localhost:5000/my-project/ngnix".into(),
                "ngnix",
                Some("localhost:5000/my-project/ngnix"),
                None,
                None,
            ),
            (
                "ngnix=localhost:5000/my-project/ngnix:dev-01".into(),
                "ngnix",
                Some("localhost:5000/my-project/ngnix"),
                Some("dev-01"),
                None,
            ),
            (
                "image1=foo.bar.foo:8800/foo/image1:foo-bar".into(),
                "image1",
                Some("foo.bar.foo:8800/foo/image1"),
                Some("foo-bar"),
                None,
            ),
            // `*` keeps a part; with no earlier entry for the image, kustomize
            // writes nothing for it ("do not set asterisk as new name/tag").
            ("image1=*:v1".into(), "image1", None, Some("v1"), None),
            ("image1=my-image1:*".into(), "image1", Some("my-image1"), None, None),
            (format!("image2=*@{D}"), "image2", None, None, Some(D)),
            ("image2=my-image2@*".into(), "image2", Some("my-image2"), None, None),
            // The image to match may carry a tag or a digest.
            ("app:1.0=app:2.0".into(), "app:1.0", Some("app"), Some("2.0"), None),
            (format!("{PINNED}=reg/app:2"), PINNED, Some("reg/app"), Some("2"), None),
            (
                "localhost:5000/a/b=*:v1_2.3-x".into(),
                "localhost:5000/a/b",
                None,
                Some("v1_2.3-x"),
                None,
            ),
        ];
        for (arg, name, new_name, new_tag, digest) in cases {
            let o = ImageOverride::parse_set_image(&arg, "t").unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!(
                (
                    o.name.as_str(),
                    o.new_name.as_deref(),
                    o.new_tag.as_deref(),
                    o.digest.as_deref()
                ),
                (name, new_name, new_tag, digest),
                "{arg}"
            );
            assert_eq!(
                ImageOverride::parse_set_image(&o.to_set_image(), "t").as_ref(),
                Ok(&o),
                "{arg} round trip"
            );
        }
        let kept = ImageOverride::parse_set_image("image1=*:v1", "t").unwrap();
        assert_eq!(
            (kept.keep.new_name, kept.keep.new_tag, kept.keep.digest),
            (true, false, false)
        );
        assert_eq!(kept.to_set_image(), "image1=*:v1");
    }

    #[test]
    fn star_parts_are_kept_from_the_replaced_override() {
        let p = |s| ImageOverride::parse_set_image(s, "t").unwrap();
        let earlier = p("image1=foo.bar.foo:8800/foo/image1:my-tag@sha256:aa");
        for (arg, want) in [
            ("image1=*:v1", "image1=foo.bar.foo:8800/foo/image1:v1"),
            ("image1=my-image1:*", "image1=my-image1:my-tag"),
            ("image1=*:*", "image1=foo.bar.foo:8800/foo/image1:my-tag"),
            ("image1=*@sha256:bb", "image1=foo.bar.foo:8800/foo/image1@sha256:bb"),
            ("image1=new@*", "image1=new@sha256:aa"),
            ("image1:*@*", "image1:my-tag@sha256:aa"),
        ] {
            let mut o = p(arg);
            o.keep_from(&earlier);
            assert_eq!(o.to_set_image(), want, "{arg}");
        }
    }

    #[test]
    fn what_kustomize_edit_set_image_rejects_or_cannot_mean_is_an_error() {
        for (arg, why) in [
            ("bad", "names an image but sets nothing"),
            ("ghcr.io/org/app", "names an image but sets nothing"),
            ("localhost:5000/app", "names an image but sets nothing"),
            ("", "empty image override"),
            ("=app:1", "no image name before `=`"),
            ("app:", "sets nothing"),
            ("app@", "sets nothing"),
            ("app=", "sets nothing"),
            ("app:1:2", "newTag \"1:2\""),
            ("app=reg/app:1.0+build", "newTag \"1.0+build\""),
            ("app=reg/app:-x", "newTag \"-x\""),
            ("app@nodigest", "digest \"nodigest\""),
            ("app=b=c", "newName \"b=c\""),
            ("app:=reg/app", "the image to match, \"app:\""),
            ("a b=reg/app:1", "the image to match"),
        ] {
            let err = ImageOverride::parse_set_image(arg, "t").expect_err(arg);
            assert!(err.contains(why), "{arg:?}: {err}");
        }
    }

    #[test]
    fn a_name_with_a_digest_matches_exactly_that_reference() {
        let p = |s| ImageOverride::parse_set_image(s, "t").unwrap();
        let o = p("app@sha256:abc=reg/app:2");
        assert!(o.matches(&r("app@sha256:abc")));
        assert!(!o.matches(&r("app:1@sha256:abc")), "a tag is more than the name says");
        assert!(!o.matches(&r("app@sha256:abd")) && !o.matches(&r("app")) && !o.matches(&r("app:1")));
        let both = p("app:1@sha256:abc=reg/app:2");
        assert!(both.matches(&r("app:1@sha256:abc")));
        assert!(!both.matches(&r("app@sha256:abc")) && !both.matches(&r("app:1")));
        let tagged = p("app:1=reg/app");
        assert!(tagged.matches(&r("app:1")) && tagged.matches(&r("app:1@sha256:abc")));
        assert!(!tagged.matches(&r("app:10")) && !tagged.matches(&r("app")));
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
