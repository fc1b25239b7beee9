//! The wasmtime configuration the component is compiled for.
//!
//! Shared by the runtime and by `build.rs`, which precompiles the component
//! with it: an artifact only loads into an engine with the same settings,
//! so both sides must build the configuration in exactly one place.

/// The engine configuration: Cranelift for the machine it runs on.
///
/// No epoch interruption or fuel: the checks they compile into every loop
/// cost about 20% of the function's run time (measured: 145 -> 118 ms at
/// 10,000 Deployments). The time limit is enforced by ending the process
/// instead (see [`crate::runtime::Limits::timeout`]).
pub fn engine_config() -> wasmtime::Config {
    wasmtime::Config::new()
}
