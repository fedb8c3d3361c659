"""bench/benchlib.py -- what the benchmark drivers share.

run.py, barrier.py, sched.py and tricolor-lab each find a program in a
CMake build, read the RESULT line it prints last (bench/backend.h), take
nearest-rank quantiles and record the machine; those four helpers live
here once, with the Markdown table they print.  Standard library only.
"""

import os
import platform
from pathlib import Path


def find_program(build, name):
    """Returns the executable `name` in build/bench or build, or None."""
    for d in (Path(build) / "bench", Path(build)):
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


def parse_result(stdout):
    """Returns the fields of the last RESULT line as a dict (ints, floats,
    else strings; "-" is None), or None if there is no RESULT line."""
    lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return None
    fields = {}
    for item in lines[-1].split()[1:]:
        key, _, value = item.partition("=")
        if value == "-":
            fields[key] = None
            continue
        for kind in (int, float):
            try:
                fields[key] = kind(value)
                break
            except ValueError:
                pass
        else:
            fields[key] = value
    return fields


def nearest_rank(sorted_vals, q):
    """The q-quantile (nearest rank) of a sorted list, None if empty."""
    n = len(sorted_vals)
    if n == 0:
        return None
    rank = max(1, min(n, -(-q * n // 1)))  # ceil(q * n)
    return sorted_vals[int(rank) - 1]


def machine_info():
    """Host, kernel, architecture, CPUs, CPU model and Python version."""
    info = {"host": platform.node(), "system": platform.system(),
            "release": platform.release(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def markdown_table(cols, rows):
    """Returns a Markdown table: the first column left-aligned, the others
    right-aligned (rows are lists of strings)."""
    widths = [max([len(c)] + [len(r[i]) for r in rows])
              for i, c in enumerate(cols)]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |",
           "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                          for i, w in enumerate(widths)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r[0].ljust(widths[0]) if i == 0 else
                                     v.rjust(widths[i])
                                     for i, v in enumerate(r)) + " |")
    return "\n".join(out)


def print_md(cols, rows):
    print(markdown_table(cols, rows))
