//! The documented exit codes of `krm-promote`.

/// Success: stdout holds the complete output.
pub const OK: u8 = 0;
/// The function reported error results. For a ResourceList, stdout still
/// holds the complete output with the results; for a legacy plugin stream,
/// stdout is empty. The errors are also printed on stderr.
pub const ERROR_RESULTS: u8 = 1;
/// Usage error, or input that could not be read (not UTF-8, not YAML, not a
/// ResourceList, too large). Nothing is written to stdout.
pub const INVALID_INPUT: u8 = 2;
/// The function crashed or hit its memory or time limit. Nothing is written
/// to stdout.
pub const FUNCTION_FAILED: u8 = 3;
