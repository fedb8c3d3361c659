"""tests/lab/test_lab_workloads.py -- which workloads tricolor-lab runs and
which of a workload's own figures it keeps.

  1. --workloads all selects every workload, the default set stays the
     four of docs/barriers.md (ephemerons only on request), and an unknown
     name is refused;
  2. summarise keeps the notes a table is followed by (req_* of the server,
     eph_* and weak_pass_* of the ephemerons), as medians over the runs,
     and nothing else: the sizes (chains, length) only label the title;
  3. the ephemerons title is filled from its RESULT notes.
Run: python3 -m unittest discover -s tests/lab -p 'test_*.py'
"""
import argparse
import unittest

from lab_module import lab  # bench/tricolor-lab, loaded once


def run(result, t1=10_000_000):
    """A timed run as run_one returns it: one 50 us pause."""
    return {"result": dict({"cycles": 1, "pauses": 1, "pause_total_ms": 0.05,
                            "gc_cpu_pct": 1.0, "wall_ms": 10, "ops": 100,
                            "rss_kib": 1024, "barrier_slow": 0}, **result),
            "t0": 0, "t1": t1, "pauses": [(1_000_000, 50_000, 1)]}


class Workloads(unittest.TestCase):
    def test_all_and_default(self):
        self.assertEqual(lab.parse_args(["--workloads", "all"]).workloads,
                         list(lab.WORKLOADS))
        self.assertIn("ephemerons", lab.WORKLOADS)
        self.assertEqual(lab.parse_args([]).workloads,
                         ["binarytrees", "gcbench", "server", "parked"])
        self.assertEqual(
            lab.parse_args(["--workloads", "ephemerons"]).workloads,
            ["ephemerons"])
        with self.assertRaises(argparse.ArgumentTypeError):
            lab.csv_list("ephemerons,nosuch", list(lab.WORKLOADS),
                         "workload")

    def test_notes_kept(self):
        runs = [run({"chains": 4297, "length": 16, "eph_per_cycle": 90000,
                     "eph_cleared_per_cycle": 17000,
                     "weak_pass_p50_us": 1000.0, "weak_samples": 7}),
                run({"chains": 4297, "length": 16, "eph_per_cycle": 92000,
                     "eph_cleared_per_cycle": 17000,
                     "weak_pass_p50_us": 3000.0, "weak_samples": 7}),
                run({"chains": 4297, "length": 16, "eph_per_cycle": 94000,
                     "eph_cleared_per_cycle": 17000,
                     "weak_pass_p50_us": 2000.0, "weak_samples": 7})]
        _, _, _, notes = lab.summarise(runs, None)
        self.assertEqual(notes, {"eph_per_cycle": 92000,
                                 "eph_cleared_per_cycle": 17000,
                                 "weak_pass_p50_us": 2000.0})
        _, _, _, notes = lab.summarise([run({"req_p99_us": 12.5,
                                             "workers": 1000})], None)
        self.assertEqual(notes, {"req_p99_us": 12.5})

    def test_ephemerons_title(self):
        self.assertEqual(
            lab.workload_title("ephemerons", [{"chains": 4297, "length": 16,
                                               "graveyard": 1074}]),
            "ephemerons: 4297 chains x 16 links, 1074 dead chains kept")


if __name__ == "__main__":
    unittest.main()
