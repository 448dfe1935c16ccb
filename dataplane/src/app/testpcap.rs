//! Test and bench helper: reads a classic pcap and returns each TCP/UDP flow's payloads in
//! capture order, per direction, as the flow layer would hand them to the app layer. Assumes
//! simple captures: TCP retransmissions (already-seen sequence space) are trimmed, later
//! segments are taken as they come (no reordering).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;

use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

/// One payload piece.
#[derive(Clone, Debug)]
pub struct Piece {
    /// True if it travelled from the flow's initiator.
    pub to_server: bool,
    /// Payload bytes.
    pub data: Vec<u8>,
    /// Capture time, nanoseconds.
    pub ts: u64,
    /// Packet number in the capture (1-based, Suricata's `pcap_cnt`).
    pub pcap_cnt: u64,
}

/// A flow's payloads.
#[derive(Clone, Debug)]
pub struct PcapFlow {
    /// 6 TCP, 17 UDP.
    pub proto: u8,
    /// Initiator address and port.
    pub client: (IpAddr, u16),
    /// Responder address and port.
    pub server: (IpAddr, u16),
    /// Payloads in capture order.
    pub pieces: Vec<Piece>,
    next_seq: [Option<u32>; 2],
}

impl PcapFlow {
    /// Concatenated payload of one direction.
    pub fn stream(&self, to_server: bool) -> Vec<u8> {
        self.pieces
            .iter()
            .filter(|p| p.to_server == to_server)
            .flat_map(|p| p.data.iter().copied())
            .collect()
    }
}

type Key = (IpAddr, u16, IpAddr, u16, u8);

/// Reads `path`; `None` if it cannot be opened or parsed.
pub fn read_flows(path: &str) -> Option<Vec<PcapFlow>> {
    let f = std::fs::File::open(path).ok()?;
    let mut r = PcapReader::new(f).ok()?;
    let link = r.header().datalink;
    let mut flows: Vec<PcapFlow> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut pcap_cnt = 0u64;
    while let Some(p) = r.next_packet() {
        let Ok(p) = p else { break };
        pcap_cnt += 1;
        let ts = p.timestamp.as_nanos() as u64;
        let d: &[u8] = &p.data;
        let l3 = match link {
            DataLink::NULL | DataLink::LOOP => d.get(4..),
            DataLink::ETHERNET => ether(d),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Some(d),
            DataLink::LINUX_SLL => d.get(16..),
            _ => None,
        };
        let Some(l3) = l3 else { continue };
        let Some((src, dst, proto, l4)) = ip(l3) else {
            continue;
        };
        let (sport, dport, payload, seq, syn, ack) = match proto {
            6 if l4.len() >= 20 => {
                let off = ((l4[12] >> 4) as usize) * 4;
                let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
                let flags = l4[13];
                (
                    u16::from_be_bytes([l4[0], l4[1]]),
                    u16::from_be_bytes([l4[2], l4[3]]),
                    l4.get(off..).unwrap_or(&[]),
                    seq,
                    flags & 0x02 != 0,
                    flags & 0x10 != 0,
                )
            }
            17 if l4.len() >= 8 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
                &l4[8..],
                0,
                false,
                false,
            ),
            _ => continue,
        };
        let fwd: Key = (src, sport, dst, dport, proto);
        let rev: Key = (dst, dport, src, sport, proto);
        let (idx, to_server) = if let Some(&i) = index.get(&fwd) {
            (i, true)
        } else if let Some(&i) = index.get(&rev) {
            (i, false)
        } else {
            // A SYN+ACK first means we see the responder first.
            let responder_first = syn && ack;
            let (client, server) = if responder_first {
                ((dst, dport), (src, sport))
            } else {
                ((src, sport), (dst, dport))
            };
            flows.push(PcapFlow {
                proto,
                client,
                server,
                pieces: Vec::new(),
                next_seq: [None, None],
            });
            let i = flows.len() - 1;
            let key: Key = (client.0, client.1, server.0, server.1, proto);
            index.insert(key, i);
            (i, !responder_first)
        };
        let flow = &mut flows[idx];
        let dir = usize::from(!to_server);
        let mut payload = payload;
        if proto == 6 {
            let start = if syn { seq.wrapping_add(1) } else { seq };
            match flow.next_seq[dir] {
                None => flow.next_seq[dir] = Some(start),
                Some(next) => {
                    let behind = next.wrapping_sub(start);
                    if (behind as i32) > 0 {
                        // Retransmitted bytes: keep only what is new.
                        let skip = (behind as usize).min(payload.len());
                        payload = &payload[skip..];
                    }
                }
            }
            if !payload.is_empty() {
                let end = seq.wrapping_add(l4_len_new(seq, flow.next_seq[dir], payload.len()));
                let cur = flow.next_seq[dir].unwrap_or(end);
                if (end.wrapping_sub(cur) as i32) > 0 {
                    flow.next_seq[dir] = Some(end);
                }
            }
        }
        if !payload.is_empty() {
            flow.pieces.push(Piece {
                to_server,
                data: payload.to_vec(),
                ts,
                pcap_cnt,
            });
        }
    }
    Some(flows)
}

/// Sequence span covered after trimming: from max(seq, next) for `len` bytes.
fn l4_len_new(seq: u32, next: Option<u32>, len: usize) -> u32 {
    match next {
        Some(n) if (n.wrapping_sub(seq) as i32) > 0 => n.wrapping_sub(seq) + len as u32,
        _ => len as u32,
    }
}

fn ether(d: &[u8]) -> Option<&[u8]> {
    let mut et = u16::from_be_bytes([*d.get(12)?, *d.get(13)?]);
    let mut off = 14;
    // 802.1Q / QinQ tags.
    let mut tags = 0;
    while (et == 0x8100 || et == 0x88a8) && tags < 4 {
        et = u16::from_be_bytes([*d.get(off + 2)?, *d.get(off + 3)?]);
        off += 4;
        tags += 1;
    }
    match et {
        0x0800 | 0x86dd => d.get(off..),
        _ => None,
    }
}

fn ip(d: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match d.first()? >> 4 {
        4 => {
            let ihl = ((d[0] & 0x0f) as usize) * 4;
            let total = u16::from_be_bytes([*d.get(2)?, *d.get(3)?]) as usize;
            let frag = u16::from_be_bytes([*d.get(6)?, *d.get(7)?]);
            if frag & 0x1fff != 0 {
                return None;
            }
            let src: [u8; 4] = d.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = d.get(16..20)?.try_into().ok()?;
            let end = total.min(d.len()).max(ihl);
            Some((src.into(), dst.into(), d[9], d.get(ihl..end)?))
        }
        6 => {
            let plen = u16::from_be_bytes([*d.get(4)?, *d.get(5)?]) as usize;
            let src: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = d.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(d.len());
            Some((src.into(), dst.into(), d[6], d.get(40..end)?))
        }
        _ => None,
    }
}
