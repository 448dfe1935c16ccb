//! Safe wrappers over `dpdk-ffi`: the EAL, mbuf pools, ethernet ports and their queues, bursts
//! of mbufs, and lcore launch. This is the only module of the crate allowed `unsafe`; every
//! block says why it is sound.
//!
//! Ownership model:
//! - [`Eal`] is a process-wide guard: DPDK can be initialised once per process. Dropping it runs
//!   `rte_eal_cleanup`, so it must outlive every pool, port and lcore job.
//! - [`Mempool`] and [`Port`] free themselves in `Drop`; queues ([`RxQueue`]) hold an `Arc` of
//!   their port so a port cannot be closed under a polling worker.
//! - [`Burst`] owns up to [`BURST_SIZE`] mbufs and frees them in bulk when cleared or dropped.
//! - C return codes become [`DpdkError`] in one place, [`check`].
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::decode::{HwChecksums, HwCsum};
use dpdk_ffi as ffi;

/// Packets fetched per `rx_burst` call.
pub const BURST_SIZE: usize = 32;

/// Errors from DPDK calls, with the call that failed and DPDK's own message.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("{call} failed: {message} (errno {errno})")]
    Call {
        call: &'static str,
        errno: i32,
        message: String,
    },
    #[error("the DPDK EAL is already initialised in this process")]
    AlreadyInitialised,
    #[error("invalid argument for {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("no ethernet device named {0:?} (check the --vdev / PCI arguments)")]
    NoSuchPort(String),
}

impl DpdkError {
    /// Builds an error from a (positive or negative) errno value.
    fn from_errno(call: &'static str, errno: i32) -> Self {
        let errno = errno.abs();
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated
        // string for any errno value; we copy it out immediately.
        let message = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        DpdkError::Call {
            call,
            errno,
            message,
        }
    }

    /// Builds an error from `rte_errno` after a call that signals failure by NULL or -1.
    fn last(call: &'static str) -> Self {
        // SAFETY: osp_errno reads DPDK's per-lcore errno; no preconditions.
        let errno = unsafe { ffi::osp_errno() };
        Self::from_errno(call, errno)
    }
}

/// Maps a DPDK return code (negative errno on failure) to a result: the one place C return
/// codes become Rust errors.
fn check(call: &'static str, rc: c_int) -> Result<c_int, DpdkError> {
    if rc < 0 {
        Err(DpdkError::from_errno(call, rc))
    } else {
        Ok(rc)
    }
}

fn cstring(what: &'static str, s: &str) -> Result<CString, DpdkError> {
    CString::new(s).map_err(|_| DpdkError::Invalid {
        what,
        why: format!("{s:?} contains a NUL byte"),
    })
}

/// DPDK's version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::osp_version()) }
        .to_string_lossy()
        .into_owned()
}

static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// The initialised Environment Abstraction Layer. One per process.
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for Eal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Eal")
    }
}

