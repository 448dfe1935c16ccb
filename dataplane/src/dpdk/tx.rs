//! Transmission: a port's Tx queue, the [`TxBatch`] of owned mbufs waiting for it, and the
//! hand-over of a received mbuf from its [`Burst`] into a batch (forwarded as it is, no copy).

use std::fmt;
use std::ptr;
use std::sync::Arc;

use dpdk_ffi as ffi;

use super::mbuf::{Burst, Mbuf, BURST_SIZE};
use super::port::PortInner;

/// Mbufs a batch holds: a burst's packets forwarded plus answers to rejected ones.
pub const TX_BATCH: usize = 2 * BURST_SIZE;

/// Owned mbufs waiting for [`TxQueue::send`]; whatever is still held when dropped is freed.
pub struct TxBatch {
    mbufs: [*mut ffi::rte_mbuf; TX_BATCH],
    len: usize,
}

// SAFETY: the batch exclusively owns its mbufs (see `Mbuf`).
unsafe impl Send for TxBatch {}

impl Default for TxBatch {
    fn default() -> Self {
        TxBatch {
            mbufs: [ptr::null_mut(); TX_BATCH],
            len: 0,
        }
    }
}

impl fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxBatch({})", self.len)
    }
}

impl TxBatch {
    /// Mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more fit.
    pub fn is_full(&self) -> bool {
        self.len == TX_BATCH
    }

    /// Queues an owned mbuf; a full batch hands it back (the caller frees and counts it).
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.mbufs[self.len] = m.raw;
        self.len += 1;
        std::mem::forget(m);
        Ok(())
    }

    /// Moves packet `i` of `burst` into the batch, to be transmitted as received; false (and
    /// the packet stays in the burst, freed with it) when the batch is full or the packet was
    /// already handed over.
    #[inline]
    pub fn take_from(&mut self, burst: &mut Burst, i: usize) -> bool {
        if self.is_full() || i >= burst.len || burst.mbufs[i].is_null() {
            return false;
        }
        self.mbufs[self.len] = std::mem::replace(&mut burst.mbufs[i], ptr::null_mut());
        self.len += 1;
        true
    }

    /// Frees every mbuf held.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` entries are mbufs we own; each is freed once and then
            // forgotten by resetting `len`.
            unsafe { ffi::osp_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }
}

impl Drop for TxBatch {
    fn drop(&mut self) {
        self.clear();
    }
}

/// What one [`TxQueue::send`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Mbufs the queue accepted.
    pub sent: u32,
    /// `tx_burst` calls that left mbufs unsent (the queue was full).
    pub full: u32,
    /// Mbufs freed unsent after the last retry.
    pub dropped: u32,
}

/// One Tx queue of a started port, used by exactly one lcore.
pub struct TxQueue {
    pub(super) port: Arc<PortInner>,
    pub(super) queue: u16,
}

// SAFETY: a queue handle is moved to the single lcore that transmits on it; DPDK's per-queue
// tx_burst is safe from any one thread at a time, and the Arc keeps the port open.
unsafe impl Send for TxQueue {}

impl fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}/txq{}", self.port.id, self.queue)
    }
}

impl TxQueue {
    /// Transmits every mbuf of `batch`, in order: the unsent tail of a full queue is offered
    /// again up to `retries` times, then freed and counted. Never waits longer than that; the
    /// batch is empty afterwards.
    #[inline]
    pub fn send(&mut self, batch: &mut TxBatch, retries: u32) -> TxOutcome {
        let mut out = TxOutcome::default();
        let mut done = 0usize;
        let mut tries = 0u32;
        while done < batch.len {
            // SAFETY: `&mut self` makes this lcore the queue's only user; the pointers from
            // `done` to `len` are owned mbufs, and the driver takes ownership of the first `n`.
            let n = unsafe {
                ffi::osp_eth_tx_burst(
                    self.port.id.0,
                    self.queue,
                    batch.mbufs.as_mut_ptr().add(done),
                    (batch.len - done) as u16,
                )
            };
            done += usize::from(n);
            out.sent += u32::from(n);
            if done == batch.len {
                break;
            }
            out.full += 1;
            if tries == retries {
                break;
            }
            tries += 1;
        }
        let rest = batch.len - done;
        if rest > 0 {
            out.dropped = rest as u32;
            // SAFETY: the entries from `done` are still ours (the driver took the others);
            // each is freed once.
            unsafe { ffi::osp_pktmbuf_free_bulk(batch.mbufs.as_mut_ptr().add(done), rest as u32) };
        }
        batch.len = 0;
        out
    }

    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }
}
