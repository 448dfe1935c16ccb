#!/usr/bin/env python3
"""Cuts the bundled demo capture (configs/samples/demo-mix.pcap) out of the shared benchmark
capture ../shared/data/pcaps/public_mix.pcap, and the demo rules (configs/samples/et-demo.rules)
out of ../shared/data/et-open.

Deterministic: the same inputs give the same bytes. Which traffic and why:
- the parts of public_mix.pcap listed in PARTS (each a whole public capture, named by its
  source file in public_mix.pcap.manifest.json), payloads untouched;
- every part keeps its own packet order and pacing, with gaps inside a part shortened to at
  most MAX_GAP seconds (the manifest already clamped them to 60 s), so a pass stays short;
- the parts are staggered over one pass (part k starts at k * PASS / len(PARTS) seconds) and
  merged by time, so benign and malicious conversations overlap as on a small network;
- the rules are the ET Open rules whose sids Suricata 8.0.6 raises on the chosen parts
  (public_mix.reference-alerts.jsonl), in sid order; classtypes they use that the demo's
  classification.config lacks are appended from ET Open's.

Usage: tools/cut_demo.py [--data ../shared/data] [--out configs/samples]
"""
import argparse
import bisect
import json
import os
import re
import struct

# Malicious or suspicious: each raises ET Open alerts in the reference run.
MALICIOUS = [
    "chrissanders-packets/ek_to_cryptowall4.pcapng",  # exploit kit, CryptoWall 4
    "ndpi/tests/cfgs/default/pcap/exe_download_as_png.pcap",  # executable served as PNG
    "zeek/testing/btest/Traces/http/testmyids.pcap",  # uid=0(root) test response
    "ndpi/tests/cfgs/default/pcap/emotet.pcap",  # Emotet traffic
    "ndpi/tests/cfgs/default/pcap/dns-tunnel-iodine.pcap",  # DNS tunnel
    "ndpi/tests/cfgs/default/pcap/tor.pcap",  # Tor
    "ndpi/tests/cfgs/default/pcap/portable_executable.pcap",  # PE download
    "ndpi/tests/cfgs/default/pcap/tk.pcap",  # .tk domain
    "ndpi/tests/cfgs/default/pcap/dotenv.pcap",  # .env probing
    "ndpi/tests/cfgs/default/pcap/webdav.pcap",  # WebDAV scanning
    "zeek/testing/btest/Traces/mysql/auth.pcap",  # MySQL login
    "zeek/testing/btest/Traces/rpc-portmap-sadmind.pcap",  # RPC sadmind
    "zeek/testing/btest/Traces/bittorrent/tracker.pcap",  # BitTorrent tracker
    "zeek/testing/btest/Traces/http/http-non-printable-characters.pcap",
]
# Benign: everyday DNS, HTTP, TLS, QUIC, SSH, NTP, DHCP and mail, no reference alerts.
BENIGN = [
    "chrissanders-packets/dns.pcap",
    "chrissanders-packets/dns_lab.pcapng",
    "chrissanders-packets/http_google.pcapng",
    "chrissanders-packets/http_post.pcapng",
    "chrissanders-packets/http_espn.pcapng",
    "ndpi/tests/cfgs/default/pcap/google_ssl.pcap",
    "ndpi/tests/cfgs/default/pcap/facebook.pcap",
    "ndpi/tests/cfgs/default/pcap/youtube_quic.pcap",
    "ndpi/tests/cfgs/default/pcap/windowsupdate_over_http.pcap",
    "zeek/testing/btest/Traces/tls/tls1.2.pcap",
    "zeek/testing/btest/Traces/tls/ecdhe.pcap",
    "zeek/testing/btest/Traces/tls/chrome-34-google.pcap",
    "zeek/testing/btest/Traces/ssh/single-conn.pcap",
    "zeek/testing/btest/Traces/ntp.pcap",
    "zeek/testing/btest/Traces/dhcp/dhcp.pcap",
    "zeek/testing/btest/Traces/smtp.pcap",
    "zeek/testing/btest/Traces/http/bro.org-filtered.pcap",
    "zeek/testing/btest/Traces/http/get.pcap",
    "zeek/testing/btest/Traces/dns/mdns.pcap",
    "zeek/testing/btest/Traces/http/m57-long-49583-80.pcap",
    "zeek/testing/btest/Traces/quic/quic_win11_firefox_google.pcap",
]
PARTS = MALICIOUS + BENIGN
MAX_GAP = 10.0  # seconds between two packets of one part, at most
PASS = 240.0  # seconds over which the parts' starts are spread
EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z: the demo's own first second


