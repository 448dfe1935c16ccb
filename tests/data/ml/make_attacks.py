#!/usr/bin/env python3
"""Writes attacks.pcap and labels.csv: small synthetic attacks between documentation
addresses, spread over the time span of public_mix.pcap so that, replayed beside it, they
interleave with its (benign) flows.

Families: scan (SYN probes of closed ports), flood (spoofed SYNs without answers),
dns_tunnel (long high-entropy query names), slowloris (held-open HTTP requests fed a header
every 10 s). Deterministic (seed 22).

    .venv/bin/python tests/data/ml/make_attacks.py tests/data/ml
"""
import base64
import random
import socket
import sys

import dpkt

START = 1704067200.0  # public_mix.pcap's first packet
SPAN = 149000.0  # its length in seconds, about

rng = random.Random(22)
packets = []  # (ts, frame)
labels = []  # rows
MAC_A = b"\x02\x00\x00\x00\x00\x01"
MAC_B = b"\x02\x00\x00\x00\x00\x02"


def frame(src, dst, l4, proto):
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=64,
                    id=rng.randrange(65536))
    ip.data = l4
    ip.len = 20 + len(bytes(l4))
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_IP,
                                        data=ip))


def tcp(ts, src, sport, dst, dport, flags, seq=0, ack=0, data=b""):
    t = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=64240,
                     data=data)
    packets.append((ts, frame(src, dst, t, dpkt.ip.IP_PROTO_TCP)))


def udp(ts, src, sport, dst, dport, data):
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = 8 + len(data)
    packets.append((ts, frame(src, dst, u, dpkt.ip.IP_PROTO_UDP)))


def label(proto, src, sport, dst, dport, ts, family):
    labels.append(f"{proto},{src},{sport},{dst},{dport},{ts:.6f},malicious,{family}")


S, A, R, F, P = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_RST, dpkt.tcp.TH_FIN, dpkt.tcp.TH_PUSH


def scan(t0):
    ports = rng.sample(range(1, 65535), 100)
    for i, port in enumerate(ports):
        ts = t0 + i * 0.002
        sport = 40000 + rng.randrange(20000)
        tcp(ts, "203.0.113.66", sport, "198.51.100.10", port, S, seq=rng.randrange(2**32))
        tcp(ts + 0.0003, "198.51.100.10", port, "203.0.113.66", sport, R | A)
        label("tcp", "203.0.113.66", sport, "198.51.100.10", port, ts, "scan")


def flood(t0):
    for i in range(75):
        ts = t0 + i * 0.001
        src = f"203.0.113.{rng.randrange(1, 255)}"
        sport = rng.randrange(1024, 65535)
        tcp(ts, src, sport, "198.51.100.20", 80, S, seq=rng.randrange(2**32))
        label("tcp", src, sport, "198.51.100.20", 80, ts, "flood")


def dns_tunnel(t0):
    for i in range(50):
        ts = t0 + i * 0.5 + rng.random() * 0.1
        sport = rng.randrange(1024, 65535)
        chunk = base64.b32encode(rng.randbytes(35)).decode().rstrip("=").lower()
        qname = f"{chunk[:50]}.{chunk[50:]}.t.example.net"
        q = dpkt.dns.DNS(id=rng.randrange(65536), qd=[dpkt.dns.DNS.Q(name=qname, type=16)])
        udp(ts, "192.0.2.50", sport, "198.51.100.53", 53, bytes(q))
        r = dpkt.dns.DNS(id=q.id, op=dpkt.dns.DNS_RA | 0x8000, qd=q.qd, an=[dpkt.dns.DNS.RR(
            name=qname, type=16, cls=1, ttl=0,
            text=[base64.b64encode(rng.randbytes(120))])])
        udp(ts + 0.02, "198.51.100.53", 53, "192.0.2.50", sport, bytes(r))
        label("udp", "192.0.2.50", sport, "198.51.100.53", 53, ts, "dns_tunnel")


def slowloris(t0):
    for c in range(10):
        ts = t0 + c * 0.05
        sport = 50000 + c
        cs, ss = rng.randrange(2**32), rng.randrange(2**32)
        cli, srv = "203.0.113.77", "198.51.100.80"
        tcp(ts, cli, sport, srv, 80, S, seq=cs)
        tcp(ts + 0.01, srv, 80, cli, sport, S | A, seq=ss, ack=cs + 1)
        tcp(ts + 0.02, cli, sport, srv, 80, A, seq=cs + 1, ack=ss + 1)
        label("tcp", cli, sport, srv, 80, ts, "slowloris")
        seq = cs + 1
        req = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n"
        tcp(ts + 0.03, cli, sport, srv, 80, A | P, seq=seq, ack=ss + 1, data=req)
        seq += len(req)
        tcp(ts + 0.04, srv, 80, cli, sport, A, seq=ss + 1, ack=seq)
        for k in range(1, 25):
            h = f"X-{rng.randrange(1000)}: {rng.randrange(1000)}\r\n".encode()
            tk = ts + k * 10.0 + rng.random()
            tcp(tk, cli, sport, srv, 80, A | P, seq=seq, ack=ss + 1, data=h)
            seq += len(h)
            tcp(tk + 0.01, srv, 80, cli, sport, A, seq=ss + 1, ack=seq)


for k in range(4):
    base = START + SPAN * (k + 0.5) / 4
    scan(base)
    flood(base + 600)
    dns_tunnel(base + 1200)
    slowloris(base + 1800)

packets.sort(key=lambda p: p[0])
out = sys.argv[1] if len(sys.argv) > 1 else "."
with open(f"{out}/attacks.pcap", "wb") as f:
    w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
    for ts, buf in packets:
        w.writepkt(buf, ts=ts)
with open(f"{out}/labels.csv", "w") as f:
    f.write("proto,src_ip,src_port,dst_ip,dst_port,first_ts,label,family\n")
    f.write("\n".join(labels) + "\n")
print(f"{len(packets)} packets, {len(labels)} labelled flows")
