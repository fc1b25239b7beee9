//! The `krm-promote` host: runs the krm-promote WebAssembly component for
//! kpt, kustomize and Argo CD.
//!
//! The host does I/O and nothing else: it reads stdin and the legacy
//! plugin's config file, runs the sandboxed component ([`runtime`]), and
//! writes stdout, stderr and the exit code ([`exit_code`]). Every decision
//! about resources is made by the component (`krm-promote-core`).

pub mod argocd;
pub mod cache;
pub mod cli;
pub mod engine_config;
pub mod exit_code;
pub mod generate;
pub mod kustomization;
pub mod preview;
pub mod runtime;
pub mod sandbox;

/// The one `bindgen!` of the WIT contract in `wit/`.
#[allow(missing_docs, reason = "generated from wit/, which documents every item")]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "krm-promote",
    });
}
