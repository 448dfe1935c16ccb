//! Port counters: basic statistics, extended statistics by name, link state.

use std::ffi::CStr;
use std::ptr;

use dpdk_ffi as ffi;

use super::error::{check, DpdkError};
use super::port::Port;

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

impl Port {
    /// Basic port counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: the port is live; `s` is a valid out-pointer.
        check("rte_eth_stats_get", unsafe {
            ffi::rte_eth_stats_get(self.id().0, &mut s)
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
        let id = self.id().0;
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
        let rc = unsafe { ffi::rte_eth_link_get_nowait(self.id().0, &mut l) };
        if rc < 0 {
            return (false, 0);
        }
        (l.link_status() != 0, l.link_speed)
    }
}
