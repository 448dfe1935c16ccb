#!/usr/bin/env python3
"""The labelled traffic lab: plays a scenario of real servers, benign clients and attack tools
in network namespaces, records it with tcpdump and labels every flow (see README.md).

  lab.py run --out DIR [--seed N] [--duration S] [...]   capture.pcap, labels.csv, hosts.csv
  lab.py label --pcap P --hosts H --out L                 labels of an existing capture
  lab.py audit --pcap P                                   addresses that are not documentation
  lab.py check                                            root and every tool present
  lab.py --cleanup | cleanup [--run-id ID]                namespaces left by killed runs

Needs root (namespaces) and the tools deploy/install-deps.sh installs; reads captures with
dpkt (the project's .venv).
"""

import argparse
import collections
import dataclasses
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the sources

import flows  # noqa: E402
import scenario  # noqa: E402
import services  # noqa: E402
import topology  # noqa: E402

TOOLS = ("ip", "ethtool", "tcpdump", "nginx", "sshd", "ssh", "ssh-keygen", "dnsmasq", "vsftpd",
         "iperf3", "dig", "curl", "wget", "nmap", "hping3", "slowhttptest", "hydra", "iodine",
         "iodined", "timeout", "python3")
SBIN = ("/usr/sbin", "/sbin")
# The Debian packages whose versions a run records (what made the capture).
PACKAGES = ("nginx", "openssh-server", "openssh-client", "dnsmasq-base", "vsftpd", "iperf3",
            "bind9-dnsutils", "curl", "wget", "nmap", "hping3", "slowhttptest", "hydra",
            "iodine", "tcpdump", "iproute2", "ethtool", "python3")


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the run stops and cleans up."""


def missing_tools():
    path = os.environ.get("PATH", "") + ":" + ":".join(SBIN)
    return [t for t in TOOLS if shutil.which(t, path=path) is None]


class Lab:
    """One run: its namespaces, daemons, capture and work directory."""

    def __init__(self, run_id, params, out):
        self.run_id, self.params, self.out = run_id, params, out
        self.topology = topology.Topology(run_id, scenario.HOSTS)
        self.work = tempfile.mkdtemp(prefix="%s%s-" % (topology.PREFIX, run_id))
        os.chmod(self.work, 0o755)
        self.run_lock = topology.hold_run_lock(self.work)
        self.procs = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.keep_work = False
        self.capture_stats = {}
        self.start = time.monotonic()

    def spawn(self, host, argv, log_name, cwd=None):
        """Starts ``argv`` in ``host``'s namespace, logging to ``log_name``.log; None once the
        run is stopping (then nothing new starts: what ``close`` kills is all there is)."""
        with self.lock:
            if self.stop.is_set():
                return None
            with open(os.path.join(self.work, log_name + ".log"), "a") as log:
                log.write("$ %s\n" % " ".join(argv))
                log.flush()
                p = subprocess.Popen(self.topology.exec_args(host) + argv, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=cwd or self.work)
            self.procs.append(p)
            return p

    def start_servers(self):
        for host, argv in services.server_commands(self.work, scenario.HOSTS, self.params.seed):
            self.spawn(host, argv, "server-" + host)
        ports = {"web": "80", "ssh": "22", "dns": "53", "ftp": "21", "iperf": "5201",
                 "tun": "8080"}
        deadline = time.monotonic() + 20
        for host, port in ports.items():
            while not self._listening(host, port):
                if time.monotonic() > deadline:
                    raise topology.LabError("the %s server is not listening on port %s (see %s)"
                                            % (host, port, self.work))
                dead = [p for p in self.procs if p.poll() is not None]
                if dead:
                    raise topology.LabError("a server exited: %s" % " ".join(dead[0].args))
                time.sleep(0.2)

    def _listening(self, host, port):
        out = topology.run(self.topology.exec_args(host) + ["ss", "-Hlntu"]).stdout
        return any(line.split()[4].endswith(":" + port) for line in out.splitlines())

    def capture(self, pcap, max_packets):
        # A 64 MiB kernel buffer: the lab runs niced on busy machines, and bursts (iperf3)
        # must not outrun tcpdump.
        # The filter leaves out IPv6 multicast: no scenario tool sends any, and the kernel's
        # own MLD reports (from `::` to ff02::16, sent as interfaces come up) belong to no
        # flow a tool made and would name no documentation address.
        args = ["tcpdump", "-i", topology.BRIDGE, "-w", pcap, "-U", "-s", "0", "-n",
                "-B", "65536", "-c", str(max_packets), "--immediate-mode",
                "not ip6 multicast"]
        p = self.spawn(topology.SWITCH, args, "tcpdump")
        deadline = time.monotonic() + 10
        log = os.path.join(self.work, "tcpdump.log")
        while "listening on" not in open(log).read():
            if time.monotonic() > deadline or p.poll() is not None:
                raise topology.LabError("tcpdump did not start: %s" % open(log).read())
            time.sleep(0.1)
        return p

    def play(self, pcap, max_packets):
        self.topology.build()
        self.start_servers()
        dump = self.capture(pcap, max_packets)
        print("lab: run %s capturing for %.0f s (seed %d)" % (
            self.run_id, self.params.duration, self.params.seed), flush=True)
        self.start = time.monotonic()
        threads = scenario.start(self, self.params)
        end = self.start + self.params.duration
        while time.monotonic() < end and any(t.is_alive() for t in threads):
            time.sleep(0.2)
        self.stop.set()
        for t in threads:
            t.join(timeout=5)
        time.sleep(1.0)  # the last answers reach the capture
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=10)
        self.capture_stats = capture_stats(open(os.path.join(self.work, "tcpdump.log")).read())

    def close(self):
        with self.lock:
            self.stop.set()
        self.topology.destroy()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.keep_work:
            print("lab: logs and configuration kept in %s" % self.work, file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def capture_stats(log):
    """tcpdump's closing counts ("N packets captured", "... dropped by kernel")."""
    stats = {}
    for line in log.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0].isdigit() and words[1] == "packets":
            stats["_".join(words[2:])] = int(words[0])
    return stats


