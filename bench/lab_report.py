#!/usr/bin/env python3
"""bench/lab_report.py -- render a tricolor-lab lab.json as one SVG page.

The lab driver (bench/tricolor-lab) runs each workload under each barrier
mode and writes lab.json (schema in its docstring).  This module turns
that into one standalone SVG that a person takes in at a glance:

  header    title, machine and settings, the legend (one colour per mode);
  per workload one row, its title above two charts side by side:
    left    pause CDF: for each mode, the fraction of the stop-the-world
            pauses in pauses_us no longer than x; x is log-scaled in
            decades of microseconds (1 µs at least, labels "10 µs", "1 ms",
            "1 s"), y is 0..1; one step line per mode, a dot on its longest
            pause (filled: a mark-termination pause, open: a mark-start
            pause); below it a table of the summary's pause figures;
    right   MMU: minimum mutator utilization against window length (log,
            ms), y 0..1; one line with point markers per mode; below it a
            table of MMU at 1/10/100 ms, GC CPU, throughput and RSS;
  footer    two lines saying how to read the charts.

Design choices:
  - Colours are Okabe-Ito (safe for the common colour-vision deficiencies);
    stw is black, the baseline the concurrent modes are compared against.
  - Both charts of a row share nothing but the colours; the pause axis
    spans the decades of that workload's pauses only, so a fast workload
    is not squeezed into the corner of a slow one's scale.
  - Every series is a <g class="series mode-M" data-mode="M"> inside a
    <g class="chart chart-pauses|chart-mmu">, inside a
    <g class="workload" data-workload="NAME">; tests/lab/check_svg.py finds
    them there.  A mode with nothing to draw (no pauses, no MMU points)
    still gets its group, holding a "no pauses" note instead of a line.
  - Bad input is drawn around, never rendered: nulls, NaN and infinities
    are dropped before any coordinate is computed, durations below 1 µs sit
    on the axis's left edge, MMU is clamped to 0..1.  Every number written
    to the SVG is finite.
  - Colours are attributes, typography is CSS in one <style>; no script,
    no external reference, a white background rectangle for viewers that
    show transparency as black.

Standard library only.

Usage:
  bench/lab_report.py lab.json out.svg
"""

import argparse
import json
import math
import re
import sys
from xml.sax.saxutils import escape, quoteattr

MODE_ORDER = ["stw", "insertion", "deletion", "hybrid"]
COLOURS = {"stw": "#000000", "insertion": "#0072B2",   # Okabe-Ito black, blue,
           "deletion": "#E69F00", "hybrid": "#009E73"}  # orange, bluish green
OTHER_COLOUR = "#CC79A7"             # a mode this file does not know yet

WIDTH = 1100                         # px; two panels of PANEL_W + margins
MARGIN = 24                          # px, left and right of the panels
PANEL_W = 510                        # px, one chart with its table
PANEL_GAP = WIDTH - 2 * MARGIN - 2 * PANEL_W
PLOT_L, PLOT_R = 62, 14              # px, room for y ticks / right overhang
PLOT_T, PLOT_H = 24, 180             # px, chart title above the plot
PLOT_W = PANEL_W - PLOT_L - PLOT_R
TABLE_T = PLOT_T + PLOT_H + 52       # px, first table line (the header)
LINE_H = 15                          # px per table or note line
HEADER_H = 112                       # px, title, two lines, legend
ROW_TITLE_H = 28                     # px, workload title above its charts
MIN_US = 1.0                         # the pause axis never starts below 1 µs

FOOTER = [
    "Pause CDF: the fraction of stop-the-world pauses (mark start and mark "
    "termination) no longer than x; further left and steeper is better.",
    "MMU: the lowest fraction of any window of that length left to the "
    "mutator; higher and further left is better. Tables: the summary "
    "figures of lab.json.",
]

STYLE = """
text { font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif;
       font-size: 11px; fill: #222; }
.title { font-size: 20px; font-weight: bold; }
.sub { font-size: 12px; fill: #555; }
.wl-title { font-size: 15px; font-weight: bold; }
.chart-title { font-size: 12px; font-weight: bold; }
.tick { font-size: 10px; fill: #555; }
.th { font-weight: bold; fill: #555; }
.num { font-variant-numeric: tabular-nums; }
.note { font-style: italic; }
.axis { stroke: #444; stroke-width: 1; fill: none; }
.grid { stroke: #d8d8d8; stroke-width: 1; }
.grid-minor { stroke: #efefef; stroke-width: 1; }
.line { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
"""


# --- input helpers -------------------------------------------------------