impl Eal {
    /// Initialises the EAL with `args` (without the program name). Fails if the EAL was
    /// initialised before in this process: DPDK cannot be re-initialised, even after cleanup.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialised);
        }
        let mut owned = vec![cstring("EAL argument", "osprey")?];
        for a in args {
            owned.push(cstring("EAL argument", a.as_ref())?);
        }
        // rte_eal_init may permute argv; give it a private array of pointers into `owned`.
        let mut argv: Vec<*mut std::os::raw::c_char> =
            owned.iter().map(|c| c.as_ptr() as *mut _).collect();
        let argc = argv.len() as c_int;
        // SAFETY: argv holds `argc` valid NUL-terminated strings that outlive the call (`owned`
        // lives to the end of this function and DPDK copies what it keeps). The EAL_STARTED
        // flag guarantees a single call per process.
        let rc = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::last("rte_eal_init"));
        }
        Ok(Eal {
            _not_send: std::marker::PhantomData,
        })
    }

    /// Number of lcores the EAL was started with (main included).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialised (we hold the guard).
        unsafe { ffi::rte_lcore_count() }
    }

    /// The worker lcores (every enabled lcore except the main one), in order.
    pub fn worker_lcores(&self) -> Vec<LcoreId> {
        let mut out = Vec::new();
        let mut id = u32::MAX; // rte_get_next_lcore(-1, ...) starts from the first lcore.
        loop {
            // SAFETY: the EAL is initialised; skip_main=1, wrap=0 walks enabled worker lcores.
            id = unsafe { ffi::rte_get_next_lcore(id, 1, 0) };
            if id >= ffi::RTE_MAX_LCORE {
                break;
            }
            out.push(LcoreId(id));
        }
        out
    }

    /// Cycles per second of the time-stamp counter.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is initialised.
        unsafe { ffi::rte_get_tsc_hz() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every pool, port and lcore job borrows or outlives nothing past the guard by
        // construction of the callers (they are dropped first); cleanup is called once.
        unsafe {
            ffi::rte_eal_cleanup();
        }
    }
}

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rte_rdtsc executes the rdtsc instruction; no preconditions.
    unsafe { ffi::osp_rdtsc() }
}

/// Hints the CPU to bring the cache line holding `*v` into all cache levels; a no-op on
/// architectures without the instruction. Used to overlap the memory latency of a burst's flow
/// lookups (hash every key first, prefetch, then process).
#[inline(always)]
pub fn prefetch<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint that never faults, even on an invalid address, and `v` is a
    // valid reference besides; it reads and writes nothing architecturally visible.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (v as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// Asks the kernel to back the whole 2 MiB pages inside `mem` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`), for big tables read at random (the flow slab and index): one TLB
/// entry then covers 2 MiB instead of 4 KiB, so a lookup into a cold part of a 256 MB table
/// no longer pays a page walk on top of its cache misses. Call it before the memory is first
/// written (pages are chosen when they fault). Returns the bytes advised; 0 when the range
/// holds no whole huge page, or the kernel refused (THP disabled, not Linux): a hint only,
/// the memory works the same either way.
pub fn advise_hugepages<T>(mem: &mut [T]) -> usize {
    const HUGE: usize = 2 << 20;
    let start = mem.as_ptr() as usize;
    let end = start + std::mem::size_of_val(mem);
    let lo = start.next_multiple_of(HUGE);
    let hi = end / HUGE * HUGE;
    if hi <= lo {
        return 0;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: [lo, hi) lies inside `mem`, which we borrow mutably, and is page-aligned;
        // MADV_HUGEPAGE changes how the kernel backs the pages, never their contents or
        // mappings, so no reference into `mem` is affected.
        let rc = unsafe { libc::madvise(lo as *mut c_void, hi - lo, libc::MADV_HUGEPAGE) };
        if rc == 0 {
            hi - lo
        } else {
            0
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// An EAL logical core id, shown as `lcore3`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LcoreId(pub u32);

impl fmt::Debug for LcoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lcore{}", self.0)
    }
}

/// An ethernet port id, shown as `port0`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
}

