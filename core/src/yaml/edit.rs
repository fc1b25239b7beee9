//! In-place edits of YAML text.
//!
//! An [`Edits`] collects replacements of byte ranges of the source and
//! applies them in one pass. Everything outside the edited ranges keeps its
//! exact bytes, which is how krm-promote preserves comments, key order,
//! quoting and every field it does not own.

use serde_json::Value;

use super::emit;
use super::share::Sharing;
use super::tree::{Kind, NodeId, Style, Tree};

/// One replacement of `src[start..end]` by `text` (`start == end` inserts).
#[derive(Debug, Clone)]
struct Patch {
    start: usize,
    end: usize,
    text: String,
}

/// A set of non-overlapping patches over one source text.
#[derive(Debug, Default)]
pub struct Edits {
    patches: Vec<Patch>,
}

impl Edits {
    /// No edits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no edit was recorded.
    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// Replaces `src[start..end]` by `text`.
    pub fn replace(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.patches.push(Patch {
            start,
            end,
            text: text.into(),
        });
    }

    /// Whether no recorded patch touches `start..end` (an insertion at
    /// either end does not count).
    pub fn is_free(&self, start: usize, end: usize) -> bool {
        self.patches.iter().all(|p| p.end <= start || p.start >= end)
    }

    /// The byte ranges of the recorded patches.
    pub fn ranges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.patches.iter().map(|p| (p.start, p.end))
    }

    /// Records every patch of `other` too.
    pub fn append(&mut self, other: Edits) {
        self.patches.extend(other.patches);
    }

    /// Inserts `text` at `at`. Insertions at the same offset keep the order
    /// in which they were recorded.
    pub fn insert(&mut self, at: usize, text: impl Into<String>) {
        self.replace(at, at, text);
    }

    /// Applies all patches to `src`.
    ///
    /// # Panics
    /// If two patches overlap: that is a bug in the caller.
    pub fn apply(mut self, src: &str) -> String {
        // Stable sort: insertions at one offset keep their recording order
        // and come before a replacement that starts there.
        self.patches.sort_by_key(|p| (p.start, p.end));
        let extra: usize = self.patches.iter().map(|p| p.text.len()).sum();
        let mut out = String::with_capacity(src.len() + extra);
        let mut at = 0;
        for p in &self.patches {
            assert!(p.start >= at, "overlapping YAML edits at byte {}", p.start);
            out.push_str(&src[at..p.start]);
            out.push_str(&p.text);
            at = p.end;
        }
        out.push_str(&src[at..]);
        out
    }

    /// Replaces the scalar `id` by the string `value`, keeping its quoting
    /// style where the new value allows it.
    pub fn set_scalar(&mut self, tree: &Tree<'_>, id: NodeId, value: &str) {
        let node = tree.node(id);
        let style = match &node.kind {
            Kind::Scalar { style, .. } => *style,
            _ => Style::Plain,
        };
        let text = if node.flow {
            emit::double_quoted(value)
        } else {
            match style {
                Style::SingleQuoted => emit::single_quoted(value).unwrap_or_else(|| emit::double_quoted(value)),
                Style::DoubleQuoted => emit::double_quoted(value),
                _ => emit::string(value),
            }
        };
        if matches!(style, Style::Literal | Style::Folded) {
            // The parser's span of a block scalar starts at its first content
            // line and runs on to the next token. Replace from the `|`/`>`
            // indicator to the end of the last content line, and keep the
            // line break and blank lines that follow.
            let src = tree.src;
            let content = node.start;
            let indicator_line_end = src[..content].rfind('\n').unwrap_or(0);
            let line_begin = src[..indicator_line_end].rfind('\n').map_or(0, |i| i + 1);
            let full = &src[line_begin..indicator_line_end];
            let comment = full.find(" #").map(|i| full[i + 1..].trim_end_matches('\r'));
            let line = full.find(" #").map_or(full, |i| &full[..i]);
            let start = line.rfind(['|', '>']).map_or(content, |i| line_begin + i);
            let end = content + src[content..node.end].trim_end().len();
            // A comment after the indicator stays after the new value.
            let text = match comment {
                Some(c) => format!("{text} {c}"),
                None => text,
            };
            self.replace(start, end.max(start), text);
            return;
        }
        self.replace(node.start, node.end, text);
    }

    /// Makes the places in `targets` read the string `value` instead of the
    /// scalar `scalar`, and every other place that reads `scalar` keep
    /// reading what it reads now. Returns false, recording nothing, when
    /// that cannot be done by editing `scalar` or its aliases.
    ///
    /// `targets` holds, per place to change, the node its parent holds
    /// there: `scalar` itself or an alias of it (one entry per place: a
    /// node read at two places to change is listed twice). `free` lists,
    /// the same way, places that other edits take care of (they will read
    /// no value of `scalar`, whatever it is).
    ///
    /// With [`Sharing`]'s counts: when every place that reads `scalar` is
    /// a target, `scalar` is edited. Otherwise either `scalar` is edited
    /// and the aliases that must keep the old value get it written out,
    /// or `scalar` is kept and the target aliases get the new value
    /// written out. An anchor whose aliases are all written out stays
    /// (an unused anchor is valid YAML).
    pub fn set_read_value(
        &mut self,
        tree: &Tree<'_>,
        sharing: &Sharing,
        scalar: NodeId,
        targets: &[NodeId],
        free: &[NodeId],
        value: &str,
    ) -> bool {
        let count = |list: &[NodeId], at: NodeId| list.iter().filter(|&&h| h == at).count() as u64;
        let total = u64::from(sharing.visits(scalar));
        if total == u64::from(u32::MAX) || !matches!(tree.node(scalar).kind, Kind::Scalar { .. }) {
            return false;
        }
        if total == targets.len() as u64 && free.is_empty() {
            let node = tree.node(scalar);
            if sharing.any() && !self.is_free(node.start, node.end) {
                return false;
            }
            self.set_scalar(tree, scalar, value);
            return true;
        }
        let aliases = sharing.aliases_of(scalar);
        let mut through_aliases = 0u64;
        // Per alias: (node, places, targets, free).
        let mut per_alias = Vec::with_capacity(aliases.len());
        for &a in aliases {
            let places = u64::from(sharing.visits(a));
            if places == u64::from(u32::MAX) {
                return false;
            }
            through_aliases += places;
            per_alias.push((a, places, count(targets, a), count(free, a)));
        }
        let Some(direct) = total.checked_sub(through_aliases) else {
            return false;
        };
        let (direct_targets, direct_free) = (count(targets, scalar), count(free, scalar));
        let flow_text = |a: NodeId, s: &str| {
            if tree.node(a).flow {
                emit::double_quoted(s)
            } else {
                emit::string(s)
            }
        };
        if direct_targets > 0 {
            // Edit the scalar: its own places must all change (or not
            // matter), and aliases either all change or all keep.
            if direct_targets + direct_free != direct
                || per_alias.iter().any(|&(_, places, t, f)| t != 0 && t + f != places)
            {
                return false;
            }
            let mut restores = Vec::new();
            for &(a, _, t, _) in &per_alias {
                if t == 0 {
                    match restore_text(tree, scalar, tree.node(a).flow) {
                        Some(text) => restores.push((a, text)),
                        None => return false,
                    }
                }
            }
            let node = tree.node(scalar);
            if !self.is_free(node.start, node.end)
                || restores
                    .iter()
                    .any(|&(a, _)| !self.is_free(tree.node(a).start, tree.node(a).end))
            {
                return false;
            }
            self.set_scalar(tree, scalar, value);
            for (a, text) in restores {
                let node = tree.node(a);
                self.replace(node.start, node.end, text);
            }
            return true;
        }
        // Keep the scalar: write the new value at the target aliases.
        if per_alias.iter().any(|&(_, places, t, f)| t != 0 && t + f != places) {
            return false;
        }
        if per_alias
            .iter()
            .any(|&(a, _, t, _)| t > 0 && !self.is_free(tree.node(a).start, tree.node(a).end))
        {
            return false;
        }
        for &(a, _, t, _) in &per_alias {
            if t > 0 {
                let node = tree.node(a);
                self.replace(node.start, node.end, flow_text(a, value));
            }
        }
        true
    }

    /// Sets `key` to the string `value` in the mapping `map`, adding the key
    /// if it is missing. Returns false when `map` is not a mapping or the
    /// existing value is not a scalar (nothing is changed then).
    pub fn set_string(&mut self, tree: &Tree<'_>, map: NodeId, key: &str, value: &str) -> bool {
        match tree.entry(map, key) {
            Some((_, v)) => {
                let v = tree.resolve(v);
                if !matches!(tree.node(v).kind, Kind::Scalar { .. }) {
                    return false;
                }
                if tree.str(v) != Some(value) {
                    self.set_scalar(tree, v, value);
                }
                true
            }
            None => self.insert_entry(tree, map, key, &Value::String(value.to_string())),
        }
    }

    /// Adds `key: value` to the mapping `map`, which must not have `key`.
    /// Block mappings get the new entry as their first key (the one position
    /// whose indentation is always known); flow mappings right after `{`.
    pub fn insert_entry(&mut self, tree: &Tree<'_>, map: NodeId, key: &str, value: &Value) -> bool {
        let node = tree.node(map);
        let Kind::Mapping(entries) = &node.kind else {
            return false;
        };
        if node.flow {
            let mut text = format!(
                "{}: {}",
                emit::double_quoted(key),
                serde_json::to_string(value).expect("json values serialize")
            );
            if !entries.is_empty() {
                text.push_str(", ");
            }
            self.insert(node.start + 1, text);
            return true;
        }
        let col = tree.column(node.start);
        let mut text = emit::block(&serde_json::json!({ key: value }), col);
        text.extend(std::iter::repeat_n(' ', col));
        self.insert(node.start, text);
        true
    }

    /// Sets `key: value` where `holder` is the value node of a mapping entry
    /// whose key starts at `key_start`, and that value is null (`key:` with
    /// nothing after it, `~` or `null`): the null is replaced by a block
    /// mapping holding the one entry.
    pub fn fill_null(&mut self, tree: &Tree<'_>, key_start: usize, holder: NodeId, key: &str, value: &Value) {
        let node = tree.node(holder);
        if node.flow {
            let text = format!(
                "{{{}: {}}}",
                emit::double_quoted(key),
                serde_json::to_string(value).expect("json values serialize")
            );
            self.replace(node.start, node.end, text);
            return;
        }
        let col = tree.column(key_start) + 2;
        let mut text = String::from("\n");
        text.extend(std::iter::repeat_n(' ', col));
        let body = emit::block(&serde_json::json!({ key: value }), col);
        text.push_str(body.trim_end_matches('\n'));
        let (start, end) = null_span(tree, holder);
        self.replace(start, end, text);
    }

    /// Sets annotation `key` to `value` on the resource `item`, creating
    /// `metadata.annotations` if needed, so that every YAML reader reads
    /// the new value there and nothing else changes.
    ///
    /// # Errors
    /// A message saying why not (nothing is recorded then): `item` has no
    /// `metadata` mapping, or the place to edit is shared with other places
    /// through an anchor or merge key in a way an edit cannot untangle.
    pub fn set_annotation(
        &mut self,
        tree: &Tree<'_>,
        sharing: &Sharing,
        item: NodeId,
        key: &str,
        value: &str,
    ) -> Result<(), String> {
        let shared = || {
            "metadata.annotations is shared with other places through a YAML anchor, alias or merge key (`<<`); write the annotations out in this resource".to_string()
        };
        let Some((_, metadata)) = tree.entry(item, "metadata") else {
            return Err("metadata is not a mapping".into());
        };
        if tree.entries(metadata).is_none() {
            return Err("metadata is not a mapping".into());
        }
        // Every reader must read these very nodes (no merge key decides).
        let agreed = |at: NodeId, k: &str| tree.agreed_path(at, &[k]).ok().flatten().map(|n| tree.resolve(n));
        if agreed(item, "metadata") != Some(tree.resolve(metadata)) {
            return Err(shared());
        }
        let metadata = tree.resolve(metadata);
        match tree.entry(metadata, "annotations") {
            Some((_, annotations)) if agreed(metadata, "annotations") != Some(tree.resolve(annotations)) => {
                Err(shared())
            }
            Some((k, annotations)) if tree.is_null(annotations) => {
                if annotations != tree.resolve(annotations) || sharing.visits(annotations) != 1 {
                    return Err(shared());
                }
                let start = tree.node(k).start;
                self.fill_null(tree, start, annotations, key, &Value::String(value.into()));
                Ok(())
            }
            Some((_, annotations)) => {
                let annotations = tree.resolve(annotations);
                if tree.entries(annotations).is_none() {
                    return Err("metadata.annotations is not a mapping".into());
                }
                if sharing.visits(annotations) != 1 {
                    return Err(shared());
                }
                match tree.entry(annotations, key) {
                    Some((_, v)) => {
                        let s = tree.resolve(v);
                        if !matches!(tree.node(s).kind, Kind::Scalar { .. }) {
                            return Err(format!("metadata.annotations.{key} is not a string"));
                        }
                        if tree.str(s) == Some(value) && agreed(annotations, key) == Some(s) {
                            return Ok(());
                        }
                        if agreed(annotations, key) != Some(s)
                            || !self.set_read_value(tree, sharing, s, &[v], &[], value)
                        {
                            return Err(shared());
                        }
                        Ok(())
                    }
                    None if tree
                        .merged_get(annotations, key, super::Merge::SourceOrder)
                        .ok()
                        .flatten()
                        .is_some()
                        || tree
                            .merged_get(annotations, key, super::Merge::ExplicitFirst)
                            .ok()
                            .flatten()
                            .is_some() =>
                    {
                        Err(shared())
                    }
                    None => {
                        self.insert_entry(tree, annotations, key, &Value::String(value.to_string()));
                        Ok(())
                    }
                }
            }
            None if sharing.visits(metadata) != 1
                || tree
                    .merged_get(metadata, "annotations", super::Merge::SourceOrder)
                    .ok()
                    .flatten()
                    .is_some()
                || tree
                    .merged_get(metadata, "annotations", super::Merge::ExplicitFirst)
                    .ok()
                    .flatten()
                    .is_some() =>
            {
                Err(shared())
            }
            None => {
                self.insert_entry(tree, metadata, "annotations", &serde_json::json!({ key: value }));
                Ok(())
            }
        }
    }
}

