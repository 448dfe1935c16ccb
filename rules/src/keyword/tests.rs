use super::*;
use crate::ir::{CmpOp, HeaderMatch};
use vocab::Direction;

fn lower_text(text: &str) -> Result<ir::Rule, LowerError> {
    let r = crate::parse::parse_rule(text).expect("parses");
    let vars = Vars::default();
    lower(
        &r,
        LowerCtx {
            vars: &vars,
            classes: None,
            validate_only: false,
            rule_dir: None,
        },
    )
}

fn ok(text: &str) -> ir::Rule {
    lower_text(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(text: &str) -> LowerErrorKind {
    lower_text(text).expect_err(text).kind
}

#[test]
fn sticky_buffers_and_modifiers() {
    let r = ok(
        r#"alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"x"; flow:established,to_server; http.method; content:"POST"; http.uri; content:"/a"; startswith; content:"b"; distance:0; within:5; pkt_data; content:"zz"; content:"UA"; http_user_agent; nocase; sid:5; rev:2;)"#,
    );
    assert_eq!(r.sid, 5);
    assert_eq!(r.rev, 2);
    assert_eq!(r.flow.and_then(|f| f.dir), Some(Direction::ToServer));
    let bufs: Vec<Buffer> = r.lists.iter().map(|l| l.buffer).collect();
    assert_eq!(
        bufs,
        vec![
            Buffer::HttpMethod,
            Buffer::HttpUri,
            Buffer::Payload,
            Buffer::HttpUserAgent
        ]
    );
    let uri = r.list(Buffer::HttpUri).expect("uri");
    assert_eq!(uri.matches.len(), 2);
    match &uri.matches[1] {
        Match::Content(c) => {
            assert_eq!(c.distance, Some(Value::Lit(0)));
            assert_eq!(c.within, Some(Value::Lit(5)));
        }
        m => panic!("{m:?}"),
    }
    match &r.list(Buffer::HttpUserAgent).expect("ua").matches[0] {
        Match::Content(c) => assert!(c.nocase && c.pattern == b"UA"),
        m => panic!("{m:?}"),
    }
}

#[test]
fn legacy_modifier_moves_the_content() {
    let r = ok(
        r#"alert tcp any any -> any any (content:"a"; content:"GET"; http_method; content:"/x"; http_uri; depth:2; sid:1;)"#,
    );
    assert_eq!(r.list(Buffer::Payload).expect("payload").matches.len(), 1);
    assert_eq!(r.list(Buffer::HttpMethod).expect("m").matches.len(), 1);
    match &r.list(Buffer::HttpUri).expect("u").matches[0] {
        Match::Content(c) => assert_eq!(c.depth, Some(Value::Lit(2))),
        m => panic!("{m:?}"),
    }
    assert!(matches!(
        err(r#"alert http any any -> any any (http.uri; content:"a"; http_uri; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
}

#[test]
fn legacy_tls_keywords_match_a_certificate_field() {
    let r = ok(
        r#"alert tls any any -> any any (tls.sni; content:"a"; tls.subject:"CN=a|b, O=x"; tls.issuerdn:!"CN=Evil"; tls.fingerprint:4a:0b; content:"c"; sid:1;)"#,
    );
    match &r.list(Buffer::TlsCertSubject).expect("subject").matches[0] {
        // Taken literally: `|` is not a hex escape in the legacy form.
        Match::Content(c) => assert!(c.pattern == b"CN=a|b, O=x" && !c.negated),
        m => panic!("{m:?}"),
    }
    match &r.list(Buffer::TlsCertIssuer).expect("issuer").matches[0] {
        Match::Content(c) => assert!(c.pattern == b"CN=Evil" && c.negated),
        m => panic!("{m:?}"),
    }
    match &r.list(Buffer::TlsCertFingerprint).expect("fp").matches[0] {
        Match::Content(c) => assert_eq!(c.pattern, b"4a:0b"),
        m => panic!("{m:?}"),
    }
    // The sticky buffer in force before the legacy keywords still holds after them.
    assert_eq!(r.list(Buffer::TlsSni).expect("sni").matches.len(), 2);
    assert!(matches!(
        err(r#"alert tls any any -> any any (tls.subject:""; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
    assert!(matches!(
        err(r#"alert tls any any -> any any (tls.subject:"CN=x"; nocase; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
}

#[test]
fn pcre_buffer_flags_and_transforms() {
    let r = ok(r#"alert http any any -> any any (file.data; content:"a"; pcre:"/b/QR"; sid:1;)"#);
    assert_eq!(r.lists.len(), 1);
    assert_eq!(r.lists[0].matches.len(), 2);
    let r = ok(
        r#"alert http any any -> any any (http.response_body; content:"a"; pcre:"/b/QR"; sid:1;)"#,
    );
    assert_eq!(r.lists.len(), 1);
    let r = ok(
        r#"alert http any any -> any any (pcre:"/^\/a/U"; http.host; to_lowercase; content:"x"; sid:1;)"#,
    );
    assert!(matches!(
        r.list(Buffer::HttpUri).expect("uri").matches[0],
        Match::Pcre(_)
    ));
    assert_eq!(
        r.list(Buffer::HttpHost).expect("host").transforms,
        vec![Transform::ToLowercase]
    );
    assert!(matches!(
        err(r#"alert http any any -> any any (dns.query; content:"x"; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
    let r = ok(
        r#"alert dns any any -> any any (dns.query; dotprefix; content:".evil.com"; endswith; sid:1;)"#,
    );
    assert_eq!(r.lists[0].transforms, vec![Transform::Dotprefix]);
    // A transform after matches opens a second, transformed instance of the buffer.
    let r = ok(
        r#"alert dns any any -> any any (dns.query; content:"a"; dotprefix; content:".b"; sid:1;)"#,
    );
    assert_eq!(r.lists.len(), 2);
    assert!(r.lists[0].transforms.is_empty());
    assert_eq!(r.lists[1].transforms, vec![Transform::Dotprefix]);
    assert!(matches!(
        err(r#"alert dns any any -> any any (dns.query; dotprefix; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
    assert_eq!(
        ok(r#"alert http any any -> any any (http.host; content:"a"; pcre:"/a/W"; sid:1;)"#)
            .lists
            .len(),
        1
    );
    assert!(matches!(
        err(r#"alert http any any -> any any (http.host; content:"a"; pcre:"/a/U"; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
    assert!(matches!(
        err(r#"alert tcp any any -> any any (dotprefix; content:"a"; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
}

#[test]
fn unsupported_keywords_are_named() {
    assert_eq!(
        err(r#"alert tcp any any -> any any (content:"a"; asn1:oversize_length 10; sid:1;)"#),
        LowerErrorKind::Unsupported("asn1".into())
    );
    assert_eq!(
        err(r#"alert tcp any any -> any any (frobnicate; sid:1;)"#),
        LowerErrorKind::Unsupported("frobnicate".into())
    );
}

#[test]
fn invalid_rules() {
    for text in [
        r#"alert tcp any any -> any any (content:"a";)"#,
        r#"alert tcp any any -> any any (content:"abc"; depth:2; sid:1;)"#,
        r#"alert tcp any any -> any any (content:"abc"; offset:1; distance:2; sid:1;)"#,
        r#"alert tcp any any -> any any (nocase; sid:1;)"#,
        r#"alert tcp any any -> any any (content:"a"; nocase; nocase; sid:1;)"#,
        r#"alert tcp any any -> any any (content:"a"; fast_pattern; content:"b"; fast_pattern; sid:1;)"#,
        r#"alert tcp any any -> any any (content:"ab"; fast_pattern:1,5; sid:1;)"#,
        r#"alert tcp any any -> any any (sid:1; sid:2;)"#,
        r#"alert foo any any -> any any (sid:1;)"#,
        r#"alert tcp $NOPE any -> any any (sid:1;)"#,
        r#"alert tcp any any -> any any (flow:sideways; sid:1;)"#,
        r#"alert tcp any any -> any any (dsize:>70000; sid:1;)"#,
        r#"alert tcp any any -> any any (http.uri; sid:1;)"#,
        r#"alert tcp any any -> any any (threshold:type limit, track by_src, count 1; sid:1;)"#,
        r#"alert tcp any any -> any any (byte_test:4,=,x,0; sid:1;)"#,
    ] {
        assert!(matches!(err(text), LowerErrorKind::Invalid(_)), "{text}");
    }
}

#[test]
fn other_families() {
    let r = ok(
        r#"alert icmp any any -> any any (itype:8; icode:0; ttl:<10; dsize:>100; threshold:type both, track by_src, count 5, seconds 60; flowbits:isset,a|b; flowint:c,+,1; decode-event:ipv4.trunc_pkt; app-layer-protocol:!http; byte_extract:2,0,len; byte_test:2,>,len,2; classtype:misc-activity; priority:2; metadata:created_at 2020_01_01, tag x; reference:url,example.com; target:dest_ip; sid:9;)"#,
    );
    assert_eq!(
        r.header[0],
        HeaderMatch::Itype(ir::NumCmp {
            op: CmpOp::Eq,
            a: 8,
            b: 0
        })
    );
    assert_eq!(r.dsize.map(|d| d.op), Some(CmpOp::Gt));
    assert_eq!(r.meta.priority, 2);
    assert_eq!(r.meta.metadata.len(), 2);
    assert_eq!(r.flowbits[0].names, vec!["a", "b"]);
    assert!(!r.flowbits[0].all);
    assert_eq!(r.decode_events, vec!["ipv4.trunc_pkt"]);
    let r = ok(
        r#"alert http any any -> any any (http.uri; content:"a"; urilen:>5; flowbits:noalert; sid:1;)"#,
    );
    assert!(r.noalert);
    assert_eq!(r.list(Buffer::HttpUri).expect("uri").matches.len(), 2);
}

/// `bypass` marks the rule; it takes no value, like Suricata's.
#[test]
fn bypass_is_a_flag() {
    let r = ok(r#"alert tcp any any -> any any (content:"big"; bypass; sid:1;)"#);
    assert!(r.bypass);
    assert!(!ok(r#"alert tcp any any -> any any (content:"big"; sid:1;)"#).bypass);
    assert!(lower_text(r#"alert tcp any any -> any any (bypass:yes; sid:1;)"#).is_err());
}

#[test]
fn newer_suricata_keywords() {
    let r =
        ok(r#"alert dns any any -> any any (dns.opcode:!0; dns.rcode:3; dns.rrtype:1,-1; sid:1;)"#);
    assert_eq!(r.app.len(), 3);
    assert!(matches!(
        r.app[2],
        AppMatch::DnsRrtype {
            index: Some(-1),
            ..
        }
    ));
    let r = ok(r#"alert dns any any -> any any (dns.queries.rrname; content:"a.net"; sid:1;)"#);
    assert_eq!(r.lists[0].buffer, Buffer::DnsQueriesRrname);
    let r = ok(
        r#"alert tcp any any -> any any (detection_filter: track by_dst, count 3, seconds 60, unique_on dst_port; sid:1;)"#,
    );
    assert_eq!(
        r.detection_filter.and_then(|d| d.unique_on),
        Some(ir::UniqueOn::DstPort)
    );
    assert!(matches!(
        err(
            r#"alert tcp any any -> any any (threshold: type limit, track by_dst, count 3, seconds 60, unique_on dst_port; sid:1;)"#
        ),
        LowerErrorKind::Invalid(_)
    ));
    let r = ok(
        r#"alert http any any => any any (http.uri; content:"/a"; file.data: to_client; content:"b"; sid:1;)"#,
    );
    assert_eq!(r.lists[1].dir, Some(vocab::Direction::ToClient));
    assert!(matches!(
        err(r#"alert http any any -> any any (file.data: sideways; content:"b"; sid:1;)"#),
        LowerErrorKind::Invalid(_)
    ));
    let r = ok(r#"alert tcp any any -> any any (app-layer-protocol:tls; prefilter; sid:1;)"#);
    assert!(r.prefilter_hint);
    let r = ok(r#"alert http any any -> any any (http.request_header; content:"a|3a| b"; sid:1;)"#);
    assert_eq!(r.lists[0].buffer, Buffer::HttpRequestHeader);
}

#[test]
fn relative_keywords_follow_a_modified_content() {
    // Suricata attaches a relative keyword to the list of the content before it, also when a
    // legacy modifier moved that content out of the payload.
    let r = ok(
        r#"alert tcp any any -> any any (content:"/c/"; http_raw_uri; isdataat:4,relative; pcre:"/x/R"; isdataat:1; sid:1;)"#,
    );
    let bufs: Vec<(Buffer, usize)> = r
        .lists
        .iter()
        .map(|l| (l.buffer, l.matches.len()))
        .collect();
    assert_eq!(bufs, vec![(Buffer::HttpUriRaw, 3), (Buffer::Payload, 1)]);
}

#[test]
fn file_keywords() {
    use crate::ir::FileMatch;
    let r = ok(
        r#"alert tcp any any -> any any (filename:!"S.PDF"; fileext:"pdf"; filesize:100<>200; filestore; sid:1;)"#,
    );
    assert_eq!(
        r.app[0],
        AppMatch::File(FileMatch::Name {
            pattern: b"S.PDF".to_vec(),
            negated: true
        })
    );
    assert_eq!(
        r.app[1],
        AppMatch::File(FileMatch::Ext {
            ext: b"pdf".to_vec(),
            negated: false
        })
    );
    let AppMatch::File(FileMatch::Size(c)) = &r.app[2] else {
        panic!("{:?}", r.app[2])
    };
    assert!(c.matches(150) && !c.matches(200));
    assert_eq!(r.app[3], AppMatch::File(FileMatch::Store));
    for bad in [
        r#"alert tcp any any -> any any (fileext:".pdf"; sid:1;)"#,
        r#"alert tcp any any -> any any (filename:""; sid:1;)"#,
        r#"alert tcp any any -> any any (filesize:5MB; sid:1;)"#,
        r#"alert tcp any any -> any any (filemd5:; sid:1;)"#,
    ] {
        assert!(matches!(err(bad), LowerErrorKind::Invalid(_)), "{bad}");
    }
    // Without libmagic's descriptions, a magic rule is skipped, not half loaded.
    assert!(matches!(
        err(r#"alert tcp any any -> any any (filemagic:"PDF document"; sid:1;)"#),
        LowerErrorKind::Unsupported(_)
    ));
}
