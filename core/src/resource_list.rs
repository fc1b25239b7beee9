//! Reading the input (a ResourceList, or a plain stream for kustomize's
//! legacy exec plugins and `generate`) and writing the output by editing the
//! input in place.
//!
//! A plain stream is read as kubectl and Argo CD read one
//! ([`stream_resources`]): a document whose `items` is a list is a list of
//! resources, whatever its kind, and stands for its items (`kind: List`
//! with no items stands for none). The items are processed like any other
//! resource, edited in place inside their list, and removed from it when a
//! promotion is replaced; the list document itself stays in a YAML output
//! (kustomize reads lists the same way), and JSON output
//! ([`crate::OutputFormat::JsonLines`]) writes its items one per line. A
//! ResourceList's items are never flattened: kpt and kustomize do not send
//! lists there.

use serde_json::Value;

use crate::krm_result::{File, KrmResult, ResourceRef};
use crate::yaml::edit::dash_column;
use crate::yaml::tree::{Kind, Style};
use crate::yaml::{Edits, Merge, NodeId, Tree, emit};
use crate::{Error, Framing};

/// One KRM resource of the input.
#[derive(Debug, Clone)]
pub struct Item {
    /// The resource's root node.
    pub node: NodeId,
    /// Position among the input's items (0-based).
    pub index: usize,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// The file it came from (kpt's path/index annotations), if known.
    pub file: Option<File>,
}

impl Item {
    /// The `resourceRef` for results about this item.
    pub fn resource_ref(&self) -> ResourceRef {
        ResourceRef {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// A result about this item.
    pub fn result(&self, severity: crate::Severity, message: impl Into<String>) -> KrmResult {
        let mut r = KrmResult::new(severity, message);
        r.resource_ref = Some(self.resource_ref());
        r.file = self.file.clone();
        r
    }

    /// `kind/namespace/name` (or `kind/name`), for messages.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }
}

/// A resource of a plain YAML stream: a document, or an item of a list
/// document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamResource {
    /// The resource's root node.
    pub node: NodeId,
    /// The document it is in (an index into [`Tree::docs`]).
    pub doc: usize,
    /// For an item of a list document: the list's `items` sequence and the
    /// item's position in it.
    pub list: Option<(NodeId, usize)>,
}

impl StreamResource {
    /// How messages name the resource: `document 3 (line 12)`, or
    /// `document 3 items[1] (line 15)` inside a list.
    pub fn describe(&self, tree: &Tree<'_>) -> String {
        let line = tree.node(self.node).line;
        match self.list {
            None => format!("document {} (line {line})", self.doc + 1),
            Some((_, pos)) => format!("document {} items[{pos}] (line {line})", self.doc + 1),
        }
    }
}

/// Whether `node` is a list document as kubectl and Argo CD read one: a
/// mapping whose `items` is a list, whatever its kind (`Some(Some(items))`),
/// or a `*List` whose `items` is null (`Some(None)`: no resources). A
/// `*List` without `items` is not a list: it fails as a resource would.
fn list_items(tree: &Tree<'_>, node: NodeId) -> Result<Option<Option<NodeId>>, Error> {
    if tree.entries(node).is_none() {
        return Ok(None);
    }
    let Some(entry) = tree.merged_get(node, "items", Merge::SourceOrder)? else {
        return Ok(None);
    };
    let items = entry.value;
    let is_list = tree.items(items).is_some();
    let empty_list = tree.is_null(items)
        && tree
            .get(node, "kind")
            .and_then(|k| tree.str(k))
            .is_some_and(|k| k.ends_with("List"));
    if !is_list && !empty_list {
        return Ok(None);
    }
    // (`agreed_path` fails when kustomize would read other items.)
    tree.agreed_path(node, &["items"])?;
    if entry.merged {
        return Err(Error::InvalidInput(format!(
            "the list at line {} takes its items from a YAML merge key (`<<`); write them explicitly",
            tree.node(node).line
        )));
    }
    Ok(Some(is_list.then_some(tree.resolve(items))))
}

/// The resources of a plain YAML stream, as kubectl and Argo CD read it:
/// every document, except that a list document (one whose `items` is a
/// list, whatever its kind, checked with kubectl 1.32) stands for its items,
/// and a `*List` whose `items` is null or empty for none.
///
/// # Errors
/// A list inside a list (kubectl refuses it too), or a list whose items
/// come through a merge key.
pub fn stream_resources(tree: &Tree<'_>) -> Result<Vec<StreamResource>, Error> {
    let mut out = Vec::with_capacity(tree.docs.len());
    for (doc, d) in tree.docs.iter().enumerate() {
        match list_items(tree, d.root)? {
            None => out.push(StreamResource {
                node: d.root,
                doc,
                list: None,
            }),
            Some(None) => {}
            Some(Some(seq)) => {
                for (pos, &item) in tree.items(seq).unwrap_or_default().iter().enumerate() {
                    let resource = StreamResource {
                        node: tree.resolve(item),
                        doc,
                        list: Some((seq, pos)),
                    };
                    if list_items(tree, resource.node)?.is_some() {
                        return Err(Error::InvalidInput(format!(
                            "{} is a list inside a list, which kubectl refuses too",
                            resource.describe(tree)
                        )));
                    }
                    out.push(resource);
                }
            }
        }
    }
    Ok(out)
}

/// The parsed input.
#[derive(Debug)]
pub struct Input<'a> {
    /// The YAML tree of the whole input.
    pub tree: Tree<'a>,
    /// How the input is framed.
    pub framing: Framing,
    /// The ResourceList's root mapping (`resource-list` framing only).
    pub root: Option<NodeId>,
    /// The resources, in input order.
    pub items: Vec<Item>,
    /// The functionConfig node, if any (`resource-list` framing only).
    pub function_config: Option<NodeId>,
    /// Where each item is (plain streams only; parallel to `items`).
    stream: Vec<StreamResource>,
}

