//! Runs the krm-promote component in a sandbox.
//!
//! The guest gets no filesystem, network, environment, arguments or real
//! clock, and deterministic randomness; its memory is capped, and a call
//! that outlives its time limit ends the process (exit code 3).
//! The compiled component comes from [`crate::cache`], so a process start
//! does not JIT-compile the component again.

use std::sync::mpsc;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::exports::krm_promote::function::krm;
use crate::bindings::{KrmPromote, KrmPromotePre};
use crate::cache::{self, Loader};
use crate::engine_config::engine_config;

/// The component embedded at build time.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));
/// SHA-256 of [`GUEST_WASM`], computed at build time.
pub const GUEST_SHA256: &str = env!("KRM_PROMOTE_GUEST_SHA256");
/// [`GUEST_WASM`] compiled to native code by `build.rs` for the build
/// machine with [`engine_config`]; empty when the build skipped it.
pub const GUEST_CWASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.cwasm"));

/// Caps for one call into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory the guest may grow to, in bytes.
    pub memory_bytes: usize,
    /// Longest a call may run. A call that runs longer **ends the process**
    /// with exit code 3 and the message of [`CallError::Timeout`] on
    /// stderr: compiled WebAssembly is not interrupted cooperatively, which
    /// would cost ~20% of run time in every call. The `krm-promote` binary
    /// runs one render per process and writes stdout only after the call
    /// returns, so nothing partial is ever printed.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 2 GiB and 60 s: ample for 10,000-resource renders, and within Argo
    /// CD's default 60 s repo-server timeout.
    fn default() -> Self {
        Limits {
            memory_bytes: 2048 << 20,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a call did not return an answer from the guest.
#[derive(Debug)]
pub enum CallError {
    /// The guest used more memory than [`Limits::memory_bytes`].
    MemoryLimit(usize),
    /// The guest ran longer than [`Limits::timeout`]. (Only its message is
    /// used: the watchdog ends the process, see [`Limits::timeout`].)
    Timeout(Duration),
    /// The guest trapped (a panic, or a wasm fault). `stderr` holds what the
    /// guest printed (a panic message) with its location.
    Trap {
        /// The trap, one line.
        message: String,
        /// What the guest wrote to stderr.
        stderr: String,
    },
    /// wasmtime failed outside the guest's control.
    Host(anyhow::Error),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::MemoryLimit(n) => write!(
                f,
                "the function exceeded its memory limit of {} MiB (raise it with --memory-limit or KRM_PROMOTE_MEMORY_LIMIT)",
                n >> 20
            ),
            CallError::Timeout(d) => write!(
                f,
                "the function exceeded its time limit of {}s (raise it with --timeout or KRM_PROMOTE_TIMEOUT)",
                d.as_secs_f64()
            ),
            CallError::Trap { message, stderr } => {
                write!(f, "the function crashed: {message}")?;
                let stderr = stderr.trim();
                if !stderr.is_empty() {
                    write!(f, ": {}", stderr.lines().collect::<Vec<_>>().join(" | "))?;
                }
                Ok(())
            }
            CallError::Host(e) => write!(f, "the WebAssembly runtime failed: {e:#}"),
        }
    }
}

impl std::error::Error for CallError {}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock stuck at the Unix epoch: the function must not depend on time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A loaded, ready-to-instantiate guest. Cheap to call many times.
pub struct Guest {
    engine: Engine,
    pre: KrmPromotePre<State>,
}

/// Most bytes of guest stderr kept (panic messages).
const STDERR_CAP: usize = 64 << 10;

impl Guest {
    /// The engine ([`engine_config`]); artifacts and the cache key depend
    /// on its configuration.
    fn engine() -> anyhow::Result<Engine> {
        let config: Config = engine_config();
        Ok(Engine::new(&config)?)
    }

    /// Loads the embedded component: the build-time artifact when it fits
    /// this machine, else the compiled-artifact cache, else compiles it.
    pub fn load(loader: &Loader) -> anyhow::Result<Guest> {
        let engine = Self::engine()?;
        let precompiled = if loader.precompiled { GUEST_CWASM } else { &[] };
        let component = cache::load_component(&engine, GUEST_WASM, precompiled, GUEST_SHA256, &loader.cache)?;
        Self::from_component(engine, &component)
    }

    /// Builds a guest from an already compiled component.
    fn from_component(engine: Engine, component: &Component) -> anyhow::Result<Guest> {
        let mut linker = Linker::<State>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let pre = KrmPromotePre::new(linker.instantiate_pre(component)?)?;
        Ok(Guest { engine, pre })
    }

    /// Runs the function once, in a fresh instance.
    pub fn call(
        &self,
        input: &str,
        context: &krm::Context,
        limits: &Limits,
    ) -> Result<Result<krm::Output, krm::Error>, CallError> {
        self.run(limits, |store, instance| {
            instance.krm_promote_function_krm().call_process(store, input, context)
        })
    }

    /// Asks the function for Argo CD's parameter announcement.
    pub fn parameters(&self, context: &krm::Context, limits: &Limits) -> Result<Result<String, krm::Error>, CallError> {
        self.run(limits, |store, instance| {
            instance.krm_promote_function_krm().call_parameters(store, context)
        })
    }

