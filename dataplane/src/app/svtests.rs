//! Buffer checks against suricata-verify captures (`../shared/data/suricata-verify`, read in
//! place, never copied): each capture's flows go through [`AppLayer`] chunk by chunk as
//! captured, and the test asserts the buffer the test's rule inspects holds what the rule
//! looks for (or, for negative expectations, does not).

use super::buffers::{urilen, BufferId};
use super::testpcap::read_flows;
use super::*;

/// Runs every flow of `test/pcap` through the app layer; `None` (with a note) if absent.
fn run(pcap: &str) -> Option<Vec<AppLayer>> {
    let path = vocab::testing::shared_data(format!("suricata-verify/tests/{pcap}"))?;
    let flows = read_flows(&path.to_string_lossy()).expect("capture reads");
    let cfg = AppConfig::default();
    let mut ctr = AppCounters::default();
    let mut out = Vec::new();
    for f in flows {
        let transport = if f.proto == 6 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let mut app = AppLayer::new(transport, f.client.1, f.server.1);
        for p in &f.pieces {
            let dir = if p.to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let now = Timestamp(p.ts);
            match transport {
                Transport::Tcp => app.on_stream(&cfg, dir, &p.data, now, &mut ctr),
                Transport::Udp => app.on_datagram(&cfg, dir, &p.data, now, &mut ctr),
            };
        }
        app.on_end(&cfg, Direction::ToServer, Timestamp(0), &mut ctr);
        app.on_end(&cfg, Direction::ToClient, Timestamp(0), &mut ctr);
        out.push(app);
    }
    Some(out)
}

