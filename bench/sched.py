#!/usr/bin/env python3
"""bench/sched.py -- tricolor's scheduler next to Go's and to pthreads.

What it does, in order:
  1. finds bench_sched in the CMake build dir (DIR/bench or DIR) and builds
     bench/go/sched.go into DIR/go/bench_sched_go, and the cgo peer of the
     foreign-thread ops, bench/go/cgo (Go and C), into DIR/go/bench_cgo_go,
     with `go build` (GO111MODULE=off, GOFLAGS empty, GOPROXY=off, offline,
     as run.py does) when go is installed (the cgo peer also needs cgo:
     `go env CGO_ENABLED` 1 and a C compiler);
  2. runs each program once, for --runs runs of every figure: bench_sched
     prints the median itself, the Go peers print every run and this
     script takes their median (bench_sched.c, go/sched.go and
     go/cgo/attach.go say how);
  3. reads their RESULT lines and prints two tables:
       operation | tricolor ns | Go ns | pthread ns | ratio tricolor/Go
     (the scheduler; RSS rows are in bytes per parked coroutine), and
       operation | tricolor ns | Go ns | ratio tricolor/Go
     (foreign threads: tc_thread_attach against cgo callbacks from C
     threads, row by row as FOREIGN pairs them), then the reference
     targets, and writes the raw figures to a JSON file.

Progress goes to stderr, the table to stdout.  Exit status 1 if a program
failed.  Standard library only.

Usage:
  bench/sched.py --build DIR [--runs N] [--quick] [--only op,op] [--no-go]
                 [--json PATH]
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from benchlib import find_program, print_md

HERE = Path(__file__).resolve().parent

# op -> (table label, unit); the order of the table
OPS = [
    ("yield", "yield (per yield, 2 coroutines)", "ns"),
    ("spawn", "spawn+finish (go f() + wait group)", "ns"),
    ("chan_unbuf", "unbuffered chan round trip", "ns"),
    ("chan_buf", "buffered chan round trip (cap 1)", "ns"),
    ("select2", "2-case select round trip", "ns"),
    ("wg_1e5", "wait group of 1e5 (per coroutine)", "ns"),
    ("rss_100k", "RSS per parked coroutine, 100k", "bytes"),
    ("rss_1m", "RSS per parked coroutine, 1M", "bytes"),
]

# Foreign threads: (row key for --only, tricolor op, Go op, table label).
# A thread tricolor did not create attaches (tc_thread_attach) where a
# thread Go did not create calls back into Go (cgo's needm/dropm: Go's
# attach and detach); bench/README.md explains the pairing.
FOREIGN = [
    ("attach", "attach", "cgo_callback", "attach+detach vs callback"),
    ("attach_first", "attach_first", "cgo_callback_first",
     "a new thread's first one"),
    ("foreign_rtt", "foreign_rtt", "cgo_rtt", "foreign round trip"),
    ("cgo_call", None, "cgo_call", "Go->C call (reference)"),
]

# Reference figures from the issue (reported, never asserted).
TARGETS = {
    "yield": "tricolor <= 25 ns; Go Gosched 52 ns on this machine",
    "spawn": "tricolor <= 100 ns; Go go f() 120-160 ns",
    "chan_unbuf": "tricolor <= 120 ns (procs=1); Go 202 ns",
    "select2": "Go 298 ns",
    "rss_100k": "tricolor <= 4.5 KiB (4608 bytes); Go 2.7 KB",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Compare tricolor's scheduler with Go's and pthreads.")
    p.add_argument("--build", required=True, type=Path,
                   help="CMake build dir holding bench/bench_sched")
    p.add_argument("--runs", type=int, default=5,
                   help="runs per figure, medians (default 5)")
    p.add_argument("--quick", action="store_true",
                   help="iteration counts / 10, no 1M-coroutine RSS")
    p.add_argument("--only", default="",
                   help="comma-separated ops: " + ",".join(
                       [o for o, _, _ in OPS] + [f[0] for f in FOREIGN]))
    p.add_argument("--no-go", action="store_true", help="skip the Go peer")
    p.add_argument("--json", type=Path,
                   help="raw results (default DIR/bench-sched.json)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds before a program is killed (default 1800)")
    args = p.parse_args(argv)
    known = {o for o, _, _ in OPS} | {f[0] for f in FOREIGN}
    bad = [o for o in args.only.split(",") if o and o not in known]
    if bad:
        p.error(f"unknown op(s) {','.join(bad)}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.json is None:
        args.json = args.build / "bench-sched.json"
    return args



def build_go(build, name, srcdir, sources, cgo=False):
    """Builds `sources` (files, or "." for the package in srcdir) into
    DIR/go/name.  Returns (path, None) or (None, reason)."""
    go = shutil.which("go")
    if go is None:
        return None, "go not installed"
    out = build / "go"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(GO111MODULE="off", GOFLAGS="", GOPROXY="off",
               GOCACHE=str(out / "gocache"), GOPATH=str(out / "gopath"),
               CGO_ENABLED="1" if cgo else "0")
    env.pop("GOMAXPROCS", None)  # the program sets it to 1 itself
    if cgo:
        probe = subprocess.run([go, "env", "CGO_ENABLED"], env=env,
                               capture_output=True, text=True)
        if probe.stdout.strip() != "1":
            return None, "cgo not available (go env CGO_ENABLED is not 1)"
    target = out / name
    log(f"building {target} with go build")
    proc = subprocess.run([go, "build", "-o", str(target)] + sources,
                          cwd=srcdir, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        log(proc.stderr.rstrip())
        why = "needs cgo and a C compiler; " if cgo else ""
        return None, f"go build failed ({why}see stderr)"
    return target, None


def run(cmd, timeout):
    """Runs cmd; returns ({(op, impl): (value, unit)}, error or None).  An
    op printed several times (the Go peers print each run) gets the median
    of its values."""
    log("running " + " ".join(str(c) for c in cmd))
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {timeout:g} s"
    seen = {}
    for line in proc.stdout.splitlines():
        if not line.startswith("RESULT "):
            continue
        f = dict(item.partition("=")[::2] for item in line.split()[1:])
        seen.setdefault((f["op"], f["impl"]), ([], f["unit"]))[0].append(
            float(f["value"]))
    res = {k: (statistics.median(v), unit) for k, (v, unit) in seen.items()}
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return res, f"exit status {proc.returncode}: {tail}"
    return res, None


def fmt(v, unit):
    if v is None:
        return "-"
    return f"{v:.0f}" if unit == "bytes" else f"{v:.1f}"


def main(argv):
    args = parse_args(argv)
    build = args.build.resolve()
    c_bin = find_program(build, "bench_sched")
    if c_bin is None:
        log(f"sched.py: bench_sched not found in {build} "
            "(cmake --build DIR --target bench_sched)")
        return 2
    cache = {}
    try:
        for line in open(build / "CMakeCache.txt"):
            k, sep, v = line.strip().partition("=")
            if sep and k.split(":")[0] in ("CMAKE_BUILD_TYPE",
                                           "TRICOLOR_DEBUG",
                                           "TRICOLOR_SANITIZE"):
                cache[k.split(":")[0]] = v
    except OSError:
        pass
    if cache.get("TRICOLOR_DEBUG", "0") != "0":
        log(f"warning: TRICOLOR_DEBUG={cache['TRICOLOR_DEBUG']}: tricolor "
            "figures include debug checks (configure with -DTRICOLOR_DEBUG=0)")
    if cache.get("TRICOLOR_SANITIZE"):
        log("warning: built with sanitizers: figures are not meaningful")

    only = [o for o in args.only.split(",") if o]
    sched_ops = [o for o, _, _ in OPS if not only or o in only]
    foreign = [f for f in FOREIGN if not only or f[0] in only]
    tc_ops = sched_ops + [f[1] for f in foreign if f[1]]
    cgo_ops = [f[2] for f in foreign]

    common = ["--runs", str(args.runs)] + (["--quick"] if args.quick else [])
    results, errors = {}, []
    if tc_ops:
        r, err = run([c_bin] + common +
                     (["--only", ",".join(tc_ops)] if only else []),
                     args.timeout)
        results.update(r)
        if err:
            errors.append(f"bench_sched: {err}")
    go_skip = {}
    go_args = ["-runs", str(args.runs)] + (["-quick"] if args.quick else [])
    for what, ops, name, srcdir, sources, cgo in [
            ("go", sched_ops, "bench_sched_go", HERE / "go", ["sched.go"],
             False),
            ("cgo", cgo_ops, "bench_cgo_go", HERE / "go" / "cgo", ["."],
             True)]:
        if not ops:
            continue
        if args.no_go:
            go_skip[what] = "--no-go"
            continue
        go_bin, go_skip[what] = build_go(build, name, srcdir, sources, cgo)
        if go_bin:
            r, err = run([go_bin] + go_args +
                         (["-only", ",".join(ops)] if only else []),
                         args.timeout)
            results.update(r)
            if err:
                errors.append(f"{name}: {err}")

    cols = ["operation", "tricolor ns", "Go ns", "pthread ns",
            "ratio tricolor/Go"]
    rows = []
    for op, label, unit in OPS:
        t = results.get((op, "tricolor"), (None,))[0]
        g = results.get((op, "go"), (None,))[0]
        p = results.get((op, "pthread"), (None,))[0]
        if t is None and g is None and p is None:
            continue
        name = label + (" (bytes)" if unit == "bytes" else "")
        ratio = f"{t / g:.2f}" if t is not None and g else "-"
        rows.append([name, fmt(t, unit), fmt(g, unit), fmt(p, unit), ratio])
    load = [f"{x:.2f}" for x in os.getloadavg()]
    runs = (f"median of {args.runs} runs{', --quick' if args.quick else ''}"
            f"; load average {' '.join(load)} at the end")
    if rows:
        print(f"\nscheduler (procs=1 / GOMAXPROCS=1; {runs})\n")
        print_md(cols, rows)
    rows = []
    for _, tc_op, go_op, label in foreign:
        t = results.get((tc_op, "tricolor"), (None,))[0]
        g = results.get((go_op, "go"), (None,))[0]
        if t is None and g is None:
            continue
        ratio = f"{t / g:.2f}" if t is not None and g else "-"
        rows.append([f"{label} ({tc_op or '-'} / {go_op})", fmt(t, "ns"),
                     fmt(g, "ns"), ratio])
    if rows:
        print(f"\nforeign threads: tc_thread_attach / cgo callbacks from C "
              f"threads (procs=1 / GOMAXPROCS=1; {runs})\n")
        print_md(["operation (tricolor op / Go op)", "tricolor ns", "Go ns",
                  "ratio tricolor/Go"], rows)
        p = results.get(("foreign_rtt", "pthread"), (None,))[0]
        if p is not None:
            print(f"pthread mutex/condvar ping-pong (two OS-thread hand-offs, "
                  f"no runtime): {p:.1f} ns per round trip")
    for what, why in go_skip.items():
        if why:
            print(f"skipped: {what} ({why})")
    for e in errors:
        print(f"failed: {e}")
    targets = [(op, text) for op, text in TARGETS.items() if op in sched_ops]
    if targets:
        print("\nreference (not asserted):")
        for op, text in targets:
            print(f"  {op:<10} {text}")

    doc = {
        "meta": {"date": datetime.datetime.now(datetime.timezone.utc)
                 .isoformat(timespec="seconds"),
                 "build_dir": str(build), "cmake": cache,
                 "args": {"runs": args.runs, "quick": args.quick,
                          "only": args.only, "no_go": args.no_go},
                 "cpus": os.cpu_count(), "loadavg_end": os.getloadavg()},
        "results": [{"op": op, "impl": impl, "value": v, "unit": u}
                    for (op, impl), (v, u) in sorted(results.items())],
        "errors": errors,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    log(f"raw results written to {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