def package_versions():
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *PACKAGES],
                       capture_output=True, text=True)
    return dict(line.split(" ", 1) for line in p.stdout.splitlines() if " " in line)


def write_manifest(out, a, lab, rows):
    """``lab.json``: how the capture was made (command, seed, parameters, Debian package
    versions, tcpdump's counts) and its flows by family."""
    by = collections.Counter(r[7] for r in rows)
    manifest = {
        "command": "tests/lab/lab.py " + " ".join(sys.argv[1:]),
        "seed": a.seed,
        "params": dataclasses.asdict(lab.params),
        "max_packets": a.max_packets,
        "capture": lab.capture_stats,
        "flows": len(rows),
        "flows_by_family": dict(sorted(by.items())),
        "packages": package_versions(),
        "kernel": os.uname().release,
    }
    with open(os.path.join(out, "lab.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def write_outputs(out, pcap):
    hosts_csv = os.path.join(out, "hosts.csv")
    flows.write_hosts(hosts_csv, scenario.HOSTS)
    rows = flows.label(flows.read_flows(pcap), flows.read_hosts(hosts_csv))
    flows.write_labels(os.path.join(out, "labels.csv"), rows)
    return rows


def summary(rows):
    by = collections.Counter((r[6], r[7]) for r in rows)
    return ", ".join("%s %d" % (fam, n) for (_, fam), n in sorted(by.items()))


def unready():
    """Why this machine cannot run the lab, or None."""
    if os.geteuid() != 0:
        return "the lab creates network namespaces and must run as root"
    gone = missing_tools()
    if gone:
        return "missing tools: %s (run deploy/install-deps.sh)" % " ".join(gone)
    return None


def cmd_check(_a):
    why = unready()
    if why:
        print("lab: error: %s" % why, file=sys.stderr)
        return 1
    print("lab: ready")
    return 0


def cmd_run(a):
    why = unready()
    if why:
        sys.exit("lab: error: %s" % why)
    a.out = os.path.abspath(a.out)  # tcpdump runs in the work directory
    os.makedirs(a.out, exist_ok=True)
    pcap = os.path.join(a.out, "capture.pcap")
    params = scenario.Params(**{k: getattr(a, k) for k in scenario.Params.__dataclass_fields__})
    run_id = a.run_id or os.urandom(3).hex()
    lab = Lab(run_id, params, a.out)
    lab.keep_work = a.keep_work

    def interrupt(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        lab.play(pcap, a.max_packets)
    except Interrupted as e:
        print("lab: %s: stopping and cleaning up" % e, file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        lab.close()
    os.chown(pcap, os.getuid(), os.getgid())  # tcpdump wrote it as its own user
    rows = write_outputs(a.out, pcap)
    write_manifest(a.out, a, lab, rows)
    dropped = lab.capture_stats.get("dropped_by_kernel", 0)
    if dropped:
        print("lab: warning: tcpdump lost %d packets (the labels cover what it kept)" % dropped,
              file=sys.stderr)
    if lab.capture_stats.get("captured", 0) >= a.max_packets:
        print("lab: warning: the capture stopped at --max-packets %d before the scenario ended"
              % a.max_packets, file=sys.stderr)
    print("lab: %d flows labelled in %s: %s" % (len(rows), a.out, summary(rows)))
    return 0


def cmd_label(a):
    rows = flows.label(flows.read_flows(a.pcap), flows.read_hosts(a.hosts))
    flows.write_labels(a.out, rows)
    print("lab: %d flows labelled: %s" % (len(rows), summary(rows)))
    return 0


def cmd_audit(a):
    seen, other = flows.addresses(a.pcap)
    bad = sorted(x for x in seen if not topology.is_documentation(x))
    print("lab: %d addresses, %d outside the documentation ranges%s; %d frames neither IP "
          "nor ARP" % (len(seen), len(bad), (": " + " ".join(bad)) if bad else "", other))
    return 1 if bad or other else 0


def cmd_cleanup(a):
    dead, live = topology.cleanup(a.run_id)
    print("lab: removed %d namespaces%s" % (len(dead), (": " + " ".join(dead)) if dead else ""))
    if live:
        print("lab: left %d namespaces of runs still going (stop them with SIGINT): %s"
              % (len(live), " ".join(live)))
    return 0


def parser():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cleanup", action="store_true",
                    help="remove the namespaces of every killed lab run, and exit")
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="play a scenario, capture and label it")
    r.add_argument("--out", required=True, help="directory for capture.pcap and the CSVs")
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--duration", type=float, default=75.0, help="seconds (at least 20)")
    r.add_argument("--run-id", help="names the namespaces (default: random)")
    r.add_argument("--keep-work", action="store_true", help="keep the logs and configuration")
    r.add_argument("--max-packets", type=int, default=200_000, help="tcpdump stops after")
    r.add_argument("--think", type=float, default=1.0, help="mean think time, seconds")
    r.add_argument("--ipv6-share", type=float, default=0.2)
    r.add_argument("--bulk-bytes", type=int, default=100_000)
    r.add_argument("--scan-ports", type=int, default=100)
    r.add_argument("--scan-rate", type=int, default=300)
    r.add_argument("--flood-packets", type=int, default=600)
    r.add_argument("--flood-rate", type=int, default=200)
    r.add_argument("--slowloris-connections", type=int, default=60)
    r.add_argument("--bruteforce-words", type=int, default=40)
    r.add_argument("--beacon-interval", type=float, default=4.0)
    r.add_argument("--beacon-jitter", type=float, default=0.2)
    r.set_defaults(fn=cmd_run)
    lb = sub.add_parser("label", help="label an existing lab capture")
    lb.add_argument("--pcap", required=True)
    lb.add_argument("--hosts", required=True)
    lb.add_argument("--out", required=True)
    lb.set_defaults(fn=cmd_label)
    au = sub.add_parser("audit", help="list addresses outside the documentation ranges")
    au.add_argument("--pcap", required=True)
    au.set_defaults(fn=cmd_audit)
    ck = sub.add_parser("check", help="whether this machine can run the lab (root, tools)")
    ck.set_defaults(fn=cmd_check)
    c = sub.add_parser("cleanup", help="remove the namespaces of killed runs")
    c.add_argument("--run-id", help="only this run (default: every lab run)")
    c.set_defaults(fn=cmd_cleanup)
    return ap


def main():
    ap = parser()
    a = ap.parse_args()
    if a.cleanup:
        a.cmd, a.fn, a.run_id = "cleanup", cmd_cleanup, None
    if a.cmd is None:
        ap.error("a command is required (run, label, audit, check, cleanup) or --cleanup")
    if a.cmd == "run" and (a.duration < 20 or a.seed < 0):
        sys.exit("lab: error: --duration must be at least 20 seconds and --seed non-negative")
    if getattr(a, "run_id", None) and not re.fullmatch("[a-z0-9]{1,12}", a.run_id):
        sys.exit("lab: error: --run-id: 1 to 12 lowercase letters and digits")
    try:
        return a.fn(a)
    except (topology.LabError, flows.LabelError, OSError) as e:
        print("lab: error: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
