//! Parsing of one HTTP/1.x message head: finding the end of the header block, the request
//! and status lines, headers and the message's framing (Content-Length, chunked, close).

use super::*;

/// End (exclusive) of a header block in `b`, searching from `from`: the first empty line after
/// the start line. A request line without a protocol (HTTP/0.9) ends the block by itself.
pub(super) fn find_block_end(b: &[u8], from: usize, request: bool) -> Option<usize> {
    let first_eol = b.iter().position(|&c| c == b'\n')?;
    if request && from <= first_eol {
        let line = strip_cr(&b[..first_eol]);
        if !has_protocol(line) {
            return Some(first_eol + 1);
        }
    }
    let mut i = from.max(first_eol).min(b.len());
    while let Some(p) = b[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        // The next line is empty if it is "\n" or "\r\n".
        let rest = &b[nl + 1..];
        if rest.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        if rest.is_empty() || rest == b"\r" {
            return None;
        }
        i = nl + 1;
    }
    None
}

pub(super) fn strip_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// True if a request line ends with an `HTTP/` protocol token.
pub(super) fn has_protocol(line: &[u8]) -> bool {
    let t = body::trim(line);
    match t.iter().rposition(|&c| c == b' ' || c == b'\t') {
        Some(p) => t[p + 1..].len() >= 4 && t[p + 1..][..4].eq_ignore_ascii_case(b"HTTP"),
        None => false,
    }
}

pub(super) fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

pub(super) fn range(base: &[u8], part: &[u8]) -> Range<u32> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start as u32..(start + part.len()) as u32
}

/// Parses a complete header block (start line, header lines, empty line) into `m`.
pub(super) fn parse_block(
    block: &[u8],
    m: &mut HttpMessage,
    request: bool,
    cfg: &AppConfig,
    scratch: &mut Scratch,
    events: &mut EventSet,
) {
    let eol = block
        .iter()
        .position(|&c| c == b'\n')
        .unwrap_or(block.len());
    m.set_line(strip_cr(&block[..eol]), request, events);
    let rest = block.get(eol + 1..).unwrap_or(&[]);
    m.raw_headers.clear();
    m.raw_headers.extend_from_slice(rest);
    m.progress = MsgProgress::Headers;

    scratch.fields.clear();
    scratch.values.clear();
    let raw = &m.raw_headers;
    let mut lines = raw.split(|&c| c == b'\n');
    let mut count = 0usize;
    for l in &mut lines {
        let l = strip_cr(l);
        if l.is_empty() {
            break;
        }
        if is_ws(l[0]) {
            // Folded continuation (obs-fold): joined to the previous value with one space.
            if let Some(last) = scratch.fields.last_mut() {
                let v = body::trim(l);
                if !v.is_empty() {
                    if last.1.end > last.1.start {
                        scratch.values.push(b' ');
                    }
                    scratch.values.extend_from_slice(v);
                    last.1.end = scratch.values.len() as u32;
                }
            } else {
                events.push(if request {
                    AppEvent::HttpInvalidRequestFieldFolding
                } else {
                    AppEvent::HttpInvalidResponseFieldFolding
                });
            }
            continue;
        }
        count += 1;
        if count > cfg.http_max_headers {
            events.push(if request {
                AppEvent::HttpRequestTooManyHeaders
            } else {
                AppEvent::HttpResponseTooManyHeaders
            });
            break;
        }
        let Some(colon) = l.iter().position(|&c| c == b':') else {
            events.push(if request {
                AppEvent::HttpRequestFieldMissingColon
            } else {
                AppEvent::HttpResponseFieldMissingColon
            });
            continue;
        };
        let name_ws = &l[..colon];
        let name = body::trim(name_ws);
        if name.is_empty() || name.len() != name_ws.len() {
            events.push(if request {
                AppEvent::HttpRequestHeaderInvalid
            } else {
                AppEvent::HttpResponseHeaderInvalid
            });
            if name.is_empty() {
                continue;
            }
        }
        let v = body::trim(&l[colon + 1..]);
        let vstart = scratch.values.len() as u32;
        scratch.values.extend_from_slice(v);
        scratch
            .fields
            .push((range(raw, name), vstart..scratch.values.len() as u32));
    }

    // Merge duplicates in order of first appearance (quadratic in a capped header count).
    m.fields.clear();
    m.values.clear();
    for (i, (n, v)) in scratch.fields.iter().enumerate() {
        let name = &raw[n.start as usize..n.end as usize];
        let seen = scratch.fields[..i]
            .iter()
            .any(|(o, _)| raw[o.start as usize..o.end as usize].eq_ignore_ascii_case(name));
        if seen {
            continue;
        }
        let start = m.values.len() as u32;
        m.values
            .extend_from_slice(&scratch.values[v.start as usize..v.end as usize]);
        for (o, ov) in &scratch.fields[i + 1..] {
            if raw[o.start as usize..o.end as usize].eq_ignore_ascii_case(name) {
                m.values.extend_from_slice(b", ");
                m.values
                    .extend_from_slice(&scratch.values[ov.start as usize..ov.end as usize]);
            }
        }
        m.fields.push(Field {
            name: n.clone(),
            value: start..m.values.len() as u32,
        });
    }

    // Derived buffers.
    m.header_norm.clear();
    m.header_names.clear();
    m.start.clear();
    m.header_names.extend_from_slice(b"\r\n");
    m.start.extend_from_slice(&m.line);
    m.start.extend_from_slice(b"\r\n");
    let cookie: &[u8] = if request { b"cookie" } else { b"set-cookie" };
    for f in &m.fields {
        let name = &raw[f.name.start as usize..f.name.end as usize];
        let value = &m.values[f.value.start as usize..f.value.end as usize];
        m.header_names.extend_from_slice(name);
        m.header_names.extend_from_slice(b"\r\n");
        m.start.extend_from_slice(name);
        m.start.extend_from_slice(b": ");
        m.start.extend_from_slice(value);
        m.start.extend_from_slice(b"\r\n");
        if !name.eq_ignore_ascii_case(cookie) {
            m.header_norm.extend_from_slice(name);
            m.header_norm.extend_from_slice(b": ");
            m.header_norm.extend_from_slice(value);
            m.header_norm.extend_from_slice(b"\r\n");
        }
    }
    m.header_names.extend_from_slice(b"\r\n");
    m.start.extend_from_slice(b"\r\n");
}

