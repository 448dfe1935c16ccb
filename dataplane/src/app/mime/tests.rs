use super::*;

/// What a message produced: files (name, content, complete) and events.
#[derive(Default)]
struct Collect {
    files: Vec<(Vec<u8>, Vec<u8>, Option<bool>)>,
    events: Vec<AppEvent>,
}

impl MimeSink for Collect {
    fn file_open(&mut self, name: &[u8]) {
        self.files.push((name.to_vec(), Vec::new(), None));
    }
    fn file_data(&mut self, data: &[u8]) {
        self.files.last_mut().unwrap().1.extend_from_slice(data);
    }
    fn file_close(&mut self, complete: bool) {
        self.files.last_mut().unwrap().2 = Some(complete);
    }
    fn event(&mut self, e: AppEvent) {
        self.events.push(e);
    }
}

fn parse(msg: &str) -> (MimeParser, Collect) {
    let mut p = MimeParser::new(MimeLimits::default());
    let mut c = Collect::default();
    p.start();
    for l in msg.split("\r\n") {
        p.line(l.as_bytes(), &mut c);
    }
    p.end(&mut c);
    (p, c)
}

const NESTED: &str = "From: \"A, B\" <a@example.com>\r\n\
To: x@example.com, \"y, z\" <y@example.com>\r\n\
Subject: report\r\n\
Received: from a\r\n\
Received: from b\r\n\
\tby c\r\n\
Content-Type: multipart/mixed;\r\n\
\tboundary=\"outer\"\r\n\
\r\n\
preamble http://ignored.example/\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
see http://example.com/a=\r\n\
b and more\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/octet-stream; name=\"x.bin\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
SGVsbG8s\r\n\
IHdvcmxkIQ==\r\n\
--outer\r\n\
Content-Type: text/plain; name=notes.txt\r\n\
\r\n\
line one\r\n\
line two\r\n\
--outer--\r\n\
epilogue";

#[test]
fn nested_multipart_with_encodings() {
    let (p, c) = parse(NESTED);
    assert!(c.events.is_empty(), "{:?}", c.events);
    let e = &p.email;
    assert_eq!(e.status, Status::Done);
    assert_eq!(e.from, b"\"A, B\" <a@example.com>");
    assert_eq!(e.subject, b"report");
    assert_eq!(
        e.received,
        vec![b"from a".to_vec(), b"from b\tby c".to_vec()]
    );
    assert_eq!(
        e.attachments,
        vec![b"report.pdf".to_vec(), b"notes.txt".to_vec()]
    );
    // The soft line break joins the URL; the preamble is not text of the message.
    assert_eq!(e.urls, vec![b"example.com/ab".to_vec()]);
    assert_eq!(c.files.len(), 2);
    assert_eq!(
        c.files[0],
        (
            b"report.pdf".to_vec(),
            b"Hello, world!".to_vec(),
            Some(true)
        )
    );
    assert_eq!(c.files[1].1, b"line one\r\nline two");
}

#[test]
fn nesting_past_the_cap_is_skipped_and_counted() {
    let mut msg = String::new();
    for i in 0..MAX_DEPTH + 5 {
        msg += &format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n");
    }
    msg += "Content-Disposition: attachment; filename=deep.exe\r\n\r\nAAAA\r\n";
    let (p, c) = parse(&msg);
    assert!(c.events.contains(&AppEvent::SmtpMimeParseFailed));
    assert!(p.boundaries.len() <= MAX_DEPTH);
    // The too-deep part's body is not followed.
    assert!(c.files.is_empty());
}

#[test]
fn bad_base64_and_long_fields_are_events() {
    let long = "v".repeat(5000);
    let msg = format!(
        "Subject: {long}\r\n{}: x\r\nContent-Disposition: attachment; filename=a.bin\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nQU*FB\r\n",
        "n".repeat(100)
    );
    let (p, c) = parse(&msg);
    for e in [
        AppEvent::SmtpMimeLongHeaderValue,
        AppEvent::SmtpMimeLongHeaderName,
        AppEvent::SmtpMimeInvalidBase64,
        AppEvent::SmtpMimeLongLine,
    ] {
        assert!(c.events.contains(&e), "{e:?}");
    }
    assert_eq!(
        p.email.subject.len(),
        MimeLimits::default().max_header_value
    );
    assert_eq!(c.files[0].1, b"AAA");
}

#[test]
fn endless_headers_stay_bounded() {
    let mut p = MimeParser::new(MimeLimits::default());
    let mut c = Collect::default();
    p.start();
    for _ in 0..100_000 {
        p.line(b"Received: from somewhere", &mut c);
        p.line(b" continued", &mut c);
    }
    assert_eq!(p.email.received.len(), MAX_LIST);
    assert_eq!(p.email.status, Status::Header);
    // A message cut off ends with an error status.
    p.abort(&mut c);
    assert_eq!(p.email.status, Status::Error);
}

#[test]
fn encapsulated_message_resets_the_encoding() {
    let msg = "Content-Type: message/rfc822\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"outer.txt\"\r\n\
\r\n\
Subject: inner\r\n\
Content-Disposition: attachment; filename=\"inner.exe\"\r\n\
\r\n\
PLAIN-PAYLOAD";
    let (p, c) = parse(msg);
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].0, b"inner.exe");
    assert_eq!(c.files[0].1, b"PLAIN-PAYLOAD");
    // The main header fields are the outer message's.
    assert!(p.email.subject.is_empty());
}

#[test]
fn a_cut_message_truncates_its_file() {
    let mut p = MimeParser::new(MimeLimits::default());
    let mut c = Collect::default();
    p.start();
    for l in ["Content-Disposition: attachment; filename=a", "", "data"] {
        p.line(l.as_bytes(), &mut c);
    }
    p.abort(&mut c);
    assert_eq!(c.files[0].2, Some(false));
    // The parser is reusable: the next message starts clean.
    p.start();
    assert!(p.email.attachments.is_empty());
}
