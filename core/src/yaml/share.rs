//! Which nodes a YAML reader reads at more than one place.
//!
//! Anchors (`&a`), aliases (`*a`) and merge keys (`<<: *a`) let one node of
//! the text stand for a value at several places of the document. An edit of
//! that node changes every one of them, so an edit that must change one
//! place and not the others has to be made elsewhere: at the alias that
//! stands for the place, or with the old value written out at the aliases
//! that must keep it. [`Sharing`] counts, for every node, the places a
//! reader reads it at; [`super::Edits::set_read_value`] uses the counts to
//! pick the edit.

use std::collections::HashMap;

use super::tree::{Kind, NodeId, Tree};

/// How many places of the documents each node is read at.
#[derive(Debug, Default)]
pub struct Sharing {
    /// Per node, the number of paths from a document root to it with every
    /// alias followed (saturating; `u32::MAX` for nodes on or below an
    /// alias cycle). Empty when the tree has no alias: every node once.
    visits: Vec<u32>,
    /// The alias nodes pointing at each anchored node, in source order.
    aliases: HashMap<NodeId, Vec<NodeId>>,
}

impl Sharing {
    /// Counts the places of every node of `tree`. Linear in the size of
    /// the tree (aliases are not expanded).
    pub fn new(tree: &Tree<'_>) -> Sharing {
        let mut aliases: HashMap<NodeId, Vec<NodeId>> = HashMap::new();
        for (i, node) in tree.nodes.iter().enumerate() {
            if let Kind::Alias(target) = node.kind {
                aliases.entry(target).or_default().push(i as NodeId);
            }
        }
        if aliases.is_empty() {
            return Sharing::default();
        }
        // Paths from the roots, counted in topological order of the graph
        // whose edges are "holds" (collection to child) and "stands for"
        // (alias to anchored node).
        let n = tree.nodes.len();
        let mut pending = vec![0u32; n];
        for node in &tree.nodes {
            for_children(node, |c| pending[c as usize] += 1);
        }
        let mut visits = vec![0u32; n];
        let mut ready: Vec<NodeId> = (0..n as NodeId).filter(|&i| pending[i as usize] == 0).collect();
        for &root in &ready {
            visits[root as usize] = 1;
        }
        while let Some(id) = ready.pop() {
            let here = visits[id as usize];
            for_children(&tree.nodes[id as usize], |c| {
                let c = c as usize;
                visits[c] = visits[c].saturating_add(here);
                pending[c] -= 1;
                if pending[c] == 0 {
                    ready.push(c as NodeId);
                }
            });
        }
        // What never became ready is on or below a cycle (`&a [*a]`).
        for (v, p) in visits.iter_mut().zip(&pending) {
            if *p > 0 {
                *v = u32::MAX;
            }
        }
        Sharing { visits, aliases }
    }

    /// The number of places `id` is read at (`u32::MAX`: unbounded).
    pub fn visits(&self, id: NodeId) -> u32 {
        self.visits.get(id as usize).copied().unwrap_or(1)
    }

    /// The alias nodes that stand for `id`.
    pub fn aliases_of(&self, id: NodeId) -> &[NodeId] {
        self.aliases.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Whether the tree has any alias at all.
    pub fn any(&self) -> bool {
        !self.aliases.is_empty()
    }
}

/// One step of a path below a node: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// The value of the subtree `id` as JSON, when JSON text written at another
/// place would read as exactly the same value for every YAML reader:
/// `None` when the subtree has a merge key (readers disagree on those), a
/// tag other than `!!str`, a non-string mapping key, or a number JSON
/// cannot hold (kept as text by [`super::scalar::to_json`]).
pub fn portable_value(tree: &Tree<'_>, id: NodeId) -> Option<serde_json::Value> {
    let mut budget = super::scalar::MAX_EXPANDED_NODES;
    if !portable(tree, id, &mut budget, 0) {
        return None;
    }
    super::scalar::to_json(tree, id).ok()
}

fn portable(tree: &Tree<'_>, id: NodeId, budget: &mut usize, depth: usize) -> bool {
    if *budget == 0 || depth > 4 * super::tree::MAX_DEPTH {
        return false;
    }
    *budget -= 1;
    let id = tree.resolve(id);
    let node = tree.node(id);
    if node
        .tag()
        .is_some_and(|t| !matches!(t, "!!str" | "tag:yaml.org,2002:str"))
    {
        return false;
    }
    match &node.kind {
        Kind::Scalar { value, style } => {
            *style != super::tree::Style::Plain
                || node.tag().is_some()
                || super::scalar::plain_is_string(value)
                || !super::scalar::resolve_plain(value).is_string()
        }
        Kind::Mapping(entries) => entries
            .iter()
            .all(|&(k, v)| !tree.is_merge_key(k) && tree.str(k).is_some() && portable(tree, v, budget, depth + 1)),
        Kind::Sequence(items) => items.iter().all(|&i| portable(tree, i, budget, depth + 1)),
        Kind::Alias(_) => false,
    }
}

/// Sets the value at `path` below `value`; false when a step is missing.
pub fn set_at(value: &mut serde_json::Value, path: &[Step], new: serde_json::Value) -> bool {
    let mut at = value;
    for step in path {
        let next = match step {
            Step::Key(k) => at.as_object_mut().and_then(|m| m.get_mut(k)),
            Step::Index(i) => at.as_array_mut().and_then(|a| a.get_mut(*i)),
        };
        match next {
            Some(n) => at = n,
            None => return false,
        }
    }
    *at = new;
    true
}

/// Calls `f` with every child of `node`: keys and values of a mapping,
/// items of a sequence, the node an alias stands for.
fn for_children(node: &super::tree::Node<'_>, mut f: impl FnMut(NodeId)) {
    match &node.kind {
        Kind::Mapping(entries) => {
            for &(k, v) in entries {
                f(k);
                f(v);
            }
        }
        Kind::Sequence(items) => items.iter().copied().for_each(f),
        Kind::Alias(target) => f(*target),
        Kind::Scalar { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_place_a_node_is_read_at() {
        let src = "a: &x {i: &s v}\nb: *x\nc: [*x, *s]\nd: plain\n";
        let tree = Tree::parse(src).unwrap();
        let sharing = Sharing::new(&tree);
        let root = tree.docs[0].root;
        let x = tree.get(root, "a").unwrap();
        let s = tree.get(x, "i").unwrap();
        assert_eq!(sharing.visits(x), 3);
        assert_eq!(sharing.visits(s), 4);
        assert_eq!(sharing.visits(tree.get(root, "d").unwrap()), 1);
        assert_eq!(sharing.aliases_of(s).len(), 1);
        assert_eq!(sharing.visits(sharing.aliases_of(x)[1]), 1);
    }

    #[test]
    fn no_alias_means_one_place_each() {
        let tree = Tree::parse("a: {b: [1, 2]}\n").unwrap();
        let sharing = Sharing::new(&tree);
        assert!(!sharing.any());
        assert!((0..tree.nodes.len() as NodeId).all(|i| sharing.visits(i) == 1));
    }

    #[test]
    fn cycles_are_unbounded() {
        let tree = Tree::parse("m: &m {a: 1, <<: *m}\n").unwrap();
        let sharing = Sharing::new(&tree);
        let m = tree.get(tree.docs[0].root, "m").unwrap();
        assert_eq!(sharing.visits(m), u32::MAX);
        assert_eq!(sharing.visits(tree.get(m, "a").unwrap()), u32::MAX);
    }
}