def finite(v):
    """Return v as a float if it is a finite number, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def mode_name(entry):
    """Return the entry's mode as a string ("?" when it has none)."""
    return str(entry.get("mode") or "?")


def mode_key(name):
    """Sort key: stw, insertion, deletion, hybrid, then others by name."""
    rank = MODE_ORDER.index(name) if name in MODE_ORDER else len(MODE_ORDER)
    return (rank, name)


def ordered_modes(entries):
    """Return the mode entries in mode_key order."""
    return sorted(entries, key=lambda m: mode_key(mode_name(m)))


def colour(mode):
    return COLOURS.get(mode, OTHER_COLOUR)


def css_name(mode):
    """Return mode reduced to [a-z0-9-], safe inside a class attribute."""
    return re.sub(r"[^a-z0-9-]", "-", str(mode).lower()) or "unknown"


def pauses_of(entry):
    """Return [(duration_us, kind)] of the finite, non-negative pauses."""
    out = []
    for p in entry.get("pauses_us") or []:
        if not isinstance(p, (list, tuple)):
            p = [p]                  # a bare duration: kind unknown
        if not p:
            continue
        dur, kind = finite(p[0]), (p[1] if len(p) > 1 else None)
        if dur is not None and dur >= 0:
            out.append((dur, kind))
    return out


def mmu_points(entry):
    """Return [(window_ms, mmu)] with nulls skipped and mmu clamped 0..1."""
    out = []
    for p in entry.get("mmu_curve") or []:
        if not isinstance(p, (list, tuple)) or len(p) < 2:
            continue
        w, u = finite(p[0]), finite(p[1])
        if w is not None and w > 0 and u is not None:
            out.append((w, min(max(u, 0.0), 1.0)))
    return sorted(out)


# --- number formatting ---------------------------------------------------

def sig3(x):
    """Format x with about three significant digits, no exponent."""
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def fmt_us(v):
    """Format a duration in µs with a fitting unit: 12.5 µs, 1.20 ms."""
    v = finite(v)
    if v is None:
        return "–"
    if v == 0:
        return "0 µs"
    for unit, scale in (("s", 1e6), ("ms", 1e3)):
        if v >= scale:
            return f"{sig3(v / scale)} {unit}"
    return f"{sig3(v)} µs"


