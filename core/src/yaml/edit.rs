//! In-place edits of YAML text.
//!
//! An [`Edits`] collects replacements of byte ranges of the source and
//! applies them in one pass. Everything outside the edited ranges keeps its
//! exact bytes, which is how krm-promote preserves comments, key order,
//! quoting and every field it does not own.

use serde_json::Value;

use super::emit;
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
            let line = &src[line_begin..indicator_line_end];
            let line = line.find(" #").map_or(line, |i| &line[..i]);
            let start = line.rfind(['|', '>']).map_or(content, |i| line_begin + i);
            let end = content + src[content..node.end].trim_end().len();
            self.replace(start, end.max(start), text);
            return;
        }
        self.replace(node.start, node.end, text);
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
    /// `metadata.annotations` if needed. Returns false if `item` has no
    /// `metadata` mapping.
    pub fn set_annotation(&mut self, tree: &Tree<'_>, item: NodeId, key: &str, value: &str) -> bool {
        let Some((_, metadata)) = tree.entry(item, "metadata") else {
            return false;
        };
        if tree.entries(metadata).is_none() {
            return false;
        }
        match tree.entry(metadata, "annotations") {
            Some((k, annotations)) if tree.is_null(annotations) => {
                let start = tree.node(k).start;
                self.fill_null(tree, start, annotations, key, &Value::String(value.into()));
                true
            }
            Some((_, annotations)) => self.set_string(tree, annotations, key, value),
            None => self.insert_entry(
                tree,
                tree.resolve(metadata),
                "annotations",
                &serde_json::json!({ key: value }),
            ),
        }
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
        assert!(edits.set_annotation(&tree, tree.docs[0].root, key, value));
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
    fn works_inside_sequence_items() {
        let src = "items:\n- kind: A\n  metadata:\n    name: a\n";
        let tree = Tree::parse(src).unwrap();
        let item = tree.items(tree.get(tree.docs[0].root, "items").unwrap()).unwrap()[0];
        let mut edits = Edits::new();
        edits.set_annotation(&tree, item, "k", "v");
        assert_eq!(
            edits.apply(src),
            "items:\n- kind: A\n  metadata:\n    annotations:\n      k: v\n    name: a\n"
        );
    }
}
