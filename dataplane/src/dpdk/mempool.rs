//! Pools of packet buffers.

use std::fmt;

use dpdk_ffi as ffi;

use super::eal::Eal;
use super::error::{cstring, DpdkError};
use super::mbuf::Mbuf;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`).
pub struct Mempool {
    pub(super) raw: *mut ffi::rte_mempool,
    name: String,
}

// SAFETY: a DPDK mempool is designed for concurrent use from several lcores (its default ops are
// multi-producer/multi-consumer); the pointer stays valid until Drop, which needs `&mut self`.
unsafe impl Send for Mempool {}
// SAFETY: as above: every operation we expose through `&self` is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl fmt::Debug for Mempool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mempool({})", self.name)
    }
}

impl Mempool {
    /// Creates a pool of `count` mbufs with `data_room` bytes of data each (plus headroom).
    pub fn new(
        _eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
    ) -> Result<Mempool, DpdkError> {
        let cname = cstring("mempool name", name)?;
        let room = data_room as u32 + ffi::RTE_PKTMBUF_HEADROOM;
        let room = u16::try_from(room).map_err(|_| DpdkError::Invalid {
            what: "mbuf data room",
            why: format!("{data_room} + headroom exceeds 65535"),
        })?;
        // SAFETY: the EAL is initialised (we were handed its guard); the name is NUL-terminated
        // and copied by DPDK; SOCKET_ID_ANY lets DPDK choose memory.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, room, ffi::SOCKET_ID_ANY)
        };
        if raw.is_null() {
            return Err(DpdkError::last("rte_pktmbuf_pool_create"));
        }
        Ok(Mempool {
            raw,
            name: name.to_owned(),
        })
    }

    /// Mbufs currently free in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: `raw` is a live pool until Drop.
        unsafe { ffi::rte_mempool_avail_count(self.raw) }
    }

    /// Mbufs currently handed out.
    pub fn in_use(&self) -> u32 {
        // SAFETY: `raw` is a live pool until Drop.
        unsafe { ffi::rte_mempool_in_use_count(self.raw) }
    }

    /// Allocates one mbuf holding a copy of `data` (answers to rejected packets), or `None`
    /// when the pool is exhausted or `data` does not fit one mbuf. Allocates no memory
    /// besides the mbuf: fit for a worker's packet path.
    #[inline]
    pub fn try_alloc_copy(&self, data: &[u8]) -> Option<Mbuf> {
        let len = u16::try_from(data.len()).ok()?;
        // SAFETY: `raw` is a live pool.
        let m = unsafe { ffi::osp_pktmbuf_alloc(self.raw) };
        if m.is_null() {
            return None;
        }
        let mbuf = Mbuf { raw: m };
        // SAFETY: `m` is a fresh mbuf from our pool; `data` is valid for `len` bytes.
        let rc = unsafe { ffi::osp_pktmbuf_append_copy(m, data.as_ptr(), len) };
        (rc == 0).then_some(mbuf)
    }

    /// Allocates one mbuf and copies `data` into it (tests and the in-memory source).
    pub fn alloc_with(&self, data: &[u8]) -> Result<Mbuf, DpdkError> {
        let len = u16::try_from(data.len()).map_err(|_| DpdkError::Invalid {
            what: "packet",
            why: format!("{} bytes does not fit one mbuf", data.len()),
        })?;
        // SAFETY: `raw` is a live pool.
        let m = unsafe { ffi::osp_pktmbuf_alloc(self.raw) };
        if m.is_null() {
            return Err(DpdkError::Invalid {
                what: "mempool",
                why: "exhausted".into(),
            });
        }
        let mbuf = Mbuf { raw: m };
        // SAFETY: `m` is a fresh mbuf from our pool; `data` is valid for `len` bytes.
        let rc = unsafe { ffi::osp_pktmbuf_append_copy(m, data.as_ptr(), len) };
        if rc != 0 {
            return Err(DpdkError::Invalid {
                what: "packet",
                why: format!("{len} bytes exceed the mbuf data room"),
            });
        }
        Ok(mbuf)
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: `raw` came from rte_pktmbuf_pool_create and is freed once; ports using the
        // pool hold an Arc to it (see `Port`), so no queue still references it.
        unsafe { ffi::rte_mempool_free(self.raw) }
    }
}