fn http_txs(apps: &[AppLayer]) -> Vec<&http::HttpTx> {
    apps.iter()
        .filter_map(|a| match a.state() {
            AppState::Http(s) => Some(s.txs()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn buf<'a>(tx: &'a http::HttpTx, id: &str, dir: Direction) -> &'a [u8] {
    let b = BufferId::from_keyword(id).expect("known keyword");
    b.http(tx, dir).unwrap_or_default()
}

macro_rules! sv {
    ($name:ident, $pcap:expr, |$apps:ident| $body:block) => {
        #[test]
        fn $name() {
            let Some($apps) = run($pcap) else { return };
            $body
        }
    };
}

const S: Direction = Direction::ToServer;
const C: Direction = Direction::ToClient;

sv!(
    raw_uri_02,
    "detect-http-uri/DetectEngineHttpRawUriTest02/test.fpc.pcap",
    |apps| {
        let txs = http_txs(&apps);
        assert_eq!(txs.len(), 1);
        let u = buf(txs[0], "http_raw_uri", S);
        assert_eq!(u, b"/../a/b/../c/./d.html");
        assert!(find(&u[5..], b"/c/./d").is_some());
        assert_eq!(txs[0].uri(), b"/a/c/d.html");
    }
);

sv!(
    raw_uri_relative,
    "detect-http-uri/DetectEngineHttpRawUriTest15/test.fpc.pcap",
    |apps| {
        // content:"./a"; http_raw_uri; content:"/c/"; http_raw_uri; distance:7 — expected not to
        // match: "/c/" is only 5 bytes after "./a" in the raw URI.
        let txs = http_txs(&apps);
        let u = buf(txs[0], "http_raw_uri", S);
        let a = find(u, b"./a").expect("./a") + 3;
        assert!(find(&u[a..], b"/c/").is_some());
        assert!(
            find(&u[a + 7..], b"/c/").is_none(),
            "{}",
            String::from_utf8_lossy(u)
        );
    }
);

sv!(
    uri_sig01,
    "detect-http-uri/UriTestSig01/test.fpc.pcap",
    |apps| {
        let txs = http_txs(&apps);
        assert!(txs.iter().any(|t| contains(t.uri(), b"one")));
    }
);

sv!(
    uri_sig19_relative,
    "detect-http-uri/UriTestSig19/test.fpc.pcap",
    |apps| {
        let txs = http_txs(&apps);
        let u = buf(txs[0], "http.uri", S);
        assert_eq!(u, b"/this_this_now_is_is_____big_string_now");
    }
);

sv!(
    urilen_norm_raw,
    "detect-http-uri/UriTestSig33/test.fpc.pcap",
    |apps| {
        let txs = http_txs(&apps);
        assert_eq!(txs.len(), 1);
        assert_eq!(urilen(txs[0], false), 15);
        assert_eq!(urilen(txs[0], true), 17);
    }
);

sv!(
    close_headers_server,
    "http-close-headers/input.pcap",
    |apps| {
        let txs = http_txs(&apps);
        assert!(
            txs.iter()
                .any(|t| contains(&buf(t, "http_header", C).to_ascii_lowercase(), b"ng1nx")),
            "response http_header lacks ng1nx"
        );
    }
);

sv!(post_file_body, "http-post-file/input.pcap", |apps| {
    let txs = http_txs(&apps);
    let eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    assert!(
        txs.iter().any(|t| contains(buf(t, "file_data", S), eicar)),
        "EICAR not in request body"
    );
});

sv!(
    protocol_both_sides,
    "http-protocol-inspect-v2/http.pcap",
    |apps| {
        let txs = http_txs(&apps);
        assert!(!txs.is_empty());
        assert!(txs
            .iter()
            .any(|t| buf(t, "http.protocol", S) == b"HTTP/1.1"));
        assert!(txs
            .iter()
            .any(|t| buf(t, "http_protocol", C) == b"HTTP/1.1"));
    }
);

sv!(raw_header_spaces, "http-raw-header/input.pcap", |apps| {
    let txs = http_txs(&apps);
    assert!(txs
        .iter()
        .any(|t| contains(buf(t, "http_raw_header", C), b"Server:       Yx(")));
    // The normalized buffer trims the value's leading spaces.
    assert!(!txs
        .iter()
        .any(|t| contains(buf(t, "http_header", C), b"Server:       Yx(")));
});

sv!(
    request_header_multi,
    "http-request-header-multi/input.pcap",
    |apps| {
        let txs = http_txs(&apps);
        let t = txs
            .iter()
            .find(|t| t.uri().ends_with(b"/ws"))
            .expect("a /ws request");
        assert_eq!(buf(t, "http.method", S), b"GET");
        assert_eq!(buf(t, "http.user_agent", S), b"Go-http-client/1.1");
        assert_eq!(buf(t, "http.connection", S), b"Upgrade");
        let mut scratch = Vec::new();
        let mut found = false;
        let mut i = 0;
        while let Some(h) = BufferId::HttpRequestHeader.http_multi(t, i, &mut scratch) {
            if h.starts_with(b"Key: ") {
                assert_eq!(h.len(), 69);
                assert!(h[5..]
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
                found = true;
            }
            i += 1;
        }
        assert!(found, "no Key header instance");
    }
);

sv!(bsize_zero_user_agent, "detect-bsize-0/input.pcap", |apps| {
    let txs = http_txs(&apps);
    assert!(txs
        .iter()
        .any(|t| BufferId::HttpUserAgent.http(t, S) == Some(&b""[..])));
});

sv!(
    ends_with_negated,
    "detect-content-ends-with-negated-01/input.pcap",
    |apps| {
        let txs = http_txs(&apps);
        let t = txs
            .iter()
            .find(|t| t.method() == b"GET" && t.uri().ends_with(b".exe"))
            .expect("GET *.exe");
        let host = BufferId::HttpHost.http(t, S).unwrap();
        assert!(!host.ends_with(b".google.com"));
        assert_eq!(host, host.to_ascii_lowercase().as_slice());
    }
);

sv!(tls_subject_nul, "tls/tls-subject-zero/input.pcap", |apps| {
    let want: &[u8] = b"C=US, ST=WA, L=Redmond, O=Microsoft Corporat\0on, OU=Microsoft Corporation, CN=go.microsoft.com";
    let found = apps.iter().any(|a| match a.state() {
        AppState::Tls(s) => BufferId::TlsCertSubject.tls(&s.info, 0) == Some(want),
        _ => false,
    });
    assert!(found);
});

sv!(
    tls_noissuer_subject,
    "tls/tls-cert-noissuer/tls.pcap",
    |apps| {
        let found = apps.iter().any(|a| match a.state() {
            AppState::Tls(s) => BufferId::TlsCertSubject
                .tls(&s.info, 0)
                .is_some_and(|b| contains(b, b"localhost")),
            _ => false,
        });
        assert!(found);
    }
);

sv!(
    app_proto_tls,
    "app-layer-protocol-prefilter/input.pcap",
    |apps| {
        assert!(apps.iter().any(|a| a.proto() == AppProto::Tls));
    }
);

sv!(
    app_proto_not_misdetected,
    "flowbit-oring/input.pcap",
    |apps| {
        // Rules with app-layer-protocol:!http and !tls on ports 80/443 must not fire: every flow
        // there is HTTP (or TLS), or nothing was seen.
        for a in &apps {
            assert!(matches!(
                a.proto(),
                AppProto::Http | AppProto::Tls | AppProto::Unknown
            ));
        }
    }
);

sv!(dns_opcode_notify, "dns-opcode/dns-notify.pcap", |apps| {
    let mut ops = Vec::new();
    for a in &apps {
        if let AppState::Dns(s) = a.state() {
            ops.extend(s.txs().filter(|t| !t.is_response()).map(|t| t.opcode()));
        }
    }
    assert!(ops.contains(&4), "{ops:?}");
});

sv!(dns_query_bsize, "test-bsize-values-2/input.pcap", |apps| {
    let mut names = Vec::new();
    for a in &apps {
        if let AppState::Dns(s) = a.state() {
            for t in s.txs() {
                let mut i = 0;
                while let Some(n) = BufferId::DnsQuery.dns(t, i) {
                    names.push(n.to_vec());
                    i += 1;
                }
            }
        }
    }
    assert!(names.iter().any(|n| n == b"google.com"), "{names:?}");
});

sv!(
    dns_query_02,
    "dns/dns-query/dns-detect-query-02/input.pcap",
    |apps| {
        let mut names = Vec::new();
        for a in &apps {
            if let AppState::Dns(s) = a.state() {
                for t in s.txs() {
                    if let Some(n) = t.query_name(0) {
                        names.push(n.to_ascii_lowercase());
                    }
                }
            }
        }
        assert!(names.iter().any(|n| contains(n, b"google.com")));
        assert!(names.iter().any(|n| contains(n, b"google.net")));
    }
);

fn tls_info(apps: &[AppLayer]) -> &tls::TlsInfo {
    apps.iter()
        .find_map(|a| match a.state() {
            AppState::Tls(s) if s.info.state & tls::state::CLIENT_HELLO != 0 => Some(&s.info),
            _ => None,
        })
        .expect("a TLS flow with a ClientHello")
}

// Expected values below were computed independently of this code: JA3/JA4 with a separate
// Python walk of the ClientHello in the capture, certificate fields with `openssl x509` on the
// DER extracted from the capture.
sv!(
    tls_fingerprints_subject_zero,
    "tls/tls-subject-zero/input.pcap",
    |apps| {
        let i = tls_info(&apps);
        assert_eq!(
            i.ja3,
            "771,49192-49191-49172-49171-159-158-57-51-157-156-61-60-53-47-49196-49195-49188-\
         49187-49162-49161-106-64-56-50-10-19,0-5-10-11-13-23-65281,23-24,0"
        );
        assert_eq!(i.ja3_hash, "5182f54f9c6e99d117d9dde3fa2b4cff");
        assert_eq!(i.ja4, "t12d260700_db6bc8f7861c_595eacc76d13");
        assert_eq!(i.sni, b"go.microsoft.com");
        assert_eq!(i.version, 0x0303);
        let c = i.cert().expect("leaf certificate");
        assert_eq!(
            c.serial,
            "12:00:1F:1F:B8:02:9F:C1:BD:63:55:EC:B2:00:00:00:1F:1F:B8"
        );
        assert_eq!(
            c.fingerprint,
            "8a:32:67:a5:b8:4a:c6:5a:ae:80:95:3e:70:8f:2f:9c:da:9e:30:98"
        );
        assert_eq!(
            c.issuer,
            b"C=US, O=Microsoft Corporation, CN=Microsoft RSA TLS CA 01"
        );
        let mut out = Vec::new();
        let mut j = crate::eve::Json::new(&mut out);
        eve::write_tls(&mut j, i);
        j.end();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tls"]["notbefore"], "2021-12-15T19:27:42");
        assert_eq!(v["tls"]["notafter"], "2022-12-15T19:27:42");
        assert!(!i.ja3s.is_empty() && i.ja3s.starts_with("771,"));
        assert!(i.state & tls::state::SERVER_HELLO != 0);
    }
);

sv!(
    tls_fingerprints_alpn,
    "tls/tls-cert-noissuer/tls.pcap",
    |apps| {
        let i = tls_info(&apps);
        assert_eq!(i.ja3_hash, "bcd93fc89dba4639942325c540ce598c");
        assert_eq!(i.ja4, "t12i2807h2_d943125447b4_dd0a478c1db3");
        assert!(i.sni.is_empty());
    }
);

sv!(
    tls_fingerprints_minimal_hello,
    "app-layer-protocol-prefilter/input.pcap",
    |apps| {
        let i = tls_info(&apps);
        assert_eq!(i.ja3, "771,156,0,,");
        assert_eq!(i.ja3_hash, "bf82c944ebe9de774f6243b8edb7eb89");
        // JA4: the only extension is SNI, so the sorted extension list is empty and JA4_c is
        // all zeros per the definition.
        assert_eq!(i.ja4, "t12d010100_dc2b145ead28_000000000000");
    }
);

/// Every TCP/UDP flow of `shared/data/pcaps/public_mix.pcap` through the app layer: no panic,
/// every EVE record due renders as valid JSON and none is lost to recycling, and the protocol
/// mix, record and anomaly counts are printed for review. Slow in debug builds, so
/// ignored by default: `cargo test -p dataplane --lib public_mix -- --ignored --nocapture`.
#[test]
#[ignore]
fn public_mix_smoke() {
    let Some(path) = vocab::testing::shared_data("pcaps/public_mix.pcap") else {
        return;
    };
    let flows = read_flows(&path.to_string_lossy()).expect("capture reads");
    let cfg = AppConfig {
        eve_logging: true,
        ..AppConfig::default()
    };
    let mut ctr = AppCounters::default();
    let mut records: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut out = Vec::new();
    let mut render = |app: &AppLayer, r: eve::TxRef, f: &super::testpcap::PcapFlow| {
        let env = crate::eve::Envelope {
            ts: Timestamp(0),
            flow_id: 1,
            pcap_cnt: 0,
            event_type: "",
            src: f.client.0,
            src_port: f.client.1,
            dst: f.server.0,
            dst_port: f.server.1,
            proto: f.proto,
            vlan: crate::eve::Vlans::NONE,
            icmp: None,
        };
        out.clear();
        assert!(eve::write_app_record(
            &mut out,
            &env,
            app,
            r,
            &eve::EveOptions::default()
        ));
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid record");
        assert!(v.get(r.event_type()).is_some());
        *records.entry(r.event_type()).or_default() += 1;
    };
    let mut protos: std::collections::BTreeMap<&'static str, usize> = Default::default();
    let mut events: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for f in &flows {
        let transport = if f.proto == 6 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let unlogged_before = ctr.eve_unlogged;
        let mut app = AppLayer::new(transport, f.client.1, f.server.1);
        for p in &f.pieces {
            let dir = if p.to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            match transport {
                Transport::Tcp => app.on_stream(&cfg, dir, &p.data, Timestamp(p.ts), &mut ctr),
                Transport::Udp => app.on_datagram(&cfg, dir, &p.data, Timestamp(p.ts), &mut ctr),
            };
            for e in app.events.iter() {
                *events.entry(e.name()).or_default() += 1;
            }
            app.events.clear();
            // Stand in for the detection stage: inspect (take) every changed transaction.
            if let AppState::Http(s) = app.state_mut() {
                for tx in s.txs_mut() {
                    tx.take_changes();
                }
            }
            while let Some(r) = app.next_record() {
                render(&app, r, f);
            }
        }
        app.on_end(&cfg, Direction::ToServer, Timestamp(0), &mut ctr);
        app.on_end(&cfg, Direction::ToClient, Timestamp(0), &mut ctr);
        while let Some(r) = app.next_record_at_end() {
            render(&app, r, f);
        }
        *protos.entry(app.proto().name()).or_default() += 1;
        if ctr.eve_unlogged != unlogged_before {
            eprintln!(
                "unlogged {} in {} flow {:?}",
                ctr.eve_unlogged - unlogged_before,
                app.proto().name(),
                f.server
            );
        }
    }
    eprintln!("EVE records: {records:?}");
    // Transactions are recycled unlogged only by the per-flow transaction cap (a flow of 1,000
    // pipelined requests does that), never by retirement.
    assert!(
        ctr.eve_unlogged <= ctr.http_limit,
        "{} > {}",
        ctr.eve_unlogged,
        ctr.http_limit
    );
    eprintln!("flows by app_proto: {protos:?}");
    eprintln!("events: {events:?}");
    let mut c = Vec::new();
    ctr.visit(&mut |n, v| c.push(format!("{n}={v}")));
    eprintln!("counters: {}", c.join(" "));
    assert!(protos.get("http").copied().unwrap_or(0) > 0);
    assert!(protos.get("dns").copied().unwrap_or(0) > 0);
    assert!(protos.get("tls").copied().unwrap_or(0) > 0);
}
