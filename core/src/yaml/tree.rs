//! A YAML node tree that remembers where every node came from.
//!
//! The tree is built from saphyr-parser's event stream. Every node carries a
//! byte span into the source text, so that edits can be made *in place*
//! (see [`super::edit`]): what the function does not change keeps its exact
//! bytes, comments and formatting. Nodes live in an arena and refer to each
//! other by [`NodeId`]; aliases are kept as references to their anchor.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as PSpan};

use crate::Error;

/// Index of a node in [`Tree::nodes`].
pub type NodeId = u32;

/// How a scalar was written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain (unquoted).
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"`.
    DoubleQuoted,
    /// `|` literal block scalar.
    Literal,
    /// `>` folded block scalar.
    Folded,
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum Kind<'a> {
    /// A scalar with its decoded value.
    Scalar {
        /// The decoded value.
        value: Cow<'a, str>,
        /// How it was written.
        style: Style,
    },
    /// A mapping; entries in source order.
    Mapping(Vec<(NodeId, NodeId)>),
    /// A sequence; items in source order.
    Sequence(Vec<NodeId>),
    /// `*alias`, pointing at the anchored node.
    Alias(NodeId),
}

/// One node with its position in the source.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// What the node is.
    pub kind: Kind<'a>,
    /// Byte offset where the node's text starts. For a block mapping this is
    /// its first key; for a flow collection its opening bracket.
    pub start: usize,
    /// Byte offset just past the node. Exact for scalars and flow
    /// collections; for block collections it is where the next token starts
    /// (trailing comments and blank lines included).
    pub end: usize,
    /// 1-based line of `start`.
    pub line: u32,
    /// The node is a flow collection or sits inside one.
    pub flow: bool,
    /// The explicit tag, e.g. `!!str`, if any ([`Node::tag`]). Boxed
    /// behind one thin pointer: untagged nodes, nearly all of them, pay 8
    /// bytes.
    tag: Option<Box<Tag>>,
}

/// The text of an explicit tag.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag(String);

impl Node<'_> {
    /// The explicit tag, e.g. `!!str`, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref().map(|t| t.0.as_str())
    }
}

/// One YAML document of a stream.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// The root node.
    pub root: NodeId,
    /// Byte offset where the document's content starts.
    pub start: usize,
    /// Byte offset where the document ends (start of the next document's
    /// `---`, a `...` marker, or the end of the input).
    pub end: usize,
}

/// How a reader applies YAML merge keys (`<<: *base`, `<<: [*a, *b]`).
///
/// The readers in a GitOps chain disagree when a key is set both explicitly
/// and through a merge key: checked with kubectl 1.32, `{a: 1, <<: {a: 2}}`
/// reads `a: 2`, while kustomize and kpt read `a: 1`. Anything that decides
/// from a resource's content (image policies, identities) must consider
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// go-yaml v2, as `sigs.k8s.io/yaml` uses it (kubectl, Argo CD):
    /// entries apply in source order and a later assignment wins, so a
    /// merge key after an explicit key overrides it; a merged list applies
    /// its mappings last to first, so earlier ones win among themselves.
    SourceOrder,
    /// The merge-key specification as go-yaml v3 and kyaml apply it
    /// (kustomize, kpt): explicit keys win wherever they are, then earlier
    /// merged mappings win over later ones.
    ExplicitFirst,
}

/// One entry of a mapping as a reader sees it after merge keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedEntry {
    /// The key node.
    pub key: NodeId,
    /// The value node.
    pub value: NodeId,
    /// The entry comes from a merged mapping: its nodes belong to that
    /// mapping, which other places may share.
    pub merged: bool,
}

/// A parsed YAML stream.
#[derive(Debug)]
pub struct Tree<'a> {
    /// The source text.
    pub src: &'a str,
    /// All nodes, in document order of their start.
    pub nodes: Vec<Node<'a>>,
    /// The documents of the stream (empty documents are skipped).
    pub docs: Vec<Document>,
}

/// Deepest nesting accepted; deeper input is rejected rather than risking
/// the stack of every recursive consumer.
pub const MAX_DEPTH: usize = 256;

/// Converts saphyr's character offsets into byte offsets.
struct Offsets {
    /// `(char index, extra bytes before it)` at each point where the extra
    /// byte count grows (just after every non-ASCII character).
    steps: Vec<(usize, usize)>,
}

