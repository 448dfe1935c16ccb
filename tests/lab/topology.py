"""The lab's network: one namespace per host, joined by veth pairs to a bridge that lives in a
namespace of its own (the switch), so the host's own namespace gains no interface, route or
firewall rule.

Every name a run creates starts with ``PREFIX`` followed by the run id, so two runs coexist
and ``cleanup`` can remove the leftovers of runs that were killed (``cleanup(None)``: every
run) by name alone: the processes inside those namespaces are killed, then the namespaces are
deleted, which destroys their veths and the bridge with them. A live run holds a lock in its
work directory, and ``cleanup`` leaves live runs alone.

Addresses are documentation addresses only (RFC 5737, RFC 3849): servers in 192.0.2.0/24 and
2001:db8:1::/64, benign clients in 198.51.100.0/24 and 2001:db8:2::/64, attackers in
203.0.113.0/24 and 2001:db8:3::/64. MAC addresses are fixed and every host knows every other
host's (permanent neighbour entries), so the capture holds no ARP or neighbour discovery;
IPv6 link-local addresses, duplicate address detection and router solicitations are off in
every namespace.
"""

import fcntl
import glob
import ipaddress
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass

PREFIX = "olab"
SWITCH = "sw"
BRIDGE = "br0"

DOC_NETS = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]
# The on-link routes every host gets: the three ranges, each on the one segment.
ROUTES4 = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
ROUTES6 = ("2001:db8:1::/64", "2001:db8:2::/64", "2001:db8:3::/64")

