//! Packet buffers: an owned [`Mbuf`], a [`Burst`] of received mbufs freed together, and the
//! [`RxPacket`] view of one of them (bytes, length, timestamp, the NIC's checksum verdicts).

use std::os::raw::c_int;
use std::ptr;

use dpdk_ffi as ffi;

use super::cpu::prefetch;
use crate::offload::{HwChecksums, HwCsum};

/// Packets fetched per `rx_burst` call.
pub const BURST_SIZE: usize = 32;

/// One packet buffer (possibly a chain of segments). Freed on drop.
pub struct Mbuf {
    pub(super) raw: *mut ffi::rte_mbuf,
}

// SAFETY: an mbuf is exclusively owned by whoever holds this handle; DPDK allows freeing it from
// any lcore or thread (pool ops are MP/MC).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// The first segment's data.
    pub fn data(&self) -> &[u8] {
        // SAFETY: we own the live mbuf, and the returned slice borrows `self`, so the mbuf
        // cannot be freed while the slice is in use.
        unsafe { first_segment(self.raw) }
    }
    /// Total packet length over all segments.
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: `raw` is a live mbuf owned by us.
        unsafe { ffi::osp_mbuf_pkt_len(self.raw) }
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (chain) and free it exactly once.
        unsafe { ffi::osp_pktmbuf_free(self.raw) }
    }
}

/// The data bytes of segment `m` (the first segment when `m` heads a chain).
///
/// # Safety
/// `m` must point to a live mbuf that stays allocated, and whose data is not written, for all
/// of `'a`: the caller picks `'a` and ties it to whatever keeps the mbuf alive (an owning
/// [`Mbuf`] or a borrowed [`Burst`]).
unsafe fn first_segment<'a>(m: *const ffi::rte_mbuf) -> &'a [u8] {
    // SAFETY: `m` is live for 'a (the caller's contract); mtod + data_len describe the
    // initialised bytes of its segment.
    unsafe {
        let p = ffi::osp_mbuf_data(m);
        let len = ffi::osp_mbuf_data_len(m) as usize;
        if p.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(p, len)
        }
    }
}

/// Where the Rx timestamp lives in received mbufs, when the port delivers one.
#[derive(Clone, Copy, Debug)]
pub(super) struct TimestampField {
    pub(super) offset: c_int,
    pub(super) flag: u64,
}

/// A received packet inside a [`Burst`]: borrowed, valid until the burst is cleared.
#[derive(Clone, Copy)]
pub struct RxPacket<'a> {
    raw: *const ffi::rte_mbuf,
    ts: Option<TimestampField>,
    _burst: std::marker::PhantomData<&'a Burst>,
}

impl<'a> RxPacket<'a> {
    /// Total length over all segments (the captured length for `net_pcap`).
    pub fn len(&self) -> usize {
        // SAFETY: the mbuf is live while the burst is borrowed.
        unsafe { ffi::osp_mbuf_pkt_len(self.raw) as usize }
    }

    /// True for an empty packet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of segments in the chain.
    pub fn segments(&self) -> u16 {
        // SAFETY: the mbuf is live while the burst is borrowed.
        unsafe { ffi::osp_mbuf_nb_segs(self.raw) }
    }

