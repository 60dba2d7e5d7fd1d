//! Benchmarks of GipoNext Connect, one command:
//! `cargo run --release -p giponext-bench -- all` (or one of `proxy`,
//! `storm`, `sessions`, `console`, `cli`).
//!
//! Every benchmark starts what it needs on free loopback ports (sandbox,
//! backend, nginx, redis-server), measures a baseline in the same run and
//! prints the figures with the ratio against that baseline, since absolute
//! times vary from machine to machine. The proxy hop runs the sandbox and
//! the backend as their release binaries in separate processes, as deployed
//! ([`processes`]); the other benchmarks run them in this process, where
//! their test hooks are at hand. Loops are bounded; nothing is left
//! running. External tools: `wrk`, `nginx`, `redis-server`, `gzip`
//! (`scripts/ensure-tools.sh wrk nginx redis`).

pub mod cli;
pub mod console;
pub mod processes;
pub mod proxy;
pub mod sessions;
pub mod stack;
pub mod stats;
pub mod storm;
pub mod tools;
