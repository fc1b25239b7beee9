//! Integration tests of the `krm-promote` binary and component.
//!
//! One test binary (wasmtime links once). Tests that need `kpt` or
//! `kubectl` skip when the tool is missing, unless
//! `KRM_PROMOTE_REQUIRE_TOOLS` is set, as it is in CI.

mod cli;
mod cmp;
mod fixtures;
mod images;
mod install;
mod kpt;
mod kustomize;
mod platform;
mod preview;
mod reliability;
mod security;
mod support;
mod threescale;
mod yaml_reading;