    /// The RSS hash the NIC computed (0 when the port has no RSS).
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: the mbuf is live while the burst is borrowed.
        unsafe { ffi::osp_mbuf_rss_hash(self.raw) }
    }

    /// The Rx timestamp if the port set one. `net_pcap` reports the capture's time.
    pub fn timestamp(&self) -> Option<u64> {
        let ts = self.ts?;
        // SAFETY: the mbuf is live; the offset came from DPDK's dynfield registry for the
        // timestamp field, which is a u64 inside every mbuf of the process.
        unsafe {
            if ffi::osp_mbuf_ol_flags(self.raw) & ts.flag == 0 {
                return None;
            }
            Some(ffi::osp_mbuf_dynfield_u64(self.raw, ts.offset))
        }
    }

    /// The NIC's checksum verdicts (all unknown unless the port offloads validation, and for
    /// frames the NIC parsed as tunnelled, whose flags may describe either layer).
    #[inline]
    pub fn hw_checksums(&self) -> HwChecksums {
        // SAFETY: the mbuf is live while the burst is borrowed.
        let (flags, ptype) = unsafe {
            (
                ffi::osp_mbuf_ol_flags(self.raw),
                ffi::osp_mbuf_packet_type(self.raw),
            )
        };
        hw_checksums(flags, ptype)
    }

    /// The first segment's bytes (the headers; the whole packet unless it is a chain).
    #[inline]
    pub fn first_segment(&self) -> &'a [u8] {
        // SAFETY: the mbuf belongs to the burst borrowed for 'a, which frees it only when
        // cleared (`&mut`) or dropped, neither possible while 'a lasts.
        unsafe { first_segment(self.raw) }
    }

    /// Prefetches the first cache line of the packet's data (its headers), as DPDK
    /// applications do for a whole burst before processing its first packet.
    #[inline]
    pub fn prefetch_data(&self) {
        if let Some(b) = self.first_segment().first() {
            prefetch(b);
        }
    }

    /// The packet bytes, contiguous: the first segment itself when the packet has one segment,
    /// else the chain copied into `scratch` (which must be large enough; bytes beyond its length
    /// are cut and the return value says how many were kept).
    pub fn bytes<'s>(&self, scratch: &'s mut [u8]) -> &'s [u8]
    where
        'a: 's,
    {
        let first = self.first_segment();
        if self.segments() <= 1 {
            return first;
        }
        let mut filled = 0;
        let mut seg = self.raw;
        while !seg.is_null() && filled < scratch.len() {
            // SAFETY: `seg` is a live segment of the burst's chain, borrowed for 'a; the slice
            // is copied out before the next iteration.
            let data = unsafe { first_segment(seg) };
            let n = data.len().min(scratch.len() - filled);
            scratch[filled..filled + n].copy_from_slice(&data[..n]);
            filled += n;
            // SAFETY: `seg` is a live segment of our chain; `next` is NULL or the next segment.
            seg = unsafe { ffi::osp_mbuf_next(seg) };
        }
        &scratch[..filled]
    }
}

/// DPDK's Rx checksum flags (`RTE_MBUF_F_RX_{IP,L4}_CKSUM_*`) and the tunnel bits of the
/// packet type, as constants for the per-packet path; a test checks them against the shim.
const RX_IP_CKSUM_BAD: u64 = 1 << 4;
const RX_IP_CKSUM_GOOD: u64 = 1 << 7;
const RX_L4_CKSUM_BAD: u64 = 1 << 3;
const RX_L4_CKSUM_GOOD: u64 = 1 << 8;
const PTYPE_TUNNEL_MASK: u32 = 0xf000;

/// One layer's verdict from its two flag bits: both set is DPDK's `CKSUM_NONE` ("the
/// checksum in the data is not correct but the data's integrity is verified"), i.e. good.
#[inline]
fn verdict(flags: u64, good: u64, bad: u64) -> HwCsum {
    match (flags & good != 0, flags & bad != 0) {
        (false, false) => HwCsum::Unknown,
        (true, _) => HwCsum::Good,
        (false, true) => HwCsum::Bad,
    }
}

/// The checksum verdicts of an mbuf's `ol_flags`, or none when its packet type says the NIC
/// found a tunnel.
#[inline]
fn hw_checksums(ol_flags: u64, packet_type: u32) -> HwChecksums {
    if packet_type & PTYPE_TUNNEL_MASK != 0 {
        return HwChecksums::UNKNOWN;
    }
    HwChecksums {
        ip: verdict(ol_flags, RX_IP_CKSUM_GOOD, RX_IP_CKSUM_BAD),
        l4: verdict(ol_flags, RX_L4_CKSUM_GOOD, RX_L4_CKSUM_BAD),
    }
}