/// A pool of packet buffers (`rte_pktmbuf_pool_create`).
pub struct Mempool {
    raw: *mut ffi::rte_mempool,
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

/// One packet buffer (possibly a chain of segments). Freed on drop.
pub struct Mbuf {
    raw: *mut ffi::rte_mbuf,
}

// SAFETY: an mbuf is exclusively owned by whoever holds this handle; DPDK allows freeing it from
// any lcore or thread (pool ops are MP/MC).
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// The first segment's data.
    pub fn data(&self) -> &[u8] {
        mbuf_first_segment(self.raw)
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

fn mbuf_first_segment<'a>(m: *const ffi::rte_mbuf) -> &'a [u8] {
    // SAFETY: callers pass a live mbuf they own for at least 'a; mtod + data_len describe the
    // initialised bytes of its first segment.
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
struct TimestampField {
    offset: c_int,
    flag: u64,
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
        mbuf_first_segment(self.raw)
    }

    /// Prefetches the first cache line of the packet's data (its headers), as DPDK
    /// applications do for a whole burst before processing its first packet.
    #[inline]
    pub fn prefetch_data(&self) {
        if let Some(b) = mbuf_first_segment(self.raw).first() {
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
        let first = mbuf_first_segment(self.raw);
        if self.segments() <= 1 {
            return first;
        }
        let mut filled = 0;
        let mut seg = self.raw;
        while !seg.is_null() && filled < scratch.len() {
            let data = mbuf_first_segment(seg);
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
    mbufs: [*mut ffi::rte_mbuf; BURST_SIZE],
    len: usize,
    ts: Option<TimestampField>,
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
    /// The packets, in receive order.
    pub fn iter(&self) -> impl Iterator<Item = RxPacket<'_>> + '_ {
        self.mbufs[..self.len].iter().map(move |&m| RxPacket {
            raw: m,
            ts: self.ts,
            _burst: std::marker::PhantomData,
        })
    }
    /// Frees every held mbuf.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` entries are mbufs we own; each is freed exactly once and
            // then forgotten by resetting `len`.
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

/// Port-level statistics (`rte_eth_stats_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PortStats {
    pub ipackets: u64,
    pub ibytes: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub rx_nombuf: u64,
    pub opackets: u64,
    pub obytes: u64,
    pub oerrors: u64,
}

/// How to configure a port.
#[derive(Clone, Debug)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Ask for the Rx timestamp offload when the device offers it.
    pub rx_timestamp: bool,
    /// Spread flows over queues with a symmetric RSS key when the device supports RSS.
    pub symmetric_rss: bool,
    /// Let the NIC validate IPv4, TCP and UDP checksums when it can (the decoder then uses its
    /// verdicts instead of computing them).
    pub rx_checksum: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rx_timestamp: true,
            symmetric_rss: true,
            rx_checksum: true,
        }
    }
}

/// What the device turned out to support once configured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PortInfo {
    pub name: String,
    pub driver: String,
    pub rx_queues: u16,
    pub rx_timestamp: bool,
    pub rss: bool,
    pub scatter: bool,
    /// The NIC validates some of IPv4/TCP/UDP checksums.
    pub rx_checksum: bool,
}

/// A 40-byte Toeplitz key made of one repeated 16-bit word: hashing (a, b) and (b, a) gives
/// the same result, so both directions of a flow land on the same queue (and worker).
const SYMMETRIC_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
];

struct PortInner {
    id: PortId,
    info: PortInfo,
    _pool: Arc<Mempool>,
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: the port was started by us; the last queue handle is gone (they hold this Arc),
        // so no lcore polls it any more.
        unsafe {
            ffi::rte_eth_dev_stop(self.id.0);
            ffi::rte_eth_dev_close(self.id.0);
        }
    }
}

/// A configured, started ethernet port. Stopped and closed when the last handle goes.
#[derive(Clone)]
pub struct Port {
    inner: Arc<PortInner>,
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({})", self.inner.id, self.inner.info.name)
    }
}

