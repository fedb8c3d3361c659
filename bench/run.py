#!/usr/bin/env python3
"""bench/run.py -- run the benchmarks on every backend, print one table each.

What it does, in order:
  1. finds bench_<bench>_<backend> in the CMake build dir (DIR/bench or DIR)
     for the C backends, and builds the Go peers into DIR/go with
     `go build` (GO111MODULE=off, GOFLAGS empty, offline) when go is
     installed; a backend without a binary is reported as skipped;
  2. runs every backend N times, interleaved: round r runs each backend
     once, starting at a different backend each round, so machine noise
     (other load, thermal state) spreads over all backends instead of
     hitting one of them;
  3. reads the RESULT line each run prints last (see bench/backend.h) and,
     for binary-trees, checks that every backend printed the same check
     lines;
  4. prints one table per benchmark (medians over the runs) and writes every
     raw run to a JSON file.

Progress goes to stderr, the tables to stdout.  Exit status 1 if any run
failed.  Standard library only.

Usage:
  bench/run.py --build DIR [--runs N] [--quick] [--bench gcbench,binarytrees]
               [--backends tricolor,boehm,...] [--depth D] [--json PATH]
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
C_BACKENDS = ["tricolor", "boehm", "glibc", "mimalloc", "jemalloc"]
ALL_BACKENDS = C_BACKENDS + ["go"]
BENCHES = ["gcbench", "binarytrees"]
GO_SOURCES = {  # bench -> files given to go build (result.go is shared)
    "gcbench": ["gcbench.go", "result.go"],
    "binarytrees": ["binarytrees.go", "result.go"],
}
DEFAULT_DEPTH = 21  # binary-trees, as the Game's timed runs
QUICK_DEPTH = 16
INT_FIELDS = {"rss_kib", "cycles"}
FLOAT_FIELDS = {"wall_ms", "max_pause_us", "p99_pause_us"}


def log(msg, end="\n"):
    print(msg, file=sys.stderr, end=end, flush=True)


def csv_list(text, allowed, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(bad) or '(none)'}; "
            f"choose from {','.join(allowed)}")
    return items


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Run tricolor's benchmarks against the peer backends.")
    p.add_argument("--build", required=True, type=Path,
                   help="CMake build dir holding the bench binaries")
    p.add_argument("--runs", type=int, default=5,
                   help="runs per backend (default 5)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke-test sizes (binary-trees depth {QUICK_DEPTH})")
    p.add_argument("--bench", default=",".join(BENCHES),
                   type=lambda t: csv_list(t, BENCHES, "benchmark"),
                   help="comma-separated benchmarks (default: all)")
    p.add_argument("--backends", default=",".join(ALL_BACKENDS),
                   type=lambda t: csv_list(t, ALL_BACKENDS, "backend"),
                   help="comma-separated backends (default: all found)")
    p.add_argument("--depth", type=int,
                   help=f"binary-trees depth (default {DEFAULT_DEPTH})")
    p.add_argument("--json", type=Path,
                   help="raw results file (default DIR/bench-results.json)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds before one run is killed (default 900)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.depth is None:
        args.depth = QUICK_DEPTH if args.quick else DEFAULT_DEPTH
    if args.json is None:
        args.json = args.build / "bench-results.json"
    return args


# ------------------------------------------------------------- discovery

def find_c_binary(build, bench, backend):
    """Returns the path of bench_<bench>_<backend>, or None."""
    name = f"bench_{bench}_{backend}"
    for d in (build / "bench", build):
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


def build_go(build, benches):
    """Builds the Go peers; returns ({bench: path}, {bench: skip reason})."""
    go = shutil.which("go")
    if go is None:
        return {}, {b: "go not installed" for b in benches}
    out = build / "go"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(GO111MODULE="off", GOFLAGS="", GOPROXY="off",
               GOCACHE=str(out / "gocache"), GOPATH=str(out / "gopath"),
               CGO_ENABLED="0")
    paths, skipped = {}, {}
    for bench in benches:
        target = out / f"bench_{bench}_go"
        cmd = [go, "build", "-o", str(target)] + GO_SOURCES[bench]
        log(f"building {target.name} with go build")
        proc = subprocess.run(cmd, cwd=HERE / "go", env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            log(proc.stderr.rstrip())
            skipped[bench] = "go build failed (see stderr)"
        else:
            paths[bench] = target
    return paths, skipped


def read_cmake_cache(build):
    """Returns the few cache entries that change what a figure means."""
    keep = {"CMAKE_BUILD_TYPE", "TRICOLOR_DEBUG", "TRICOLOR_SANITIZE",
            "CMAKE_C_COMPILER"}
    found = {}
    try:
        with open(build / "CMakeCache.txt") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                name = key.split(":")[0]
                if sep and name in keep:
                    found[name] = value
    except OSError:
        pass
    return found


def machine_info():
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
    go = shutil.which("go")
    if go:
        v = subprocess.run([go, "version"], capture_output=True, text=True)
        info["go"] = v.stdout.strip()
    return info


# ------------------------------------------------------------- running

def parse_result(stdout):
    """Returns the fields of the last RESULT line as a dict, or None."""
    lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return None
    fields = {}
    for item in lines[-1].split()[1:]:
        key, _, value = item.partition("=")
        if value == "-":
            fields[key] = None
        elif key in INT_FIELDS:
            fields[key] = int(value)
        elif key in FLOAT_FIELDS:
            fields[key] = float(value)
        else:
            fields[key] = value
    return fields


def run_one(binary, argv, timeout):
    """Runs one benchmark process; returns a raw record."""
    cmd = [str(binary)] + argv
    rec = {"cmd": cmd, "returncode": None, "result": None, "checks": [],
           "error": None}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        rec["error"] = f"timed out after {timeout:g} s"
        rec["elapsed_s"] = time.monotonic() - t0
        return rec
    rec["elapsed_s"] = time.monotonic() - t0
    rec["returncode"] = proc.returncode
    rec["checks"] = [l for l in proc.stdout.splitlines() if "check:" in l]
    rec["result"] = parse_result(proc.stdout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        rec["error"] = f"exit status {proc.returncode}: " + " | ".join(tail)
    elif rec["result"] is None:
        rec["error"] = "no RESULT line on stdout"
    return rec


def plan_runs(backends, runs):
    """Returns [(round, backend)], each round starting one backend later."""
    order = []
    for r in range(runs):
        k = r % len(backends)
        for b in backends[k:] + backends[:k]:
            order.append((r, b))
    return order


# ------------------------------------------------------------- summary

def median_of(recs, key):
    vals = [r["result"][key] for r in recs
            if r["result"] and r["result"].get(key) is not None]
    return statistics.median(vals) if vals else None


def summarise(records, bench, backends):
    """Returns {backend: medians} over the successful runs of `bench`."""
    out = {}
    for b in backends:
        ok = [r for r in records
              if r["bench"] == bench and r["backend"] == b and not r["error"]]
        tried = sum(1 for r in records
                    if r["bench"] == bench and r["backend"] == b)
        if tried == 0:
            continue
        wall_ms = median_of(ok, "wall_ms")
        rss = median_of(ok, "rss_kib")
        maxp = median_of(ok, "max_pause_us")
        p99 = median_of(ok, "p99_pause_us")
        out[b] = {
            "runs_ok": len(ok), "runs": tried,
            "wall_s": wall_ms / 1e3 if wall_ms is not None else None,
            "rss_mib": rss / 1024 if rss is not None else None,
            "cycles": median_of(ok, "cycles"),
            "max_pause_ms": maxp / 1e3 if maxp is not None else None,
            "p99_pause_ms": p99 / 1e3 if p99 is not None else None,
        }
    base = out.get("boehm", {}).get("wall_s")
    for s in out.values():
        s["vs_boehm"] = (s["wall_s"] / base
                         if base and s["wall_s"] is not None else None)
    return out


def fmt(v, spec):
    if v is None:
        return "-"
    if spec == "count":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    return format(v, spec)


def print_table(title, summary, skipped, failures):
    cols = [("backend", None), ("median wall s", ".3f"),
            ("ratio to Boehm", ".2f"), ("peak RSS MiB", ".1f"),
            ("cycles", "count"), ("max pause ms", ".3f"),
            ("p99 pause ms", ".3f")]
    keys = [None, "wall_s", "vs_boehm", "rss_mib", "cycles",
            "max_pause_ms", "p99_pause_ms"]
    rows = []
    for b, s in summary.items():
        row = [b] + [fmt(s[k], spec) for (_, spec), k in
                     zip(cols[1:], keys[1:])]
        if s["runs_ok"] < s["runs"]:
            row[0] += f" ({s['runs_ok']}/{s['runs']} ok)"
        rows.append(row)
    widths = [max([len(c[0])] + [len(r[i]) for r in rows])
              for i, c in enumerate(cols)]
    print(f"\n{title}\n")
    print("| " + " | ".join(c[0].ljust(w) for c, w in zip(cols, widths))
          + " |")
    print("|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|")
    for r in rows:
        print("| " + " | ".join(r[0].ljust(widths[0]) if i == 0 else
                                v.rjust(widths[i]) for i, v in enumerate(r))
              + " |")
    for b, why in skipped.items():
        print(f"skipped: {b} ({why})")
    for f in failures:
        print(f"failed: {f}")


# ------------------------------------------------------------- main

def main(argv):
    args = parse_args(argv)
    build = args.build.resolve()
    if not build.is_dir():
        log(f"run.py: no build dir {build}")
        return 2

    cache = read_cmake_cache(build)
    if "tricolor" in args.backends and find_c_binary(
            build, args.bench[0], "tricolor"):
        if cache.get("TRICOLOR_DEBUG", "0") != "0":
            log(f"warning: tricolor built with TRICOLOR_DEBUG="
                f"{cache['TRICOLOR_DEBUG']}: its figures include debug "
                f"checks (configure with -DTRICOLOR_DEBUG=0)")
        if cache.get("TRICOLOR_SANITIZE"):
            log("warning: built with sanitizers: figures are not meaningful")

    # 1. binaries
    binaries = {b: {} for b in args.bench}  # bench -> backend -> path
    skipped = {b: {} for b in args.bench}   # bench -> backend -> reason
    for bench in args.bench:
        for backend in args.backends:
            if backend == "go":
                continue
            path = find_c_binary(build, bench, backend)
            if path:
                binaries[bench][backend] = path
            else:
                skipped[bench][backend] = (f"bench_{bench}_{backend} not "
                                           f"built in {build}")
    if "go" in args.backends:
        go_paths, go_skipped = build_go(build, args.bench)
        for bench in args.bench:
            if bench in go_paths:
                binaries[bench]["go"] = go_paths[bench]
            else:
                skipped[bench]["go"] = go_skipped[bench]
    for bench in args.bench:
        for backend, why in skipped[bench].items():
            log(f"skipping {bench}/{backend}: {why}")

    bench_argv = {"gcbench": [], "binarytrees": [str(args.depth)]}
    plan = []
    for bench in args.bench:
        found = [b for b in args.backends if b in binaries[bench]]
        plan += [(bench, r, b) for r, b in plan_runs(found, args.runs)]
    if not plan:
        log("run.py: nothing to run")
        return 2

    # 2-3. runs
    records, reference = [], {}
    for i, (bench, r, backend) in enumerate(plan, 1):
        log(f"[{i:>{len(str(len(plan)))}}/{len(plan)}] {bench:<11} "
            f"{backend:<9} run {r + 1}/{args.runs} ... ", end="")
        rec = run_one(binaries[bench][backend], bench_argv[bench],
                      args.timeout)
        rec.update(bench=bench, backend=backend, run=r + 1)
        if not rec["error"] and rec["checks"]:
            ref = reference.setdefault(bench, (backend, rec["checks"]))
            if rec["checks"] != ref[1]:
                rec["error"] = f"check lines differ from {ref[0]}'s"
        records.append(rec)
        if rec["error"]:
            log(f"FAILED: {rec['error']}")
        else:
            res = rec["result"]
            log(f"{res['wall_ms'] / 1e3:.3f} s, "
                f"{res['rss_kib'] / 1024:.1f} MiB")

    # 4. tables and JSON
    summaries = {}
    failed = False
    for bench in args.bench:
        summary = summarise(records, bench, args.backends)
        summaries[bench] = summary
        failures = [f"{r['backend']} run {r['run']}: {r['error']}"
                    for r in records if r["bench"] == bench and r["error"]]
        failed |= bool(failures)
        size = (f"depth {args.depth}" if bench == "binarytrees"
                else "stretch 18, long-lived 16, trees 4..16")
        print_table(f"{bench} ({size}; median of {args.runs} runs)",
                    summary, skipped[bench], failures)

    doc = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="seconds"),
            "build_dir": str(build),
            "cmake": cache,
            "machine": machine_info(),
            "args": {"runs": args.runs, "quick": args.quick,
                     "bench": args.bench, "backends": args.backends,
                     "depth": args.depth},
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith(("TRICOLOR_", "GOGC", "GOMAXPROCS",
                                     "GODEBUG", "GC_", "MIMALLOC_",
                                     "MALLOC_CONF"))},
        },
        "skipped": skipped,
        "summary": summaries,
        "runs": records,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    log(f"raw results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