impl<'a> Input<'a> {
    /// Parses and validates `src`.
    pub fn parse(src: &'a str, framing: Framing) -> Result<Input<'a>, Error> {
        let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
        let tree = Tree::parse(src)?;
        let mut input = Input {
            tree,
            framing,
            root: None,
            items: Vec::new(),
            function_config: None,
            stream: Vec::new(),
        };
        let nodes: Vec<NodeId> = match framing {
            Framing::ResourceList => {
                let root = input.resource_list_root()?;
                input.root = Some(root);
                input.function_config = input.tree.get(root, "functionConfig");
                match input.tree.get(root, "items") {
                    None => Vec::new(),
                    Some(items) if input.tree.is_null(items) => Vec::new(),
                    Some(items) => input
                        .tree
                        .items(items)
                        .ok_or_else(|| {
                            Error::InvalidInput(format!(
                                "ResourceList.items at line {} is not a list",
                                input.tree.node(items).line
                            ))
                        })?
                        .to_vec(),
                }
            }
            Framing::Stream => {
                input.stream = stream_resources(&input.tree)?;
                input.stream.iter().map(|r| r.node).collect()
            }
        };
        for (index, node) in nodes.into_iter().enumerate() {
            let what = match input.stream.get(index) {
                Some(resource) => resource.describe(&input.tree),
                None => format!("items[{index}] (line {})", input.tree.node(node).line),
            };
            let item = input.item(index, node, what)?;
            input.items.push(item);
        }
        Ok(input)
    }

    fn resource_list_root(&self) -> Result<NodeId, Error> {
        let tree = &self.tree;
        let doc = match tree.docs.as_slice() {
            [] => {
                return Err(Error::InvalidInput(
                    "the input is empty; expected a ResourceList (kind: ResourceList, apiVersion: config.kubernetes.io/v1)"
                        .into(),
                ));
            }
            [doc] => *doc,
            [_, second, ..] => {
                return Err(Error::InvalidInput(format!(
                    "the input holds {} YAML documents (the second at line {}); expected one ResourceList",
                    tree.docs.len(),
                    tree.node(second.root).line
                )));
            }
        };
        let root = doc.root;
        if tree.entries(root).is_none() {
            return Err(Error::InvalidInput(format!(
                "the document at line {} is not a mapping; expected a ResourceList",
                tree.node(root).line
            )));
        }
        let kind = tree.get(root, "kind").and_then(|k| tree.str(k));
        if kind != Some("ResourceList") {
            return Err(Error::InvalidInput(match kind {
                Some(k) => format!("expected kind ResourceList, got kind {k:?}"),
                None => "the document has no kind; expected kind ResourceList".into(),
            }));
        }
        let api = tree.get(root, "apiVersion").and_then(|a| tree.str(a));
        match api {
            Some(a) if a.starts_with("config.kubernetes.io/") => Ok(root),
            Some(a) => Err(Error::InvalidInput(format!(
                "ResourceList apiVersion {a:?} is not config.kubernetes.io/v1 (or another config.kubernetes.io version)"
            ))),
            None => Err(Error::InvalidInput("ResourceList has no apiVersion".into())),
        }
    }

    /// Reads the identity of the resource at `node`, described as `what` in
    /// messages. Fields given through merge keys count (as every YAML
    /// reader sees them); one that readers would read differently is an
    /// error.
    fn item(&self, index: usize, node: NodeId, what: String) -> Result<Item, Error> {
        let tree = &self.tree;
        if tree.entries(node).is_none() {
            return Err(Error::InvalidInput(format!("{what} is not a mapping")));
        }
        let path_of = |path: &[&str]| {
            tree.agreed_path(node, path)
                .map_err(|e| Error::InvalidInput(format!("{what}: {}", crate::strip_kind(e))))
        };
        let field = |path: &[&str]| -> Result<String, Error> {
            let value =
                path_of(path)?.ok_or_else(|| Error::InvalidInput(format!("{what} has no {}", path.join("."))))?;
            match tree.str(value) {
                Some(s) if !s.is_empty() => Ok(s.to_string()),
                _ => Err(Error::InvalidInput(format!(
                    "{what}: {} must be a non-empty string",
                    path.join(".")
                ))),
            }
        };
        let api_version = field(&["apiVersion"])?;
        let kind = field(&["kind"])?;
        let metadata = path_of(&["metadata"])?;
        if metadata.is_none_or(|m| tree.entries(m).is_none()) {
            return Err(Error::InvalidInput(format!("{what} ({kind}) has no metadata mapping")));
        }
        let name = field(&["metadata", "name"])?;
        let namespace = path_of(&["metadata", "namespace"])?
            .and_then(|n| tree.str(n))
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let annotation = |key: &str| -> Result<Option<String>, Error> {
            Ok(path_of(&["metadata", "annotations", key])?
                .and_then(|v| tree.scalar(v))
                .map(str::to_string))
        };
        let path = match annotation("internal.config.kubernetes.io/path")? {
            Some(p) => Some(p),
            None => annotation("config.kubernetes.io/path")?,
        };
        let file = match path {
            Some(path) => {
                let index = match annotation("internal.config.kubernetes.io/index")? {
                    Some(i) => Some(i),
                    None => annotation("config.kubernetes.io/index")?,
                };
                Some(File {
                    path,
                    index: index.and_then(|i| i.parse().ok()).unwrap_or(0),
                })
            }
            None => None,
        };
        Ok(Item {
            node,
            index,
            api_version,
            kind,
            name,
            namespace,
            file,
        })
    }

    /// Writes the output: the input with `edits` applied, the items at
    /// `removed` (indexes into [`Input::items`]) dropped, `new_items`
    /// appended, and (for a ResourceList) `results` replacing any results
    /// the input carried.
    pub fn render(self, mut edits: Edits, removed: &[usize], new_items: &[Value], results: &[KrmResult]) -> String {
        let tree = &self.tree;
        let src = tree.src;
        self.remove_items(&mut edits, removed, new_items.is_empty());
        match (self.framing, self.root) {
            (Framing::Stream, _) | (_, None) => {
                if !new_items.is_empty() && !src.is_empty() && !src.ends_with('\n') {
                    keep_block_scalar_at(tree, src.len(), &mut edits);
                }
                drop(self);
                let mut out = edits.apply(src);
                for item in new_items {
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str("---\n");
                    out.push_str(&emit::block(item, 0));
                }
                out
            }
            (Framing::ResourceList, Some(root)) => {
                if tree.node(root).flow {
                    self.render_flow(root, edits, new_items, results)
                } else {
                    self.render_block(root, &mut edits, new_items, results);
                    // The tree is no longer needed: free it before the output
                    // is built (inside wasm, freed memory is reused for it).
                    drop(self);
                    edits.apply(src)
                }
            }
        }
    }

    /// Records the deletion of the items at `removed`.
    fn remove_items(&self, edits: &mut Edits, removed: &[usize], nothing_added: bool) {
        if removed.is_empty() {
            return;
        }
        let tree = &self.tree;
        let src = tree.src;
        let gone = |i: usize| removed.contains(&i);
        match (self.framing, self.root) {
            (Framing::ResourceList, Some(root)) => {
                let (key, seq) = tree
                    .entry(root, "items")
                    .expect("items exist when there are items to remove");
                crate::yaml::edit::remove_items(edits, tree, seq, removed);
                if !tree.node(seq).flow && nothing_added && self.items.iter().all(|i| gone(i.index)) {
                    edits.insert(tree.node(key).end + 1, " []");
                }
            }
            _ => {
                // Whole documents go; items of a list document leave their
                // list (an emptied block list becomes `items: []`).
                let mut lists: Vec<(NodeId, usize, Vec<usize>)> = Vec::new();
                let mut docs_gone = Vec::new();
                for &i in removed {
                    let resource = self.stream[i];
                    match resource.list {
                        None => docs_gone.push(resource.doc),
                        Some((seq, pos)) => match lists.iter_mut().find(|(s, _, _)| *s == seq) {
                            Some((_, _, positions)) => positions.push(pos),
                            None => lists.push((seq, resource.doc, vec![pos])),
                        },
                    }
                }
                let docs = &tree.docs;
                for (pos, doc) in docs.iter().enumerate() {
                    if docs_gone.contains(&pos) {
                        let end = docs.get(pos + 1).map_or(src.len(), |d| d.start);
                        edits.replace(doc.start, end, "");
                    }
                }
                for (seq, doc, positions) in lists {
                    crate::yaml::edit::remove_items(edits, tree, seq, &positions);
                    let all = tree.items(seq).is_some_and(|items| items.len() == positions.len());
                    if all
                        && !tree.node(seq).flow
                        && let Some((key, _)) = tree.entry(docs[doc].root, "items")
                    {
                        edits.insert(tree.node(key).end + 1, " []");
                    }
                }
            }
        }
    }

    fn render_block(&self, root: NodeId, edits: &mut Edits, new_items: &[Value], results: &[KrmResult]) {
        let tree = &self.tree;
        let src = tree.src;
        let entries = tree.entries(root).expect("root is a mapping");
        let root_end = tree.node(root).end;
        let kept = std::cell::Cell::new(false);
        let newline_at = |at: usize, edits: &mut Edits| {
            if at == 0 || src.as_bytes()[at - 1] == b'\n' {
                ""
            } else {
                if !kept.replace(true) {
                    keep_block_scalar_at(tree, at, edits);
                }
                "\n"
            }
        };

        if !new_items.is_empty() {
            match tree.entry(root, "items") {
                Some((_, items)) if tree.items(items).is_some_and(|i| !i.is_empty()) && !tree.node(items).flow => {
                    let first = tree.items(items).expect("a sequence")[0];
                    let dash = dash_column(src, tree.node(first).start);
                    let at = tree.node(items).end;
                    let mut text = newline_at(at, edits).to_string();
                    text.extend(std::iter::repeat_n(' ', dash));
                    text.push_str(&emit::block_list(new_items, dash));
                    edits.insert(at, text);
                }
                Some((_, items)) if tree.node(items).flow && !tree.items(items).is_some_and(|i| i.is_empty()) => {
                    let node = tree.node(items);
                    let json: Vec<String> = new_items.iter().map(|v| v.to_string()).collect();
                    edits.insert(node.end - 1, format!(", {}", json.join(", ")));
                }
                Some((key, items)) => {
                    // `items: []`, `items:` or `items: ~`: write a block list.
                    let col = tree.column(tree.node(key).start);
                    let mut text = String::from("\n");
                    text.extend(std::iter::repeat_n(' ', col));
                    text.push_str(emit::block_list(new_items, col).trim_end_matches('\n'));
                    let (start, end) = if tree.node(items).flow {
                        let n = tree.node(items);
                        let mut s = n.start;
                        while s > 0 && src.as_bytes()[s - 1] == b' ' {
                            s -= 1;
                        }
                        (s, n.end)
                    } else {
                        crate::yaml::edit::null_span(tree, items)
                    };
                    edits.replace(start, end, text);
                }
                None => {
                    let text = format!(
                        "{}items:\n{}",
                        newline_at(root_end, edits),
                        emit::block_list(new_items, 0)
                    );
                    edits.insert(root_end, text);
                }
            }
        }

        // Results are output only: drop what the input carried.
        if let Some(pos) = entries.iter().position(|&(k, _)| tree.scalar(k) == Some("results")) {
            let start = tree.node(entries[pos].0).start;
            let end = entries.get(pos + 1).map_or(root_end, |&(k, _)| tree.node(k).start);
            edits.replace(start, end, "");
        }
        let mut text = newline_at(root_end, edits).to_string();
        text.push_str("results:");
        if results.is_empty() {
            text.push_str(" []\n");
        } else {
            text.push('\n');
            // One result at a time: thousands of results never exist as
            // JSON values all at once.
            for result in results {
                let value = serde_json::to_value(result).expect("results serialize");
                text.push_str(&emit::block_list(std::slice::from_ref(&value), 0));
            }
        }
        edits.insert(root_end, text);
    }

    fn render_flow(&self, root: NodeId, mut edits: Edits, new_items: &[Value], results: &[KrmResult]) -> String {
        let tree = &self.tree;
        let entries = tree.entries(root).expect("root is a mapping");
        let close = tree.node(root).end - 1;
        let json_list = |values: &[Value]| values.iter().map(Value::to_string).collect::<Vec<_>>().join(", ");
        if !new_items.is_empty() {
            match tree.get(root, "items") {
                Some(items) if tree.items(items).is_some() => {
                    let node = tree.node(items);
                    let (at, sep) = flow_append(tree.src, node.end - 1);
                    edits.replace(at, node.end - 1, format!("{sep}{}", json_list(new_items)));
                }
                Some(items) => {
                    let node = tree.node(items);
                    edits.replace(node.start, node.end, format!("[{}]", json_list(new_items)));
                }
                None => {
                    let (at, sep) = flow_append(tree.src, close);
                    edits.replace(at, close, format!("{sep}\"items\": [{}]", json_list(new_items)));
                }
            }
        }
        if let Some(pos) = entries.iter().position(|&(k, _)| tree.scalar(k) == Some("results")) {
            // Remove `"results": [...]` with the comma that separates it.
            let (k, v) = entries[pos];
            // An empty value (`"results":}`) sits at its colon: the entry
            // ends after the colon then.
            let value_end = crate::yaml::edit::null_span(tree, v).1;
            let (start, end) = match entries.get(pos + 1) {
                Some(&(next, _)) => (tree.node(k).start, tree.node(next).start),
                None if pos > 0 => (tree.node(entries[pos - 1].1).end, value_end),
                None => (tree.node(k).start, value_end),
            };
            edits.replace(start, end, "");
        }
        let results: Vec<String> = results
            .iter()
            .map(|r| serde_json::to_string(r).expect("results serialize"))
            .collect();
        // (A removed last entry takes its leading comma along, so the
        // input's text before `close` still tells which separator fits.)
        let (at, sep) = flow_append(tree.src, close);
        edits.replace(at, close, format!("{sep}\"results\": [{}]", results.join(", ")));
        edits.apply(tree.src)
    }
}

/// Where a new last entry goes in the flow collection whose closing bracket
/// is at `close`, and the separator to write before it: a trailing comma
/// (`[a, ]`) is replaced, so that a second run writes the same text; after
/// the opening bracket no separator is needed.
fn flow_append(src: &str, close: usize) -> (usize, &'static str) {
    let before = src[..close].trim_end();
    match before.as_bytes().last() {
        Some(b',') => (before.len() - 1, ", "),
        Some(b'[' | b'{') => (close, ""),
        _ => (close, ", "),
    }
}

/// Text is about to follow a line break inserted at `at`, where the input
/// ends without one: a `|` or `>` block scalar that ends there would take
/// that line break into its value (clip and keep chomping). Records the
/// strip indicator (`|-`) on it, which reads the same value as before.
fn keep_block_scalar_at(tree: &Tree<'_>, at: usize, edits: &mut Edits) {
    let src = tree.src;
    for node in &tree.nodes {
        let Kind::Scalar { style, .. } = &node.kind else {
            continue;
        };
        if !matches!(style, Style::Literal | Style::Folded) || node.end != at || at < node.start {
            continue;
        }
        // A tagged or anchored block scalar (`data: !t |`) starts at its
        // indicator, not at its content; the content starts on the next line.
        let content = if src[node.start..at].starts_with(['|', '>', '!', '&']) {
            match src[node.start..at].find('\n') {
                Some(i) => node.start + i + 1,
                None => continue,
            }
        } else {
            node.start
        };
        let indent = if content == node.start {
            tree.column(node.start)
        } else {
            src[content..at].bytes().take_while(|&b| b == b' ').count()
        };
        // Only a last content line (longer than the indentation) without
        // its line break takes the new one.
        let body = &src[content..at];
        let last_line = body
            .rfind('\n')
            .map_or(body.len() + tree.column(content), |i| body.len() - i - 1);
        if last_line <= indent {
            continue;
        }
        // The indicator is on the line before the content.
        let line_end = src[..content].rfind('\n').unwrap_or(0);
        let line_begin = src[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let line = &src[line_begin..line_end];
        let line = line.find(" #").map_or(line, |i| &line[..i]);
        let Some(i) = line.rfind(['|', '>']) else { continue };
        let indicator = line_begin + i;
        let rest = &src[indicator + 1..line_end];
        let chomp = rest
            .bytes()
            .take_while(|b| matches!(b, b'-' | b'+' | b'0'..=b'9'))
            .collect::<Vec<_>>();
        if chomp.contains(&b'-') {
            continue;
        }
        match chomp.iter().position(|&b| b == b'+') {
            Some(p) => edits.replace(indicator + 1 + p, indicator + 2 + p, "-"),
            None => edits.insert(indicator + 1, "-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(src: &str) -> Result<Vec<String>, String> {
        let tree = Tree::parse(src).unwrap();
        stream_resources(&tree)
            .map(|rs| rs.iter().map(|r| r.describe(&tree)).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lists_are_read_as_kubectl_reads_them() {
        let cm = "{apiVersion: v1, kind: ConfigMap, metadata: {name: a}}";
        // Any kind with an `items` list is a list (kubectl 1.32 agrees).
        assert_eq!(
            resources(&format!("kind: Whatever\nitems:\n- {cm}\n- {cm}\n---\n{cm}\n")),
            Ok(vec![
                "document 1 items[0] (line 3)".to_string(),
                "document 1 items[1] (line 4)".to_string(),
                "document 2 (line 6)".to_string(),
            ])
        );
        // `*List` with null items: nothing; without items: a resource.
        assert_eq!(resources("kind: ConfigMapList\nitems: ~\n"), Ok(vec![]));
        assert_eq!(resources("kind: List\n").unwrap().len(), 1);
        // A scalar `items` of another kind is just a field.
        assert_eq!(resources("kind: Widget\nitems: 3\n").unwrap().len(), 1);
        assert!(
            resources(&format!("kind: List\n<<: {{items: [{cm}]}}\n"))
                .unwrap_err()
                .contains("takes its items from a YAML merge key")
        );
    }

    #[test]
    fn removed_items_leave_their_list() {
        let src = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
        let input = Input::parse(src, Framing::Stream).unwrap();
        assert_eq!(input.items.len(), 3);
        assert_eq!(
            input.render(Edits::new(), &[0, 1], &[], &[]),
            "apiVersion: v1\nkind: List\nitems: []\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        );
        let input = Input::parse(src, Framing::Stream).unwrap();
        assert_eq!(
            input.render(Edits::new(), &[0, 2], &[], &[]),
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"
        );
    }
}