# Per namespace, before its interface exists: no link-local address, no DAD, no router
# solicitation (nothing on the wire that the scenario did not ask for).
HOST_SYSCTLS = (
    "net.ipv6.conf.all.addr_gen_mode=1",
    "net.ipv6.conf.default.addr_gen_mode=1",
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.all.router_solicitations=0",
    "net.ipv6.conf.default.router_solicitations=0",
    "net.ipv6.conf.all.accept_ra=0",
    "net.ipv6.conf.default.accept_ra=0",
)
OFFLOADS = ("tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
SWITCH_SYSCTLS = (
    "net.ipv6.conf.all.disable_ipv6=1",
    "net.ipv6.conf.default.disable_ipv6=1",
)


class LabError(Exception):
    """A lab step failed: the message says which command and why."""


def is_documentation(addr):
    """Whether ``addr`` lies in a documentation range."""
    ip = ipaddress.ip_address(addr)
    return any(ip in n for n in DOC_NETS)


@dataclass(frozen=True)
class Host:
    """One lab host: its namespace suffix, addresses, role and family."""

    name: str
    ip4: str
    ip6: str
    role: str  # server, benign or malicious
    family: str  # for clients their traffic family; for servers the service

    def mac(self, index):
        return "02:6c:61:62:%02x:%02x" % (index >> 8, index & 0xFF)


def run(args, check=True, **kw):
    """Runs ``args``; a failure raises LabError naming the command and its stderr."""
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise LabError("%s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p


def netns_names():
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class Topology:
    """The namespaces of one run; ``build`` creates them, ``destroy`` removes them."""

    def __init__(self, run_id, hosts):
        self.run_id = run_id
        self.hosts = hosts
        self.created = []

    def ns(self, host_name):
        return "%s%s-%s" % (PREFIX, self.run_id, host_name)

    @property
    def switch(self):
        return self.ns(SWITCH)

    def exec_args(self, host_name):
        """The command prefix that runs a program inside ``host_name``'s namespace."""
        return ["ip", "netns", "exec", self.ns(host_name)]

    def _add_ns(self, name, sysctls):
        run(["ip", "netns", "add", name])
        self.created.append(name)
        run(["ip", "netns", "exec", name, "sysctl", "-q", "-w", *sysctls])
        run(["ip", "-n", name, "link", "set", "lo", "up"])

    def build(self):
        sw = self.switch
        self._add_ns(sw, SWITCH_SYSCTLS)
        run(["ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
             "forward_delay", "0", "mcast_snooping", "0"])
        run(["ip", "-n", sw, "link", "set", BRIDGE, "up"])
        for i, h in enumerate(self.hosts):
            self._add_host(i, h)
        self._add_neighbours()

    def _add_host(self, index, h):
        ns, sw, port = self.ns(h.name), self.switch, "p%02d" % index
        self._add_ns(ns, HOST_SYSCTLS)
        run(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
             "netns", ns])
        run(["ip", "-n", sw, "link", "set", port, "master", BRIDGE, "up"])
        # No multicast: neighbours are permanent, so nothing needs it, and without it the
        # kernel sends no MLD reports.
        run(["ip", "-n", ns, "link", "set", "eth0", "address", h.mac(index), "multicast", "off"])
        run(["ip", "-n", ns, "addr", "add", h.ip4 + "/32", "dev", "eth0"])
        run(["ip", "-n", ns, "addr", "add", h.ip6 + "/128", "dev", "eth0", "nodad"])
        # Segmentation and checksum offloads off on both ends: the capture holds frames as a
        # wire would carry them (at most the MTU, checksums filled in), not 64 KB super-frames
        # with checksums left to hardware that does not exist.
        for where, dev in ((ns, "eth0"), (sw, port)):
            run(["ip", "netns", "exec", where, "ethtool", "-K", dev, *OFFLOADS])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        for net in ROUTES4 + ROUTES6:
            run(["ip", "-n", ns, "route", "add", net, "dev", "eth0", "src",
                 h.ip6 if ":" in net else h.ip4])

    def _add_neighbours(self):
        for h in self.hosts:
            batch = []
            for j, other in enumerate(self.hosts):
                if other is h:
                    continue
                for addr in (other.ip4, other.ip6):
                    batch.append("neigh replace %s lladdr %s dev eth0 nud permanent"
                                 % (addr, other.mac(j)))
            run(["ip", "-n", self.ns(h.name), "-batch", "-"], input="\n".join(batch) + "\n")

    def destroy(self):
        """Kills what runs in this run's namespaces and deletes them (idempotent)."""
        remove_namespaces([n for n in netns_names() if n.startswith(PREFIX + self.run_id + "-")])
        self.created = []


def remove_namespaces(names):
    """Kills every process inside ``names`` (TERM, then KILL) and deletes the namespaces."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = [pid for n in names for pid in namespace_pids(n)]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
            time.sleep(0.05)
    for n in names:
        run(["ip", "netns", "delete", n], check=False)


def namespace_pids(name):
    p = run(["ip", "netns", "pids", name], check=False)
    return [int(x) for x in p.stdout.split()] if p.returncode == 0 else []


def run_of(ns_name):
    """The run id in a lab namespace's name (``olab<run id>-<host>``)."""
    return ns_name[len(PREFIX):].split("-", 1)[0]


def work_dirs(run_id):
    """The work directories of run ``run_id`` (``<tmp>/olab<run id>-*``)."""
    return glob.glob(os.path.join(tempfile.gettempdir(), "%s%s-*" % (PREFIX, run_id)))


def hold_run_lock(work):
    """Locks ``work``'s lock file for as long as the returned file stays open: the run is
    alive while someone holds it."""
    f = open(os.path.join(work, "run.lock"), "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def is_live(run_id):
    """Whether a process still holds the lock of one of run ``run_id``'s work directories."""
    for work in work_dirs(run_id):
        try:
            with open(os.path.join(work, "run.lock")) as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except FileNotFoundError:
            continue
    return False


def cleanup(run_id=None):
    """Removes the namespaces and work directories of run ``run_id``, or of every lab run,
    except runs still alive (a run removes its own when it stops); returns (removed, live)
    namespace names."""
    start = PREFIX + (run_id + "-" if run_id else "")
    names = [n for n in netns_names() if n.startswith(start)]
    live = [n for n in names if is_live(run_of(n))]
    dead = [n for n in names if n not in live]
    remove_namespaces(dead)
    for run in {run_of(n) for n in dead}:
        for work in work_dirs(run):
            shutil.rmtree(work, ignore_errors=True)
    return dead, live