pub(super) fn parse_request_line(m: &mut HttpMessage, events: &mut EventSet) {
    let line = &m.line;
    let lead = line.iter().take_while(|&&c| is_ws(c)).count();
    if lead > 0 {
        events.push(AppEvent::HttpRequestLineLeadingWhitespace);
    }
    let l = &line[lead..];
    let mend = l.iter().position(|&c| is_ws(c)).unwrap_or(l.len());
    let method = &l[..mend];
    let after = &l[mend..];
    let gap = after.iter().take_while(|&&c| is_ws(c)).count();
    if gap > 1 || after.first() == Some(&b'\t') {
        events.push(AppEvent::HttpMethodDelimNonCompliant);
    }
    let rest = body::trim(&after[gap..]);
    let (uri, proto) = match rest.iter().rposition(|&c| is_ws(c)) {
        Some(p) if has_protocol(rest) => {
            let u = body::trim(&rest[..p]);
            if rest[..p].len() != u.len() {
                events.push(AppEvent::HttpUriDelimNonCompliant);
            }
            (u, &rest[p + 1..])
        }
        _ => {
            if !rest.is_empty() {
                events.push(AppEvent::HttpRequestLineMissingProtocol);
            }
            (rest, &rest[rest.len()..])
        }
    };
    if method.is_empty() || uri.is_empty() {
        events.push(AppEvent::HttpRequestLineInvalid);
    }
    m.parts = [range(line, method), range(line, uri), range(line, proto)];
}

pub(super) fn parse_status_line(m: &mut HttpMessage, events: &mut EventSet) {
    let line = &m.line;
    let l = body::trim(line);
    let pend = l.iter().position(|&c| is_ws(c)).unwrap_or(l.len());
    let proto = &l[..pend];
    let after = body::trim(&l[pend..]);
    let cend = after.iter().position(|&c| is_ws(c)).unwrap_or(after.len());
    let code = &after[..cend];
    let msg = body::trim(&after[cend..]);
    if !proto.starts_with(b"HTTP/") {
        events.push(AppEvent::HttpResponseLineInvalid);
    }
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        events.push(AppEvent::HttpInvalidResponseCode);
    }
    m.parts = [range(line, proto), range(line, code), range(line, msg)];
}