impl Port {
    /// Finds a port by device name (e.g. `net_pcap0`, or a PCI address).
    pub fn by_name(_eal: &Eal, name: &str) -> Result<PortId, DpdkError> {
        let cname = cstring("port name", name)?;
        let mut id = 0u16;
        // SAFETY: the EAL is initialised; `cname` is NUL-terminated; `id` is a valid out-pointer.
        let rc = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(DpdkError::NoSuchPort(name.to_owned()));
        }
        Ok(PortId(id))
    }

    /// Configures and starts `id` with `cfg`, receiving into `pool`.
    pub fn start(
        _eal: &Eal,
        id: PortId,
        name: &str,
        cfg: &PortConfig,
        pool: Arc<Mempool>,
    ) -> Result<Port, DpdkError> {
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: `id` names a probed device; `info` is a valid out-pointer.
        check("rte_eth_dev_info_get", unsafe {
            ffi::rte_eth_dev_info_get(id.0, &mut info)
        })?;
        if cfg.rx_queues == 0 || cfg.rx_queues > info.max_rx_queues {
            return Err(DpdkError::Invalid {
                what: "rx queues",
                why: format!(
                    "{} asked, device {name} supports 1..={}",
                    cfg.rx_queues, info.max_rx_queues
                ),
            });
        }
        // SAFETY: reading extern consts exported by the shim.
        let (ts_flag, scatter_flag, rss_ip, rss_tcp, rss_udp) = unsafe {
            (
                ffi::osp_rx_offload_timestamp,
                ffi::osp_rx_offload_scatter,
                ffi::osp_rss_ip,
                ffi::osp_rss_tcp,
                ffi::osp_rss_udp,
            )
        };
        let mut conf = ffi::rte_eth_conf::default();
        let rx_timestamp = cfg.rx_timestamp && info.rx_offload_capa & ts_flag != 0;
        if rx_timestamp {
            conf.rxmode.offloads |= ts_flag;
        }
        // Jumbo frames (captures carry up to ~10 KB) arrive as mbuf chains where supported.
        let scatter = info.rx_offload_capa & scatter_flag != 0;
        if scatter {
            conf.rxmode.offloads |= scatter_flag;
        }
        // Whichever of IPv4/TCP/UDP checksum validation the device offers.
        let rx_checksum = if cfg.rx_checksum {
            // SAFETY: reading an extern const exported by the shim.
            let all = unsafe { ffi::osp_rx_offload_checksum };
            all & info.rx_offload_capa
        } else {
            0
        };
        conf.rxmode.offloads |= rx_checksum;
        let rss_hf = (rss_ip | rss_tcp | rss_udp) & info.flow_type_rss_offloads;
        let rss = cfg.symmetric_rss && cfg.rx_queues > 1 && rss_hf != 0;
        let mut key = SYMMETRIC_RSS_KEY;
        if rss {
            conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            if info.hash_key_size as usize == key.len() {
                conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            }
        }
        if rx_timestamp {
            let mut offset: c_int = -1;
            let mut flag: u64 = 0;
            // SAFETY: registering the well-known timestamp dynfield is idempotent; the
            // out-pointers are valid.
            check("rte_mbuf_dyn_rx_timestamp_register", unsafe {
                ffi::rte_mbuf_dyn_rx_timestamp_register(&mut offset, &mut flag)
            })?;
        }
        // SAFETY: `conf` is fully initialised and `key` outlives the call (DPDK copies it).
        check("rte_eth_dev_configure", unsafe {
            ffi::rte_eth_dev_configure(id.0, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        // SAFETY: the port is configured; the socket query has no other precondition.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id.0) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.rx_queues {
            // SAFETY: the port is configured with this many queues; a NULL rx_conf selects the
            // driver defaults; the pool is live and kept alive by the returned Port.
            check("rte_eth_rx_queue_setup", unsafe {
                ffi::rte_eth_rx_queue_setup(id.0, q, cfg.rx_desc, socket, ptr::null(), pool.raw)
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: as above for Tx; NULL tx_conf selects defaults.
            check("rte_eth_tx_queue_setup", unsafe {
                ffi::rte_eth_tx_queue_setup(id.0, q, cfg.tx_desc, socket, ptr::null())
            })?;
        }
        // SAFETY: all queues are set up.
        check("rte_eth_dev_start", unsafe { ffi::rte_eth_dev_start(id.0) })?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: driver_name is a static NUL-terminated string owned by the driver.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                info: PortInfo {
                    name: name.to_owned(),
                    driver,
                    rx_queues: cfg.rx_queues,
                    rx_timestamp,
                    rss,
                    scatter,
                    rx_checksum: rx_checksum != 0,
                },
                _pool: pool,
            }),
        })
    }

    /// The port id.
    pub fn id(&self) -> PortId {
        self.inner.id
    }

    /// What the device supports as configured.
    pub fn info(&self) -> &PortInfo {
        &self.inner.info
    }

    /// A handle for polling Rx queue `queue` (to move onto a worker lcore).
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue, DpdkError> {
        if queue >= self.inner.info.rx_queues {
            return Err(DpdkError::Invalid {
                what: "rx queue",
                why: format!("{queue} >= {}", self.inner.info.rx_queues),
            });
        }
        // Some drivers (net_pcap in DPDK 22.11) stamp packets without advertising the offload;
        // the per-packet flag says whether a stamp is present.
        let ts = timestamp_field();
        Ok(RxQueue {
            port: self.inner.clone(),
            queue,
            ts,
        })
    }

    /// Basic port counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: the port is live; `s` is a valid out-pointer.
        check("rte_eth_stats_get", unsafe {
            ffi::rte_eth_stats_get(self.inner.id.0, &mut s)
        })?;
        Ok(PortStats {
            ipackets: s.ipackets,
            ibytes: s.ibytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            rx_nombuf: s.rx_nombuf,
            opackets: s.opackets,
            obytes: s.obytes,
            oerrors: s.oerrors,
        })
    }

    /// Every extended statistic the driver exposes, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>, DpdkError> {
        let id = self.inner.id.0;
        // SAFETY: a NULL array with size 0 asks for the count.
        let n = check("rte_eth_xstats_get_names", unsafe {
            ffi::rte_eth_xstats_get_names(id, ptr::null_mut(), 0)
        })? as usize;
        let mut names = vec![ffi::rte_eth_xstat_name::default(); n];
        let mut vals = vec![ffi::rte_eth_xstat::default(); n];
        // SAFETY: both arrays hold `n` elements.
        let got_names = check("rte_eth_xstats_get_names", unsafe {
            ffi::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32)
        })? as usize;
        // SAFETY: as above.
        let got_vals = check("rte_eth_xstats_get", unsafe {
            ffi::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32)
        })? as usize;
        let k = got_names.min(got_vals).min(n);
        Ok(vals[..k]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates xstat names within their 64-byte array.
                let s = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                Some((s.to_string_lossy().into_owned(), v.value))
            })
            .collect())
    }

    /// Link state: (up, speed in Mbps).
    pub fn link(&self) -> (bool, u32) {
        let mut l = ffi::rte_eth_link::default();
        // SAFETY: the port is live; `l` is a valid out-pointer.
        let rc = unsafe { ffi::rte_eth_link_get_nowait(self.inner.id.0, &mut l) };
        if rc < 0 {
            return (false, 0);
        }
        (l.link_status() != 0, l.link_speed)
    }
}

