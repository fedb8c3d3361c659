"""tests/lab/test_lab_report.py -- bench/lab_report.py against check_svg.py.

What it tests:
  1. the synthetic sample (sample_lab.json, made-up numbers) renders, from
     Python and from the command line, into an SVG that check_svg accepts
     with every mode and the right workload count;
  2. edge cases render into SVGs the checker accepts: a mode with no
     pauses, a single pause, all pauses equal, nulls / NaN / infinities in
     the input, a subset of modes, an unknown mode, six workloads, text
     that needs escaping, no workloads at all;
  3. negative controls: the checker rejects (a) a truncated SVG, (b) an
     unclosed or mismatched tag, (c) a non-SVG root, (d) NaN or infinite
     coordinates, (e) a mode's series missing, each for the right reason.

Run: python3 -m unittest discover -s tests/lab -p 'test_*.py'
"""

import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import re
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

import check_svg   # noqa: E402  (tests/lab, found through sys.path)
import lab_report  # noqa: E402  (bench, found through sys.path)

ALL_MODES = ["stw", "insertion", "deletion", "hybrid"]


def load_sample():
    with open(HERE / "sample_lab.json", encoding="utf-8") as f:
        return json.load(f)


def mode_entry(mode, pauses, mmu=((1, 0.5), (10, 0.9))):
    """Return a minimal mode entry with the given pauses and MMU curve."""
    return {"mode": mode, "summary": {"pauses": len(pauses)},
            "pauses_us": [list(p) if isinstance(p, tuple) else p
                          for p in pauses],
            "mmu_curve": [list(p) for p in mmu]}


def one_workload(modes, name="w", title="w"):
    return {"version": 1, "machine": {"cpus": 1, "host": "h", "kernel": "k"},
            "settings": {"runs": 1}, "mmu_windows_ms": [1, 10, 100],
            "workloads": [{"name": name, "title": title, "ops_unit": "ops",
                           "modes": modes}]}