impl Offsets {
    fn new(src: &str) -> Self {
        let mut steps = Vec::new();
        if !src.is_ascii() {
            let mut extra = 0;
            for (ci, ch) in src.chars().enumerate() {
                let w = ch.len_utf8();
                if w > 1 {
                    extra += w - 1;
                    steps.push((ci + 1, extra));
                }
            }
        }
        Offsets { steps }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.steps.is_empty() {
            return char_index;
        }
        let i = self.steps.partition_point(|&(ci, _)| ci <= char_index);
        if i == 0 {
            char_index
        } else {
            char_index + self.steps[i - 1].1
        }
    }
}

enum Open {
    Map {
        id: NodeId,
        entries: Vec<(NodeId, NodeId)>,
        pending_key: Option<NodeId>,
        /// Key index, built once a mapping has many keys (small mappings
        /// are scanned: cheaper than hashing).
        index: Option<HashMap<String, u32>>,
    },
    Seq {
        id: NodeId,
        items: Vec<NodeId>,
    },
}

/// One parser event with byte positions: what both event sources (saphyr
/// and the fast path in [`super::fast`]) feed the tree builder.
#[derive(Debug)]
pub(super) enum Ev<'a> {
    DocStart,
    DocEnd,
    Alias(usize),
    Scalar {
        value: Cow<'a, str>,
        style: Style,
        anchor: usize,
        tag: Option<String>,
    },
    MapStart {
        anchor: usize,
        tag: Option<String>,
    },
    SeqStart {
        anchor: usize,
        tag: Option<String>,
    },
    MapEnd,
    SeqEnd,
}

