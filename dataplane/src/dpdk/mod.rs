//! Safe wrappers over `dpdk-ffi`: the EAL, mbuf pools, ethernet ports and their queues, bursts
//! of mbufs, and lcore launch, one file per DPDK object. This is the only module of the crate
//! allowed `unsafe`; every block says why it is sound. It depends on nothing else in the crate
//! except the NIC's checksum verdict type ([`crate::offload`]), which the decoder shares.
//!
//! Ownership model:
//! - [`Eal`] (`eal.rs`) is a process-wide guard: DPDK can be initialised once per process.
//!   Dropping it runs `rte_eal_cleanup` and removes the process's runtime directory, so it must
//!   outlive every pool, port and lcore job.
//! - [`Mempool`] (`mempool.rs`) and [`Port`] (`port.rs`) free themselves in `Drop`; queues
//!   ([`RxQueue`]) hold an `Arc` of their port so a port cannot be closed under a polling worker.
//! - [`Burst`] (`mbuf.rs`) owns up to [`BURST_SIZE`] mbufs and frees them in bulk when cleared or
//!   dropped; an [`RxPacket`] borrows its burst.
//! - [`TxQueue`] (`tx.rs`) transmits a [`TxBatch`] of owned mbufs: received ones handed over
//!   from their burst (forwarded without a copy) and answers allocated from a pool; a full
//!   queue is retried a bounded number of times, then the rest is freed and counted.
//! - [`launch`] (`lcore.rs`) runs a closure on a worker lcore through a trampoline that catches
//!   panics; [`LcoreJob`] waits for it.
//! - [`Bpf`] (`bpf.rs`): a capture filter loaded into librte_bpf (JIT or interpreter), destroyed
//!   on drop.
//! - Port counters (`stats.rs`) and CPU helpers (`cpu.rs`: TSC, prefetch, huge-page advice).
//! - C return codes become [`DpdkError`] in one place, `check` (`error.rs`).
#![allow(unsafe_code)]

mod bpf;
mod cpu;
mod eal;
mod error;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod stats;
mod tx;

pub use bpf::{Bpf, ClassicInsn};
pub use cpu::{advise_hugepages, prefetch, rdtsc};
pub use eal::{remove_empty_runtime_dir, version, Eal, LcoreId};
pub use error::DpdkError;
pub use lcore::{launch, JoinError, LcoreJob};
pub use mbuf::{Burst, Mbuf, RxPacket, BURST_SIZE};
pub use mempool::Mempool;
pub use port::{Port, PortConfig, PortId, PortInfo, RxQueue};
pub use stats::PortStats;
pub use tx::{TxBatch, TxOutcome, TxQueue, TX_BATCH};