/// The text that reads as the current value of the scalar `id` where an
/// alias of it is (in a flow collection when `flow`): its value written
/// anew, a string as a string and a plain number, boolean or null as its
/// source text. `None` for explicitly tagged non-strings.
fn restore_text(tree: &Tree<'_>, id: NodeId, flow: bool) -> Option<String> {
    let node = tree.node(id);
    if node
        .tag()
        .is_some_and(|t| !matches!(t, "!!str" | "tag:yaml.org,2002:str"))
    {
        return None;
    }
    if let Some(s) = tree.str(id) {
        return Some(if flow { emit::double_quoted(s) } else { emit::string(s) });
    }
    match &node.kind {
        // An empty null written out empty would vanish from a flow list.
        Kind::Scalar {
            style: Style::Plain, ..
        } if node.start == node.end => Some("null".into()),
        Kind::Scalar {
            style: Style::Plain, ..
        } => Some(tree.text(id).to_string()),
        _ => None,
    }
}

/// The range to replace when a null value (`key:`, `key: ~`, `key: null`)
/// becomes something else: from just after the colon to the end of the null.
pub fn null_span(tree: &Tree<'_>, id: NodeId) -> (usize, usize) {
    let node = tree.node(id);
    let bytes = tree.src.as_bytes();
    if node.start == node.end {
        // The parser puts an empty null at the `:` itself.
        let at = if bytes.get(node.start) == Some(&b':') {
            node.start + 1
        } else {
            node.start
        };
        return (at, at);
    }
    let mut start = node.start;
    while start > 0 && bytes[start - 1] == b' ' {
        start -= 1;
    }
    (start, node.end)
}