class Tmp(unittest.TestCase):
    """Gives each test a scratch directory and a write-then-check helper."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def write_text(self, name, svg):
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(svg)
        return p

    def render_and_check(self, lab, modes, workloads):
        p = self.path("report.svg")
        lab_report.write(lab, p)
        errs = check_svg.check(p, modes, workloads)
        self.assertEqual(errs, [], "checker rejected the rendered report")
        with open(p, encoding="utf-8") as f:
            return f.read()


class TestRender(Tmp):
    def test_sample_renders_and_passes(self):
        svg = self.render_and_check(load_sample(), ALL_MODES, 2)
        self.assertIn("binary-trees depth 16", svg)
        self.assertIn("hybrid: no pauses", svg)  # the sample's empty mode
        self.assertNotIn("<script", svg)

    def test_command_lines(self):
        out = self.path("cli.svg")
        subprocess.run([sys.executable, str(ROOT / "bench/lab_report.py"),
                        str(HERE / "sample_lab.json"), out], check=True)
        res = subprocess.run([sys.executable, str(HERE / "check_svg.py"),
                              out, "--modes", ",".join(ALL_MODES),
                              "--workloads", "2"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = subprocess.run([sys.executable, str(HERE / "check_svg.py"),
                              out, "--workloads", "5"],
                             capture_output=True, text=True)
        self.assertEqual(res.returncode, 1)
        self.assertIn("expected 5", res.stderr)

    def test_zero_single_and_equal_pauses(self):
        lab = one_workload([mode_entry("stw", []),
                            mode_entry("insertion", [(250.0, 1)]),
                            mode_entry("deletion", [(40.0, 0)] * 5),
                            mode_entry("hybrid", [(0.0, 0), (0.3, 1)])])
        svg = self.render_and_check(lab, ALL_MODES, 1)
        self.assertIn("stw: no pauses", svg)

    def test_nulls_nan_and_infinities(self):
        bad = [(None, 0), (math.nan, 1), (math.inf, 1), (-5, 0), (12.0, 1),
               "junk", [], 7.5]
        mmu = [(None, 0.1), (1, None), (10, math.nan), (math.inf, 0.5),
               (100, 1.7), (1000, -0.2)]
        e = mode_entry("hybrid", bad, mmu)
        e["summary"] = {k: None for k in ("p50_us", "p99_us", "max_us",
                                          "mmu_1ms", "throughput")}
        e["summary"]["gc_cpu_pct"] = math.nan
        lab = one_workload([e, mode_entry("stw", [(5, 1)], mmu=[]),
                            {"mode": "deletion"}, {"mode": None}, "junk"])
        lab["mmu_windows_ms"] = [None, math.inf, 0, 10]
        lab["machine"] = {"cpus": None, "host": "bad\x01host"}
        svg = self.render_and_check(lab, ["stw", "deletion", "hybrid"], 1)
        self.assertIn("stw: no MMU data", svg)

    def test_subset_unknown_mode_and_six_workloads(self):
        lab = one_workload([mode_entry("hybrid", [(30, 0), (80, 1)]),
                            mode_entry("stw", [(900, 1)]),
                            mode_entry("gen x", [(10, 1)])])
        lab["workloads"] = [copy.deepcopy(lab["workloads"][0])
                            for _ in range(6)]
        svg = self.render_and_check(lab, ["stw", "hybrid", "gen-x"], 6)
        # modes are drawn in canonical order whatever the input order
        self.assertLess(svg.index("mode-stw"), svg.index("mode-hybrid"))

    def test_text_is_escaped(self):
        lab = one_workload([mode_entry("stw", [(5, 1)])],
                           name='a"b', title="<trees> & 'friends'")
        lab["machine"]["host"] = "<host&>"
        svg = self.render_and_check(lab, ["stw"], 1)
        self.assertIn("&lt;trees&gt; &amp;", svg)

    def test_no_workloads(self):
        lab = one_workload([])
        lab["workloads"] = []
        self.render_and_check(lab, None, 0)


class TestCheckerRejects(Tmp):
    """Negative controls: each broken report fails for its own reason."""

    def setUp(self):
        super().setUp()
        self.svg = lab_report.render(load_sample())
        self.assertEqual(check_svg.check(self.write_text("ok.svg", self.svg),
                                         ALL_MODES, 2), [])

    def rejects(self, svg, reason, modes=None, workloads=None):
        errs = check_svg.check(self.write_text("bad.svg", svg),
                               modes, workloads)
        self.assertTrue(errs, "checker accepted a broken SVG")
        self.assertTrue(any(reason in e for e in errs), errs)

    def test_truncated(self):
        self.rejects(self.svg[: len(self.svg) // 2], "not well-formed")
        self.rejects("", "not well-formed")

    def test_unclosed_and_mismatched_tags(self):
        cut = self.svg.rindex("</g>")
        self.rejects(self.svg[:cut] + self.svg[cut + 4:], "not well-formed")
        self.rejects(self.svg.replace("</text>", "</tspan>", 1),
                     "not well-formed")

    def test_non_svg_root(self):
        self.rejects("<html><body/></html>", "root element")
        no_ns = self.svg.replace(' xmlns="http://www.w3.org/2000/svg"', "")
        self.rejects(no_ns, "root element")
        no_vb = self.svg.replace("viewBox=", "data-vb=", 1)
        self.rejects(no_vb, "viewBox")

    def test_nan_and_infinite_coordinates(self):
        self.rejects(self.svg.replace('points="', 'points="nan,', 1),
                     "points")
        # the whole value replaced: rejected as infinite, not as garbage
        self.rejects(re.sub(r'cx="[^"]*"', 'cx="inf"', self.svg, count=1),
                     "cx=")
        self.rejects(re.sub(r'y1="[^"]*"', 'y1="-Infinity"', self.svg,
                            count=1), "y1=")
        path = '<path d="M 10 20 L NaN 30"/></svg>'
        self.rejects(self.svg.replace("</svg>", path), "<path> d")

    def test_series_that_draws_nothing(self):
        # a renderer that emits the group but drops every mark of a mode
        svg = re.sub(r'(<g class="series mode-hybrid"[^>]*>)(.*?)(</g>)',
                     lambda m: m.group(1) + "<title>hybrid</title>" +
                     m.group(3), self.svg, count=1, flags=re.S)
        self.assertNotEqual(svg, self.svg)
        self.rejects(svg, "the series of mode hybrid draws nothing",
                     ALL_MODES, 2)

    def test_missing_mode_series(self):
        lab = load_sample()
        wl = lab["workloads"][1]
        wl["modes"] = [m for m in wl["modes"] if m["mode"] != "deletion"]
        svg = lab_report.render(lab)
        self.rejects(svg, "no series for mode deletion", ALL_MODES, 2)
        self.rejects(self.svg, "no series for mode generational",
                     ["generational"], 2)


if __name__ == "__main__":
    unittest.main()
