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
//! Names with compression pointers (RFC 1035 §4.1.4) are followed as Suricata does (forward
//! pointers included), bounded by [`MAX_NAME_STEPS`] labels and pointers per name.

use std::collections::VecDeque;
use std::ops::Range;

use super::{AppConfig, AppCounters, AppError, AppEvent, Direction, EventSet, Progress, Transport};
use crate::time::Timestamp;

/// Labels plus compression pointers followed per name at most (Suricata's bound).
pub const MAX_NAME_STEPS: usize = 255;
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

/// One resource record (answer, authority or additional).
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
    /// How `rdata` is to be read, with the fixed fields of structured types.
    pub kind: RData,
}

/// The shape of a record's rdata, as Suricata's DNS parser distinguishes it (EVE renders each
/// differently).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RData {
    /// A type whose rdata is not rendered (nothing in `rdata`).
    #[default]
    Unknown,
    /// A or AAAA: `rdata` is the address as text.
    Addr,
    /// CNAME, NS, PTR, MX: `rdata` is the (decompressed) name.
    Name,
    /// TXT: `rdata` is the wire form, length-prefixed strings ([`DnsTx::record_txt`]).
    Txt,
    /// NULL: `rdata` is the raw bytes.
    Null,
    /// SOA: `rdata` is MNAME.
    Soa(Soa),
    /// SRV: `rdata` is the target name.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
    },
    /// SSHFP: `rdata` is the raw fingerprint.
    Sshfp {
        /// Algorithm number.
        algo: u8,
        /// Fingerprint type.
        fp_type: u8,
    },
    /// OPT (EDNS): `rdata` is the raw option list ([`DnsTx::record_opts`]).
    Opt,
}

/// SOA fields besides MNAME.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Soa {
    rname: Range<u32>,
    /// SERIAL.
    pub serial: u32,
    /// REFRESH.
    pub refresh: u32,
    /// RETRY.
    pub retry: u32,
    /// EXPIRE.
    pub expire: u32,
    /// MINIMUM.
    pub minimum: u32,
}

