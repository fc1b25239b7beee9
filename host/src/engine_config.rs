//! The wasmtime configuration the component is compiled for.
//!
//! Shared by the runtime and by `build.rs`, which precompiles the component
//! with it: an artifact only loads into an engine with the same settings,
//! so both sides must build the configuration in exactly one place.

/// The engine configuration: Cranelift for the machine it runs on, with
/// epoch interruption for the run-time watchdog.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config
}
