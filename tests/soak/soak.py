#!/usr/bin/env python3
"""Soak test: `osprey run` with all of ET Open on a looping capture, under a querying client.

Run by `make soak` (not part of `make test`). The appliance runs for SOAK_SECONDS (default one
hour) with its API on an ephemeral loopback port and its store and EVE file in a temporary
directory, bounded by a size cap, retention and EVE rotation. Meanwhile a client keeps asking
for status, stats, alerts and flows, tails alerts now and then and reloads the rules. Every
SOAK_INTERVAL seconds (default 60) one CSV row records the process's resources and counters.

The run fails (exit 1) when
  - the appliance died, did not stop on SIGTERM or exited non-zero;
  - an alert was lost: an alert drop counter is non-zero, or fewer alerts were stored than the
    workers had raised one sample earlier (and, at the end, a few seconds earlier);
  - a resource grows without bound over the second half of the run (the first half is warm-up:
    caches and memtables fill): a Theil-Sen slope (median of pairwise slopes, robust to the
    noise of a shared machine) beyond a limit per hour, or descriptors or threads that only
    ever rise;
  - a client call failed, or the appliance left an entry under DPDK's runtime directory.

It always stops the appliance with SIGTERM and removes its temporary directory. Python 3
standard library only. Settings (environment variables) are listed in `Settings` below.
"""

import csv
import datetime
import glob
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def env_int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


@dataclass
class Settings:
    """Everything a run can be told, from the environment."""

    seconds: int = env_int("SOAK_SECONDS", 3600)
    interval: int = env_int("SOAK_INTERVAL", 60)
    binary: Path = Path(os.environ.get("SOAK_BIN", REPO / "target/release/osprey"))
    data: Path = Path(os.environ.get("OSPREY_SHARED_DATA", REPO / "../shared/data"))
    pcap: str = os.environ.get("SOAK_PCAP", "")
    workers: int = env_int("SOAK_WORKERS", 1)
    csv_path: str = os.environ.get("SOAK_CSV", "")
    # Niceness of the appliance: the looping capture is replayed at full speed (net_pcap has
    # no pacing), so on a shared machine a positive value leaves others their share.
    nice: int = env_int("SOAK_NICE", 0)
    # Bounded storage: the store's size cap and age, the EVE file's rotation.
    store_max_bytes: int = env_int("SOAK_STORE_MAX_BYTES", 256 * MIB)
    store_max_age: int = env_int("SOAK_STORE_MAX_AGE", 900)
    eve_rotate_bytes: int = env_int("SOAK_EVE_ROTATE_BYTES", 32 * MIB)
    eve_keep: int = env_int("SOAK_EVE_KEEP", 2)
    # Client: a query every `client_pause` seconds; a tail every `tail_every` (first after
    # 30 s), a rule reload every `reload_every` (first after 60 s).
    client_pause: float = float(os.environ.get("SOAK_CLIENT_PAUSE", "1"))
    tail_every: int = env_int("SOAK_TAIL_EVERY", 300)
    tail_count: int = env_int("SOAK_TAIL_COUNT", 1000)
    reload_every: int = env_int("SOAK_RELOAD_EVERY", 600)
    # A block (expiring after 30 s) added every `block_every` queries.
    block_every: int = env_int("SOAK_BLOCK_EVERY", 10)
    # Growth limits over the second half of the run, per hour.
    rss_mib_per_hour: float = float(os.environ.get("SOAK_RSS_MIB_PER_HOUR", "64"))
    vsz_mib_per_hour: float = float(os.environ.get("SOAK_VSZ_MIB_PER_HOUR", "256"))
    disk_mib_per_hour: float = float(os.environ.get("SOAK_DISK_MIB_PER_HOUR", "256"))
    fds_per_hour: float = float(os.environ.get("SOAK_FDS_PER_HOUR", "20"))
    threads_per_hour: float = float(os.environ.get("SOAK_THREADS_PER_HOUR", "10"))
    keep_tmp: bool = os.environ.get("SOAK_KEEP", "") not in ("", "0")


