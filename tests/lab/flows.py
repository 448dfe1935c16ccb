"""Flows of a lab capture and their labels.

A flow is what Osprey (like Suricata) tracks: packets of one protocol between two address and
port pairs, both directions; ICMP echo sessions are told apart by their echo id (other ICMP
messages share id 0), and ports are written as 0. A flow ends when idle past its timeout
(Osprey's defaults: TCP 60 s before it is established, 600 s after; others 30 s and 300 s),
and a TCP SYN on a flow that saw FIN or RST starts a new one. The initiator is the sender of
the flow's first packet, except that a TCP flow first seen at its SYN-ACK was initiated by
the SYN-ACK's receiver (as Osprey reads it).

Each flow is labelled from the address map: exactly one of its two ends must be a lab client
(benign or malicious), whose family the flow takes. Anything else (two clients, two servers,
an address the lab does not know) is an error that names the flow.
"""

import csv
import ipaddress
import socket
from dataclasses import dataclass

import dpkt

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMP6: "icmp6"}
ECHO_TYPES = {ICMP: (0, 8), ICMP6: (128, 129)}
# (before established, after), seconds.
TIMEOUTS = {TCP: (60, 600)}
OTHER_TIMEOUTS = (30, 300)
LABEL_HEADER = ["proto", "src_ip", "src_port", "dst_ip", "dst_port", "first_ts", "label",
                "family"]


class LabelError(Exception):
    """A capture the lab cannot label: the message names the flows or frames."""


@dataclass
class Flow:
    proto: int
    src: str
    sport: int
    dst: str
    dport: int
    first: float
    last: float
    established: bool = False
    closed: bool = False
    packets: int = 0

    def ts(self):
        return "%.6f" % self.first


def _addr(raw):
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _packet(buf):
    """(proto, src, sport, dst, dport, tcp flags) of an IP frame; None for other frames."""
    eth = dpkt.ethernet.Ethernet(buf)
    ip = eth.data
    if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
        return None
    proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
    l4, sport, dport, flags = ip.data, 0, 0, 0
    if proto in (TCP, UDP) and isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        sport, dport = l4.sport, l4.dport
        flags = l4.flags if proto == TCP else 0
    elif proto in ECHO_TYPES and isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        if l4.type in ECHO_TYPES[proto] and len(bytes(l4.data)) >= 2:
            ident = int.from_bytes(bytes(l4.data)[:2], "big")
            sport = dport = ident
    return proto, _addr(ip.src), sport, _addr(ip.dst), dport, flags


def frames(pcap):
    """(time, frame) of every record of ``pcap``."""
    with open(pcap, "rb") as f:
        yield from dpkt.pcap.Reader(f)


def read_flows(pcap):
    """The flows of ``pcap`` in order of their first packet."""
    live, done = {}, []
    for ts, buf in frames(pcap):
        p = _packet(buf)
        if p is None:
            continue
        proto, src, sport, dst, dport, flags = p
        a, b = (src, sport), (dst, dport)
        key = (proto,) + (a + b if a <= b else b + a)
        f = live.get(key)
        syn = proto == TCP and flags & dpkt.tcp.TH_SYN and not flags & dpkt.tcp.TH_ACK
        syn_ack = proto == TCP and flags & dpkt.tcp.TH_SYN and flags & dpkt.tcp.TH_ACK
        if f is not None and (_expired(f, ts) or (syn and f.closed)):
            done.append(live.pop(key))
            f = None
        if f is None:
            if syn_ack:  # its receiver sent the SYN: the initiator
                src, sport, dst, dport = dst, dport, src, sport
            f = live[key] = Flow(proto, src, sport, dst, dport, ts, ts)
        f.packets += 1
        f.last = ts
        if (p[1], p[2]) != (f.src, f.sport):
            f.established = True
        if proto == TCP and flags & (dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
            f.closed = True
    done.extend(live.values())
    return sorted(done, key=lambda f: (f.first, f.proto, f.src, f.sport))


def _expired(f, ts):
    new, est = TIMEOUTS.get(f.proto, OTHER_TIMEOUTS)
    return ts - f.last > (est if f.established else new)


def addresses(pcap):
    """Every address in ``pcap``'s IP headers and ARP messages, with the number of frames that
    are neither IP nor ARP."""
    seen, other = set(), 0
    for _, buf in frames(pcap):
        eth = dpkt.ethernet.Ethernet(buf)
        d = eth.data
        if isinstance(d, (dpkt.ip.IP, dpkt.ip6.IP6)):
            seen.update((_addr(d.src), _addr(d.dst)))
        elif isinstance(d, dpkt.arp.ARP):
            seen.update((_addr(d.spa), _addr(d.tpa)))
        else:
            other += 1
    return seen, other


def label(flows, hosts):
    """``labels.csv`` rows for ``flows``; ``hosts`` maps address → (role, family)."""
    rows, errors = [], []
    for f in flows:
        ends = [hosts.get(ipaddress.ip_address(a).compressed) for a in (f.src, f.dst)]
        clients = [e for e in ends if e is not None and e[0] != "server"]
        if None in ends or len(clients) != 1:
            errors.append("%s %s:%d -> %s:%d at %s" % (PROTO_NAMES.get(f.proto, f.proto),
                                                       f.src, f.sport, f.dst, f.dport, f.ts()))
            continue
        role, family = clients[0]
        ports = (0, 0) if f.proto in ECHO_TYPES else (f.sport, f.dport)
        rows.append([PROTO_NAMES.get(f.proto, str(f.proto)), f.src, ports[0], f.dst, ports[1],
                     f.ts(), role, family])
    if errors:
        raise LabelError("%d flows without exactly one lab client: %s"
                         % (len(errors), "; ".join(errors[:10])))
    return rows


def write_labels(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LABEL_HEADER)
        w.writerows(rows)


def read_hosts(path):
    """``hosts.csv`` as address → (role, family)."""
    with open(path, newline="") as f:
        return {ipaddress.ip_address(r["ip"]).compressed: (r["role"], r["family"])
                for r in csv.DictReader(f)}


def write_hosts(path, hosts):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ip", "role", "family", "name"])
        for h in hosts:
            for ip in (h.ip4, h.ip6):
                w.writerow([ip, h.role, h.family, h.name])
