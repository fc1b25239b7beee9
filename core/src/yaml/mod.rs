//! YAML handling: a span-preserving tree ([`tree`], with merge keys read
//! as each YAML reader reads them), scalar resolution and conversion to JSON
//! ([`scalar`] for YAML 1.2; [`yaml11`] and [`json`] for kubectl's YAML 1.1
//! reading), writing new YAML ([`emit`]) and in-place edits of existing YAML
//! ([`edit`]). This is the only module that knows the YAML parser.

pub mod edit;
pub mod emit;
mod fast;
pub mod json;
pub mod scalar;
pub mod share;
pub mod tree;
pub mod yaml11;

pub use edit::Edits;
pub use share::Sharing;
pub use tree::{Merge, MergedEntry, NodeId, Tree};
