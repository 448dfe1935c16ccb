//! EVE over syslog (RFC 5424) to a SIEM, over UDP, TCP (octet-counted frames, RFC 6587
//! 3.4.1) or TLS (RFC 5425: the same octet-counted frames in a TLS session, the server's
//! certificate checked against a configured CA, else the Mozilla roots): each stored alert
//! as one message whose MSG is its EVE record.
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME osprey - alert - {"timestamp":...,"event_type":"alert",...}
//! ```
//!
//! PRI is `facility × 8 + severity`, severity from the alert's (1 → 2 critical, 2 → 3 error,
//! 3 → 4 warning, else 5 notice); TIMESTAMP is the packet time. The output has its own
//! thread and subscribes to the event stream with [`Policy::Drop`]: a slow or absent server
//! costs alerts to this output only (counted), never ingest's time. A TCP connection that
//! fails is retried with exponential back-off (0.1 s doubling to 10 s); alerts meanwhile are
//! counted as dropped. Writes time out after a second, so a server that stops reading is
//! treated as down.
//!
//! Playbooks' `notify` actions with target `"syslog"` reach the same server through a
//! [`Notifier`]: a bounded queue of JSON notices (full: the action records the error), sent
//! as messages with MSGID `playbook` stamped with the wall time. At shutdown the thread goes
//! on sending notices after the event stream closed, until [`SyslogOutput::join`] (called
//! once the playbooks stopped), or [`NOTICE_GRACE`] at most.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::events::{Bus, Event, Interest, Policy, Subscription};
use crate::model::Alert;
use crate::outputs::eve::render_alert;

/// The transport to the syslog server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// What the output needs (validated from `[syslog]`).
#[derive(Clone, Debug)]
pub struct SyslogSettings {
    pub transport: Transport,
    pub server: SocketAddr,
    /// 0..=23 (16 = local0).
    pub facility: u8,
    pub hostname: String,
    pub queue: usize,
    /// The TLS client's configuration (transport `tls`), with the name the server's
    /// certificate must carry.
    pub tls: Option<TlsSettings>,
}

/// How the TLS transport checks the server.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: rustls::pki_types::ServerName<'static>,
}

