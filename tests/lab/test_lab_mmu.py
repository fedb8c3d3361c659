"""tests/lab/test_lab_mmu.py -- tricolor-lab's figures from pause logs.

Also checks the lab's trace check (check_trace) against synthetic traces,
with negative controls: a pause 1 us off, missing, of another length, and
overlapping slices must each be reported.

The MMU (minimum mutator utilization) of bench/tricolor-lab is checked
against hand-computed cases and against a brute force that slides the
window 1 ns at a time over small random pause logs; the pause quantiles
against nearest rank by hand.  Negative control: a deliberately wrong MMU
(one that counts a pause overlapping the window in full) must disagree with
the brute force on some random log, so the comparison can fail.
Run: python3 -m unittest discover -s tests/lab -p 'test_*.py'
"""
import random
import unittest
from pathlib import Path

from lab_module import lab  # bench/tricolor-lab, loaded once


def brute_mmu(t0, t1, pauses, w):
    if t1 - t0 < w:
        return None
    stopped = [0] * (t1 - t0)
    for s, d, _ in pauses:
        for t in range(max(s, t0), min(s + d, t1)):
            stopped[t - t0] = 1
    worst = max(sum(stopped[a:a + w]) for a in range(0, t1 - t0 - w + 1))
    return 1 - worst / w


def unclipped_mmu(t0, t1, pauses, w):
    """Wrong on purpose: a pause that overlaps the window counts whole."""
    if t1 - t0 < w:
        return None
    worst = 0
    for s, _, _ in pauses:
        a = min(max(s, t0), t1 - w)
        tot = sum(pd for ps, pd, _ in pauses if ps < a + w and ps + pd > a)
        worst = max(worst, min(tot, w))
    return 1 - worst / w


def random_log(rng):
    t, pauses = 0, []
    for _ in range(rng.randint(0, 6)):
        t += rng.randint(1, 30)
        d = rng.randint(1, 15)
        pauses.append((t, d, rng.randint(0, 1)))
        t += d
    return 0, t + rng.randint(1, 30), pauses


class MMU(unittest.TestCase):
    def test_hand_cases(self):
        # one 10 ns pause in 100 ns: a 10 ns window can be all pause
        self.assertEqual(lab.mmu(0, 100, [(40, 10, 1)], 10), 0.0)
        self.assertAlmostEqual(lab.mmu(0, 100, [(40, 10, 1)], 20), 0.5)
        self.assertAlmostEqual(lab.mmu(0, 100, [(40, 10, 1)], 100), 0.9)
        # two pauses 5 apart: a 25 ns window holds both
        self.assertAlmostEqual(
            lab.mmu(0, 100, [(10, 10, 0), (25, 10, 1)], 25), 1 - 20 / 25)
        self.assertEqual(lab.mmu(0, 100, [], 10), 1.0)
        self.assertIsNone(lab.mmu(0, 100, [(1, 1, 0)], 101))
        # a pause sticking out of the window counts only its inside part
        self.assertAlmostEqual(lab.mmu(50, 100, [(40, 20, 1)], 50), 0.8)

    def test_against_brute_force(self):
        rng = random.Random(20261127)
        for _ in range(300):
            t0, t1, pauses = random_log(rng)
            for w in (1, 3, 7, 20, 50):
                want = brute_mmu(t0, t1, pauses, w)
                got = lab.mmu(t0, t1, pauses, w)
                if want is None:
                    self.assertIsNone(got)
                else:
                    self.assertAlmostEqual(got, want, msg=(t0, t1, pauses, w))

    def test_against_brute_force_clipped_windows(self):
        # the measured window starts and ends inside pauses
        rng = random.Random(99)
        for _ in range(300):
            _, end, pauses = random_log(rng)
            t0 = rng.randint(0, max(0, end // 3))
            t1 = rng.randint(t0 + 1, end)
            for w in (1, 4, 9, 25):
                want = brute_mmu(t0, t1, pauses, w)
                got = lab.mmu(t0, t1, pauses, w)
                if want is None:
                    self.assertIsNone(got)
                else:
                    self.assertAlmostEqual(got, want,
                                           msg=(t0, t1, pauses, w))

    def test_negative_control_brute_force_catches_a_wrong_mmu(self):
        rng = random.Random(7)
        caught = False
        for _ in range(300):
            t0, t1, pauses = random_log(rng)
            for w in (3, 7, 20):
                want = brute_mmu(t0, t1, pauses, w)
                if want is not None and \
                        abs(unclipped_mmu(t0, t1, pauses, w) - want) > 1e-9:
                    caught = True
        self.assertTrue(caught)

    def test_quantiles_nearest_rank(self):
        ns = [1000 * i for i in range(1, 101)]  # 1..100 us
        p50, p99, mx = lab.quantiles_us(list(reversed(ns)))
        self.assertEqual((p50, p99, mx), (50.0, 99.0, 100.0))
        self.assertEqual(lab.quantiles_us([]), (None, None, None))


class TraceCheck(unittest.TestCase):
    """check_trace: every pause of the run's log is in the trace, by
    length and instant (one clock offset for all)."""

    def write(self, events):
        import json
        import tempfile
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"traceEvents": events}, f)
        f.close()
        self.addCleanup(Path(f.name).unlink)
        return f.name

    @staticmethod
    def pause(ts_us, ns):
        return {"ph": "X", "pid": 1, "tid": 2, "name": "pause: mark start",
                "ts": ts_us, "dur": ns / 1000, "args": {"ns": ns}}

    def test_matches_and_its_negative_controls(self):
        # log: pauses at 1 000 000 ns and 3 000 000 ns; the trace's clock
        # starts 900 000 ns later (its ts are 100 and 2100 us)
        rec = {"pauses": [(1000000, 5000, 0), (3000000, 7000, 1)]}
        good = [self.pause(100.0, 5000), self.pause(2100.0, 7000)]
        self.assertEqual(lab.check_trace(self.write(good), rec), [])
        # the second pause 1 us off: the same length, another instant
        shifted = [self.pause(100.0, 5000), self.pause(2101.0, 7000)]
        self.assertTrue(lab.check_trace(self.write(shifted), rec))
        # a pause missing, and one of another length
        self.assertTrue(lab.check_trace(self.write(good[:1]), rec))
        other = [self.pause(100.0, 5000), self.pause(2100.0, 7001)]
        self.assertTrue(lab.check_trace(self.write(other), rec))
        # slices that overlap partially on one track
        bad = good + [{"ph": "X", "pid": 1, "tid": 2, "name": "x",
                       "ts": 101.0, "dur": 5000.0}]
        self.assertTrue(lab.check_trace(self.write(bad), rec))


if __name__ == "__main__":
    unittest.main()