fn timestamp_field() -> Option<TimestampField> {
    let mut offset: c_int = -1;
    let mut flag: u64 = 0;
    // SAFETY: idempotent registration returning the existing field/flag; valid out-pointers.
    let rc = unsafe { ffi::rte_mbuf_dyn_rx_timestamp_register(&mut offset, &mut flag) };
    (rc == 0 && offset >= 0).then_some(TimestampField { offset, flag })
}

/// One Rx queue of a started port, to be polled by exactly one lcore.
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
    ts: Option<TimestampField>,
}

// SAFETY: a queue handle is moved to the single lcore that polls it; DPDK's per-queue rx_burst is
// safe from any one thread at a time, and the Arc keeps the port open.
unsafe impl Send for RxQueue {}

impl fmt::Debug for RxQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}/rxq{}", self.port.id, self.queue)
    }
}

impl RxQueue {
    /// Receives up to [`BURST_SIZE`] packets into `burst` (which is cleared first). Returns the
    /// number received.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        burst.clear();
        // SAFETY: `&mut self` guarantees this queue is polled by one thread; the array has room
        // for BURST_SIZE pointers and DPDK writes at most that many owned mbufs.
        let n = unsafe {
            ffi::osp_eth_rx_burst(
                self.port.id.0,
                self.queue,
                burst.mbufs.as_mut_ptr(),
                BURST_SIZE as u16,
            )
        };
        burst.len = n as usize;
        burst.ts = self.ts;
        burst.len
    }

    /// The queue number.
    pub fn queue(&self) -> u16 {
        self.queue
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct LaunchSlot {
    job: Option<Job>,
    panicked: bool,
}

extern "C" fn lcore_trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the LaunchSlot leaked by `launch`, which stays alive until `join`
    // reclaims it after rte_eal_wait_lcore has returned; only this lcore touches it meanwhile.
    let slot = unsafe { &mut *(arg as *mut LaunchSlot) };
    let Some(job) = slot.job.take() else {
        return -1;
    };
    // A panic must not unwind across the C frame: catch it and report it through the slot.
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => {
            slot.panicked = true;
            -1
        }
    }
}

