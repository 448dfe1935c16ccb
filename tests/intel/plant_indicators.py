#!/usr/bin/env python3
"""Builds a STIX 2.1 bundle of indicators whose values are taken from a capture with dpkt,
independently of Osprey's decoders and parsers, for tests/intel.rs.

Usage: plant_indicators.py CAPTURE > bundle.json

Picked, in capture order, from flows whose TCP handshake the capture shows (so a tracker that
waits for the SYN parses them):
  - DNS query names (UDP to port 53);
  - TLS SNI and the client's JA3 hash (a ClientHello whole in one segment to port 443);
  - HTTP URLs (a GET request whole in one segment to port 80; http://host/uri);
  - server addresses (the SYN's destination), plain and with the destination port.
Each indicator carries what it planted in the custom property x_osprey_planted
({"field", "value"}), kept by Osprey as an unknown property. One indicator of a value the
capture does not hold, and one pattern Osprey cannot match, are added as controls.
"""

import hashlib
import json
import socket
import sys
import uuid

import dpkt

PER_KIND = 5
GREASE = {0x0A0A + 0x1010 * i for i in range(16)}


def u16(b, i):
    return (b[i] << 8) | b[i + 1]


def client_hello(payload):
    """(sni, ja3 string) of a TLS ClientHello record, or None."""
    if len(payload) < 9 or payload[0] != 0x16 or payload[5] != 0x01:
        return None
    rec_len = u16(payload, 3)
    if len(payload) < 5 + rec_len:
        return None
    h = payload[9:5 + rec_len]
    version = u16(h, 0)
    i = 2 + 32
    i += 1 + h[i]
    n = u16(h, i)
    ciphers = [u16(h, i + 2 + k) for k in range(0, n, 2)]
    i += 2 + n
    i += 1 + h[i]
    if i + 2 > len(h):
        return None
    end = i + 2 + u16(h, i)
    i += 2
    exts, curves, points, sni = [], [], [], None
    while i + 4 <= end:
        t, n = u16(h, i), u16(h, i + 2)
        body = h[i + 4:i + 4 + n]
        exts.append(t)
        if t == 0 and len(body) > 5 and body[2] == 0:
            sni = body[5:5 + u16(body, 3)].decode("ascii", "replace")
        elif t == 10:
            curves = [u16(body, 2 + k) for k in range(0, u16(body, 0), 2)]
        elif t == 11:
            points = list(body[1:1 + body[0]])
        i += 4 + n
    clean = lambda xs: "-".join(str(x) for x in xs if x not in GREASE)
    ja3 = ",".join([str(version), clean(ciphers), clean(exts), clean(curves), clean(points)])
    return sni, ja3


def is_address(s):
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, s)
            return True
        except OSError:
            pass
    return False


def packets(path):
    with open(path, "rb") as f:
        for ts, buf in dpkt.pcap.Reader(f):
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except (dpkt.UnpackError, dpkt.NeedData):
                continue
            ip = eth.data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                continue
            fam = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
            yield ts, fam, ip


def main(path):
    picked = {"dns": [], "sni": [], "ja3": [], "url": [], "addr": [], "addr_port": []}
    seen = set()
    syn = set()

    def take(kind, value, extra=None):
        key = (kind, value)
        if key in seen or len(picked[kind]) >= PER_KIND:
            return
        seen.add(key)
        picked[kind].append((value, extra))

    for ts, fam, ip in packets(path):
        l4 = ip.data
        src, dst = socket.inet_ntop(fam, ip.src), socket.inet_ntop(fam, ip.dst)
        if isinstance(l4, dpkt.udp.UDP) and l4.dport == 53:
            try:
                d = dpkt.dns.DNS(l4.data)
            except (dpkt.UnpackError, dpkt.NeedData, IndexError, UnicodeDecodeError):
                continue
            if d.qr == dpkt.dns.DNS_Q and d.opcode == 0 and len(d.qd) == 1:
                name = d.qd[0].name.lower().rstrip(".")
                labels = name.split(".")
                if len(labels) >= 2 and all(l and all(c.isalnum() or c in "-_" for c in l) for l in labels):
                    take("dns", name)
        if not isinstance(l4, dpkt.tcp.TCP):
            continue
        flow = (src, l4.sport, dst, l4.dport)
        if l4.flags & dpkt.tcp.TH_SYN and not l4.flags & dpkt.tcp.TH_ACK:
            syn.add(flow)
            if fam == socket.AF_INET and dst not in {v for v, _ in picked["addr"]}:
                if len(picked["addr"]) < PER_KIND:
                    take("addr", dst)
                elif len(picked["addr_port"]) < 2 and dst not in {v for v, _ in picked["addr_port"]}:
                    take("addr_port", dst, l4.dport)
            continue
        if flow not in syn or not l4.data:
            continue
        if l4.dport == 443:
            ch = client_hello(bytes(l4.data))
            if ch and ch[0] and not is_address(ch[0]):
                take("sni", ch[0].lower())
                take("ja3", hashlib.md5(ch[1].encode()).hexdigest())
        elif l4.dport == 80 and bytes(l4.data[:4]) == b"GET ":
            try:
                req = dpkt.http.Request(bytes(l4.data))
            except (dpkt.UnpackError, dpkt.NeedData):
                continue
            host = req.headers.get("host", "")
            if host and ":" not in host and req.uri.startswith("/") and "'" not in req.uri:
                take("url", "http://%s%s" % (host.lower(), req.uri))

    objects = []

    def indicator(pattern, field, value):
        ident = "indicator--" + str(uuid.uuid5(uuid.NAMESPACE_URL, pattern))
        objects.append({
            "type": "indicator", "spec_version": "2.1", "id": ident,
            "created": "2023-01-01T00:00:00Z", "modified": "2023-01-01T00:00:00Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2023-01-01T00:00:00Z",
            "confidence": 75, "labels": ["planted"],
            "x_osprey_planted": {"field": field, "value": value},
        })

    for v, _ in picked["dns"]:
        indicator("[domain-name:value = '%s']" % v, "dns.query", v)
    for v, _ in picked["sni"]:
        indicator("[domain-name:value = '%s']" % v, "tls.sni", v)
    for v, _ in picked["ja3"]:
        indicator("[x-ja3-hash:value = '%s']" % v, "ja3.hash", v)
    for v, _ in picked["url"]:
        indicator("[url:value = '%s']" % v, "http.url", v)
    for v, _ in picked["addr"]:
        indicator("[ipv4-addr:value = '%s']" % v, "address", v)
    for v, port in picked["addr_port"]:
        indicator("[network-traffic:dst_ref.value = '%s' AND network-traffic:dst_port = %d]" % (v, port),
                  "dest_ip", v)
    # Controls: a value the capture does not hold, and a pattern that needs correlation.
    indicator("[domain-name:value = 'never-seen.example']", "none", "never-seen.example")
    objects.append({
        "type": "indicator", "spec_version": "2.1", "id": "indicator--" + str(uuid.uuid4()),
        "pattern": "[ipv4-addr:value = '192.0.2.1'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.2']",
        "pattern_type": "stix", "valid_from": "2023-01-01T00:00:00Z",
        "x_osprey_planted": {"field": "unsupported", "value": ""},
    })
    counts = {k: len(v) for k, v in picked.items()}
    print(json.dumps(counts), file=sys.stderr)
    json.dump({"type": "bundle", "id": "bundle--" + str(uuid.uuid4()), "objects": objects},
              sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