/// Up to [`BURST_SIZE`] received mbufs, freed together.
pub struct Burst {
    pub(super) mbufs: [*mut ffi::rte_mbuf; BURST_SIZE],
    pub(super) len: usize,
    pub(super) ts: Option<TimestampField>,
}

// SAFETY: the burst exclusively owns its mbufs (see `Mbuf`).
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            mbufs: [ptr::null_mut(); BURST_SIZE],
            len: 0,
            ts: None,
        }
    }
}

impl Burst {
    /// Number of packets held.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when no packet is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The packets still held, in receive order (those handed over to a
    /// [`super::TxBatch`] are gone).
    pub fn iter(&self) -> impl Iterator<Item = RxPacket<'_>> + '_ {
        self.mbufs[..self.len]
            .iter()
            .filter(|m| !m.is_null())
            .map(move |&m| RxPacket {
                raw: m,
                ts: self.ts,
                _burst: std::marker::PhantomData,
            })
    }

    /// Packet `i`, unless it was handed over.
    #[inline]
    pub fn get(&self, i: usize) -> Option<RxPacket<'_>> {
        let m = *self.mbufs[..self.len].get(i)?;
        (!m.is_null()).then_some(RxPacket {
            raw: m,
            ts: self.ts,
            _burst: std::marker::PhantomData,
        })
    }
    /// Frees every held mbuf.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` entries are mbufs we own or NULL (handed over, which
            // `rte_pktmbuf_free_bulk` skips); each is freed exactly once and then forgotten by
            // resetting `len`.
            unsafe { ffi::osp_pktmbuf_free_bulk(self.mbufs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_checksum_flags_are_dpdks() {
        // SAFETY: reading extern consts exported by the shim.
        let shim = unsafe {
            (
                ffi::osp_rx_ip_cksum_bad,
                ffi::osp_rx_ip_cksum_good,
                ffi::osp_rx_l4_cksum_bad,
                ffi::osp_rx_l4_cksum_good,
                ffi::osp_ptype_tunnel_mask,
            )
        };
        assert_eq!(
            shim,
            (
                RX_IP_CKSUM_BAD,
                RX_IP_CKSUM_GOOD,
                RX_L4_CKSUM_BAD,
                RX_L4_CKSUM_GOOD,
                PTYPE_TUNNEL_MASK
            )
        );
    }

    #[test]
    fn rx_checksum_verdicts() {
        use HwCsum::{Bad, Good, Unknown};
        let v = |flags, ptype| {
            let h = hw_checksums(flags, ptype);
            (h.ip, h.l4)
        };
        assert_eq!(v(0, 0), (Unknown, Unknown));
        assert_eq!(v(RX_IP_CKSUM_GOOD | RX_L4_CKSUM_GOOD, 0), (Good, Good));
        assert_eq!(v(RX_IP_CKSUM_GOOD | RX_L4_CKSUM_BAD, 0), (Good, Bad));
        assert_eq!(v(RX_IP_CKSUM_BAD, 0), (Bad, Unknown));
        // CKSUM_NONE (both bits): integrity verified.
        let none = RX_L4_CKSUM_GOOD | RX_L4_CKSUM_BAD;
        assert_eq!(v(none, 0), (Unknown, Good));
        // RTE_PTYPE_L2_ETHER | L3_IPV4 | L4_TCP: no tunnel, flags used.
        assert_eq!(
            v(RX_L4_CKSUM_BAD, 0x0000_0011 | 0x0000_0100),
            (Unknown, Bad)
        );
        // RTE_PTYPE_TUNNEL_VXLAN: the flags may be the inner or the outer layer's.
        assert_eq!(
            v(RX_IP_CKSUM_BAD | RX_L4_CKSUM_BAD, 0x0000_3000),
            (Unknown, Unknown)
        );
    }
}
