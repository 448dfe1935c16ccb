//! Expected FTP data connections, per worker: a fixed table filled when a control channel
//! announces a port and a transfer command claims it, looked up when a TCP flow starts.
//!
//! An entry matches a new flow between the control flow's two hosts (either may connect)
//! whose responder port is the announced one; it is used once. Entries expire after
//! [`EXPECT_TIMEOUT`] of packet time. The table never allocates after creation: a full
//! table refuses the new entry (`ftp.expect.dropped`), an expired one is overwritten
//! (`ftp.expect.expired`).
//!
//! RSS: a data connection has other ports than its control flow, so a NIC's symmetric RSS
//! may deliver it to another worker, which has no entry for it: it is then inspected as
//! plain TCP (the announcing worker counts the entry as expired). Replays split captures by
//! host pair, so control and data flows of one pair meet on one worker there.

use std::net::IpAddr;

use super::data::DataOrigin;
use super::parser::Command;
use crate::flow::FlowTuple;
use crate::time::Timestamp;

/// How long an announced data connection is waited for (packet time).
pub const EXPECT_TIMEOUT: Timestamp = Timestamp(60 * 1_000_000_000);

/// Longest file name kept in an entry.
pub const MAX_NAME: usize = 256;

/// Counters of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpectCounters {
    /// `ftp.expect.created`.
    pub created: u64,
    /// `ftp.expect.matched`: data flows tagged `ftp-data`.
    pub matched: u64,
    /// `ftp.expect.dropped`: announcements refused because the table was full.
    pub dropped: u64,
    /// `ftp.expect.expired`: announcements no data flow claimed in time.
    pub expired: u64,
}

/// A data connection a control channel announced and a transfer command claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The responder's port.
    pub port: u16,
    /// RETR or STOR.
    pub command: Command,
    name: [u8; MAX_NAME],
    name_len: u16,
}

impl Pending {
    /// A connection to `port` for `command` with argument `name` (cut at [`MAX_NAME`]).
    pub fn new(port: u16, command: Command, name: &[u8]) -> Pending {
        let mut buf = [0u8; MAX_NAME];
        let n = name.len().min(MAX_NAME);
        buf[..n].copy_from_slice(&name[..n]);
        Pending {
            port,
            command,
            name: buf,
            name_len: n as u16,
        }
    }

    /// The command's argument.
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    hosts: (IpAddr, IpAddr),
    expires: Timestamp,
    control_flow: u64,
    what: Pending,
}

/// The worker's expected data connections.
#[derive(Debug)]
pub struct Expectations {
    entries: Box<[Option<Entry>]>,
    live: usize,
}

impl Expectations {
    /// A table of `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Expectations {
        Expectations {
            entries: vec![None; capacity.max(1)].into_boxed_slice(),
            live: 0,
        }
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Expects `what` between the hosts of flow `control_flow` (`control`, client → server).
    /// An entry for the same hosts and port is replaced.
    pub fn add(
        &mut self,
        control: &FlowTuple,
        control_flow: u64,
        what: Pending,
        now: Timestamp,
        ctr: &mut ExpectCounters,
    ) {
        let mut free = None;
        for (i, e) in self.entries.iter_mut().enumerate() {
            match e {
                Some(x) if x.expires.0 < now.0 => {
                    *e = None;
                    self.live -= 1;
                    ctr.expired += 1;
                    free.get_or_insert(i);
                }
                None => {
                    free.get_or_insert(i);
                }
                Some(x) if x.what.port == what.port && x.hosts == (control.src, control.dst) => {
                    *e = None;
                    self.live -= 1;
                    free.get_or_insert(i);
                }
                Some(_) => {}
            }
        }
        let Some(i) = free else {
            ctr.dropped += 1;
            return;
        };
        self.entries[i] = Some(Entry {
            hosts: (control.src, control.dst),
            expires: Timestamp(now.0.saturating_add(EXPECT_TIMEOUT.0)),
            control_flow,
            what,
        });
        self.live += 1;
        ctr.created += 1;
    }

    /// The origin of new flow `t` (client → server) if it was expected; the entry is used up.
    pub fn claim(
        &mut self,
        t: &FlowTuple,
        now: Timestamp,
        ctr: &mut ExpectCounters,
    ) -> Option<DataOrigin> {
        if self.live == 0 {
            return None;
        }
        let pair =
            |h: (IpAddr, IpAddr)| (h.0 == t.src && h.1 == t.dst) || (h.0 == t.dst && h.1 == t.src);
        let i = self.entries.iter().position(|e| {
            e.as_ref()
                .is_some_and(|e| e.what.port == t.dst_port && pair(e.hosts) && e.expires.0 >= now.0)
        })?;
        let e = self.entries[i].take()?;
        self.live -= 1;
        ctr.matched += 1;
        Some(DataOrigin {
            command: Some(e.what.command),
            name: e.what.name().to_vec(),
            control_flow: e.control_flow,
        })
    }
}
