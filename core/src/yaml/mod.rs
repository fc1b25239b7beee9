//! YAML handling: a span-preserving tree ([`tree`]), scalar resolution and
//! conversion to JSON ([`scalar`]), writing new YAML ([`emit`]) and in-place
//! edits of existing YAML ([`edit`]). This is the only module that knows the
//! YAML parser.

pub mod edit;
pub mod emit;
mod fast;
pub mod json;
pub mod scalar;
pub mod tree;

pub use edit::Edits;
pub use tree::{NodeId, Tree};