impl TlsSettings {
    /// A client trusting the certificates of `ca_pem` (PEM, one or more), or the Mozilla
    /// roots when `None`, expecting `server_name` (a DNS name or an address).
    pub fn new(ca_pem: Option<&[u8]>, server_name: &str) -> Result<TlsSettings, String> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::CertificateDer;
        let mut roots = rustls::RootCertStore::empty();
        match ca_pem {
            Some(pem) => {
                for c in CertificateDer::pem_slice_iter(pem) {
                    let c = c.map_err(|e| format!("CA file: {e}"))?;
                    roots.add(c).map_err(|e| format!("CA certificate: {e}"))?;
                }
                if roots.is_empty() {
                    return Err("the CA file holds no certificate".into());
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server_name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| format!("server name {server_name:?}: {e}"))?;
        Ok(TlsSettings {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// Counters (`syslog.*`).
#[derive(Debug, Default)]
pub struct SyslogCounters {
    pub sent: AtomicU64,
    /// Alerts not sent because the server was down or a send failed.
    pub dropped: AtomicU64,
    pub send_errors: AtomicU64,
    pub connects: AtomicU64,
}

/// The consumer's name on the event stream (`events.syslog.*`: queue drops).
pub const CONSUMER: &str = "syslog";

const WRITE_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Playbook notices queued for the server at most.
pub const NOTICE_QUEUE: usize = 1024;
/// How long the thread keeps sending notices after the event stream closed.
pub const NOTICE_GRACE: Duration = Duration::from_secs(5);

/// One playbook notice: the RFC 5424 severity and the JSON message.
type Notice = (u8, Vec<u8>);

/// Where playbooks queue notices for the syslog server; cheap to clone.
#[derive(Clone, Debug)]
pub struct Notifier(std::sync::mpsc::SyncSender<Notice>);

impl Notifier {
    /// Queues `json` with the severity of an incident of alert severity `severity`; false
    /// when the queue is full or the output stopped.
    pub fn offer(&self, severity_of_alerts: u8, json: Vec<u8>) -> bool {
        self.0
            .try_send((severity(severity_of_alerts), json))
            .is_ok()
    }
}

/// The running output.
#[derive(Debug)]
pub struct SyslogOutput {
    pub counters: Arc<SyslogCounters>,
    notifier: Option<Notifier>,
    /// Set by [`SyslogOutput::join`]: no more notices will come.
    closing: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SyslogOutput {
    /// Subscribes to `bus` and starts the sending thread.
    pub fn start(settings: SyslogSettings, bus: &Bus) -> std::io::Result<SyslogOutput> {
        let sub = bus.subscribe(CONSUMER, Interest::ALERTS, Policy::Drop, settings.queue);
        let counters = Arc::new(SyslogCounters::default());
        let c = counters.clone();
        let (tx, notices) = std::sync::mpsc::sync_channel(NOTICE_QUEUE);
        let closing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = closing.clone();
        let thread = std::thread::Builder::new()
            .name("osprey-syslog".into())
            .spawn(move || run(&settings, sub, &notices, &done, &c))?;
        Ok(SyslogOutput {
            counters,
            notifier: Some(Notifier(tx)),
            closing,
            thread: Some(thread),
        })
    }

    /// Where playbooks queue their notices.
    pub fn notifier(&self) -> Option<Notifier> {
        self.notifier.clone()
    }

    /// Waits for the thread, which ends once the event stream is closed and drained, and
    /// then sends the notices already queued. Call it after the playbooks stopped.
    pub fn join(&mut self) {
        self.notifier = None;
        self.closing.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// RFC 5424 severity of an alert severity.
fn severity(alert_severity: u8) -> u8 {
    match alert_severity {
        1 => 2,
        2 => 3,
        3 => 4,
        _ => 5,
    }
}

/// Appends the syslog message of `a` (without framing).
pub fn format(a: &Alert, s: &SyslogSettings, out: &mut Vec<u8>) {
    let pri = u16::from(s.facility) * 8 + u16::from(severity(a.severity));
    // EVE's `+0000` offset is not RFC 3339's; the packet time is UTC.
    let ts = vocab::calendar::eve_timestamp(a.ts_nanos);
    let ts = ts
        .strip_suffix("+0000")
        .map_or(ts.clone(), |t| format!("{t}Z"));
    let host = if s.hostname.is_empty() {
        "-"
    } else {
        &s.hostname
    };
    let _ = write!(out, "<{pri}>1 {ts} {host} osprey - alert - ");
    if a.eve.is_empty() {
        render_alert(a, out);
    } else {
        out.extend_from_slice(a.eve.as_bytes());
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// Connects to `s.server` with the write (and, for TLS, read) timeouts set.
fn connect_tcp(s: &SyslogSettings) -> std::io::Result<TcpStream> {
    let t = TcpStream::connect_timeout(&s.server, WRITE_TIMEOUT)?;
    t.set_write_timeout(Some(WRITE_TIMEOUT))?;
    t.set_read_timeout(Some(WRITE_TIMEOUT))?;
    t.set_nodelay(true)?;
    Ok(t)
}

/// A TLS session over `sock`, handshake done (a certificate the CA did not sign fails
/// here).
fn connect_tls(
    tls: &TlsSettings,
    mut sock: TcpStream,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut c = rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
        .map_err(std::io::Error::other)?;
    while c.is_handshaking() {
        c.complete_io(&mut sock)?;
    }
    Ok(rustls::StreamOwned::new(c, sock))
}

impl Conn {
    fn open(s: &SyslogSettings) -> std::io::Result<Conn> {
        Ok(match s.transport {
            Transport::Udp => {
                let any: SocketAddr = if s.server.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let u = UdpSocket::bind(any)?;
                u.connect(s.server)?;
                Conn::Udp(u)
            }
            Transport::Tcp => Conn::Tcp(connect_tcp(s)?),
            Transport::Tls => {
                let tls = s
                    .tls
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("transport tls without TLS settings"))?;
                Conn::Tls(Box::new(connect_tls(tls, connect_tcp(s)?)?))
            }
        })
    }

    fn send(&mut self, msg: &[u8], frame: &mut Vec<u8>) -> std::io::Result<()> {
        let framed = |frame: &mut Vec<u8>| {
            frame.clear();
            let _ = write!(frame, "{} ", msg.len());
            frame.extend_from_slice(msg);
        };
        match self {
            Conn::Udp(u) => u.send(msg).map(|_| ()),
            Conn::Tcp(t) => {
                framed(frame);
                t.write_all(frame)
            }
            Conn::Tls(t) => {
                framed(frame);
                t.write_all(frame)?;
                t.flush()
            }
        }
    }
}

/// The connection, reopened with exponential back-off after a failure.
struct Link<'a> {
    s: &'a SyslogSettings,
    c: &'a SyslogCounters,
    conn: Option<Conn>,
    retry_at: Instant,
    backoff: Duration,
    frame: Vec<u8>,
}

impl<'a> Link<'a> {
    fn new(s: &'a SyslogSettings, c: &'a SyslogCounters) -> Link<'a> {
        Link {
            s,
            c,
            conn: None,
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            frame: Vec::new(),
        }
    }

    /// Sends one message, or counts it dropped while the server is down.
    fn send(&mut self, msg: &[u8]) {
        let (s, c) = (self.s, self.c);
        if self.conn.is_none() && Instant::now() >= self.retry_at {
            match Conn::open(s) {
                Ok(k) => {
                    c.connects.fetch_add(1, Ordering::Relaxed);
                    self.backoff = BACKOFF_MIN;
                    self.conn = Some(k);
                }
                Err(e) => {
                    tracing::warn!(error = %e, server = %s.server, "syslog server unreachable");
                    self.fail();
                }
            }
        }
        let Some(k) = self.conn.as_mut() else {
            c.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match k.send(msg, &mut self.frame) {
            Ok(()) => {
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
                c.dropped.fetch_add(1, Ordering::Relaxed);
                self.conn = None;
                self.fail();
            }
        }
    }

    fn fail(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }
}

/// Appends the syslog message of a playbook notice (without framing).
fn format_notice(n: &Notice, s: &SyslogSettings, out: &mut Vec<u8>) {
    let pri = u16::from(s.facility) * 8 + u16::from(n.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let ts = vocab::calendar::eve_timestamp(now);
    let ts = ts
        .strip_suffix("+0000")
        .map_or(ts.clone(), |t| format!("{t}Z"));
    let host = if s.hostname.is_empty() {
        "-"
    } else {
        &s.hostname
    };
    let _ = write!(out, "<{pri}>1 {ts} {host} osprey - playbook - ");
    out.extend_from_slice(&n.1);
}

fn run(
    s: &SyslogSettings,
    mut sub: Subscription,
    notices: &std::sync::mpsc::Receiver<Notice>,
    closing: &std::sync::atomic::AtomicBool,
    c: &SyslogCounters,
) {
    use crate::events::Next;
    const WAIT: Duration = Duration::from_millis(100);
    let mut link = Link::new(s, c);
    let mut msg = Vec::new();
    loop {
        while let Ok(n) = notices.try_recv() {
            msg.clear();
            format_notice(&n, s, &mut msg);
            link.send(&msg);
        }
        let a = match sub.recv_within(WAIT) {
            Next::Event(Event::Alert(a)) => a,
            Next::Event(_) | Next::Idle => continue,
            Next::Closed => break,
        };
        msg.clear();
        format(&a, s, &mut msg);
        link.send(&msg);
    }
    // The playbooks act on the last incidents after the event stream closed.
    use std::sync::mpsc::RecvTimeoutError;
    let until = Instant::now() + NOTICE_GRACE;
    while Instant::now() < until {
        let n = match notices.recv_timeout(WAIT) {
            Ok(n) => n,
            Err(RecvTimeoutError::Timeout) if !closing.load(Ordering::Relaxed) => continue,
            Err(_) => match notices.try_recv() {
                Ok(n) => n,
                Err(_) => break,
            },
        };
        msg.clear();
        format_notice(&n, s, &mut msg);
        link.send(&msg);
    }
}

#[cfg(test)]
#[path = "../../tests/common/tls.rs"]
#[allow(dead_code)]
mod test_tls;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use test_tls::ca_and_server;

    fn settings(transport: Transport, server: SocketAddr) -> SyslogSettings {
        SyslogSettings {
            transport,
            server,
            facility: 16,
            hostname: "ids1".into(),
            queue: 64,
            tls: None,
        }
    }

    fn alert(id: u64, severity: u8) -> Event {
        Event::Alert(Arc::new(Alert {
            id,
            ts_nanos: 1_704_067_308_619_199_000,
            sid: 2_023_882,
            severity,
            msg: "ET INFO test".into(),
            src_ip: "192.0.2.1".parse().unwrap(),
            dst_ip: "198.51.100.2".parse().unwrap(),
            ..Alert::default()
        }))
    }

    #[test]
    fn udp_messages_are_rfc5424_with_the_eve_record() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let bus = Bus::new();
        let mut out =
            SyslogOutput::start(settings(Transport::Udp, rx.local_addr().unwrap()), &bus).unwrap();
        bus.publish(alert(1, 1));
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            m.starts_with("<130>1 2024-01-01T00:01:48.619199Z ids1 osprey - alert - {"),
            "{m}"
        );
        let eve: serde_json::Value = serde_json::from_str(&m[m.find('{').unwrap()..]).unwrap();
        assert_eq!(eve["alert"]["signature_id"], 2_023_882);
        bus.close();
        out.join();
        assert_eq!(out.counters.sent.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn tcp_frames_are_octet_counted_and_a_down_server_is_counted_not_waited_for() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let bus = Bus::new();
        let mut out = SyslogOutput::start(settings(Transport::Tcp, addr), &bus).unwrap();
        bus.publish(alert(1, 3));
        bus.publish(alert(2, 3));
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.iter().filter(|&&b| b == b'<').count() < 2 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert!(rest[..len].starts_with("<132>1 "), "{text}");
        assert!(rest[len..]
            .trim_start_matches(char::is_numeric)
            .starts_with(" <132>1 "));
        // The server goes away: alerts are counted as dropped, publishing never waits.
        drop(s);
        drop(l);
        let t = Instant::now();
        for i in 3..200 {
            bus.publish(alert(i, 3));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(t.elapsed() < Duration::from_secs(5));
        bus.close();
        out.join();
        let c = &out.counters;
        assert_eq!(
            c.sent.load(Ordering::Relaxed)
                + c.dropped.load(Ordering::Relaxed)
                + bus
                    .consumer(CONSUMER)
                    .unwrap()
                    .dropped
                    .load(Ordering::Relaxed),
            199
        );
        assert!(c.dropped.load(Ordering::Relaxed) > 0);
    }

    /// A TLS syslog receiver on 127.0.0.1:0: answers one connection, returns what it read
    /// (until `frames` frames or the client goes away).
    fn tls_receiver(frames: usize) -> (SocketAddr, String, std::thread::JoinHandle<Vec<u8>>) {
        let (ca, cert, key) = ca_and_server();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (sock, _) = l.accept().unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.iter().filter(|&&b| b == b'<').count() < frames {
                match tls.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            got
        });
        (addr, ca, t)
    }

    #[test]
    fn tls_frames_are_octet_counted_and_the_server_is_checked_against_the_ca() {
        let (addr, ca, server) = tls_receiver(2);
        let mut s = settings(Transport::Tls, addr);
        s.tls = Some(TlsSettings::new(Some(ca.as_bytes()), "127.0.0.1").unwrap());
        let bus = Bus::new();
        let mut out = SyslogOutput::start(s, &bus).unwrap();
        bus.publish(alert(1, 2));
        bus.publish(alert(2, 2));
        let text = String::from_utf8(server.join().unwrap()).unwrap();
        // RFC 5425: MSG-LEN SP SYSLOG-MSG, twice.
        let (len, rest) = text.split_once(' ').unwrap();
        let len: usize = len.parse().unwrap();
        assert!(rest[..len].starts_with("<131>1 "), "{text}");
        assert!(rest[..len].ends_with('}'), "{text}");
        let (len2, rest2) = rest[len..].split_once(' ').unwrap();
        assert_eq!(rest2.len(), len2.parse::<usize>().unwrap());
        bus.close();
        out.join();
        assert_eq!(out.counters.sent.load(Ordering::Relaxed), 2);
        assert_eq!(out.counters.connects.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_tls_server_whose_certificate_another_ca_signed_gets_nothing() {
        let (addr, _, server) = tls_receiver(1);
        let (other_ca, _, _) = ca_and_server();
        let mut s = settings(Transport::Tls, addr);
        s.tls = Some(TlsSettings::new(Some(other_ca.as_bytes()), "127.0.0.1").unwrap());
        let bus = Bus::new();
        let mut out = SyslogOutput::start(s, &bus).unwrap();
        bus.publish(alert(1, 2));
        assert!(server.join().unwrap().is_empty());
        bus.close();
        out.join();
        let c = &out.counters;
        assert_eq!(c.sent.load(Ordering::Relaxed), 0);
        assert_eq!(c.connects.load(Ordering::Relaxed), 0);
        assert_eq!(c.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn tls_settings_refuse_an_empty_ca_and_a_bad_server_name() {
        assert!(TlsSettings::new(Some(b"not pem"), "127.0.0.1")
            .unwrap_err()
            .contains("no certificate"));
        assert!(TlsSettings::new(None, "bad name!")
            .unwrap_err()
            .starts_with("server name"));
    }
}