# --------------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------------

# A counter is a drop counter when its name says so. `detect.drop` counts alerts of rules whose
# action is `drop` (an IPS verdict), not lost records.
DROP_WORDS = ("drop", "overflow", "discard", "lost", "lagged", "nombuf", "imissed", "errors")
NOT_DROPS = {"total:detect.drop"}
# A drop counter that loses alerts: it names alerts, or it is a refusal by the store.
STORE_REFUSALS = ("ingest.store_errors", "store.write_errors")
# Live tails that fall behind miss alerts on their own stream only; the store has them.
TAIL_ONLY = ("tail",)


def is_drop_counter(name):
    return (
        name not in NOT_DROPS
        and ":decoder.event." not in name
        and any(w in name for w in DROP_WORDS)
    )


def loses_alerts(name):
    if any(w in name for w in TAIL_ONLY):
        return False
    return "alert" in name or name.split(":", 1)[1] in STORE_REFUSALS


def flatten(stats):
    """`ctl stats --json` as {"section:counter": value} for the totals and the control plane
    (per-worker counters add up to the totals)."""
    flat = {}
    for section in ("total", "control_plane"):
        for key, value in (stats.get(section) or {}).items():
            if isinstance(value, (int, float)):
                flat[f"{section}:{key}"] = value
    return flat


def first(flat, *names):
    for name in names:
        if name in flat:
            return flat[name]
    return None


def alerts_raised(flat):
    return first(flat, "total:detect.alerts_raised", "total:detect.alerts")


def alerts_stored(flat):
    """Alerts stored since start (retention deletes do not lower it)."""
    return first(flat, "control_plane:ingest.alerts_stored", "control_plane:store.alerts_stored")


# --------------------------------------------------------------------------------------------
# The process
# --------------------------------------------------------------------------------------------


def dpdk_runtime_root():
    """DPDK's runtime root: /var/run/dpdk for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk."""
    if os.geteuid() == 0:
        return Path("/var/run/dpdk")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "dpdk" if xdg else Path("/tmp/dpdk")