def read_pcap(path):
    """Yields (ts_sec, ts_usec, caplen, origlen, data) of a little-endian microsecond pcap."""
    with open(path, "rb") as f:
        head = f.read(24)
        if struct.unpack("<I", head[:4])[0] != 0xA1B2C3D4:
            raise SystemExit(f"{path}: expected a little-endian microsecond pcap")
        yield head
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, usec, caplen, orig = struct.unpack("<IIII", rec)
            yield (sec, usec, caplen, orig, f.read(caplen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="configs/samples")
    args = ap.parse_args()
    pcaps = os.path.join(args.data, "pcaps")
    manifest = json.load(open(os.path.join(pcaps, "public_mix.pcap.manifest.json")))
    # Packet numbers (1-based) at which each part starts.
    first, n = {}, 1
    ranges = []
    for p in manifest["parts"]:
        first[p["file"]] = n
        ranges.append(n)
        n += p["packets"]
    missing = [p for p in PARTS if p not in first]
    if missing:
        raise SystemExit(f"parts not in the manifest: {missing}")
    wanted = {}  # packet number -> part index
    for k, name in enumerate(PARTS):
        part = manifest["parts"][list(first).index(name)]
        for i in range(first[name], first[name] + part["packets"]):
            wanted[i] = k
    per_part = [[] for _ in PARTS]
    it = read_pcap(os.path.join(pcaps, "public_mix.pcap"))
    header = next(it)
    for number, (sec, usec, caplen, orig, data) in enumerate(it, start=1):
        k = wanted.get(number)
        if k is not None:
            per_part[k].append((sec * 1_000_000 + usec, orig, data))
    out = []
    for k, pkts in enumerate(per_part):
        t = EPOCH * 1_000_000 + round(k * PASS / len(PARTS) * 1e6)
        prev = None
        for seq, (us, orig, data) in enumerate(pkts):
            if prev is not None:
                t += min(us - prev, int(MAX_GAP * 1e6))
            prev = us
            out.append((t, k, seq, orig, data))
    out.sort()
    path = os.path.join(args.out, "demo-mix.pcap")
    with open(path, "wb") as f:
        f.write(header)
        for t, _, _, orig, data in out:
            f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(data), orig))
            f.write(data)
    span = (out[-1][0] - out[0][0]) / 1e6
    print(f"{path}: {len(out)} packets, {span:.1f} s, {os.path.getsize(path)} bytes")
    write_rules(args, manifest, ranges, set(first[p] for p in PARTS), first)


def write_rules(args, manifest, ranges, _starts, first):
    """The ET Open rules Suricata raises on the chosen parts."""
    chosen = set(list(first).index(p) for p in PARTS)
    sids = set()
    ref = os.path.join(args.data, "pcaps", "public_mix.reference-alerts.jsonl")
    for line in open(ref):
        a = json.loads(line)
        cnt = a.get("pcap_cnt")
        if cnt is None:
            continue
        if bisect.bisect_right(ranges, cnt) - 1 in chosen:
            sids.add(a["alert"]["signature_id"])
    rules = {}
    et = os.path.join(args.data, "et-open")
    for name in sorted(os.listdir(et)):
        if not name.endswith(".rules"):
            continue
        for line in open(os.path.join(et, name), encoding="utf-8", errors="replace"):
            m = re.search(r"\bsid:(\d+);", line)
            if m and not line.startswith("#") and int(m.group(1)) in sids:
                rules[int(m.group(1))] = line.rstrip("\n")
    path = os.path.join(args.out, "et-demo.rules")
    with open(path, "w") as f:
        f.write(
            "# A subset of the Emerging Threats Open ruleset (2024-04-19; ET sids under the BSD\n"
            "# licence, GPL sids under GPLv2: see configs/samples/README.md): the rules Suricata\n"
            "# 8.0.6 raises on the parts of public_mix.pcap that make demo.pcap. Cut by\n"
            "# tools/cut_demo.py; do not edit by hand.\n"
        )
        for sid in sorted(rules):
            f.write(rules[sid] + "\n")
    print(f"{path}: {len(rules)} rules of {len(sids)} sids")
    add_classtypes(args, rules.values())


def add_classtypes(args, rules):
    """Appends to the demo's classification.config the ET classtypes its rules use."""
    path = os.path.join(args.out, "classification.config")
    have = open(path).read()
    known = set(re.findall(r"^config classification: ([^,]+),", have, re.M))
    used = sorted(set(m for r in rules for m in re.findall(r"classtype:([^;]+);", r)))
    et = open(os.path.join(args.data, "et-open", "classification.config")).read()
    lines = []
    for name in used:
        if name in known:
            continue
        m = re.search(rf"^config classification: {re.escape(name)},.*$", et, re.M)
        if not m:
            raise SystemExit(f"classtype {name} is not in ET Open's classification.config")
        lines.append(m.group(0))
    if lines:
        with open(path, "a") as f:
            f.write("\n".join(lines) + "\n")
    print(f"{path}: {len(lines)} classtypes added")


if __name__ == "__main__":
    main()