def fmt_tick_us(v):
    """Format a decade in µs as a tick label: 0.1 µs, 10 µs, 1 ms, 1 s."""
    for unit, scale in (("s", 1e6), ("ms", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} µs"


def fmt_num(v, fmt):
    v = finite(v)
    return "–" if v is None else fmt.format(v)


def scaled(v, k):
    """Return v * k, or None when v is not a finite number."""
    v = finite(v)
    return None if v is None else v * k


def fmt_rate(v):
    v = finite(v)
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else sig3(v)


def c(v):
    """Format a coordinate (always finite here) with one decimal."""
    return f"{v:.1f}"


# --- SVG element helpers -------------------------------------------------

def xml_safe(s):
    """Return str(s) with the control characters XML 1.0 forbids (from a
    host name, say) replaced by "?"."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", str(s))


def esc(s):
    """Return s as XML character data."""
    return escape(xml_safe(s))


def attr(s):
    """Return s as a quoted XML attribute value."""
    return quoteattr(xml_safe(s))


def clip(s, n):
    """Return s cut to n characters, with an ellipsis if it was longer."""
    return s if len(s) <= n else s[:n - 1] + "…"


def text(x, y, s, cls=None, anchor=None, fill=None, extra=""):
    attrs = f' x="{c(x)}" y="{c(y)}"'
    if cls:
        attrs += f' class="{cls}"'
    if anchor:
        attrs += f' text-anchor="{anchor}"'
    if fill:
        attrs += f' fill="{fill}"'
    return f"<text{attrs}{extra}>{esc(s)}</text>"


def line(x1, y1, x2, y2, cls):
    return (f'<line x1="{c(x1)}" y1="{c(y1)}" x2="{c(x2)}" y2="{c(y2)}"'
            f' class="{cls}"/>')


def polyline(points, col):
    """Return a polyline through pixel points, dropping repeated points."""
    out = []
    for x, y in points:
        p = f"{c(x)},{c(y)}"
        if not out or out[-1] != p:
            out.append(p)
    return (f'<polyline class="line" stroke="{col}" '
            f'points="{" ".join(out)}"/>')


def series_open(mode, tooltip):
    m = css_name(mode)
    return (f'<g class="series mode-{m}" data-mode={attr(mode)}>'
            f"<title>{esc(tooltip)}</title>")


# --- axes ----------------------------------------------------------------

class LogAxis:
    """Maps values in [lo, hi] (whole decades) to pixels [p0, p1]."""

    def __init__(self, lo, hi, p0, p1):
        self.lo, self.hi, self.p0, self.p1 = lo, hi, p0, p1

    def px(self, v):
        v = min(max(v, self.lo), self.hi)
        f = (math.log10(v) - math.log10(self.lo)) / \
            (math.log10(self.hi) - math.log10(self.lo))
        return self.p0 + f * (self.p1 - self.p0)

    def decades(self):
        e0, e1 = round(math.log10(self.lo)), round(math.log10(self.hi))
        return [10.0 ** e for e in range(e0, e1 + 1)]


def decade_range(values, floor):
    """Return (lo, hi): whole decades around values, at least one apart."""
    vals = [max(v, floor) for v in values if v > 0] or [floor, floor * 1000]
    lo = 10.0 ** math.floor(math.log10(min(vals)) + 1e-9)
    hi = 10.0 ** math.ceil(math.log10(max(vals)) - 1e-9)
    return lo, max(hi, lo * 10)


def y_px(frac):
    """Map a fraction 0..1 to the plot's pixel row."""
    return PLOT_T + PLOT_H * (1.0 - frac)


def frame(xaxis, title, xlabel, ylabel, tick_label):
    """Return the gridlines, axes, ticks and labels of one chart."""
    out = [text(0, 14, title, "chart-title")]
    for d in xaxis.decades():
        for k in range(2, 10):
            if d * k < xaxis.hi:
                x = xaxis.px(d * k)
                out.append(line(x, PLOT_T, x, PLOT_T + PLOT_H, "grid-minor"))
    for d in xaxis.decades():
        x = xaxis.px(d)
        out.append(line(x, PLOT_T, x, PLOT_T + PLOT_H, "grid"))
        out.append(text(x, PLOT_T + PLOT_H + 14, tick_label(d), "tick",
                        "middle"))
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = y_px(frac)
        out.append(line(PLOT_L, y, PLOT_L + PLOT_W, y, "grid"))
        out.append(text(PLOT_L - 6, y + 3.5, f"{frac:g}", "tick", "end"))
    out.append(f'<rect x="{PLOT_L}" y="{PLOT_T}" width="{PLOT_W}" '
               f'height="{PLOT_H}" class="axis"/>')
    out.append(text(PLOT_L + PLOT_W / 2, PLOT_T + PLOT_H + 32, xlabel,
                    anchor="middle"))
    ym = PLOT_T + PLOT_H / 2
    out.append(text(16, ym, ylabel, anchor="middle",
                    extra=f' transform="rotate(-90 16 {c(ym)})"'))
    return out


def swatch(x, y, length, mode, width):
    """Return a short horizontal line in the mode's colour (legend, table)."""
    return (f'<line x1="{c(x)}" y1="{c(y)}" x2="{c(x + length)}" '
            f'y2="{c(y)}" class="line" stroke="{colour(mode)}" '
            f'stroke-width="{width}"/>')


def note(k, mode, msg):
    """Return the k-th note line in the plot's top-left corner."""
    return text(PLOT_L + 8, PLOT_T + 16 + LINE_H * k, f"{mode}: {msg}",
                "note", fill=colour(mode))


def table(headers, rows, xs):
    """Return a table below the plot: column 0 left, the others right."""
    out = []
    for i, h in enumerate(headers):
        out.append(text(xs[i], TABLE_T, h, "th", None if i == 0 else "end"))
    for r, (mode, cells) in enumerate(rows, start=1):
        y = TABLE_T + LINE_H * r
        out.append(swatch(xs[0], y - 3.5, 14, mode, 2.5))
        out.append(text(xs[0] + 20, y, clip(mode, 14)))
        for i, cell in enumerate(cells, start=1):
            out.append(text(xs[i], y, cell, "num", "end"))
    return out


# --- the two charts ------------------------------------------------------

def cdf_steps(values):
    """Return [(value, fraction)] of the empirical CDF as a step line: a
    rise at each distinct value from the fraction below it to the
    fraction at or below it."""
    vals = sorted(values)
    n, pts, prev = len(vals), [], 0.0
    for i, d in enumerate(vals):
        if i + 1 < n and vals[i + 1] == d:
            continue
        frac = (i + 1) / n
        pts += [(d, prev), (d, frac)]
        prev = frac
    return pts


def pause_chart(wl, modes):
    """Return the pause-CDF chart of one workload (panel coordinates)."""
    all_durs = [d for m in modes for d, _ in pauses_of(m)]
    xa = LogAxis(*decade_range(all_durs, MIN_US), PLOT_L, PLOT_L + PLOT_W)
    out = ['<g class="chart chart-pauses">']
    out += frame(xa, "Pause durations (CDF)", "pause duration",
                 "fraction of pauses ≤ x", fmt_tick_us)
    notes = 0
    for m in modes:
        mode, ps = mode_name(m), pauses_of(m)
        col = colour(mode)
        if not ps:
            out.append(series_open(mode, f"{mode}: no pauses"))
            out.append(note(notes, mode, "no pauses") + "</g>")
            notes += 1
            continue
        longest, kind = max(ps, key=lambda p: p[0])
        kind_name = {0: "mark start", 1: "mark termination"}.get(kind, "")
        out.append(series_open(mode, f"{mode}: {len(ps)} pauses, longest "
                               f"{fmt_us(longest)} {kind_name}".rstrip()))
        # Steps over half-pixel columns, not pauses: thousands of pauses
        # still make at most 2 * 2 * PLOT_W points, and look the same.
        cols = [round(xa.px(d) * 2) / 2 for d, _ in ps]
        steps = [(xa.p0, 0.0)] + cdf_steps(cols) + [(xa.p1, 1.0)]
        out.append(polyline([(x, y_px(f)) for x, f in steps], col))
        fill = "#ffffff" if kind == 0 else col
        out.append(f'<circle cx="{c(xa.px(longest))}" cy="{c(y_px(1))}" '
                   f'r="3.5" fill="{fill}" stroke="{col}" stroke-width="1.5"/>'
                   "</g>")
    rows = []
    for m in modes:
        s = m.get("summary") or {}
        rows.append((mode_name(m), [
            fmt_num(s.get("pauses"), "{:.0f}"), fmt_us(s.get("p50_us")),
            fmt_us(s.get("p99_us")), fmt_us(s.get("max_us")),
            fmt_us(s.get("start_p99_us")), fmt_us(s.get("term_p99_us")),
            fmt_us(scaled(s.get("total_pause_ms"), 1e3))]))
    out += table(["mode", "pauses", "p50", "p99", "max", "start p99",
                  "term p99", "total"], rows,
                 [0, 132, 191, 250, 309, 377, 445, PANEL_W - 4])
    out.append("</g>")
    return out


def mmu_chart(lab, wl, modes):
    """Return the MMU chart of one workload (panel coordinates)."""
    windows = [w for w in map(finite, lab.get("mmu_windows_ms") or [])
               if w is not None and w > 0]
    windows += [w for m in modes for w, _ in mmu_points(m)]
    xa = LogAxis(*decade_range(windows, 1e-3), PLOT_L, PLOT_L + PLOT_W)
    out = ['<g class="chart chart-mmu">']
    out += frame(xa, "Minimum mutator utilization",
                 "window length", "MMU (higher is better)",
                 lambda ms: fmt_tick_us(ms * 1e3))
    notes = 0
    for m in modes:
        mode, pts = mode_name(m), mmu_points(m)
        col = colour(mode)
        tip = ", ".join(f"{fmt_tick_us(w * 1e3)} {u:.2f}" for w, u in pts)
        out.append(series_open(mode, f"{mode} MMU: {tip or 'no data'}"))
        if not pts:
            out.append(note(notes, mode, "no MMU data") + "</g>")
            notes += 1
            continue
        px = [(xa.px(w), y_px(u)) for w, u in pts]
        if len(px) > 1:
            out.append(polyline(px, col))
        out += [f'<circle cx="{c(x)}" cy="{c(y)}" r="2.3" fill="{col}"/>'
                for x, y in px]
        out.append("</g>")
    unit = wl.get("ops_unit") or "ops"
    rows = []
    for m in modes:
        s = m.get("summary") or {}
        rows.append((mode_name(m), [
            fmt_num(s.get("mmu_1ms"), "{:.2f}"),
            fmt_num(s.get("mmu_10ms"), "{:.2f}"),
            fmt_num(s.get("mmu_100ms"), "{:.2f}"),
            fmt_num(s.get("gc_cpu_pct"), "{:.1f}%"),
            fmt_rate(s.get("throughput")),
            fmt_num(s.get("wall_ms"), "{:,.0f} ms"),
            fmt_num(s.get("rss_mib"), "{:.1f} MiB")]))
    out += table(["mode", "MMU 1 ms", "10 ms", "100 ms", "GC CPU",
                  clip(f"{unit}/s", 12), "wall", "RSS"], rows,
                 [0, 142, 192, 246, 302, 375, 440, PANEL_W - 4])
    out.append("</g>")
    return out


# --- page ----------------------------------------------------------------

def header(lab, all_modes):
    """Return the title, the machine line, the settings line, the legend."""
    mach, st = lab.get("machine") or {}, lab.get("settings") or {}
    machine = [str(mach.get("host") or "unknown host")]
    if mach.get("cpu"):
        machine.append(str(mach["cpu"]))
    if finite(mach.get("cpus")) is not None:
        machine.append(f"{mach['cpus']:g} CPUs")
    machine += [str(mach[k]) for k in ("arch", "kernel") if mach.get(k)]
    runs = [str(lab["date"])] if lab.get("date") else []
    if finite(st.get("runs")) is not None:
        runs.append(f"{st['runs']:g} runs per mode")
    if finite(st.get("procs")) is not None:
        runs.append(f"procs {st['procs']:g}")
    if st.get("quick"):
        runs.append("quick")
    out = [text(MARGIN, 30, "tricolor lab: GC pauses and minimum mutator "
                "utilization per barrier mode", "title"),
           text(MARGIN, 52, " · ".join(machine), "sub"),
           text(MARGIN, 70, " · ".join(runs), "sub")]
    x, y = MARGIN, 92
    for mode in all_modes:
        out.append(swatch(x, y, 22, mode, 3))
        out.append(text(x + 28, y + 4, mode))
        x += 40 + 7 * len(mode) + 20
    out.append(f'<circle cx="{x + 6}" cy="{y}" r="3.5" fill="#444"/>')
    out.append(f'<circle cx="{x + 18}" cy="{y}" r="3.5" fill="#ffffff" '
               'stroke="#444" stroke-width="1.5"/>')
    out.append(text(x + 28, y + 4, "longest pause: mark termination / "
                    "mark start", "sub"))
    return out


def workload_row(lab, wl, y):
    """Return one workload's row at page offset y, and its height."""
    modes = ordered_modes([m for m in wl.get("modes") or []
                           if isinstance(m, dict)])
    title = wl.get("title") or wl.get("name") or "workload"
    out = [f'<g class="workload" data-workload={attr(wl.get("name") or "")} '
           f'transform="translate(0 {y})">',
           text(MARGIN, 18, title, "wl-title")]
    if not modes:
        out += [text(MARGIN, 44, "no modes were run", "note"), "</g>"]
        return out, 70
    for i, chart in enumerate((pause_chart(wl, modes),
                               mmu_chart(lab, wl, modes))):
        x = MARGIN + i * (PANEL_W + PANEL_GAP)
        out.append(f'<g transform="translate({x} {ROW_TITLE_H})">')
        out += chart + ["</g>"]
    out.append("</g>")
    return out, ROW_TITLE_H + TABLE_T + LINE_H * len(modes) + 30


def render(lab):
    """Return the SVG text of the report for a parsed lab.json."""
    workloads = [w for w in lab.get("workloads") or [] if isinstance(w, dict)]
    seen = {mode_name(m) for w in workloads
            for m in w.get("modes") or [] if isinstance(m, dict)}
    all_modes = sorted(seen, key=mode_key)
    body, y = header(lab, all_modes), HEADER_H
    if not workloads:
        body.append(text(MARGIN, y + 20, "no workloads in lab.json", "note"))
        y += 40
    for wl in workloads:
        row, h = workload_row(lab, wl, y)
        body += row
        y += h
    for i, line_text in enumerate(FOOTER):
        body.append(text(MARGIN, y + 4 + 18 * i, line_text, "sub"))
    height = y + 40
    return "\n".join(
        [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
         f'height="{height}" viewBox="0 0 {WIDTH} {height}">',
         f"<style>{STYLE}</style>",
         f'<rect x="0" y="0" width="{WIDTH}" height="{height}" '
         'fill="#ffffff"/>'] + body + ["</svg>", ""])


def write(lab, path):
    """Render lab and write the SVG to path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(lab))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("lab", help="lab.json written by bench/tricolor-lab")
    p.add_argument("out", help="SVG file to write")
    args = p.parse_args(argv)
    try:
        with open(args.lab, encoding="utf-8") as f:
            lab = json.load(f)
    except (OSError, ValueError) as e:
        print(f"lab_report: {args.lab}: {e}", file=sys.stderr)
        return 1
    if not isinstance(lab, dict):
        print(f"lab_report: {args.lab}: not a JSON object", file=sys.stderr)
        return 1
    write(lab, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