    /// Removes krm-promote's own transformer entry from a kustomization.
    pub fn prepare_kustomization(
        &self,
        kustomization: &str,
        files: &[krm::File],
        limits: &Limits,
    ) -> Result<Result<krm::PreparedKustomization, krm::Error>, CallError> {
        self.run(limits, |store, instance| {
            instance
                .krm_promote_function_krm()
                .call_prepare_kustomization(store, kustomization, files)
        })
    }

    /// Compares renders into a preview report.
    pub fn preview(
        &self,
        environments: &[krm::RenderedEnvironment],
        format: krm::ReportFormat,
        limits: &Limits,
    ) -> Result<Result<krm::PreviewReport, krm::Error>, CallError> {
        self.run(limits, |store, instance| {
            instance
                .krm_promote_function_krm()
                .call_preview(store, environments, format)
        })
    }

    /// Instantiates the component once for several calls (benchmarks; the
    /// binary uses a fresh instance per call, so no state can leak from one
    /// render into the next). Caps apply to the instance's whole life; the
    /// time limit is not enforced (no watchdog runs).
    pub fn instance(&self, limits: &Limits) -> Result<Instance, CallError> {
        let (mut store, stderr) = self.store(limits);
        let bindings = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, limits, &String::from_utf8_lossy(&stderr.contents())))?;
        Ok(Instance {
            store,
            bindings,
            limits: *limits,
            stderr,
        })
    }

    fn store(&self, limits: &Limits) -> (Store<State>, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(STDERR_CAP);
        let wasi = WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(deterministic_rng())
            .insecure_random(deterministic_rng())
            .insecure_random_seed(0)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        let state = State {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The output is copied out of the guest in one piece; it can never be
        // larger than the guest's memory (wasmtime's default allows 128 MiB).
        store.set_hostcall_fuel(limits.memory_bytes);
        (store, stderr)
    }

    /// Instantiates the component in a fresh, capped store and runs `f`.
    fn run<T>(
        &self,
        limits: &Limits,
        f: impl FnOnce(&mut Store<State>, &KrmPromote) -> wasmtime::Result<T>,
    ) -> Result<T, CallError> {
        let (mut store, stderr) = self.store(limits);

        // Watchdog. Compiled code is not interrupted (the checks that would
        // allow it cost ~20% of run time); the binary runs one render per
        // process, so a render past its time limit ends the process with
        // exit code 3 and the same one-line message, before anything was
        // written to stdout (output is written only after the call returns).
        let (done, wait) = mpsc::channel::<()>();
        let timeout = limits.timeout;
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                // Needs stdout and stderr unlocked (`exit` flushes stdout):
                // the binary's main never holds their locks.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "krm-promote: error: {}", CallError::Timeout(timeout));
                std::process::exit(i32::from(crate::exit_code::FUNCTION_FAILED));
            }
        });

        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance: KrmPromote| f(&mut store, &instance));
        let _ = done.send(());
        let _ = watchdog.join();

        result.map_err(|e| classify(e, limits, &String::from_utf8_lossy(&stderr.contents())))
    }
}

/// One instance of the component kept for several calls
/// ([`Guest::instance`]).
pub struct Instance {
    store: Store<State>,
    bindings: KrmPromote,
    limits: Limits,
    stderr: MemoryOutputPipe,
}

impl Instance {
    /// Runs the function in this instance.
    pub fn call(&mut self, input: &str, context: &krm::Context) -> Result<Result<krm::Output, krm::Error>, CallError> {
        self.bindings
            .krm_promote_function_krm()
            .call_process(&mut self.store, input, context)
            .map_err(|e| classify(e, &self.limits, &String::from_utf8_lossy(&self.stderr.contents())))
    }
}

fn classify(e: wasmtime::Error, limits: &Limits, stderr_text: &str) -> CallError {
    let root = e.root_cause().to_string();
    if root.contains("forcing trap when growing memory") || stderr_text.contains("memory allocation of") {
        return CallError::MemoryLimit(limits.memory_bytes);
    }
    // No `Trap::Interrupt` case: the engine has no epoch interruption, and
    // a time-out ends the process from the watchdog (`Limits::timeout`).
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return CallError::Trap {
            message: trap.to_string(),
            stderr: stderr_text.to_string(),
        };
    }
    CallError::Host(anyhow::anyhow!("{e:#}"))
}

fn deterministic_rng() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(0x6b72_6d2d_7072_6f6d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_panic_is_a_crash_with_its_message() {
        let limits = Limits::default();
        let err = classify(
            wasmtime::Error::from(Trap::UnreachableCodeReached),
            &limits,
            "thread '<unnamed>' panicked at core/src/lib.rs:1:1:\nboom\n",
        );
        assert!(matches!(err, CallError::Trap { .. }));
        assert_eq!(
            err.to_string(),
            "the function crashed: wasm trap: wasm `unreachable` instruction executed: thread '<unnamed>' panicked at core/src/lib.rs:1:1: | boom"
        );
    }

    #[test]
    fn limits_are_named() {
        let limits = Limits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_millis(1500),
        };
        let oom = classify(
            wasmtime::Error::from(Trap::UnreachableCodeReached),
            &limits,
            "memory allocation of 1048576 bytes failed\n",
        );
        assert!(
            oom.to_string()
                .starts_with("the function exceeded its memory limit of 64 MiB")
        );
        // The message the watchdog prints when it ends the process.
        assert!(
            CallError::Timeout(limits.timeout)
                .to_string()
                .starts_with("the function exceeded its time limit of 1.5s")
        );
    }
}
