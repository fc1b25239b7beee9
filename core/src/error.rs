//! Hard failures: input the function cannot process at all.
//!
//! Problems *with the resources or the configuration* are not errors: they
//! are [`crate::KrmResult`]s in the output, so that orchestrators can show
//! them next to the resource they concern.

/// Why the function produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is not valid YAML, not a ResourceList, or holds an item
    /// that is not a KRM resource. The message names the place.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The functionConfig cannot be read at all.
    #[error("invalid functionConfig: {0}")]
    InvalidConfig(String),
}
