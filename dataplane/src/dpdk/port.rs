//! Ethernet ports: configuration (queues, RSS, offloads), start, and their Rx queues.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;
use std::ptr;
use std::sync::Arc;

use dpdk_ffi as ffi;

use super::eal::Eal;
use super::error::{check, cstring, DpdkError};
use super::mbuf::{Burst, TimestampField, BURST_SIZE};
use super::mempool::Mempool;
use super::tx::TxQueue;

/// An ethernet port id, shown as `port0`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port{}", self.0)
    }
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
    pub tx_queues: u16,
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

pub(super) struct PortInner {
    pub(super) id: PortId,
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
                    tx_queues: cfg.tx_queues,
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
}

impl Port {
    /// A handle for transmitting on Tx queue `queue` (to move onto a worker lcore).
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue, DpdkError> {
        if queue >= self.inner.info.tx_queues {
            return Err(DpdkError::Invalid {
                what: "tx queue",
                why: format!("{queue} >= {}", self.inner.info.tx_queues),
            });
        }
        Ok(TxQueue {
            port: self.inner.clone(),
            queue,
        })
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
        self.rx_burst_upto(burst, BURST_SIZE)
    }

    /// Receives up to `max` (at most [`BURST_SIZE`]) packets into `burst` (which is cleared
    /// first): a paced replay takes only the packets whose time has come.
    #[inline]
    pub fn rx_burst_upto(&mut self, burst: &mut Burst, max: usize) -> usize {
        burst.clear();
        let max = max.min(BURST_SIZE) as u16;
        // SAFETY: `&mut self` guarantees this queue is polled by one thread; the array has room
        // for BURST_SIZE pointers and DPDK writes at most `max` (≤ BURST_SIZE) owned mbufs.
        let n = unsafe {
            ffi::osp_eth_rx_burst(self.port.id.0, self.queue, burst.mbufs.as_mut_ptr(), max)
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
