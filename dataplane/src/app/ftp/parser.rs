//! FTP control-channel syntax (RFC 959 §4, RFC 2428): bounded line framing that resumes after
//! gaps, the command table, and the address/port arguments of PORT, EPRT and the 227/229
//! replies to PASV and EPSV.
//!
//! ```text
//! request  = command [SP argument] CRLF             e.g. "PORT 192,168,0,13,234,10"
//! reply    = code SP text CRLF                      e.g. "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)"
//! multi    = code "-" text CRLF *(line CRLF) code SP text CRLF   (RFC 959 §4.2)
//! EPRT arg = d proto d address d port d            e.g. "|2|2001:db8::1|6275|"  (RFC 2428 §2)
//! EPSV 229 = "(" d d d port d ")"                  e.g. "(|||58612|)"          (RFC 2428 §3)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A command with special meaning to the parser (the rest are [`Command::Other`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `PORT h1,h2,h3,h4,p1,p2`: active mode, IPv4.
    Port,
    /// `EPRT |proto|addr|port|`: active mode, any family.
    Eprt,
    /// `PASV`: passive mode, the 227 reply names the port.
    Pasv,
    /// `EPSV`: extended passive mode, the 229 reply names the port.
    Epsv,
    /// `RETR name`: the server sends a file.
    Retr,
    /// `STOR name`: the client sends a file.
    Stor,
    /// `AUTH TLS`: the channel may turn to TLS (234 reply).
    Auth,
    /// Another command of [`COMMANDS`], by index.
    Other(u8),
}

/// Command names known to Suricata's FTP parser (RFC 959, RFC 2228, RFC 2389, RFC 2428,
/// RFC 3659 and common extensions); anything else is an unknown command.
pub const COMMANDS: &[&str] = &[
    "ABOR", "ACCT", "ADAT", "ALLO", "APPE", "AUTH", "AVBL", "CCC", "CDUP", "CONF", "CSID", "CWD",
    "DELE", "DSIZ", "ENC", "EPRT", "EPSV", "FEAT", "HELP", "HOST", "LANG", "LIST", "LPRT", "LPSV",
    "MDTM", "MFCT", "MFF", "MFMT", "MIC", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS",
    "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "REIN", "REST", "RETR", "RMD", "RMDA",
    "RNFR", "RNTO", "SITE", "SIZE", "SMNT", "SPSV", "STAT", "STOR", "STOU", "STRU", "SYST", "THMB",
    "TYPE", "USER", "XCUP", "XMKD", "XPWD", "XRCP", "XRMD", "XRSQ", "XSEM", "XSEN", "CHMOD",
    "UMASK", "IDLE",
];

impl Command {
    /// Looks a command word up (any case); `None` when it is not an FTP command.
    pub fn lookup(word: &[u8]) -> Option<Command> {
        let i = COMMANDS
            .iter()
            .position(|c| c.as_bytes().eq_ignore_ascii_case(word))?;
        Some(match COMMANDS[i] {
            "PORT" => Command::Port,
            "EPRT" => Command::Eprt,
            "PASV" => Command::Pasv,
            "EPSV" => Command::Epsv,
            "RETR" => Command::Retr,
            "STOR" => Command::Stor,
            "AUTH" => Command::Auth,
            _ => Command::Other(i as u8),
        })
    }

    /// The command's canonical (upper-case) name, as EVE writes it.
    pub fn name(self) -> &'static str {
        match self {
            Command::Port => "PORT",
            Command::Eprt => "EPRT",
            Command::Pasv => "PASV",
            Command::Epsv => "EPSV",
            Command::Retr => "RETR",
            Command::Stor => "STOR",
            Command::Auth => "AUTH",
            Command::Other(i) => COMMANDS.get(usize::from(i)).copied().unwrap_or("UNKNOWN"),
        }
    }

    /// True for the commands whose data connection is tracked as `ftp-data`: file
    /// transfers and listings.
    pub fn opens_data(self) -> bool {
        self.transfers_file() || matches!(self.name(), "LIST" | "NLST" | "MLSD")
    }

    /// True for the commands whose data connection carries one file named by the argument.
    pub fn transfers_file(self) -> bool {
        matches!(self, Command::Retr | Command::Stor) || matches!(self.name(), "APPE" | "STOU")
    }
}

/// A parsed request line: the command word and what follows the first space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The command word as written.
    pub word: &'a [u8],
    /// The argument (may be empty).
    pub arg: &'a [u8],
}

/// Splits a request line (without its line end) into command word and argument.
pub fn request(line: &[u8]) -> Request<'_> {
    match line.iter().position(|&c| c == b' ') {
        Some(sp) => Request {
            word: &line[..sp],
            arg: &line[sp + 1..],
        },
        None => Request {
            word: line,
            arg: &[],
        },
    }
}

