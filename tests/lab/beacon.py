"""A periodic HTTP beacon, as implants call home: a GET every ``--interval`` seconds, each
wait drawn uniformly within ``--jitter`` (a fraction) of the interval from a ``--seed``ed
random source, for ``--seconds``; the query carries a fixed host id and a counter, like a
check-in. Standard library only, so it runs inside a lab namespace with the system Python.
"""

import argparse
import random
import sys
import time
import urllib.request


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--jitter", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, required=True)
    a = ap.parse_args()
    if a.interval <= 0 or not 0 <= a.jitter < 1:
        sys.exit("beacon: --interval must be positive and --jitter in [0, 1)")
    rng = random.Random("beacon-%d" % a.seed)
    host_id = "%08x" % rng.getrandbits(32)
    end = time.monotonic() + a.seconds
    n = 0
    while True:
        wait = a.interval * (1 + rng.uniform(-a.jitter, a.jitter))
        if time.monotonic() + wait > end:
            return
        time.sleep(wait)
        n += 1
        try:
            with urllib.request.urlopen("%s?id=%s&n=%d" % (a.url, host_id, n), timeout=3) as r:
                r.read()
        except OSError as e:
            print("beacon: %s" % e, file=sys.stderr)


if __name__ == "__main__":
    main()
