//! Packet sources behind one interface: DPDK ports ([`crate::dpdk`]) and capture files
//! ([`pcap`]), plus [`split`], which divides a capture into one file per worker by a symmetric
//! flow hash so that each flow stays on one worker when `net_pcap` serves a file per queue.

pub mod pcap;
pub mod split;

/// Wire lengths of the frames that the snap length cut, by packet number within one capture
/// file. A capture port such as `net_pcap` delivers only the captured bytes; the worker restores
/// the wire length from this table (built by the pre-flight scan or the split) so that byte
/// counters match the capture's (`capinfos -d`). Lookups walk a cursor: O(1) per packet, no
/// allocation.
#[derive(Clone, Debug, Default)]
pub struct WireLengths {
    cut: Vec<(u64, u32)>,
    next: usize,
}

impl WireLengths {
    /// A table from (1-based packet number, wire length) pairs in packet order.
    pub fn new(cut: Vec<(u64, u32)>) -> Self {
        WireLengths { cut, next: 0 }
    }

    /// Number of cut frames in the table.
    pub fn len(&self) -> usize {
        self.cut.len()
    }

    /// True when no frame was cut.
    pub fn is_empty(&self) -> bool {
        self.cut.is_empty()
    }

    /// The wire length of packet `number` (1-based, increasing across calls) that arrived with
    /// `captured` bytes.
    #[inline]
    pub fn wire_len(&mut self, number: u64, captured: u32) -> u32 {
        while let Some(&(n, w)) = self.cut.get(self.next) {
            if n < number {
                self.next += 1;
                continue;
            }
            if n == number {
                self.next += 1;
                return w.max(captured);
            }
            break;
        }
        captured
    }
}
