#!/usr/bin/env python3
"""Writes a STIX 2.1 bundle of N synthetic indicators for load and speed measurements.

Usage: generate_bundle.py N OUT.json

Mix: 60% IPv4 addresses (5% of them /24 prefixes), 25% domains, 10% URLs, 5% file SHA-256
hashes; every tenth indicator is linked to one of 100 malware objects. Seeded: the same N
gives the same file.
"""

import json
import random
import sys


def main(n, out):
    rnd = random.Random(17)
    labels = "abcdefghijklmnopqrstuvwxyz0123456789"
    word = lambda k: "".join(rnd.choice(labels) for _ in range(k))
    with open(out, "w") as f:
        f.write('{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [\n')
        for m in range(100):
            f.write(json.dumps({"type": "malware", "spec_version": "2.1",
                                "id": "malware--00000000-0000-4000-8000-%012d" % m,
                                "name": "family-%d" % m, "is_family": True}) + ",\n")
        for i in range(n):
            r = rnd.random()
            if r < 0.60:
                a = "%d.%d.%d.%d" % (rnd.randrange(1, 224), rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
                if rnd.random() < 0.05:
                    a = a.rsplit(".", 1)[0] + ".0/24"
                pattern = "[ipv4-addr:value = '%s']" % a
            elif r < 0.85:
                pattern = "[domain-name:value = '%s.%s.example']" % (word(10), word(6))
            elif r < 0.95:
                pattern = "[url:value = 'http://%s.example/%s/%s']" % (word(8), word(6), word(12))
            else:
                pattern = "[file:hashes.'SHA-256' = '%064x']" % rnd.getrandbits(256)
            ident = "indicator--%08x-0000-4000-8000-%012x" % (i >> 16, i)
            f.write(json.dumps({"type": "indicator", "spec_version": "2.1", "id": ident,
                                "created": "2023-01-01T00:00:00Z", "modified": "2023-01-01T00:00:00Z",
                                "pattern": pattern, "pattern_type": "stix",
                                "valid_from": "2023-01-01T00:00:00Z", "confidence": rnd.randrange(101)}))
            if i % 10 == 0:
                f.write(",\n" + json.dumps({"type": "relationship", "spec_version": "2.1",
                                            "id": "relationship--%08x-0000-4000-8000-%012x" % (i >> 16, i),
                                            "relationship_type": "indicates", "source_ref": ident,
                                            "target_ref": "malware--00000000-0000-4000-8000-%012d" % (i % 100)}))
            f.write(",\n" if i + 1 < n else "\n")
        f.write("]}\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
