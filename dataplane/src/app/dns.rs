//! DNS over UDP (one message per datagram) and TCP (2-byte length framing, RFC 1035 §4.2.2).
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
//! |                    QDCOUNT                    |
//! |                    ANCOUNT                    |
//! |                    NSCOUNT                    |
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```
//!
//! Every message is one transaction (as in Suricata): its questions give `dns.query` (one
//! buffer per name, dotted, as sent), `dns.opcode` and `dns.rrtype`; answers are kept for EVE.
//! Names with compression pointers (RFC 1035 §4.1.4) are bounded: pointers must point strictly
//! backwards, at most [`MAX_POINTER_HOPS`] hops and [`MAX_LABELS`] labels per name.

use std::collections::VecDeque;
use std::ops::Range;

use super::{AppConfig, AppCounters, AppError, AppEvent, Direction, EventSet, Progress, Transport};
use crate::time::Timestamp;

/// Compression pointers followed per name at most.
pub const MAX_POINTER_HOPS: usize = 32;
/// Labels per name at most.
pub const MAX_LABELS: usize = 128;
/// Longest dotted name kept (longer names are truncated and flagged).
pub const MAX_NAME: usize = 1025;
/// Messages kept per flow for inspection; older ones are recycled.
pub const MAX_TXS: usize = 32;

/// One question.
#[derive(Clone, Debug)]
pub struct DnsQuery {
    name: Range<u32>,
    /// QTYPE.
    pub rrtype: u16,
    /// QCLASS.
    pub rrclass: u16,
}

/// One resource record (answer or authority).
#[derive(Clone, Debug)]
pub struct DnsRecord {
    name: Range<u32>,
    /// TYPE.
    pub rrtype: u16,
    /// CLASS.
    pub rrclass: u16,
    /// TTL.
    pub ttl: u32,
    rdata: Range<u32>,
}

/// Which section a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
}

/// One DNS message (a transaction).
#[derive(Debug, Default)]
pub struct DnsTx {
    /// Sequence number within the flow (Suricata's `tx_id`).
    pub tx_id: u64,
    /// Direction it travelled.
    pub dir: Option<Direction>,
    /// Message ID.
    pub id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    queries: Vec<DnsQuery>,
    answers: Vec<DnsRecord>,
    authorities: Vec<DnsRecord>,
    /// Names and rendered rdata, referenced by ranges.
    text: Vec<u8>,
    /// Not yet inspected by the detection stage.
    pub changed: bool,
}

impl DnsTx {
    /// QR bit: a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// `dns.opcode`.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    /// RCODE.
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
    /// Questions.
    pub fn queries(&self) -> &[DnsQuery] {
        &self.queries
    }
    /// `dns.query` buffer `i` (dotted name as sent).
    pub fn query_name(&self, i: usize) -> Option<&[u8]> {
        self.queries.get(i).map(|q| self.slice(&q.name))
    }
    /// Records of a section.
    pub fn records(&self, s: Section) -> &[DnsRecord] {
        match s {
            Section::Answer => &self.answers,
            Section::Authority => &self.authorities,
        }
    }
    /// A record's owner name.
    pub fn record_name(&self, r: &DnsRecord) -> &[u8] {
        self.slice(&r.name)
    }
    /// A record's rdata rendered for EVE (addresses, names, text); empty for other types.
    pub fn record_rdata(&self, r: &DnsRecord) -> &[u8] {
        self.slice(&r.rdata)
    }
    fn slice(&self, r: &Range<u32>) -> &[u8] {
        &self.text[r.start as usize..r.end as usize]
    }
    fn reset(&mut self, tx_id: u64, dir: Direction) {
        self.tx_id = tx_id;
        self.dir = Some(dir);
        self.id = 0;
        self.flags = 0;
        self.queries.clear();
        self.answers.clear();
        self.authorities.clear();
        self.text.clear();
        self.changed = true;
    }
}

/// Why a message could not be fully parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsError {
    /// Truncated or inconsistent.
    Malformed,
    /// A pointer loop or forward pointer.
    Loop,
    /// Too many labels.
    TooManyLabels,
}

/// Reads a (possibly compressed) name at `pos` of `msg`, appending its dotted form to `out`.
/// Returns the offset just past the name in the original position.
pub fn read_name(msg: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, DnsError> {
    let start_len = out.len();
    let mut end = None;
    let mut hops = 0;
    let mut labels = 0;
    // The lowest offset a pointer may target: strictly before every name start followed.
    let mut limit = pos;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Malformed)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                labels += 1;
                if labels > MAX_LABELS {
                    return Err(DnsError::TooManyLabels);
                }
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(DnsError::Malformed)?;
                if out.len() > start_len {
                    out.push(b'.');
                }
                if out.len() - start_len + len <= MAX_NAME {
                    out.extend_from_slice(label);
                }
                pos += 1 + len;
            }
            0xc0 => {
                let b2 = *msg.get(pos + 1).ok_or(DnsError::Malformed)? as usize;
                let target = (len & 0x3f) << 8 | b2;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                hops += 1;
                if target >= limit || hops > MAX_POINTER_HOPS {
                    return Err(DnsError::Loop);
                }
                limit = target;
                pos = target;
            }
            _ => return Err(DnsError::Malformed),
        }
    }
}

fn be16(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(p)?, *b.get(p + 1)?]))
}

fn be32(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(p)?,
        *b.get(p + 1)?,
        *b.get(p + 2)?,
        *b.get(p + 3)?,
    ]))
}

/// Parses `msg` into `tx` (already reset). Partial results stay in `tx` on error.
pub fn parse_message(
    msg: &[u8],
    tx: &mut DnsTx,
    max_records: usize,
    events: &mut EventSet,
) -> Result<(), DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Malformed);
    }
    tx.id = be16(msg, 0).ok_or(DnsError::Malformed)?;
    tx.flags = be16(msg, 2).ok_or(DnsError::Malformed)?;
    if tx.flags & 0x0040 != 0 {
        events.push(AppEvent::DnsZFlagSet);
    }
    let qd = be16(msg, 4).unwrap_or(0) as usize;
    let an = be16(msg, 6).unwrap_or(0) as usize;
    let ns = be16(msg, 8).unwrap_or(0) as usize;
    let mut pos = 12;
    if qd.max(an).max(ns) > max_records {
        events.push(AppEvent::DnsTooManyRecords);
    }
    for _ in 0..qd.min(max_records) {
        let start = tx.text.len() as u32;
        pos = read_name(msg, pos, &mut tx.text)?;
        let name = start..tx.text.len() as u32;
        let rrtype = be16(msg, pos).ok_or(DnsError::Malformed)?;
        let rrclass = be16(msg, pos + 2).ok_or(DnsError::Malformed)?;
        pos += 4;
        tx.queries.push(DnsQuery {
            name,
            rrtype,
            rrclass,
        });
    }
    for (count, section) in [(an, Section::Answer), (ns, Section::Authority)] {
        for _ in 0..count.min(max_records) {
            let r = match read_record(msg, &mut pos, &mut tx.text) {
                Ok(r) => r,
                Err(e) => {
                    if section == Section::Authority {
                        events.push(AppEvent::DnsInvalidAuthorities);
                    }
                    return Err(e);
                }
            };
            match section {
                Section::Answer => tx.answers.push(r),
                Section::Authority => tx.authorities.push(r),
            }
        }
    }
    Ok(())
}

fn read_record(msg: &[u8], pos: &mut usize, text: &mut Vec<u8>) -> Result<DnsRecord, DnsError> {
    let start = text.len() as u32;
    let p = read_name(msg, *pos, text)?;
    let name = start..text.len() as u32;
    let rrtype = be16(msg, p).ok_or(DnsError::Malformed)?;
    let rrclass = be16(msg, p + 2).ok_or(DnsError::Malformed)?;
    let ttl = be32(msg, p + 4).ok_or(DnsError::Malformed)?;
    let rdlen = be16(msg, p + 8).ok_or(DnsError::Malformed)? as usize;
    let rd_start = p + 10;
    let rdata = msg
        .get(rd_start..rd_start + rdlen)
        .ok_or(DnsError::Malformed)?;
    let rstart = text.len() as u32;
    render_rdata(msg, rd_start, rrtype, rdata, text);
    *pos = rd_start + rdlen;
    Ok(DnsRecord {
        name,
        rrtype,
        rrclass,
        ttl,
        rdata: rstart..text.len() as u32,
    })
}

/// Renders rdata as Suricata's EVE shows it (dotted IPv4, RFC 5952 IPv6, names, text).
fn render_rdata(msg: &[u8], at: usize, rrtype: u16, rdata: &[u8], text: &mut Vec<u8>) {
    use std::io::Write;
    match (rrtype, rdata.len()) {
        (1, 4) => {
            let _ = write!(
                text,
                "{}",
                std::net::Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])
            );
        }
        (28, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rdata);
            let _ = write!(text, "{}", std::net::Ipv6Addr::from(a));
        }
        // CNAME, NS, PTR, DNAME: a name; SOA: its MNAME.
        (5 | 2 | 12 | 39 | 6, _) => {
            let mark = text.len();
            if read_name(msg, at, text).is_err() {
                text.truncate(mark);
            }
        }
        // MX: preference, then a name.
        (15, n) if n > 2 => {
            let mark = text.len();
            if read_name(msg, at + 2, text).is_err() {
                text.truncate(mark);
            }
        }
        // TXT: length-prefixed strings, concatenated.
        (16, _) => {
            let mut i = 0;
            while i < rdata.len() {
                let l = rdata[i] as usize;
                let s = rdata.get(i + 1..i + 1 + l).unwrap_or(&rdata[i + 1..]);
                text.extend_from_slice(s);
                i += 1 + l;
            }
        }
        _ => {}
    }
}

/// Suricata's name for an RR type (EVE `rrtype`).
pub fn rrtype_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => "",
    }
}

/// Suricata's name for an RCODE (EVE `rcode`).
pub fn rcode_name(r: u8) -> &'static str {
    match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "",
    }
}

/// DNS state of one flow.
#[derive(Debug)]
pub struct DnsState {
    transport: Transport,
    txs: VecDeque<DnsTx>,
    pool: Vec<DnsTx>,
    next_tx: u64,
    /// TCP: partial frame per direction (reused).
    frame: [Vec<u8>; 2],
    /// TCP: direction lost sync after a gap.
    lost: [bool; 2],
}

impl DnsState {
    /// A new flow's DNS state.
    pub fn new(transport: Transport) -> DnsState {
        DnsState {
            transport,
            txs: VecDeque::new(),
            pool: Vec::new(),
            next_tx: 0,
            frame: Default::default(),
            lost: [false; 2],
        }
    }

    /// Messages kept, oldest first.
    pub fn txs(&self) -> impl Iterator<Item = &DnsTx> {
        self.txs.iter()
    }

    /// Mutable messages (to clear `changed`).
    pub fn txs_mut(&mut self) -> impl Iterator<Item = &mut DnsTx> {
        self.txs.iter_mut()
    }

    fn message(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        msg: &[u8],
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        if self.txs.len() >= MAX_TXS {
            if let Some(t) = self.txs.pop_front() {
                self.pool.push(t);
            }
        }
        let mut tx = self.pool.pop().unwrap_or_default();
        tx.reset(self.next_tx, dir);
        self.next_tx += 1;
        let r = parse_message(msg, &mut tx, cfg.dns_max_records, events);
        let qr = tx.is_response();
        match (dir, qr) {
            (Direction::ToServer, true) => events.push(AppEvent::DnsNotARequest),
            (Direction::ToClient, false) => events.push(AppEvent::DnsNotAResponse),
            _ => {}
        }
        match self.transport {
            Transport::Udp => ctr.tx_dns_udp += 1,
            Transport::Tcp => ctr.tx_dns_tcp += 1,
        }
        let header_ok = msg.len() >= 12;
        if header_ok {
            self.txs.push_back(tx);
        } else {
            self.pool.push(tx);
        }
        match r {
            Ok(()) => Progress::Done,
            Err(e) => {
                events.push(match e {
                    DnsError::Malformed => AppEvent::DnsMalformedData,
                    DnsError::Loop => AppEvent::DnsInfiniteLoop,
                    DnsError::TooManyLabels => AppEvent::DnsTooManyLabels,
                });
                ctr.error_dns += 1;
                Progress::Error(AppError::Malformed)
            }
        }
    }

    /// One UDP payload.
    pub fn parse_datagram(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        data: &[u8],
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        self.message(cfg, dir, data, events, ctr)
    }

    /// In-order TCP bytes: 2-byte length-prefixed messages.
    pub fn parse_stream(
        &mut self,
        cfg: &AppConfig,
        dir: Direction,
        mut data: &[u8],
        _now: Timestamp,
        events: &mut EventSet,
        ctr: &mut AppCounters,
    ) -> Progress {
        let i = dir.index();
        if self.lost[i] {
            return Progress::Error(AppError::Abandoned);
        }
        let mut result = Progress::NeedMore;
        let mut frame = core::mem::take(&mut self.frame[i]);
        // Each iteration consumes bytes into the frame or a whole message.
        while !data.is_empty() {
            if frame.len() < 2 {
                let take = (2 - frame.len()).min(data.len());
                frame.extend_from_slice(&data[..take]);
                data = &data[take..];
                continue;
            }
            let need = u16::from_be_bytes([frame[0], frame[1]]) as usize + 2;
            if frame.len() == 2 && data.len() >= need - 2 {
                // Whole message in this chunk: parse in place, no copy.
                let r = self.message(cfg, dir, &data[..need - 2], events, ctr);
                result = merge(result, r);
                data = &data[need - 2..];
                frame.clear();
                continue;
            }
            let take = (need - frame.len()).min(data.len());
            frame.extend_from_slice(&data[..take]);
            data = &data[take..];
            if frame.len() == need {
                let r = self.message(cfg, dir, &frame[2..], events, ctr);
                result = merge(result, r);
                frame.clear();
            }
        }
        if frame.len() == 2 && u16::from_be_bytes([frame[0], frame[1]]) == 0 {
            frame.clear();
        }
        self.frame[i] = frame;
        result
    }

    /// A gap in a TCP direction: framing is lost for good (DNS has no resync marker).
    pub fn gap(&mut self, dir: Direction) {
        if self.transport == Transport::Tcp {
            self.lost[dir.index()] = true;
            self.frame[dir.index()].clear();
        }
    }
}

fn merge(a: Progress, b: Progress) -> Progress {
    match (a, b) {
        (Progress::Error(e), _) | (_, Progress::Error(e)) => Progress::Error(e),
        (Progress::Done, _) | (_, Progress::Done) => Progress::Done,
        _ => Progress::NeedMore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `www.example.com` A, and a response with a compressed CNAME and an A record.
    fn query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        m
    }

    fn response() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        // www.example.com CNAME web.example.com (compressed)
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6]);
        m.extend_from_slice(b"\x03web\xc0\x10");
        // web.example.com A 93.184.216.34
        let web = 12 + 21 + 12;
        m.extend_from_slice(&[
            0xc0, web as u8, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, 216, 34,
        ]);
        m
    }

    #[test]
    fn query_and_response() {
        let cfg = AppConfig::default();
        let mut s = DnsState::new(Transport::Udp);
        let mut ev = EventSet::default();
        let mut c = AppCounters::default();
        let now = Timestamp(0);
        assert_eq!(
            s.parse_datagram(&cfg, Direction::ToServer, &query(), now, &mut ev, &mut c),
            Progress::Done
        );
        assert_eq!(
            s.parse_datagram(&cfg, Direction::ToClient, &response(), now, &mut ev, &mut c),
            Progress::Done
        );
        assert!(ev.is_empty(), "{ev:?}");
        let t: Vec<_> = s.txs().collect();
        assert_eq!(t[0].query_name(0), Some(&b"www.example.com"[..]));
        assert_eq!(t[0].opcode(), 0);
        assert!(!t[0].is_response());
        let a = t[1].records(Section::Answer);
        assert_eq!(a.len(), 2);
        assert_eq!(t[1].record_rdata(&a[0]), b"web.example.com");
        assert_eq!(t[1].record_name(&a[1]), b"web.example.com");
        assert_eq!(t[1].record_rdata(&a[1]), b"93.184.216.34");
        assert_eq!(c.tx_dns_udp, 2);
    }

    #[test]
    fn pointer_loops_are_refused() {
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]); // points at itself
        let mut tx = DnsTx::default();
        let mut ev = EventSet::default();
        assert_eq!(parse_message(&m, &mut tx, 16, &mut ev), Err(DnsError::Loop));
        // Forward pointer.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 14, 1, b'a', 0, 0, 1, 0, 1]);
        assert_eq!(parse_message(&m, &mut tx, 16, &mut ev), Err(DnsError::Loop));
    }

    #[test]
    fn tcp_framing_any_split() {
        let cfg = AppConfig::default();
        let q = query();
        let r = response();
        let mut stream = Vec::new();
        for m in [&q, &q] {
            stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let mut rs = Vec::new();
        rs.extend_from_slice(&(r.len() as u16).to_be_bytes());
        rs.extend_from_slice(&r);
        for split in 0..stream.len() {
            let mut s = DnsState::new(Transport::Tcp);
            let mut ev = EventSet::default();
            let mut c = AppCounters::default();
            let d = Direction::ToServer;
            s.parse_stream(&cfg, d, &stream[..split], Timestamp(0), &mut ev, &mut c);
            s.parse_stream(&cfg, d, &stream[split..], Timestamp(0), &mut ev, &mut c);
            s.parse_stream(
                &cfg,
                Direction::ToClient,
                &rs,
                Timestamp(0),
                &mut ev,
                &mut c,
            );
            let names: Vec<_> = s.txs().map(|t| t.query_name(0).unwrap().to_vec()).collect();
            assert_eq!(names.len(), 3, "split {split}");
            assert!(names.iter().all(|n| n == b"www.example.com"));
            assert_eq!(c.tx_dns_tcp, 3);
        }
    }

    #[test]
    fn truncated_and_bad_direction_are_events() {
        let cfg = AppConfig::default();
        let mut s = DnsState::new(Transport::Udp);
        let mut ev = EventSet::default();
        let mut c = AppCounters::default();
        let q = query();
        let r = s.parse_datagram(
            &cfg,
            Direction::ToClient,
            &q[..20],
            Timestamp(0),
            &mut ev,
            &mut c,
        );
        assert_eq!(r, Progress::Error(AppError::Malformed));
        assert!(ev.contains(AppEvent::DnsMalformedData));
        assert!(ev.contains(AppEvent::DnsNotAResponse));
    }
}

#[cfg(test)]
mod prop {
    use super::*;

    proptest::proptest! {
        /// Arbitrary messages: no panic, sections and names within caps, TCP framing of the same
        /// message (in 3-byte pieces) parses to the same names as UDP.
        #[test]
        fn hostile_messages(msg in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let cfg = AppConfig { dns_max_records: 16, ..AppConfig::default() };
            let mut ev = EventSet::default();
            let mut c = AppCounters::default();
            let mut udp = DnsState::new(Transport::Udp);
            udp.parse_datagram(&cfg, Direction::ToServer, &msg, Timestamp(0), &mut ev, &mut c);
            let mut tcp = DnsState::new(Transport::Tcp);
            let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&msg);
            for p in framed.chunks(3) {
                tcp.parse_stream(&cfg, Direction::ToServer, p, Timestamp(0), &mut ev, &mut c);
            }
            let names = |s: &DnsState| -> Vec<Vec<u8>> {
                s.txs().flat_map(|t| (0..t.queries().len()).map(move |i| t.query_name(i).unwrap_or_default().to_vec())).collect()
            };
            proptest::prop_assert_eq!(names(&udp), names(&tcp));
            for t in udp.txs() {
                proptest::prop_assert!(t.queries().len() <= 16);
                proptest::prop_assert!(t.records(Section::Answer).len() <= 16);
                for i in 0..t.queries().len() {
                    proptest::prop_assert!(t.query_name(i).unwrap_or_default().len() <= MAX_NAME + 64);
                }
            }
        }
    }
}