/// Which section a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Answer section.
    Answer,
    /// Authority section.
    Authority,
    /// Additional section.
    Additional,
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
    additionals: Vec<DnsRecord>,
    /// Names and rendered rdata, referenced by ranges.
    text: Vec<u8>,
    /// Not yet inspected by the detection stage.
    pub changed: bool,
    /// Already written as an EVE `dns` record.
    pub logged: bool,
    /// Parsed whole and travelled the way its QR bit says: Suricata makes a transaction (and
    /// a record) only of such messages.
    pub well_formed: bool,
    /// Sequence number among the flow's well-formed messages: Suricata's transaction id, which
    /// EVE shows as `dns.tx_id`.
    pub eve_tx_id: u64,
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
            Section::Additional => &self.additionals,
        }
    }
    /// A record's owner name.
    pub fn record_name(&self, r: &DnsRecord) -> &[u8] {
        self.slice(&r.name)
    }
    /// A record's rdata as [`DnsRecord::kind`] says: addresses and names rendered as text, raw
    /// bytes for TXT, NULL, SSHFP and OPT; empty for types that are not rendered.
    pub fn record_rdata(&self, r: &DnsRecord) -> &[u8] {
        self.slice(&r.rdata)
    }
    /// SOA RNAME.
    pub fn soa_rname(&self, soa: &Soa) -> &[u8] {
        self.slice(&soa.rname)
    }
    /// The strings of a TXT record (bounded by the rdata length).
    pub fn record_txt<'a>(&'a self, r: &DnsRecord) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = if r.kind == RData::Txt {
            self.slice(&r.rdata)
        } else {
            &[]
        };
        core::iter::from_fn(move || {
            let (&l, tail) = rest.split_first()?;
            let l = (l as usize).min(tail.len());
            let (s, t) = tail.split_at(l);
            rest = t;
            Some(s)
        })
    }
    /// The `(code, data)` options of an OPT record (bounded by the rdata length).
    pub fn record_opts<'a>(&'a self, r: &DnsRecord) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut rest = if r.kind == RData::Opt {
            self.slice(&r.rdata)
        } else {
            &[]
        };
        core::iter::from_fn(move || {
            if rest.len() < 4 {
                return None;
            }
            let code = u16::from_be_bytes([rest[0], rest[1]]);
            let l = (u16::from_be_bytes([rest[2], rest[3]]) as usize).min(rest.len() - 4);
            let data = &rest[4..4 + l];
            rest = &rest[4 + l..];
            Some((code, data))
        })
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
        self.additionals.clear();
        self.text.clear();
        self.changed = true;
        self.logged = false;
        self.well_formed = false;
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
///
/// As Suricata's parser: pointers may point anywhere in the message (forward pointers occur in
/// the wild), a pointer to itself is a loop, and the walk is bounded by [`MAX_NAME_STEPS`]
/// labels plus pointers; a walk cut short after a pointer keeps the name read so far (the end
/// of the name in the message is known), before one it is an error.
pub fn read_name(msg: &[u8], mut pos: usize, out: &mut Vec<u8>) -> Result<usize, DnsError> {
    let start_len = out.len();
    let mut end: Option<usize> = None;
    let mut steps = 0;
    let mut labels = 0;
    let mut truncated = false;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Malformed)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                labels += 1;
                let label = msg.get(pos + 1..pos + 1 + len).ok_or(DnsError::Malformed)?;
                pos += 1 + len;
                if !truncated {
                    if out.len() > start_len {
                        out.push(b'.');
                    }
                    out.extend_from_slice(label);
                    if out.len() - start_len > MAX_NAME {
                        // Kept at MAX_NAME bytes; once past a pointer the end is known.
                        out.truncate(start_len + MAX_NAME);
                        truncated = true;
                        if let Some(e) = end {
                            return Ok(e);
                        }
                    }
                }
            }
            0xc0 => {
                let b2 = *msg.get(pos + 1).ok_or(DnsError::Malformed)? as usize;
                let target = (len & 0x3f) << 8 | b2;
                if target >= msg.len() {
                    return Err(DnsError::Malformed);
                }
                if target == pos {
                    return match end {
                        Some(e) => Ok(e),
                        None => Err(DnsError::Loop),
                    };
                }
                if end.is_none() {
                    end = Some(pos + 2);
                }
                pos = target;
            }
            _ => return Err(DnsError::Malformed),
        }
        steps += 1;
        if steps > MAX_NAME_STEPS {
            return match end {
                Some(e) => Ok(e),
                None if labels > MAX_LABELS => Err(DnsError::TooManyLabels),
                None => Err(DnsError::Loop),
            };
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
    let ar = be16(msg, 10).unwrap_or(0) as usize;
    let mut pos = 12;
    if qd.max(an).max(ns).max(ar) > max_records {
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
    for (count, section) in [
        (an, Section::Answer),
        (ns, Section::Authority),
        (ar, Section::Additional),
    ] {
        for _ in 0..count.min(max_records) {
            let r = match read_record(msg, &mut pos, &mut tx.text) {
                Ok(r) => r,
                Err(e) => {
                    match section {
                        Section::Authority => events.push(AppEvent::DnsInvalidAuthorities),
                        Section::Additional => {
                            // Answers are intact: keep them, as Suricata does, with the event.
                            events.push(AppEvent::DnsInvalidAdditionals);
                            return Ok(());
                        }
                        Section::Answer => {}
                    }
                    return Err(e);
                }
            };
            match section {
                Section::Answer => tx.answers.push(r),
                Section::Authority => tx.authorities.push(r),
                Section::Additional => tx.additionals.push(r),
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
    let kind = render_rdata(msg, rd_start, rrtype, rdata, text);
    let mut rend = text.len() as u32;
    if let RData::Soa(soa) = &kind {
        rend = soa.rname.start;
    }
    *pos = rd_start + rdlen;
    Ok(DnsRecord {
        name,
        rrtype,
        rrclass,
        ttl,
        rdata: rstart..rend,
        kind,
    })
}

/// Renders rdata into `text` as Suricata's EVE shows it (dotted IPv4, IPv6 as eight 4-digit
/// groups, names decompressed) and says how to read it.
fn render_rdata(msg: &[u8], at: usize, rrtype: u16, rdata: &[u8], text: &mut Vec<u8>) -> RData {
    use std::io::Write;
    let name_at = |text: &mut Vec<u8>, p: usize| {
        let mark = text.len();
        if read_name(msg, p, text).is_err() {
            text.truncate(mark);
            return None;
        }
        Some(mark as u32..text.len() as u32)
    };
    match (rrtype, rdata.len()) {
        (1, 4) => {
            let _ = write!(
                text,
                "{}",
                std::net::Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3])
            );
            RData::Addr
        }
        (28, 16) => {
            for (i, pair) in rdata.chunks_exact(2).enumerate() {
                if i > 0 {
                    text.push(b':');
                }
                let _ = write!(text, "{:02x}{:02x}", pair[0], pair[1]);
            }
            RData::Addr
        }
        (5 | 2 | 12, _) => {
            let _ = name_at(text, at);
            RData::Name
        }
        // MX: preference, then the exchange name.
        (15, n) if n > 2 => {
            let _ = name_at(text, at + 2);
            RData::Name
        }
        (16, _) => {
            text.extend_from_slice(rdata);
            RData::Txt
        }
        (10, _) => {
            text.extend_from_slice(rdata);
            RData::Null
        }
        (6, _) => {
            let Some(_mname) = name_at(text, at) else {
                return RData::Unknown;
            };
            // The rname follows the mname on the wire; find its offset by re-reading.
            let mut scratch = Vec::new();
            let Ok(after) = read_name(msg, at, &mut scratch) else {
                return RData::Unknown;
            };
            let Some(rname) = name_at(text, after) else {
                return RData::Unknown;
            };
            scratch.clear();
            let Ok(p) = read_name(msg, after, &mut scratch) else {
                return RData::Unknown;
            };
            let n = |i: usize| be32(msg, p + 4 * i).unwrap_or(0);
            RData::Soa(Soa {
                rname,
                serial: n(0),
                refresh: n(1),
                retry: n(2),
                expire: n(3),
                minimum: n(4),
            })
        }
        (33, n) if n >= 6 => {
            let _ = name_at(text, at + 6);
            RData::Srv {
                priority: u16::from_be_bytes([rdata[0], rdata[1]]),
                weight: u16::from_be_bytes([rdata[2], rdata[3]]),
                port: u16::from_be_bytes([rdata[4], rdata[5]]),
            }
        }
        (44, n) if n >= 2 => {
            text.extend_from_slice(&rdata[2..]);
            RData::Sshfp {
                algo: rdata[0],
                fp_type: rdata[1],
            }
        }
        (41, _) => {
            text.extend_from_slice(rdata);
            RData::Opt
        }
        _ => RData::Unknown,
    }
}

/// Suricata's name for an RR type (EVE `rrtype`).
pub fn rrtype_name(t: u16) -> &'static str {
    match t {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
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
    next_well_formed: u64,
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
            next_well_formed: 0,
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

    /// The message with `tx_id`, if still kept.
    pub fn tx(&self, tx_id: u64) -> Option<&DnsTx> {
        self.txs.iter().find(|t| t.tx_id == tx_id)
    }

    /// The oldest message not yet written to EVE, marked written. Every message is complete
    /// when parsed, so each is due at once (Suricata logs requests and responses separately);
    /// malformed or misdirected messages are skipped, as Suricata makes no transaction of them.
    pub(crate) fn next_unlogged(&mut self) -> Option<u64> {
        for t in self.txs.iter_mut().filter(|t| !t.logged) {
            t.logged = true;
            if t.well_formed {
                return Some(t.tx_id);
            }
        }
        None
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
                if cfg.eve_logging && !t.logged {
                    ctr.eve_unlogged += 1;
                }
                self.pool.push(t);
            }
        }
        let mut tx = self.pool.pop().unwrap_or_default();
        tx.reset(self.next_tx, dir);
        self.next_tx += 1;
        let r = parse_message(msg, &mut tx, cfg.dns_max_records, events);
        let qr = tx.is_response();
        let right_way = match (dir, qr) {
            (Direction::ToServer, true) => {
                events.push(AppEvent::DnsNotARequest);
                false
            }
            (Direction::ToClient, false) => {
                events.push(AppEvent::DnsNotAResponse);
                false
            }
            _ => true,
        };
        tx.well_formed = r.is_ok() && right_way;
        tx.eve_tx_id = self.next_well_formed;
        if tx.well_formed {
            self.next_well_formed += 1;
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
        // A loop through two pointers: bounded, and the name read so far is kept.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 16, 0, 1, 1, b'a', 0xc0, 16]);
        let mut out = Vec::new();
        assert_eq!(read_name(&m, 12, &mut out), Ok(14));
        assert!(out.starts_with(b"a.a.a"));
        assert!(out.len() <= MAX_NAME + 2);
        // Long labels in a loop: the name stops at MAX_NAME bytes (found by fuzzing: dots kept
        // being added after the cut).
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 14, 63]);
        m.extend_from_slice(&[b'x'; 63]);
        m.extend_from_slice(&[0xc0, 14]);
        let mut out = Vec::new();
        assert_eq!(read_name(&m, 12, &mut out), Ok(14));
        assert_eq!(out.len(), MAX_NAME);
        // A forward pointer (as in Redmine #8584) is followed.
        let mut m = vec![0, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1]);
        m.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        let mut tx = DnsTx::default();
        assert_eq!(parse_message(&m, &mut tx, 16, &mut ev), Ok(()));
        assert_eq!(tx.query_name(0), Some(&b"a"[..]));
        assert_eq!(tx.query_name(1), Some(&b"a"[..]));
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