/// A job running on a worker lcore; [`LcoreJob::join`] waits for it.
pub struct LcoreJob<T> {
    lcore: LcoreId,
    slot: *mut LaunchSlot,
    result: Arc<std::sync::Mutex<Option<T>>>,
    joined: bool,
}

impl<T> fmt::Debug for LcoreJob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LcoreJob({:?})", self.lcore)
    }
}

/// Why a job did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the job on {0:?} panicked")]
    Panicked(LcoreId),
}

/// Runs `f` on worker lcore `lcore` (pinned by the EAL).
pub fn launch<T, F>(_eal: &Eal, lcore: LcoreId, f: F) -> Result<LcoreJob<T>, DpdkError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let result = Arc::new(std::sync::Mutex::new(None));
    let out = result.clone();
    let job: Job = Box::new(move || {
        let v = f();
        if let Ok(mut g) = out.lock() {
            *g = Some(v);
        }
    });
    let slot = Box::into_raw(Box::new(LaunchSlot {
        job: Some(job),
        panicked: false,
    }));
    // SAFETY: the trampoline has the C signature DPDK expects and never unwinds; `slot` stays
    // valid until `join` (or Drop) has waited for the lcore.
    let rc =
        unsafe { ffi::rte_eal_remote_launch(Some(lcore_trampoline), slot as *mut c_void, lcore.0) };
    if rc != 0 {
        // SAFETY: the launch failed, so no lcore holds `slot`; reclaim it.
        drop(unsafe { Box::from_raw(slot) });
        return Err(DpdkError::from_errno("rte_eal_remote_launch", rc));
    }
    Ok(LcoreJob {
        lcore,
        slot,
        result,
        joined: false,
    })
}

impl<T> LcoreJob<T> {
    /// The lcore running the job.
    pub fn lcore(&self) -> LcoreId {
        self.lcore
    }

    fn wait(&mut self) -> bool {
        if self.joined {
            return false;
        }
        // SAFETY: the lcore was launched by us; waiting is allowed from the main lcore.
        unsafe { ffi::rte_eal_wait_lcore(self.lcore.0) };
        self.joined = true;
        // SAFETY: the lcore has finished, so nothing else references the slot; reclaim it once.
        let slot = unsafe { Box::from_raw(self.slot) };
        slot.panicked
    }

    /// Waits for the job and returns its value.
    pub fn join(mut self) -> Result<T, JoinError> {
        let panicked = self.wait();
        let value = self.result.lock().ok().and_then(|mut g| g.take());
        match value {
            Some(v) if !panicked => Ok(v),
            _ => Err(JoinError::Panicked(self.lcore)),
        }
    }
}

impl<T> Drop for LcoreJob<T> {
    fn drop(&mut self) {
        self.wait();
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