/// Derives the normalized URI and host of a parsed request.
pub(super) fn finish_request(tx: &mut HttpTx, events: &mut EventSet) {
    let raw_uri = tx.request.part(1);
    uri::normalize(raw_uri, &mut tx.uri_norm);
    tx.is_head = tx.request.part(0).eq_ignore_ascii_case(b"HEAD");
    tx.host.clear();
    tx.host_raw.clear();
    let authority = uri::split_absolute(raw_uri).map(|(a, _)| a);
    let host_hdr = tx.request.header(b"host");
    if let (Some(a), Some(h)) = (authority, host_hdr) {
        if !normalize_host_eq(a, h) {
            events.push(AppEvent::HttpHostHeaderAmbiguous);
        }
    }
    let src = host_hdr.or(authority);
    if let Some(h) = src {
        tx.host_raw.extend_from_slice(h);
    }
    if let Some(a) = authority.or(host_hdr) {
        let h = host_part(a);
        tx.host.extend(h.iter().map(u8::to_ascii_lowercase));
    }
    if host_hdr.is_none()
        && authority.is_none()
        && tx.request.part(2).eq_ignore_ascii_case(b"HTTP/1.1")
    {
        events.push(AppEvent::HttpMissingHostHeader);
    }
}

pub(super) fn normalize_host_eq(a: &[u8], b: &[u8]) -> bool {
    host_part(a).eq_ignore_ascii_case(host_part(b))
}

/// Hostname of an authority: no userinfo, no port, no trailing dot.
pub(super) fn host_part(a: &[u8]) -> &[u8] {
    let a = body::trim(a);
    let a = match a.iter().rposition(|&c| c == b'@') {
        Some(p) => &a[p + 1..],
        None => a,
    };
    let h = if a.first() == Some(&b'[') {
        match a.iter().position(|&c| c == b']') {
            Some(p) => &a[..p + 1],
            None => a,
        }
    } else {
        match a.iter().rposition(|&c| c == b':') {
            Some(p) => &a[..p],
            None => a,
        }
    };
    h.strip_suffix(b".").unwrap_or(h)
}

pub(super) fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = body::trim(v);
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

pub(super) fn has_token(v: &[u8], tok: &[u8]) -> bool {
    v.split(|&c| c == b',')
        .take(32)
        .any(|t| body::trim(t).eq_ignore_ascii_case(tok))
}

pub(super) fn message_framing(
    m: &mut HttpMessage,
    request: bool,
    events: &mut EventSet,
) -> Option<Framing> {
    if let Some(te) = m.header(b"transfer-encoding") {
        if has_token(te, b"chunked") {
            return Some(Framing::Chunked);
        }
        events.push(if request {
            AppEvent::HttpInvalidTransferEncodingRequest
        } else {
            AppEvent::HttpInvalidTransferEncodingResponse
        });
    }
    if let Some(cl) = m.header(b"content-length") {
        // Duplicates were merged as "a, b": equal values are tolerated, as libhtp does.
        let mut vals = cl.split(|&c| c == b',').take(16).map(parse_content_length);
        let first = vals.next().flatten();
        let mut dup = false;
        let mut consistent = true;
        for v in vals {
            dup = true;
            consistent &= v == first;
        }
        if dup {
            events.push(if request {
                AppEvent::HttpDuplicateContentLengthRequest
            } else {
                AppEvent::HttpDuplicateContentLengthResponse
            });
        }
        match first {
            Some(n) if consistent => {
                m.content_length = Some(n);
                return Some(if n == 0 {
                    Framing::None
                } else {
                    Framing::Length(n)
                });
            }
            _ => events.push(if request {
                AppEvent::HttpInvalidContentLengthRequest
            } else {
                AppEvent::HttpInvalidContentLengthResponse
            }),
        }
    }
    None
}

pub(super) fn response_framing(tx: &mut HttpTx, code: u16, events: &mut EventSet) -> Framing {
    if tx.is_head || code == 204 || code == 304 || (100..200).contains(&code) {
        return Framing::None;
    }
    match message_framing(&mut tx.response, false, events) {
        Some(f) => f,
        None => Framing::UntilClose,
    }
}

pub(super) fn is_ws_upgrade(tx: &HttpTx) -> bool {
    let up = |m: &HttpMessage| {
        m.header(b"upgrade")
            .is_some_and(|v| has_token(v, b"websocket"))
    };
    up(&tx.response) || up(&tx.request)
}