/// The byte offset of the `-` that introduces the block sequence entry
/// whose content starts at `item_start`.
pub fn dash_offset(src: &str, item_start: usize) -> usize {
    let bytes = src.as_bytes();
    let mut i = item_start;
    while i > 0 && bytes[i - 1] == b' ' {
        i -= 1;
    }
    if i > 0 && bytes[i - 1] == b'-' {
        return i - 1;
    }
    // The entry's content starts on a later line (`- # comment` or `-`):
    // find the nearest earlier line whose first non-blank is `-`.
    let mut end = src[..item_start].rfind('\n').unwrap_or(0);
    while end > 0 {
        let begin = src[..end].rfind('\n').map_or(0, |p| p + 1);
        let line = &src[begin..end];
        let trimmed = line.trim_start_matches(' ');
        if trimmed.starts_with('-') {
            return begin + line.len() - trimmed.len();
        }
        end = begin.saturating_sub(1);
    }
    0
}

/// The column of the `- ` that introduces the sequence entry whose content
/// starts at `item_start`.
pub fn dash_column(src: &str, item_start: usize) -> usize {
    column(src, dash_offset(src, item_start))
}

/// 0-based column of a byte offset.
pub fn column(src: &str, offset: usize) -> usize {
    offset - src[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// Records the removal of the entries at `remove` (indexes) from the
/// sequence `seq`: whole lines for a block sequence, a rewritten list for a
/// flow one.
pub fn remove_items(edits: &mut Edits, tree: &Tree<'_>, seq: NodeId, remove: &[usize]) {
    let Some(items) = tree.items(seq) else { return };
    let node = tree.node(seq);
    if node.flow {
        let kept: Vec<&str> = items
            .iter()
            .enumerate()
            .filter(|(i, _)| !remove.contains(i))
            .map(|(_, &n)| tree.text(n))
            .collect();
        edits.replace(node.start, node.end, format!("[{}]", kept.join(", ")));
        return;
    }
    let line_start = |item: NodeId| {
        let dash = dash_offset(tree.src, tree.node(item).start);
        dash - column(tree.src, dash)
    };
    for (pos, &item) in items.iter().enumerate() {
        if remove.contains(&pos) {
            let end = items.get(pos + 1).map_or(node.end, |&next| line_start(next));
            edits.replace(line_start(item), end, "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotate(src: &str, key: &str, value: &str) -> String {
        let tree = Tree::parse(src).unwrap();
        let mut edits = Edits::new();
        let sharing = Sharing::new(&tree);
        assert_eq!(
            edits.set_annotation(&tree, &sharing, tree.docs[0].root, key, value),
            Ok(())
        );
        let out = edits.apply(src);
        // The result must parse and hold the annotation.
        let check = Tree::parse(&out).unwrap();
        let root = check.docs[0].root;
        assert_eq!(
            check.str(check.path(root, &["metadata", "annotations", key]).unwrap()),
            Some(value),
            "{out}"
        );
        out
    }

    #[test]
    fn adds_annotations_to_block_metadata() {
        let out = annotate("kind: X\nmetadata:\n  name: a # keep\nspec: {}\n", "k", "v");
        assert_eq!(
            out,
            "kind: X\nmetadata:\n  annotations:\n    k: v\n  name: a # keep\nspec: {}\n"
        );
    }

    #[test]
    fn adds_a_key_to_existing_annotations_and_replaces_values() {
        let src = "metadata:\n  annotations:\n    a: '1'\n    k: old # c\n";
        assert_eq!(
            annotate(src, "k", "new"),
            "metadata:\n  annotations:\n    a: '1'\n    k: new # c\n"
        );
        assert_eq!(
            annotate(src, "b", "on"),
            "metadata:\n  annotations:\n    b: 'on'\n    a: '1'\n    k: old # c\n"
        );
    }

    #[test]
    fn handles_flow_and_null_annotations() {
        assert_eq!(
            annotate("metadata: {name: a}\n", "k", "v"),
            "metadata: {\"annotations\": {\"k\":\"v\"}, name: a}\n"
        );
        assert_eq!(
            annotate("metadata:\n  annotations:\n  name: a\n", "k", "v"),
            "metadata:\n  annotations:\n    k: v\n  name: a\n"
        );
        assert_eq!(
            annotate("metadata:\n  annotations: ~\n", "k", "v"),
            "metadata:\n  annotations:\n    k: v\n"
        );
        assert_eq!(
            annotate("metadata:\n  annotations: {}\n", "k", "v"),
            "metadata:\n  annotations: {\"k\": \"v\"}\n"
        );
    }

    #[test]
    fn replaces_block_scalars_and_keeps_what_follows() {
        let src = "metadata:\n  annotations:\n    k: |\n      old\n\n    z: 1\n";
        assert_eq!(
            annotate(src, "k", "new"),
            "metadata:\n  annotations:\n    k: new\n\n    z: 1\n"
        );
    }

    #[test]
    fn comments_after_edited_values_stay_in_every_style() {
        for (before, after) in [
            ("k: old # c\n", "k: new # c\n"),
            ("k: 'old' # c\n", "k: 'new' # c\n"),
            ("k: \"old\" # c\n", "k: \"new\" # c\n"),
            ("k: \"o\\\"ld\"  # c\n", "k: \"new\"  # c\n"),
            ("k: 'o''ld' #c\r\n", "k: 'new' #c\r\n"),
            ("k: &a \"old\" # c\n", "k: &a \"new\" # c\n"),
            ("k: | # c\n      old\n", "k: new # c\n"),
            ("k: >- # c\n      old\n", "k: new # c\n"),
        ] {
            let src = format!("metadata:\n  annotations:\n    {before}");
            assert_eq!(
                annotate(&src, "k", "new"),
                format!("metadata:\n  annotations:\n    {after}"),
                "{before:?}"
            );
        }
        assert_eq!(
            annotate("metadata: {annotations: {k: 'old' # c\n  }}\n", "k", "new"),
            "metadata: {annotations: {k: \"new\" # c\n  }}\n"
        );
    }

    #[test]
    fn works_inside_sequence_items() {
        let src = "items:\n- kind: A\n  metadata:\n    name: a\n";
        let tree = Tree::parse(src).unwrap();
        let item = tree.items(tree.get(tree.docs[0].root, "items").unwrap()).unwrap()[0];
        let mut edits = Edits::new();
        edits
            .set_annotation(&tree, &Sharing::new(&tree), item, "k", "v")
            .unwrap();
        assert_eq!(
            edits.apply(src),
            "items:\n- kind: A\n  metadata:\n    annotations:\n      k: v\n    name: a\n"
        );
    }
}