/// Builds a [`Tree`] from events.
pub(super) struct Builder<'a> {
    tree: Tree<'a>,
    stack: Vec<Open>,
    anchors: HashMap<usize, NodeId>,
    doc_start: usize,
    doc_root: Option<NodeId>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Builder {
            tree: Tree {
                src,
                // Block-style manifests have about two nodes per line
                // (Deployments: 2.2); reserving for 2.5 avoids the copies (and
                // the doubled peak) of repeated growth without reserving much
                // more than is used (inside wasm, reserved memory counts
                // against the memory cap).
                nodes: Vec::with_capacity(src.bytes().filter(|&b| b == b'\n').count() * 5 / 2 + 16),
                docs: Vec::new(),
            },
            stack: Vec::new(),
            anchors: HashMap::new(),
            doc_start: 0,
            doc_root: None,
        }
    }

    pub(super) fn finish(self) -> Tree<'a> {
        self.tree
    }

    fn in_flow(&self) -> bool {
        match self.stack.last() {
            Some(Open::Map { id, .. }) | Some(Open::Seq { id, .. }) => self.tree.nodes[*id as usize].flow,
            None => false,
        }
    }

    /// Adds one event spanning `start..end` (bytes) that starts on `line`.
    pub(super) fn event(&mut self, event: Ev<'a>, start: usize, end: usize, line: u32) -> Result<(), Error> {
        let src = self.tree.src;
        let is_map = matches!(event, Ev::MapStart { .. });
        match event {
            Ev::DocStart => {
                self.doc_start = start;
                self.doc_root = None;
            }
            Ev::DocEnd => {
                if let Some(root) = self.doc_root.take() {
                    let root_node = &self.tree.nodes[root as usize];
                    // An implicit document containing only an empty plain
                    // scalar is an empty document (e.g. a stream with a
                    // trailing `---`): skip it.
                    let empty = matches!(&root_node.kind,
                        Kind::Scalar { value, style: Style::Plain } if value.is_empty())
                        && root_node.tag().is_none();
                    if !empty {
                        let doc_end = end.max(root_node.end);
                        self.tree.docs.push(Document {
                            root,
                            start: self.doc_start.min(root_node.start),
                            end: doc_end,
                        });
                    }
                }
                self.anchors.clear();
            }
            Ev::Alias(anchor) => {
                let target = *self
                    .anchors
                    .get(&anchor)
                    .ok_or_else(|| Error::InvalidInput(format!("undefined alias at line {line}")))?;
                let flow = self.in_flow();
                let id = self.tree.push(Node {
                    kind: Kind::Alias(target),
                    start,
                    end,
                    line,
                    flow,
                    tag: None,
                });
                self.tree.attach(&mut self.stack, &mut self.doc_root, id)?;
            }
            Ev::Scalar {
                value,
                style,
                anchor,
                tag,
            } => {
                let flow = self.in_flow();
                // A scalar's span starts at its anchor or tag when it has
                // one; move the start to the scalar text itself.
                let start = if anchor != 0 || tag.is_some() {
                    skip_properties(src, start, end)
                } else {
                    start
                };
                // The parser's span of a quoted scalar runs on over the
                // blanks and comment after it: end at the closing quote, so
                // that an edit keeps the comment.
                let end = match style {
                    Style::SingleQuoted | Style::DoubleQuoted => {
                        quoted_end(src, start).filter(|&e| e <= end).unwrap_or(end)
                    }
                    _ => end,
                };
                // Plain scalars whose value is their source text (most of a
                // manifest) borrow it instead of keeping the parser's copy: a
                // large input's tree then holds about half the memory.
                let value = match value {
                    Cow::Owned(owned) if style == Style::Plain && src.get(start..end) == Some(owned.as_str()) => {
                        Cow::Borrowed(&src[start..end])
                    }
                    other => other,
                };
                let id = self.tree.push(Node {
                    kind: Kind::Scalar { value, style },
                    start,
                    end,
                    line,
                    flow,
                    tag: tag.map(|t| Box::new(Tag(t))),
                });
                if anchor != 0 {
                    self.anchors.insert(anchor, id);
                }
                self.tree.attach(&mut self.stack, &mut self.doc_root, id)?;
            }
            Ev::MapStart { anchor, tag } | Ev::SeqStart { anchor, tag } => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Error::InvalidInput(format!(
                        "YAML nesting deeper than {MAX_DEPTH} levels at line {line}"
                    )));
                }
                let bracket = if is_map { b'{' } else { b'[' };
                // A flow collection's start event covers its bracket (and
                // the spaces after it); a block collection's is empty. Both
                // start at the anchor or tag when there is one: skip it (a
                // block collection's start is set from its first child when
                // it closes).
                let props = anchor != 0 || tag.is_some();
                let start = if props { skip_properties(src, start, end) } else { start };
                let own_flow = end > start && src.as_bytes().get(start) == Some(&bracket);
                let flow = own_flow || self.in_flow();
                let id = self.tree.push(Node {
                    kind: if is_map {
                        Kind::Mapping(Vec::new())
                    } else {
                        Kind::Sequence(Vec::new())
                    },
                    start,
                    end: start,
                    line,
                    flow,
                    tag: tag.map(|t| Box::new(Tag(t))),
                });
                if anchor != 0 {
                    self.anchors.insert(anchor, id);
                }
                self.stack.push(if is_map {
                    Open::Map {
                        id,
                        entries: Vec::new(),
                        pending_key: None,
                        index: None,
                    }
                } else {
                    Open::Seq { id, items: Vec::new() }
                });
            }
            Ev::MapEnd | Ev::SeqEnd => {
                let open = self.stack.pop().expect("parser balances collections");
                let id = match open {
                    Open::Map { id, entries, .. } => {
                        self.tree.nodes[id as usize].kind = Kind::Mapping(entries);
                        id
                    }
                    Open::Seq { id, items } => {
                        self.tree.nodes[id as usize].kind = Kind::Sequence(items);
                        id
                    }
                };
                let first_child = match &self.tree.nodes[id as usize].kind {
                    Kind::Mapping(entries) => entries.first().map(|&(k, _)| k),
                    Kind::Sequence(items) => items.first().copied(),
                    _ => None,
                };
                let node = &self.tree.nodes[id as usize];
                let after_props = node.start > 0 && !node.flow && {
                    // Block collection whose start still sits just after an
                    // anchor or tag: start at its first key or `-` instead.
                    let before = src[..node.start].trim_end_matches([' ', '\t']);
                    before
                        .rsplit([' ', '\t', '\n'])
                        .next()
                        .is_some_and(|w| w.starts_with(['&', '!']))
                };
                if after_props && let Some(child) = first_child {
                    let child_start = self.tree.nodes[child as usize].start;
                    let new_start = if matches!(self.tree.nodes[id as usize].kind, Kind::Sequence(_)) {
                        super::edit::dash_offset(src, child_start)
                    } else {
                        child_start
                    };
                    let node = &mut self.tree.nodes[id as usize];
                    if new_start >= node.start {
                        node.start = new_start;
                    }
                }
                let node = &mut self.tree.nodes[id as usize];
                node.end = if node.flow && end > start {
                    end
                } else {
                    start.max(node.start)
                };
                self.tree.attach(&mut self.stack, &mut self.doc_root, id)?;
            }
        }
        Ok(())
    }
}