def dir_bytes(path):
    """Disk used under `path` (allocated blocks, as `du`)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass  # removed by compaction or rotation while walking
    return total


def proc_resources(pid):
    """RSS and virtual size (KiB), threads and open descriptors of `pid`."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    return {
        "rss_kib": int(status["VmRSS"][0]),
        "vsz_kib": int(status["VmSize"][0]),
        "threads": int(status["Threads"][0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def write_config(s, tmp, rules, pcap):
    store, eve = tmp / "store", tmp / "eve"
    eve.mkdir()
    quoted = ", ".join(json.dumps(str(r)) for r in rules)
    text = f"""# Written by tests/soak/soak.py for one soak run.
[dpdk]
no_huge = true
no_pci = true
memory_mb = 512
log_level = "error"

[capture]
mode = "replay"
pcap = {json.dumps(str(pcap))}
loop = true
workers = {s.workers}

[status]
interval_secs = 60

[api]
listen = "127.0.0.1:0"
allow_plaintext = true

[auth]
anonymous_role = "admin"

[storage]
path = {json.dumps(str(store))}
max_age_secs = {s.store_max_age}
max_bytes = {s.store_max_bytes}
retention_interval_secs = 30
min_free_bytes = {64 * MIB}

[metrics]
enabled = true
listen = "127.0.0.1:0"

[eve]
enabled = true
path = {json.dumps(str(eve / "eve.json"))}
rotate_bytes = {s.eve_rotate_bytes}
keep = {s.eve_keep}

[rules]
files = [{quoted}]
"""
    path = tmp / "soak.toml"
    path.write_text(text)
    return path, store, eve


class Appliance:
    """`osprey run` in the background, and `osprey ctl` calls against it."""

    def __init__(self, s, tmp, config):
        self.s = s
        self.tmp = tmp
        self.spawned = set()  # pids of every process started, for the DPDK runtime check
        self.out = open(tmp / "stdout.txt", "wb")
        self.err = open(tmp / "stderr.txt", "wb")
        addr_file = tmp / "addr.json"
        cmd = [str(s.binary), "run", "-c", str(config), "--addr-file", str(addr_file)]
        if s.nice:
            cmd = ["nice", "-n", str(s.nice)] + cmd
        self.proc = subprocess.Popen(
            cmd, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, cwd=tmp
        )
        self.spawned.add(self.proc.pid)
        self.addr_file = addr_file

    def wait_ready(self):
        """Until the API listens and the workers' first counters are in."""
        addr_file = self.addr_file
        deadline = time.monotonic() + 600  # compiling ET Open on a busy machine
        while not addr_file.exists() or not addr_file.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"osprey run exited with {self.proc.returncode} at start")
            if time.monotonic() > deadline:
                raise RuntimeError("osprey run did not listen within 600 s")
            time.sleep(0.5)
        self.endpoint = "http://" + json.loads(addr_file.read_text())["api"]
        # The workers' counters reach the API with their first stats report.
        while (flat := self.stats()) is None or alerts_raised(flat) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("osprey run reported no worker counters")
            time.sleep(0.5)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def ctl(self, *args, timeout=120):
        """One `osprey ctl --json ...` call: (ok, stdout)."""
        cmd = [str(self.s.binary), "ctl", "--endpoint", self.endpoint, "--json", *args]
        p = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        self.spawned.add(p.pid)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            return False, f"timed out after {timeout} s"
        if p.returncode != 0:
            return False, err.decode(errors="replace").strip()[-500:]
        return True, out.decode(errors="replace")

    def stats(self):
        ok, out = self.ctl("stats", timeout=60)
        return flatten(json.loads(out)) if ok else None

    def stop(self, grace=180):
        """SIGTERM, then wait for the drain; SIGKILL only if it does not stop. Returns
        (exit code, stopped by SIGTERM)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return self.proc.returncode, False
        return self.proc.returncode, True

    def tail_of(self, name, lines=15):
        self.out.flush()
        self.err.flush()
        text = (self.tmp / name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


class Client(threading.Thread):
    """Keeps the API busy until stopped: queries in turn, a tail and a rule reload now and
    then. Every failed call is kept for the report."""

    QUERIES = (
        ("status",),
        ("stats",),
        ("alerts", "query", "--limit", "100"),
        ("flows", "query", "--limit", "100"),
        ("alerts", "query", "--since", "5m", "--limit", "100", "--oldest-first"),
    )

    def __init__(self, s, app):
        super().__init__(daemon=True)
        self.s, self.app = s, app
        self.stopping = threading.Event()
        self.calls = {}
        self.failures = []
        self.reloads = []
        self.turns = 0

    def call(self, what, *args, timeout=120):
        ok, out = self.app.ctl(*args, timeout=timeout)
        self.calls[what] = self.calls.get(what, 0) + 1
        if not ok and not self.stopping.is_set():
            self.failures.append(f"{time.strftime('%H:%M:%S')} ctl {' '.join(args)}: {out}")
        return ok, out

    def add_block(self):
        """Every `block_every` calls, a block with a short expiry on a documentation address
        the capture never uses: the block list's add, publication to the workers, per-packet
        lookup and expiry run all along without changing what the capture raises."""
        self.turns += 1
        if self.turns % self.s.block_every:
            return
        address = f"203.0.113.{self.turns // self.s.block_every % 250 + 1}"
        self.call("block add", "block", "add", address, "--ttl", "30s", "--reason", "soak")

    def run(self):
        start = time.monotonic()
        next_tail, next_reload = start + 30, start + 60
        turn = 0
        while not self.stopping.is_set() and self.app.alive():
            now = time.monotonic()
            if now >= next_reload:
                ok, out = self.call("rules reload", "rules", "reload", timeout=600)
                if ok:
                    self.reloads.append(out.strip().replace("\n", " ")[:200])
                next_reload = time.monotonic() + self.s.reload_every
            elif now >= next_tail:
                self.call("alerts tail", "alerts", "tail", "--count", str(self.s.tail_count))
                next_tail = time.monotonic() + self.s.tail_every
            else:
                query = self.QUERIES[turn % len(self.QUERIES)]
                self.call(" ".join(query[:2]), *query)
                turn += 1
                self.add_block()
            self.stopping.wait(self.s.client_pause)


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------

RESOURCE_COLUMNS = [
    ("elapsed_s", "seconds since start"),
    ("rss_kib", "resident set, KiB"),
    ("vsz_kib", "virtual size, KiB"),
    ("store_bytes", "disk used by the store, bytes"),
    ("eve_bytes", "disk used by the EVE directory, bytes"),
    ("fds", "open file descriptors"),
    ("threads", "threads"),
    ("packets", "packets decoded since start"),
    ("alerts_raised", "alerts the workers raised since start"),
    ("alerts_stored", "alerts stored since start"),
    ("alerts_in_store", "alerts in the store now (after retention)"),
    ("state", "ok or degraded, as `ctl status` reports it"),
]


def take_sample(app, store, eve, t0):
    row = {"elapsed_s": round(time.monotonic() - t0)}
    row.update(proc_resources(app.pid))
    row["store_bytes"] = dir_bytes(store)
    row["eve_bytes"] = dir_bytes(eve)
    flat = app.stats()
    ok, out = app.ctl("status", timeout=60)
    status = json.loads(out) if ok else {}
    row["packets"] = first(flat or {}, "total:decoder.pkts", "total:capture.kernel_packets")
    row["alerts_raised"] = alerts_raised(flat or {})
    row["alerts_stored"] = alerts_stored(flat or {})
    row["alerts_in_store"] = status.get("alerts_stored")
    row["state"] = status.get("state", "")
    if row["state"] not in ("", "ok"):
        reasons = [f"{h.get('component')}: {h.get('reason')}" for h in status.get("health", [])
                   if h.get("state") != "ok"]
        row["state_reason"] = "; ".join(reasons)
    return row, flat


class Recorder:
    """The CSV: resource columns, then every drop counter found in the first sample. A counter
    that shows up only later is summed into `drops_other`."""

    def __init__(self, path, first_flat):
        self.drops = sorted(k for k in first_flat if is_drop_counter(k))
        self.f = open(path, "w", newline="")
        self.w = csv.writer(self.f)
        units = [f"{name} ({unit})" for name, unit in RESOURCE_COLUMNS]
        units += [f"{d} (count)" for d in self.drops] + ["drops_other (count)"]
        self.w.writerow(units)
        self.rows = []

    def add(self, row, flat):
        flat = flat or {}
        late = {k: v for k, v in flat.items() if is_drop_counter(k) and k not in self.drops and v}
        for d in self.drops:
            row[d] = flat.get(d)
        row["late_drops"] = late
        others = row["drops_other"] = sum(late.values())
        self.rows.append(row)
        self.w.writerow([row.get(n) for n, _ in RESOURCE_COLUMNS] + [row[d] for d in self.drops] + [others])
        self.f.flush()

    def close(self):
        self.f.close()


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------


def theil_sen(xs, ys):
    """Theil-Sen slope with Sen's 95% confidence interval: (low, median, high).

    The median of the pairwise slopes: one outlier (a compaction, a busy neighbour) cannot
    move it. The interval comes from the variance of Kendall's S, n(n-1)(2n+5)/18: with few
    or noisy samples it is wide, so only growth that every part of the series shows makes
    its lower end rise (Sen 1968, "Estimates of the regression coefficient based on
    Kendall's tau")."""
    slopes = sorted(
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    )
    if not slopes:
        return 0.0, 0.0, 0.0
    n, count = len(xs), len(slopes)
    c = 1.96 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    low = max(0, math.floor((count - c) / 2))
    high = min(count - 1, math.ceil((count + c) / 2))
    return slopes[low], statistics.median(slopes), slopes[high]


def trend_failures(s, rows):
    """Unbounded growth over the second half of the run. Returns (failures, notes)."""
    end = rows[-1]["elapsed_s"]
    half = [r for r in rows if r["elapsed_s"] >= end / 2]
    if len(half) < 4:
        return [], [f"trend test not assessed: {len(half)} samples in the second half (need 4; run longer)"]
    hours = [r["elapsed_s"] / 3600 for r in half]
    window = hours[-1] - hours[0]
    disk = [(r["store_bytes"] + r["eve_bytes"]) / MIB for r in half]
    series = {
        "rss (MiB)": ([r["rss_kib"] / 1024 for r in half], s.rss_mib_per_hour),
        "virtual size (MiB)": ([r["vsz_kib"] / 1024 for r in half], s.vsz_mib_per_hour),
        "disk, store + EVE (MiB)": (disk, s.disk_mib_per_hour),
        "open descriptors": ([r["fds"] for r in half], s.fds_per_hour),
        "threads": ([r["threads"] for r in half], s.threads_per_hour),
    }
    failures, notes = [], []
    for name, (ys, limit) in series.items():
        low, slope, high = theil_sen(hours, ys)
        trend = f"slope {slope:+.1f}/h (95%: {low:+.1f} to {high:+.1f}; limit {limit:g}/h)"
        notes.append(f"{name}: {ys[0]:.0f} -> {ys[-1]:.0f} over the second half, {trend}")
        # Growth at the limit over the second half of an hour's run is what a shorter run must
        # show too: a few MiB of cache warming in a ten-minute run is not a leak.
        if low > limit and low * window > limit / 2:
            failures.append(f"{name} grows over the second half: {trend}")
    for name in ("fds", "threads"):
        ys = [r[name] for r in half]
        # Six samples of RocksDB's file count can rise by chance; eight or more at every step
        # do not.
        if len(ys) >= 8 and all(b >= a for a, b in zip(ys, ys[1:])) and ys[-1] - ys[0] >= 2:
            failures.append(f"{name} rose at every sample of the second half: {ys}")
    return failures, notes


def loss_failures(rows):
    """Alerts lost: a non-zero alert drop counter, or a sample that had stored fewer alerts
    than the workers had raised by the previous one; a degraded appliance."""
    failures = [
        f"at {r['elapsed_s']} s the appliance reports {r['state']}: {r.get('state_reason', '')}"
        for r in rows
        if r.get("state") not in (None, "", "ok")
    ]
    last = rows[-1]
    for k, v in last.items():
        if ":" in k and loses_alerts(k) and v:
            failures.append(f"alerts lost: {k} = {v}")
    for k, v in last.get("late_drops", {}).items():
        if loses_alerts(k):
            failures.append(f"alerts lost: {k} = {v}")
    for prev, row in zip(rows, rows[1:]):
        if prev["alerts_raised"] is None or row["alerts_stored"] is None:
            continue
        if row["alerts_stored"] < prev["alerts_raised"]:
            failures.append(
                f"at {row['elapsed_s']} s only {row['alerts_stored']} alerts stored, "
                f"{prev['alerts_raised']} raised by {prev['elapsed_s']} s"
            )
    return failures


def final_settle(app):
    """Just before stopping: every alert raised so far is stored a few seconds later."""
    before = app.stats()
    time.sleep(5)
    after = app.stats()
    if before is None or after is None:
        return ["could not read the counters before stopping"]
    raised, stored = alerts_raised(before), alerts_stored(after)
    if raised is not None and stored is not None and stored < raised:
        return [f"at the end {raised} alerts raised but {stored} stored 5 s later"]
    return []


def runtime_snapshot():
    """Every entry under DPDK's runtime root with its latest modification time (pids are
    reused: an entry of an earlier process may carry the name of one of ours)."""
    root = dpdk_runtime_root()
    snap = {}
    for entry in root.iterdir() if root.is_dir() else []:
        try:
            times = [entry.stat().st_mtime] + [f.stat().st_mtime for f in entry.iterdir()]
        except OSError:
            continue
        snap[entry.name] = max(times)
    return snap


def runtime_leftovers(before, pids):
    """Entries under DPDK's runtime root named after a process this run started
    (`osprey-<pid>-<n>`) that were not there before, or that it changed."""
    prefixes = tuple(f"osprey-{pid}-" for pid in pids)
    return sorted(
        name
        for name, mtime in runtime_snapshot().items()
        if name.startswith(prefixes) and before.get(name) != mtime
    )


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


def summary(rows):
    a, b = rows[0], rows[-1]
    mib = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
    lines = [
        f"samples {len(rows)} over {b['elapsed_s']} s",
        f"rss {mib(a['rss_kib'])} -> {mib(b['rss_kib'])} (max {mib(max(r['rss_kib'] for r in rows))}); "
        f"virtual {mib(a['vsz_kib'])} -> {mib(b['vsz_kib'])}",
        f"fds {a['fds']} -> {b['fds']} (max {max(r['fds'] for r in rows)}); "
        f"threads {a['threads']} -> {b['threads']} (max {max(r['threads'] for r in rows)})",
        f"disk: store {a['store_bytes'] / MIB:.0f} -> {b['store_bytes'] / MIB:.0f} MiB "
        f"(max {max(r['store_bytes'] for r in rows) / MIB:.0f}), EVE {a['eve_bytes'] / MIB:.0f} -> "
        f"{b['eve_bytes'] / MIB:.0f} MiB (max {max(r['eve_bytes'] for r in rows) / MIB:.0f})",
        f"packets {b['packets']}; alerts raised {b['alerts_raised']}, stored {b['alerts_stored']}, "
        f"in store {b['alerts_in_store']}",
    ]
    nonzero = {k: v for k, v in b.items() if ":" in k and v}
    nonzero.update(b.get("late_drops", {}))
    lines.append("drop counters: " + (", ".join(f"{k}={v}" for k, v in nonzero.items()) or "all 0"))
    return lines


def progress(row):
    return (
        f"soak: [{row['elapsed_s']:>5} s] rss {row['rss_kib'] // 1024} MiB, fds {row['fds']}, "
        f"threads {row['threads']}, store {row['store_bytes'] // MIB} MiB, "
        f"eve {row['eve_bytes'] // MIB} MiB, alerts raised/stored "
        f"{row['alerts_raised']}/{row['alerts_stored']}"
    )


def find_material(s):
    rules = sorted(glob.glob(str(s.data / "et-open" / "*.rules")))
    pcap = Path(s.pcap) if s.pcap else s.data / "pcaps" / "public_mix.pcap"
    if not s.pcap and not pcap.exists():
        pcap = REPO / "configs" / "samples" / "demo.pcap"
    missing = [str(p) for p in (s.binary, pcap) if not Path(p).exists()]
    if not rules:
        missing.append(str(s.data / "et-open" / "*.rules"))
    if missing:
        sys.exit("soak: missing " + ", ".join(missing))
    return rules, pcap.resolve()


def read_csv(path):
    """Rows of a soak CSV, as the run recorded them (column names without their units)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        names = [h.split(" (", 1)[0] for h in next(reader)]
        rows = []
        for values in reader:
            row = {}
            for name, value in zip(names, values):
                row[name] = int(value) if value.lstrip("-").isdigit() else (value or None)
            rows.append(row)
    return rows


def judge(path):
    """`soak.py --verdict FILE.csv`: the verdicts on a recorded run, e.g. one attached to a
    report, after a limit or the trend test changed."""
    rows = read_csv(path)
    failures, notes = trend_failures(Settings(), rows)
    failures += loss_failures(rows)
    for line in summary(rows) + notes:
        print(f"soak: {line}")
    for line in failures:
        print(f"soak: FAIL: {line}")
    return 1 if failures else 0


def interrupted(*_):
    """SIGTERM to the soak ends it the way Ctrl-C does: through the cleanup in `main`."""
    raise KeyboardInterrupt


def main():
    s = Settings()
    rules, pcap = find_material(s)
    csv_path = Path(s.csv_path) if s.csv_path else (
        REPO / "target" / "soak" / f"soak-{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%SZ}.csv"
    )
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    runtime_root = dpdk_runtime_root()
    runtime_before = runtime_snapshot()
    signal.signal(signal.SIGTERM, interrupted)

    tmp = Path(tempfile.mkdtemp(prefix="osprey-soak-"))
    print(f"soak: {s.seconds} s of {s.binary} run, {len(rules)} rule files, {pcap}; samples every "
          f"{s.interval} s to {csv_path}", flush=True)
    failures, notes = [], []
    app = client = recorder = None
    try:
        config, store, eve = write_config(s, tmp, rules, pcap)
        app = Appliance(s, tmp, config)
        app.wait_ready()
        print(f"soak: appliance pid {app.pid}, API {app.endpoint}", flush=True)
        client = Client(s, app)
        t0 = time.monotonic()
        client.start()
        next_sample = t0
        while True:
            if not app.alive():
                break
            row, flat = take_sample(app, store, eve, t0)
            if flat is None:
                failures.append(f"at {row['elapsed_s']} s the stats could not be read")
            if recorder is None:
                recorder = Recorder(csv_path, flat or {})
            recorder.add(row, flat)
            print(progress(row), flush=True)
            if time.monotonic() - t0 >= s.seconds:
                break
            next_sample += s.interval
            # Wait for the next sample, watching that the appliance lives.
            while app.alive() and time.monotonic() < min(next_sample, t0 + s.seconds):
                time.sleep(1)
        if app.alive():
            failures += final_settle(app)
    except KeyboardInterrupt:
        failures.append("interrupted")
    except Exception as e:  # noqa: BLE001 - reported as a failure of the run
        if not app or app.alive():
            failures.append(f"soak error: {e!r}")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if app and not app.alive():
            failures.append(f"the appliance died (exit {app.proc.returncode}):\n{app.tail_of('stderr.txt')}")
        if client:
            client.stopping.set()
            client.join(timeout=660)
        if app:
            code, by_term = app.stop()
            if not by_term:
                failures.append("the appliance did not stop within 180 s of SIGTERM (killed)")
            elif code != 0 and not any(f.startswith("the appliance died") for f in failures):
                failures.append(f"the appliance exited {code} after SIGTERM:\n{app.tail_of('stderr.txt')}")
            notes.append("appliance: " + app.tail_of("stdout.txt", 1))
        if recorder:
            recorder.close()
        if s.keep_tmp:
            notes.append(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if app:
            left = runtime_leftovers(runtime_before, app.spawned)
            if left:
                failures.append(f"left under {runtime_root}: {', '.join(left)} (removed)")
                for name in left:
                    shutil.rmtree(runtime_root / name, ignore_errors=True)

    rows = recorder.rows if recorder else []
    if rows:
        trend_fail, trend_notes = trend_failures(s, rows)
        failures += trend_fail + loss_failures(rows)
        notes = summary(rows) + trend_notes + notes
    if client:
        notes.append("client calls: " + ", ".join(f"{k} {v}" for k, v in sorted(client.calls.items())))
        notes += [f"reload: {r}" for r in client.reloads]
        failures += [f"client call failed: {f}" for f in client.failures[:10]]
        if len(client.failures) > 10:
            failures.append(f"client calls failed: {len(client.failures) - 10} more")
    notes.append(f"csv: {csv_path}")
    for line in notes:
        print(f"soak: {line}")
    if failures:
        for line in failures:
            print(f"soak: FAIL: {line}")
        return 1
    print("soak: PASS")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--verdict"] and len(sys.argv) == 3:
        sys.exit(judge(sys.argv[2]))
    sys.exit(main())