/// The 3-digit code at the start of a reply line and whether it opens a multi-line reply
/// (`ddd-`).
pub fn reply_code(line: &[u8]) -> Option<([u8; 3], bool)> {
    let code: [u8; 3] = line.get(..3)?.try_into().ok()?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match line.get(3) {
        None | Some(b' ') => Some((code, false)),
        Some(b'-') => Some((code, true)),
        Some(_) => None,
    }
}

/// `h1,h2,h3,h4,p1,p2` (PORT argument, 227 reply): address and port. Leading and trailing
/// text is not part of it.
pub fn host_port(s: &[u8]) -> Option<(IpAddr, u16)> {
    let mut n = [0u16; 6];
    let mut parts = s.split(|&c| c == b',');
    for v in n.iter_mut() {
        let p = parts.next()?.trim_ascii();
        if p.is_empty() || p.len() > 3 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *v = p.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
        if *v > 255 {
            return None;
        }
    }
    if parts.next().is_some() {
        return None;
    }
    let ip = Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    Some((IpAddr::V4(ip), n[4] * 256 + n[5]))
}

/// The EPRT argument `<d><proto><d><addr><d><port><d>` (RFC 2428 §2).
pub fn eprt(s: &[u8]) -> Option<(IpAddr, u16)> {
    let d = *s.first()?;
    let mut f = s[1..].split(|&c| c == d);
    let proto = f.next()?;
    let addr = std::str::from_utf8(f.next()?).ok()?;
    let port = port_number(f.next()?)?;
    let ip: IpAddr = match proto {
        b"1" => IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?),
        b"2" => IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?),
        _ => return None,
    };
    Some((ip, port))
}

/// The port of a 227 reply: the six numbers between parentheses, or the first run of digits
/// and commas that forms them (servers differ).
pub fn pasv_reply(text: &[u8]) -> Option<u16> {
    if let (Some(o), Some(c)) = (
        text.iter().position(|&b| b == b'('),
        text.iter().rposition(|&b| b == b')'),
    ) {
        if o < c {
            if let Some((_, port)) = host_port(&text[o + 1..c]) {
                return Some(port);
            }
        }
    }
    let start = text.iter().position(u8::is_ascii_digit)?;
    let len = text[start..]
        .iter()
        .take_while(|&&b| b.is_ascii_digit() || b == b',')
        .count();
    host_port(&text[start..start + len]).map(|(_, p)| p)
}

/// The port of a 229 reply: `(<d><d><d><port><d>)` (RFC 2428 §3).
pub fn epsv_reply(text: &[u8]) -> Option<u16> {
    let o = text.iter().position(|&b| b == b'(')?;
    let inner = &text[o + 1..];
    let d = *inner.first()?;
    let mut f = inner.split(|&c| c == d);
    f.next()?;
    f.next()?;
    f.next()?;
    port_number(f.next()?)
}

fn port_number(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = s.iter().fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
    u16::try_from(v).ok().filter(|&p| p != 0)
}

/// Splits one direction's stream into lines of at most `max` bytes, holding a partial line
/// between chunks. A longer line is handed on cut at `max` bytes as soon as the cap is
/// reached, and the rest up to its line end is skipped; after a gap the reader skips to the
/// next line end (a line's start is unknown). Memory: at most `max` bytes per direction.
#[derive(Debug, Default)]
pub struct LineReader {
    held: Vec<u8>,
    /// Skipping the rest of a line (cut at the cap, or after a gap).
    skipping: bool,
}

impl LineReader {
    /// Forgets the partial line and skips to the next line end.
    pub fn gap(&mut self) {
        self.held.clear();
        self.skipping = true;
    }

    /// Bytes held of an incomplete line.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Calls `line(bytes, truncated)` for every line `data` completes (without its CRLF or
    /// LF; `truncated` when it was cut at `max` bytes). Every byte of `data` is consumed.
    pub fn feed(&mut self, data: &[u8], max: usize, mut line: impl FnMut(&[u8], bool)) {
        let mut rest = data;
        while !rest.is_empty() {
            let eol = memchr::memchr(b'\n', rest);
            if self.skipping {
                let Some(i) = eol else { return };
                rest = &rest[i + 1..];
                self.skipping = false;
                continue;
            }
            let room = max.saturating_sub(self.held.len());
            match eol {
                Some(i) if i <= room => {
                    if self.held.is_empty() {
                        line(strip_cr(&rest[..i]), false);
                    } else {
                        self.held.extend_from_slice(&rest[..i]);
                        line(strip_cr(&self.held), false);
                        self.held.clear();
                    }
                    rest = &rest[i + 1..];
                }
                None if rest.len() <= room => {
                    self.held.extend_from_slice(rest);
                    return;
                }
                _ => {
                    // Over the cap: hand on the first `max` bytes, skip to the line end.
                    self.held.extend_from_slice(&rest[..room]);
                    rest = &rest[room..];
                    line(&self.held, true);
                    self.held.clear();
                    self.skipping = true;
                }
            }
        }
    }
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}
