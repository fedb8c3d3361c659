"""tests/lab/test_lab_title.py -- tricolor-lab labels a workload with what
ran, not with a size written into the lab.

Each workload's title is a template whose {keys} the lab fills from the
RESULT lines of its runs (the programs note their sizes, bench_note).  The
end-to-end case runs the lab's main() on a build directory holding a fake
bench_binarytrees_tricolor: a script that, like the real one, runs the
depth it is given (at least 6) and says so in its RESULT line, and writes a
one-pause log.  With --quick (depth 15) lab.json and report.svg must say
depth 15 and never depth 17; without it, depth 17.  Unit cases: values
the runs disagree on or that no run reported become "?", integral floats
(bench_note prints %g) print as integers.
Run: python3 -m unittest discover -s tests/lab -p 'test_*.py'
"""
import contextlib
import io
import json
import sys
import tempfile
import unittest
from pathlib import Path

from lab_module import lab  # bench/tricolor-lab, loaded once

FAKE_BINARYTREES = """#!{python}
import os, sys
depth = max(6, int(sys.argv[1]) if len(sys.argv) > 1 else 21)
with open(os.environ["BENCH_PAUSE_LOG"], "w") as f:
    f.write("window 0 200000000\\npause 100000000 50000 1\\n")
print("RESULT bench=binarytrees backend=tricolor wall_ms=200 rss_kib=4096 "
      "cycles=1 pauses=1 pause_total_ms=0.05 gc_cpu_pct=1.0 ops=100 "
      "ops_unit=trees barrier_slow=0 lost_pauses=0 float_cycles=0 "
      "float_bytes=0 depth=%g" % depth)
"""


class LabTitle(unittest.TestCase):
    def run_lab(self, quick):
        """Runs the lab on the fake program; returns (lab.json, report.svg
        text, exit status)."""
        with tempfile.TemporaryDirectory() as d:
            build, out = Path(d) / "build", Path(d) / "out"
            build.mkdir()
            prog = build / "bench_binarytrees_tricolor"
            prog.write_text(FAKE_BINARYTREES.format(python=sys.executable))
            prog.chmod(0o755)
            argv = ["--build", str(build), "--out", str(out),
                    "--workloads", "binarytrees", "--modes", "stw",
                    "--runs", "1", "--no-float"] + (["--quick"] if quick
                                                    else [])
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), \
                    contextlib.redirect_stderr(sink):
                rc = lab.main(argv)
            doc = json.loads((out / "lab.json").read_text())
            svg = (out / "report.svg").read_text()
            return doc, svg, rc, sink.getvalue()

    def test_quick_labels_the_depth_that_ran(self):
        doc, svg, rc, text = self.run_lab(quick=True)
        self.assertEqual(rc, 0, text)
        wl = doc["workloads"][0]
        self.assertEqual(wl["argv"], ["15"])
        self.assertEqual(wl["title"], "binary-trees, depth 15")
        self.assertIn("depth 15", svg)
        self.assertNotIn("depth 17", svg)
        self.assertNotIn("depth 17", json.dumps(doc))

    def test_full_labels_the_depth_that_ran(self):
        doc, svg, rc, text = self.run_lab(quick=False)
        self.assertEqual(rc, 0, text)
        self.assertEqual(doc["workloads"][0]["title"],
                         "binary-trees, depth 17")
        self.assertIn("depth 17", svg)

    def test_title_from_results(self):
        t = lab.workload_title
        self.assertEqual(t("binarytrees", [{"depth": 15}, {"depth": 15.0}]),
                         "binary-trees, depth 15")
        self.assertEqual(t("binarytrees", []), "binary-trees, depth ?")
        self.assertEqual(t("binarytrees", [{"depth": 15}, {"depth": 17}]),
                         "binary-trees, depth ?")
        self.assertEqual(
            t("server", [{"workers": 1000, "cache": 20000}]),
            "server: 1000 workers, 20000-entry cache")
        self.assertEqual(
            t("parked", [{"parked": 10000, "frames": 4, "roots": 10}]),
            "many stacks: 10000 coroutines x 4 frames x 10 roots")
        self.assertEqual(t("gcbench", [{}]), "GCBench")
        # no title may hold a size of its own: every number comes from a run
        for name, (title, _, _) in lab.WORKLOADS.items():
            self.assertFalse(any(c.isdigit() for c in title), name)


if __name__ == "__main__":
    unittest.main()
