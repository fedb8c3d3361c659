#!/usr/bin/env python3
"""tests/lab/check_svg.py -- is a tricolor-lab report SVG well formed?

Checks, in order, collecting every failure rather than stopping at the
first (except a parse failure, after which nothing else can be checked):
  1. the file parses as XML (xml.etree.ElementTree; a truncated file or an
     unclosed or mismatched tag is a ParseError);
  2. the root is {http://www.w3.org/2000/svg}svg with a viewBox of four
     finite numbers, the last two positive;
  3. every geometric attribute (x, y, x1, y1, x2, y2, cx, cy, r, width,
     height) holds finite numbers (a unit suffix such as px or % is
     allowed), and so does every number in polyline/polygon points, path d
     and transform (NaN, inf and infinity, in any case, fail);
  4. the file is standalone: no <script>, no href other than "#fragment";
  5. when modes are given: every <g class="chart ..."> inside every
     <g class="workload"> holds, for each mode M, at least one element
     whose class has both "series" and "mode-M" (bench/lab_report.py draws
     one such group per mode and chart), and that group draws a mark
     (polyline, path, circle, line, polygon, rect) or holds a note text
     saying why it has none ("no pauses"); when workloads is given, there
     are exactly that many workload groups.

check(path, modes=None, workloads=None) returns the list of error strings
(empty: fine); the lab driver and tests/lab/test_lab_report.py call it.

Standard library only.

Usage:
  tests/lab/check_svg.py report.svg [--modes hybrid,stw] [--workloads N]
Exit status 0 if fine, 1 with one message per problem on stderr.
"""

import argparse
import math
import re
import sys
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"
NUMERIC_ATTRS = ["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r",
                 "width", "height"]
UNIT = re.compile(r"(px|pt|em|ex|%)$")
# A path's d: command letters, numbers and separators, nothing else.
PATH_TOKEN = re.compile(r"\s*(?:([MmLlHhVvCcSsQqTtAaZz])|"
                        r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(,))")
HREF_ATTRS = ["href", "{http://www.w3.org/1999/xlink}href"]


def number_is_finite(s):
    """Return True if s is a decimal number that is finite."""
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def bad_numbers(s):
    """Return the tokens of a number list (points, viewBox) that fail."""
    return [t for t in re.split(r"[\s,]+", s.strip())
            if t and not number_is_finite(t)]


def bad_path(d):
    """Return the first part of a path's d that is not a command or a
    finite number, or None if the whole of d is fine."""
    pos = 0
    while pos < len(d):
        m = PATH_TOKEN.match(d, pos)
        if not m or m.end() == pos:
            rest = d[pos:].strip()
            return rest[:20] if rest else None
        if m.group(2) and not number_is_finite(m.group(2)):
            return m.group(2)
        pos = m.end()
    return None


def bad_transform(t):
    """Return the numbers in a transform's argument lists that fail."""
    bad = []
    for args in re.findall(r"\(([^)]*)\)", t):
        bad += bad_numbers(args)
    return bad


def local(tag):
    return tag[len(SVG_NS):] if tag.startswith(SVG_NS) else tag


def classes(el):
    return el.get("class", "").split()


def check_root(root):
    if root.tag != SVG_NS + "svg":
        return [f"root element is {root.tag!r}, not {SVG_NS}svg"]
    vb = root.get("viewBox")
    if vb is None:
        return ["root <svg> has no viewBox"]
    parts = re.split(r"[\s,]+", vb.strip())
    if len(parts) != 4 or bad_numbers(vb):
        return [f"viewBox {vb!r} is not four finite numbers"]
    if float(parts[2]) <= 0 or float(parts[3]) <= 0:
        return [f"viewBox {vb!r} has no area"]
    return []


def check_element(el):
    """Return the numeric and standalone errors of one element."""
    errs, name = [], local(el.tag)
    for a in NUMERIC_ATTRS:
        v = el.get(a)
        if v is not None and bad_numbers(UNIT.sub("", v.strip())):
            errs.append(f"<{name}> {a}={v!r} is not finite")
    if name in ("polyline", "polygon") and bad_numbers(el.get("points", "")):
        errs.append(f"<{name}> points has {bad_numbers(el.get('points'))[:3]}")
    if name == "path" and bad_path(el.get("d", "")) is not None:
        errs.append(f"<path> d has {bad_path(el.get('d'))!r}")
    if el.get("transform") and bad_transform(el.get("transform")):
        errs.append(f"<{name}> transform={el.get('transform')!r} "
                    "is not finite")
    if name == "script":
        errs.append("<script> in a report that must have none")
    for a in HREF_ATTRS:
        if el.get(a) is not None and not el.get(a).startswith("#"):
            errs.append(f"<{name}> refers outside the file: {el.get(a)!r}")
    return errs


DRAWN = {SVG_NS + t for t in ("polyline", "path", "circle", "line",
                              "polygon", "rect")}


def series_of(chart, mode):
    want = "mode-" + mode
    return [el for el in chart.iter()
            if "series" in classes(el) and want in classes(el)]


def draws_something(series):
    """True if a series group draws a mark, or says why it has none (a
    text of class note, such as "no pauses")."""
    for el in series.iter():
        if el.tag in DRAWN:
            return True
        if el.tag == SVG_NS + "text" and "note" in classes(el):
            return True
    return False


def check_series(root, modes, workloads):
    """Return the errors of step 5: workload count, a series per mode."""
    errs = []
    rows = [el for el in root.iter() if "workload" in classes(el)]
    if workloads is not None and len(rows) != workloads:
        errs.append(f"{len(rows)} workload groups, expected {workloads}")
    for i, row in enumerate(rows, start=1):
        label = row.get("data-workload") or f"#{i}"
        charts = [el for el in row.iter() if "chart" in classes(el)]
        if modes and not charts:
            errs.append(f"workload {label}: no chart group")
        for chart in charts:
            kind = " ".join(c for c in classes(chart) if c != "chart")
            for mode in modes or []:
                series = series_of(chart, mode)
                if not series:
                    errs.append(f"workload {label}, chart {kind or '?'}: "
                                f"no series for mode {mode}")
                elif not any(draws_something(g) for g in series):
                    errs.append(f"workload {label}, chart {kind or '?'}: "
                                f"the series of mode {mode} draws nothing")
    return errs


def check(path, modes=None, workloads=None):
    """Return a list of error strings for the SVG at path (empty: fine)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        return [f"not well-formed XML: {e}"]
    except OSError as e:
        return [f"cannot read: {e}"]
    errs = check_root(root)
    if errs:
        return errs
    for el in root.iter():
        errs += check_element(el)
    if modes or workloads is not None:
        errs += check_series(root, modes, workloads)
    return errs


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("svg")
    p.add_argument("--modes", default="",
                   help="comma-separated modes that must have a series")
    p.add_argument("--workloads", type=int,
                   help="number of workload rows expected")
    args = p.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    errs = check(args.svg, modes, args.workloads)
    for e in errs:
        print(f"check_svg: {args.svg}: {e}", file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
