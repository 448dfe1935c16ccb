"""The soak test's verdicts on made-up samples: `python3 -m unittest tests/soak/test_soak.py`
(`make soak` runs it first)."""

import random
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True

import soak  # noqa: E402


def rows(minutes, rss=lambda m: 2_600_000, fds=lambda m: 40, threads=lambda m: 13, disk=lambda m: 300 << 20):
    """One sample per minute; each resource a function of the minute."""
    return [
        {
            "elapsed_s": m * 60,
            "rss_kib": rss(m),
            "vsz_kib": 4_800_000,
            "store_bytes": disk(m),
            "eve_bytes": 0,
            "fds": fds(m),
            "threads": threads(m),
            "alerts_raised": 1000 * m,
            "alerts_stored": 1000 * m,
        }
        for m in range(minutes + 1)
    ]


class Trend(unittest.TestCase):
    def setUp(self):
        self.s = soak.Settings()
        self.noise = random.Random(7)

    def test_noisy_but_flat_passes(self):
        # +-40 MiB of noise and one 500 MiB spike (a compaction) in a flat hour.
        def rss(m):
            return 2_600_000 + self.noise.randint(-40_000, 40_000) + (500_000 if m == 45 else 0)

        failures, _ = soak.trend_failures(self.s, rows(60, rss=rss))
        self.assertEqual(failures, [])

    def test_slow_leak_fails(self):
        # 2 MiB a minute: 120 MiB an hour, above the 64 MiB limit, under the same noise.
        def rss(m):
            return 2_600_000 + m * 2048 + self.noise.randint(-20_000, 20_000)

        failures, _ = soak.trend_failures(self.s, rows(60, rss=rss))
        self.assertTrue(any(f.startswith("rss") for f in failures), failures)

    def test_fast_leak_in_a_ten_minute_run_fails(self):
        # 10 MiB a minute over ten minutes, +-5 MiB of noise.
        def rss(m):
            return 2_600_000 + m * 10_240 + self.noise.randint(-5_000, 5_000)

        failures, _ = soak.trend_failures(self.s, rows(10, rss=rss))
        self.assertTrue(any(f.startswith("rss") for f in failures), failures)

    def test_retention_sawtooth_in_a_ten_minute_run_passes(self):
        # The store as a ten-minute run saw it: cut back under its cap every few minutes.
        store = [74, 473, 510, 340, 417, 302, 406, 510, 373, 507, 332]
        failures, _ = soak.trend_failures(self.s, rows(10, disk=lambda m: store[m] << 20))
        self.assertEqual(failures, [])

    def test_warm_up_in_the_first_half_is_not_growth(self):
        failures, _ = soak.trend_failures(self.s, rows(60, rss=lambda m: 300_000 + min(m, 20) * 120_000))
        self.assertEqual(failures, [])

    def test_descriptors_rising_at_every_sample_fail(self):
        failures, _ = soak.trend_failures(self.s, rows(16, fds=lambda m: 40 + m // 2))
        self.assertTrue(any("fds rose" in f for f in failures), failures)

    def test_cache_warming_in_a_ten_minute_run_passes(self):
        # 8 MiB over the second half of a ten-minute run, steadily: a cache filling.
        failures, _ = soak.trend_failures(self.s, rows(10, rss=lambda m: 2_960_000 + m * 1_700))
        self.assertEqual(failures, [])

    def test_threads_that_come_and_go_pass(self):
        failures, _ = soak.trend_failures(self.s, rows(10, threads=lambda m: 13 + m % 2))
        self.assertEqual(failures, [])

    def test_disk_sawtooth_under_retention_passes(self):
        failures, _ = soak.trend_failures(self.s, rows(60, disk=lambda m: (300 + 40 * (m % 5)) << 20))
        self.assertEqual(failures, [])

    def test_short_run_is_not_assessed(self):
        failures, notes = soak.trend_failures(self.s, rows(2, fds=lambda m: 40 + 10 * m))
        self.assertEqual(failures, [])
        self.assertIn("not assessed", notes[0])


class Loss(unittest.TestCase):
    def test_counters_that_lose_alerts(self):
        for name in (
            "total:detect.alert_queue_overflow",
            "total:ingest.alerts_ring_overflow",
            "control_plane:ingest.alerts_dropped.store",
            "control_plane:ingest.store_errors",
        ):
            self.assertTrue(soak.is_drop_counter(name) and soak.loses_alerts(name), name)
        for name in ("total:flow.export_overflow", "control_plane:api.tail_lagged"):
            self.assertTrue(soak.is_drop_counter(name), name)
            self.assertFalse(soak.loses_alerts(name), name)
        for name in ("total:detect.drop", "total:decoder.event.ipv4.frag_ignored", "total:detect.alerts"):
            self.assertFalse(soak.is_drop_counter(name), name)

    def test_no_loss_passes(self):
        self.assertEqual(soak.loss_failures(rows(5)), [])

    def test_a_non_zero_alert_drop_counter_fails(self):
        r = rows(5)
        r[-1]["total:detect.alert_queue_overflow"] = 3
        self.assertEqual(len(soak.loss_failures(r)), 1)

    def test_stored_behind_raised_fails(self):
        r = rows(5)
        r[3]["alerts_stored"] = r[2]["alerts_raised"] - 1
        self.assertEqual(len(soak.loss_failures(r)), 1)

    def test_degraded_state_fails(self):
        r = rows(5)
        r[4]["state"] = "degraded"
        self.assertEqual(len(soak.loss_failures(r)), 1)


if __name__ == "__main__":
    unittest.main()