impl<'a> Tree<'a> {
    /// Parses `src` as a YAML stream.
    ///
    /// Rejects duplicate mapping keys, undefined aliases and nesting deeper
    /// than [`MAX_DEPTH`], each with the line it was found on.
    ///
    /// Plain block-style YAML (what kpt, kustomize and most people write)
    /// takes a fast path ([`super::fast`]) that builds the same tree; any
    /// input it is not sure about is parsed with saphyr-parser.
    pub fn parse(src: &'a str) -> Result<Tree<'a>, Error> {
        if let Some(tree) = super::fast::parse(src) {
            return Ok(tree);
        }
        Self::parse_with_saphyr(src)
    }

    /// The fast path alone: `None` when it gives up (tests compare it with
    /// [`Tree::parse_with_saphyr`]).
    pub fn parse_fast(src: &'a str) -> Option<Tree<'a>> {
        super::fast::parse(src)
    }

    /// Parses `src` with saphyr-parser only (the reference for the fast
    /// path).
    pub fn parse_with_saphyr(src: &'a str) -> Result<Tree<'a>, Error> {
        let offsets = Offsets::new(src);
        let mut builder = Builder::new(src);
        let mut parser = Parser::new_from_str(src);
        let pos = |sp: &PSpan| (offsets.byte(sp.start.index()), offsets.byte(sp.end.index()));
        let tag_text = |t: &saphyr_parser::Tag| format!("{}{}", t.handle, t.suffix);

        while let Some(ev) = parser.next_event() {
            let (event, span) = ev.map_err(|e| {
                Error::InvalidInput(format!(
                    "invalid YAML at line {} column {}: {}",
                    e.marker().line(),
                    e.marker().col() + 1,
                    e.info()
                ))
            })?;
            let line = span.start.line() as u32;
            let (start, end) = pos(&span);
            let ev = match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
                Event::DocumentStart(_) => Ev::DocStart,
                Event::DocumentEnd => Ev::DocEnd,
                Event::Alias(anchor) => Ev::Alias(anchor),
                Event::Scalar(value, style, anchor, tag) => Ev::Scalar {
                    value,
                    style: match style {
                        ScalarStyle::Plain => Style::Plain,
                        ScalarStyle::SingleQuoted => Style::SingleQuoted,
                        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                        ScalarStyle::Literal => Style::Literal,
                        ScalarStyle::Folded => Style::Folded,
                    },
                    anchor,
                    tag: tag.as_deref().map(tag_text),
                },
                Event::MappingStart(anchor, tag) => Ev::MapStart {
                    anchor,
                    tag: tag.as_deref().map(tag_text),
                },
                Event::SequenceStart(anchor, tag) => Ev::SeqStart {
                    anchor,
                    tag: tag.as_deref().map(tag_text),
                },
                Event::MappingEnd => Ev::MapEnd,
                Event::SequenceEnd => Ev::SeqEnd,
            };
            builder.event(ev, start, end, line)?;
        }
        Ok(builder.finish())
    }

    fn push(&mut self, node: Node<'a>) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    /// Adds a finished node to the collection being built, or makes it the
    /// document's root.
    fn attach(&mut self, stack: &mut [Open], doc_root: &mut Option<NodeId>, id: NodeId) -> Result<(), Error> {
        match stack.last_mut() {
            None => *doc_root = Some(id),
            Some(Open::Seq { items, .. }) => items.push(id),
            Some(Open::Map {
                entries,
                pending_key,
                index,
                ..
            }) => match pending_key.take() {
                None => {
                    if matches!(self.nodes[id as usize].kind, Kind::Mapping(_) | Kind::Sequence(_)) {
                        // Kubernetes objects never use complex keys, and
                        // nothing downstream can address them.
                        return Err(Error::InvalidInput(format!(
                            "unsupported complex mapping key (a mapping or list used as a key) at line {}",
                            self.nodes[id as usize].line
                        )));
                    }
                    if let Kind::Scalar { value, .. } = &self.nodes[id as usize].kind {
                        let line = self.nodes[id as usize].line;
                        let key_of = |k: NodeId| match &self.nodes[k as usize].kind {
                            Kind::Scalar { value, .. } => Some((value.as_ref(), self.nodes[k as usize].line)),
                            _ => None,
                        };
                        let first = if entries.len() < 32 && index.is_none() {
                            entries
                                .iter()
                                .filter_map(|&(k, _)| key_of(k))
                                .find(|(v, _)| v == value)
                                .map(|(_, l)| l)
                        } else {
                            let index = index.get_or_insert_with(|| {
                                entries
                                    .iter()
                                    .filter_map(|&(k, _)| key_of(k))
                                    .map(|(v, l)| (v.to_string(), l))
                                    .collect()
                            });
                            index.insert(value.to_string(), line)
                        };
                        if let Some(first) = first {
                            return Err(Error::InvalidInput(format!(
                                "duplicate mapping key {value:?} at line {line} (first at line {first})"
                            )));
                        }
                    }
                    *pending_key = Some(id);
                }
                Some(key) => entries.push((key, id)),
            },
        }
        Ok(())
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node<'a> {
        &self.nodes[id as usize]
    }

    /// Follows aliases to the node they stand for.
    pub fn resolve(&self, mut id: NodeId) -> NodeId {
        while let Kind::Alias(target) = self.nodes[id as usize].kind {
            id = target;
        }
        id
    }

    /// The decoded value if `id` is a scalar (after following aliases).
    pub fn scalar(&self, id: NodeId) -> Option<&str> {
        match &self.node(self.resolve(id)).kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The string value if `id` is a scalar that resolves to a YAML string
    /// (quoted, block, tagged `!!str`, or plain and not null/bool/number).
    pub fn str(&self, id: NodeId) -> Option<&str> {
        let node = self.node(self.resolve(id));
        match &node.kind {
            Kind::Scalar { value, style } => {
                let tagged_str = node.tag() == Some("tag:yaml.org,2002:str") || node.tag() == Some("!!str");
                if *style != Style::Plain || tagged_str || super::scalar::plain_is_string(value) {
                    Some(value)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Mapping entries of `id` (after following aliases), or `None`.
    pub fn entries(&self, id: NodeId) -> Option<&[(NodeId, NodeId)]> {
        match &self.node(self.resolve(id)).kind {
            Kind::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    /// Sequence items of `id` (after following aliases), or `None`.
    pub fn items(&self, id: NodeId) -> Option<&[NodeId]> {
        match &self.node(self.resolve(id)).kind {
            Kind::Sequence(items) => Some(items),
            _ => None,
        }
    }

    /// The `(key, value)` pair for `key` in mapping `id`.
    pub fn entry(&self, id: NodeId, key: &str) -> Option<(NodeId, NodeId)> {
        self.entries(id)?
            .iter()
            .copied()
            .find(|&(k, _)| self.scalar(k) == Some(key))
    }

    /// The value for `key` in mapping `id`.
    pub fn get(&self, id: NodeId, key: &str) -> Option<NodeId> {
        self.entry(id, key).map(|(_, v)| v)
    }

    /// Follows a path of mapping keys from `id`.
    pub fn path(&self, id: NodeId, keys: &[&str]) -> Option<NodeId> {
        keys.iter().try_fold(id, |at, key| self.get(at, key))
    }

    /// Whether `key` (a mapping key node, not followed through aliases) is a
    /// merge key: a plain `<<` without a tag or tagged `!!merge`. A quoted
    /// `"<<"` is an ordinary key, for go-yaml v2 and v3 alike.
    pub fn is_merge_key(&self, key: NodeId) -> bool {
        let node = self.node(key);
        matches!(&node.kind, Kind::Scalar { value, style: Style::Plain } if value == "<<")
            && matches!(node.tag(), None | Some("!!merge" | "tag:yaml.org,2002:merge"))
    }

    /// Whether the mapping `id` (after following aliases) has a merge key.
    pub fn has_merge_key(&self, id: NodeId) -> bool {
        self.entries(id)
            .is_some_and(|entries| entries.iter().any(|&(k, _)| self.is_merge_key(k)))
    }

    /// The entries of mapping `id` (after following aliases) as a reader
    /// applying `merge` sees them: merge keys expanded, each key once. `None`
    /// when `id` is not a mapping.
    ///
    /// Keys are compared by their decoded text. Entries keep the position
    /// where their key was first set; [`MergedEntry::merged`] tells which
    /// ones come from a merged mapping.
    ///
    /// # Errors
    /// When a merge key's value is not a mapping or a list of mappings
    /// (both go-yaml v2 and v3 refuse that), or merges nest or expand too
    /// far.
    pub fn merged_entries(&self, id: NodeId, merge: Merge) -> Result<Option<Vec<MergedEntry>>, Error> {
        let id = self.resolve(id);
        if self.entries(id).is_none() {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut budget = super::scalar::MAX_EXPANDED_NODES;
        self.merge_into(id, merge, false, &mut out, &mut budget, 0)?;
        Ok(Some(out))
    }

    fn merge_into(
        &self,
        id: NodeId,
        merge: Merge,
        merged: bool,
        out: &mut Vec<MergedEntry>,
        budget: &mut usize,
        depth: usize,
    ) -> Result<(), Error> {
        let line = self.node(id).line;
        if depth > MAX_DEPTH {
            return Err(Error::InvalidInput(format!(
                "YAML merge keys (`<<`) near line {line} nest too deeply"
            )));
        }
        let entries = self.entries(id).unwrap_or_default();
        let mut sources: Vec<NodeId> = Vec::new();
        for &(key, value) in entries {
            if *budget == 0 {
                return Err(Error::InvalidInput(format!(
                    "YAML merge keys (`<<`) near line {line} expand to too many entries"
                )));
            }
            *budget -= 1;
            if self.is_merge_key(key) {
                sources = self.merge_sources(value)?;
                if merge == Merge::SourceOrder {
                    // go-yaml v2 applies a merged list last to first, each
                    // assignment overwriting what is there.
                    for &source in sources.iter().rev() {
                        self.merge_into(source, merge, true, out, budget, depth + 1)?;
                    }
                }
                continue;
            }
            let text = self.scalar(key);
            let existing = out.iter_mut().find(|e| self.scalar(e.key) == text);
            match (existing, merge) {
                (Some(e), Merge::SourceOrder) => {
                    *e = MergedEntry { key, value, merged };
                }
                (Some(_), Merge::ExplicitFirst) => {}
                (None, _) => out.push(MergedEntry { key, value, merged }),
            }
        }
        if merge == Merge::ExplicitFirst {
            // Explicit keys first (done above), then the merged mappings in
            // order, each adding only keys not set yet.
            for source in sources {
                self.merge_into(source, merge, true, out, budget, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The mappings a merge key's value names, in source order.
    fn merge_sources(&self, value: NodeId) -> Result<Vec<NodeId>, Error> {
        let bad = || {
            Error::InvalidInput(format!(
                "the YAML merge key (`<<`) at line {} needs a mapping or a list of mappings",
                self.node(value).line
            ))
        };
        let resolved = self.resolve(value);
        match &self.node(resolved).kind {
            Kind::Mapping(_) => Ok(vec![resolved]),
            Kind::Sequence(items) => items
                .iter()
                .map(|&i| {
                    let i = self.resolve(i);
                    matches!(self.node(i).kind, Kind::Mapping(_))
                        .then_some(i)
                        .ok_or_else(bad)
                })
                .collect(),
            _ => Err(bad()),
        }
    }

    /// The value for `key` in mapping `id` as a reader applying `merge`
    /// sees it, with whether it comes from a merged mapping.
    ///
    /// # Errors
    /// As [`Tree::merged_entries`].
    pub fn merged_get(&self, id: NodeId, key: &str, merge: Merge) -> Result<Option<MergedEntry>, Error> {
        if !self.has_merge_key(id) {
            return Ok(self.entry(id, key).map(|(key, value)| MergedEntry {
                key,
                value,
                merged: false,
            }));
        }
        Ok(self
            .merged_entries(id, merge)?
            .and_then(|entries| entries.into_iter().find(|e| self.scalar(e.key) == Some(key))))
    }

    /// Follows a path of mapping keys from `id` as a reader applying
    /// `merge` sees them; the entry found is `merged` when any step came
    /// from a merged mapping.
    ///
    /// # Errors
    /// As [`Tree::merged_entries`].
    pub fn merged_path(&self, id: NodeId, keys: &[&str], merge: Merge) -> Result<Option<MergedEntry>, Error> {
        let mut found: Option<MergedEntry> = None;
        let mut at = id;
        for key in keys {
            let Some(mut entry) = self.merged_get(at, key, merge)? else {
                return Ok(None);
            };
            entry.merged |= found.is_some_and(|f| f.merged);
            at = entry.value;
            found = Some(entry);
        }
        Ok(found)
    }

    /// Follows a path of mapping keys from `id` and returns the value every
    /// reader agrees on: go-yaml v2 (kubectl, Argo CD) and v3 (kustomize,
    /// kpt) read merge keys differently when a key is set both explicitly
    /// and through a merge.
    ///
    /// # Errors
    /// When the readers would find different values (the message names the
    /// path), or as [`Tree::merged_entries`].
    pub fn agreed_path(&self, id: NodeId, keys: &[&str]) -> Result<Option<NodeId>, Error> {
        let v2 = self.merged_path(id, keys, Merge::SourceOrder)?;
        let v3 = self.merged_path(id, keys, Merge::ExplicitFirst)?;
        let (v2, v3) = (v2.map(|e| self.resolve(e.value)), v3.map(|e| self.resolve(e.value)));
        let same = match (v2, v3) {
            (Some(a), Some(b)) => a == b || self.scalar(a).is_some_and(|s| Some(s) == self.scalar(b)),
            (a, b) => a == b,
        };
        if same {
            Ok(v2)
        } else {
            Err(Error::InvalidInput(format!(
                "{} near line {} is set both explicitly and through a YAML merge key (`<<`), and kubectl and kustomize would read different values; set it once",
                keys.join("."),
                v2.or(v3).map_or(self.node(id).line, |n| self.node(n).line)
            )))
        }
    }

    /// Whether the node is a null scalar (`~`, `null`, or empty).
    pub fn is_null(&self, id: NodeId) -> bool {
        let node = self.node(self.resolve(id));
        matches!(&node.kind, Kind::Scalar { value, style: Style::Plain }
            if node.tag().is_none() && super::scalar::is_null(value))
    }

    /// The source text of a node with an exact span (scalars, flow nodes).
    pub fn text(&self, id: NodeId) -> &'a str {
        let node = self.node(id);
        &self.src[node.start..node.end]
    }

    /// 0-based column (in bytes) of a byte offset.
    pub fn column(&self, offset: usize) -> usize {
        offset - self.src[..offset].rfind('\n').map_or(0, |i| i + 1)
    }
}

/// The offset just past the quoted scalar that starts at `start` (its
/// closing quote), if there is one.
fn quoted_end(src: &str, start: usize) -> Option<usize> {
    let bytes = src.as_bytes();
    let quote = *bytes.get(start)?;
    if !matches!(quote, b'\'' | b'"') {
        return None;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Skips `&anchor` and `!tag` properties (and the blanks after them) at the
/// start of a scalar's span. A property ends at a blank or at a flow
/// indicator (`&a{x: 1}` is the anchor `a` on a flow mapping; `"` is an
/// anchor character).
fn skip_properties(src: &str, mut start: usize, end: usize) -> usize {
    let bytes = src.as_bytes();
    while start < end && (bytes[start] == b'&' || bytes[start] == b'!') {
        while start < end
            && !bytes[start].is_ascii_whitespace()
            && !matches!(bytes[start], b',' | b'[' | b']' | b'{' | b'}')
        {
            start += 1;
        }
        while start < end && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_bytes_even_after_non_ascii_text() {
        let src = "a: \"héllo ✓\"\nb: plain\n";
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs[0].root;
        let b = tree.get(root, "b").unwrap();
        assert_eq!(tree.text(b), "plain");
        let a = tree.get(root, "a").unwrap();
        assert_eq!(tree.text(a), "\"héllo ✓\"");
    }

    #[test]
    fn flow_collections_have_exact_spans() {
        let src = "m: {x: 1, y: [a, b]}\n";
        let tree = Tree::parse(src).unwrap();
        let m = tree.get(tree.docs[0].root, "m").unwrap();
        assert_eq!(tree.text(m), "{x: 1, y: [a, b]}");
        assert!(tree.node(m).flow);
        let y = tree.get(m, "y").unwrap();
        assert_eq!(tree.text(y), "[a, b]");
    }

    #[test]
    fn block_mapping_starts_at_first_key() {
        let src = "items:\n- # head\n  kind: X\n  metadata:\n    name: n\n";
        let tree = Tree::parse(src).unwrap();
        let items = tree.get(tree.docs[0].root, "items").unwrap();
        let first = tree.items(items).unwrap()[0];
        assert_eq!(&src[tree.node(first).start..][..4], "kind");
        assert!(!tree.node(first).flow);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_line() {
        let err = Tree::parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(
            err.to_string().contains("duplicate mapping key \"a\" at line 3"),
            "{err}"
        );
    }

    #[test]
    fn complex_keys_are_rejected() {
        let err = Tree::parse("{a: 1, {b: 2}}\n").unwrap_err();
        assert!(err.to_string().contains("unsupported complex mapping key"), "{err}");
        assert!(Tree::parse("? [a, b]\n: 1\n").is_err());
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let src = "[".repeat(1000) + &"]".repeat(1000);
        let err = Tree::parse(&src).unwrap_err();
        // saphyr-parser's own recursion limit or ours, whichever comes first.
        let msg = err.to_string();
        assert!(
            msg.contains("nesting deeper") || msg.contains("recursion limit"),
            "{msg}"
        );
    }

    #[test]
    fn anchored_scalars_start_at_their_text() {
        let src = "x: &a 1\ny: *a\n";
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs[0].root;
        assert_eq!(tree.text(tree.get(root, "x").unwrap()), "1");
        assert_eq!(tree.scalar(tree.get(root, "y").unwrap()), Some("1"));
    }

    #[test]
    fn a_property_ends_at_a_flow_indicator() {
        let src = "a: &x\"{k: v}\nb: &y[1]\n";
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs[0].root;
        for (key, text) in [("a", "{k: v}"), ("b", "[1]")] {
            let node = tree.get(root, key).unwrap();
            assert!(tree.node(node).flow, "{key}");
            assert_eq!(tree.text(node), text);
        }
    }

    #[test]
    fn anchored_and_tagged_collections_start_at_their_content() {
        let src = "a: &c {x: 1}\nb: !!seq [1]\nc: &m\n  y: 2\nd: &s\n- 3\n";
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs[0].root;
        let node = |k| tree.node(tree.get(root, k).unwrap());
        assert!(node("a").flow && node("b").flow && !node("c").flow);
        assert_eq!(tree.text(tree.get(root, "a").unwrap()), "{x: 1}");
        assert_eq!(tree.text(tree.get(root, "b").unwrap()), "[1]");
        assert_eq!(&src[node("c").start..][..4], "y: 2");
        assert_eq!(&src[node("d").start..][..3], "- 3");
    }

    #[test]
    fn streams_skip_empty_documents() {
        let tree = Tree::parse("---\na: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(tree.docs.len(), 2);
    }

    /// `key=value` pairs of a mapping as `merge` reads it.
    fn read(src: &str, path: &[&str], merge: Merge) -> Vec<String> {
        let tree = Tree::parse(src).unwrap();
        let map = tree.path(tree.docs[0].root, path).unwrap();
        tree.merged_entries(map, merge)
            .unwrap()
            .unwrap()
            .iter()
            .map(|e| {
                let m = if e.merged { "<" } else { "" };
                format!(
                    "{}={}{m}",
                    tree.scalar(e.key).unwrap(),
                    tree.scalar(e.value).unwrap_or("{..}")
                )
            })
            .collect()
    }

    #[test]
    fn merge_keys_read_like_go_yaml_v2_and_v3() {
        // The cases checked against kubectl 1.32 (`kubectl annotate --local
        // -o json`): a merge after an explicit key overrides it; a merged
        // list's earlier mappings win; later explicit keys win.
        let src = "b1: &b1 {a: 1, c: 1}\nb2: &b2 {a: 2, d: 2}\nm: {a: 0, <<: [*b1, *b2], c: 9}\n";
        assert_eq!(read(src, &["m"], Merge::SourceOrder), ["a=1<", "d=2<", "c=9"]);
        assert_eq!(read(src, &["m"], Merge::ExplicitFirst), ["a=0", "c=9", "d=2<"]);
        let nested = "b: &b {a: 1, <<: {z: 1, a: 7}}\nm: {<<: *b}\n";
        assert_eq!(read(nested, &["m"], Merge::SourceOrder), ["a=7<", "z=1<"]);
        assert_eq!(read(nested, &["m"], Merge::ExplicitFirst), ["a=1<", "z=1<"]);
        // A quoted "<<" is an ordinary key.
        assert_eq!(read("m: {'<<': {a: 1}}\n", &["m"], Merge::SourceOrder).len(), 1);
    }

    #[test]
    fn merge_keys_need_mappings() {
        for src in [
            "m: {<<: ~}\n",
            "m: {<<: 1}\n",
            "m: {<<: [1]}\n",
            "a: &a [x]\nm: {<<: *a}\n",
        ] {
            let tree = Tree::parse(src).unwrap();
            let m = tree.get(tree.docs[0].root, "m").unwrap();
            let err = tree.merged_entries(m, Merge::SourceOrder).unwrap_err();
            assert!(
                err.to_string().contains("needs a mapping or a list of mappings"),
                "{src}: {err}"
            );
        }
        let tree = Tree::parse("m: {<<: []}\n").unwrap();
        let m = tree.get(tree.docs[0].root, "m").unwrap();
        assert_eq!(tree.merged_entries(m, Merge::SourceOrder).unwrap(), Some(vec![]));
    }

    #[test]
    fn self_referencing_merges_stop() {
        let tree = Tree::parse("m: &m {a: 1, <<: *m}\n").unwrap();
        let m = tree.get(tree.docs[0].root, "m").unwrap();
        assert!(tree.merged_entries(m, Merge::ExplicitFirst).is_err());
    }

    #[test]
    fn paths_through_merge_keys() {
        let src = "base: &base {name: web, namespace: apps}\nmetadata: {<<: *base}\n";
        let tree = Tree::parse(src).unwrap();
        let root = tree.docs[0].root;
        assert_eq!(tree.path(root, &["metadata", "name"]), None);
        let found = tree
            .merged_path(root, &["metadata", "name"], Merge::SourceOrder)
            .unwrap()
            .unwrap();
        assert!(found.merged);
        assert_eq!(tree.scalar(found.value), Some("web"));
        let agreed = tree.agreed_path(root, &["metadata", "namespace"]).unwrap().unwrap();
        assert_eq!(tree.scalar(agreed), Some("apps"));

        let ambiguous = Tree::parse("metadata: {name: a, <<: {name: b}}\n").unwrap();
        let err = ambiguous
            .agreed_path(ambiguous.docs[0].root, &["metadata", "name"])
            .unwrap_err();
        assert!(err.to_string().contains("metadata.name near line 1"), "{err}");
    }
}
