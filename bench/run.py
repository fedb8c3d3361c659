#!/usr/bin/env python3
"""bench/run.py -- run the benchmarks on every backend, print tables.

What it does, in order:
  1. finds bench_<bench>_<backend> in the CMake build dir (DIR/bench or DIR)
     for the C backends, and builds the Go peers into DIR/go with
     `go build` (GO111MODULE=off, GOFLAGS empty, offline) when go is
     installed; a backend without a binary is reported as skipped;
  2. expands the backends into variants: tricolor once per barrier mode
     (--modes; TRICOLOR_DEBUG=barrier=MODE, label tricolor-MODE), and for
     the benchmarks that take it (binarytrees, parked) once per mutator
     count (--mutators) for the backends that run mutators concurrently
     (tricolor, go; the malloc and Boehm builds stay single-threaded);
  3. runs every variant N times, interleaved: round r runs each variant
     once, starting at a different one each round, so machine noise (other
     load, thermal state) spreads over all of them;
  4. reads the RESULT line each run prints last (see bench/backend.h); for
     Go, whose RESULT line cannot split pauses, every pause comes from the
     GODEBUG=gctrace=1 lines this runner asks for (mark start = the first
     clock figure, mark termination = the third); for binary-trees it
     checks that every variant printed the same check lines;
  5. prints two tables per benchmark (medians over the runs): time and
     memory with the ratio to Boehm, and the pause distribution; then the
     reference targets (reported, never asserted); writes every raw run to
     a JSON file.

Progress goes to stderr, the tables to stdout.  Exit status 1 if any run
failed.  Standard library only.

Usage:
  bench/run.py --build DIR [--runs N] [--quick]
               [--bench gcbench,binarytrees,parked]
               [--backends tricolor,boehm,...] [--modes hybrid,...]
               [--mutators 1,2] [--procs P] [--depth D] [--json PATH]
"""

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import benchlib
from benchlib import print_md, find_program, nearest_rank, parse_result

HERE = Path(__file__).resolve().parent
C_BACKENDS = ["tricolor", "boehm", "glibc", "mimalloc", "jemalloc"]
ALL_BACKENDS = C_BACKENDS + ["go"]
BENCHES = ["gcbench", "binarytrees", "parked"]
MODES = ["hybrid", "insertion", "deletion", "stw"]
GO_SOURCES = {  # bench -> files given to go build (result.go is shared)
    "gcbench": ["gcbench.go", "result.go"],
    "binarytrees": ["binarytrees.go", "result.go"],
    "parked": ["parked.go", "result.go"],
}
BENCH_BACKENDS = {"parked": ["tricolor", "go"]}  # default: all
MUTATOR_BENCHES = {"binarytrees": "--mutators", "parked": "--churners"}
CONCURRENT_BACKENDS = {"tricolor", "go"}  # run several mutators at once
DEFAULT_DEPTH = 21  # binary-trees, as the Game's timed runs
QUICK_DEPTH = 16
PARKED_TREES = 40000
QUICK_PARKED_TREES = 4000
GCTRACE = re.compile(r"^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) "
                     r"ms clock")

# Reference targets from the issue (reported, never asserted).
PAUSE_TARGET_MAX_US = 100.0
PAUSE_TARGET_P99_US = 50.0
WALL_TARGET_VS_BOEHM = 0.75


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


def int_list(text):
    try:
        items = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        items = []
    if not items or any(k < 1 or k > 64 for k in items):
        raise argparse.ArgumentTypeError("a list of counts in 1..64")
    return items


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Run tricolor's benchmarks against the peer backends.")
    p.add_argument("--build", required=True, type=Path,
                   help="CMake build dir holding the bench binaries")
    p.add_argument("--runs", type=int, default=3,
                   help="runs per variant (default 3)")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke-test sizes (binary-trees depth {QUICK_DEPTH}, "
                        f"parked {QUICK_PARKED_TREES} trees)")
    p.add_argument("--bench", default=",".join(BENCHES),
                   type=lambda t: csv_list(t, BENCHES, "benchmark"),
                   help="comma-separated benchmarks (default: all)")
    p.add_argument("--backends", default=",".join(ALL_BACKENDS),
                   type=lambda t: csv_list(t, ALL_BACKENDS, "backend"),
                   help="comma-separated backends (default: all found)")
    p.add_argument("--modes", default=",".join(MODES),
                   type=lambda t: csv_list(t, MODES, "barrier mode"),
                   help="tricolor barrier modes, one variant each "
                        "(default: all four)")
    p.add_argument("--mutators", default="1,2", type=int_list,
                   help="mutator counts for binarytrees (coroutines or "
                        "goroutines sharing the trees) and parked "
                        "(churners); default 1,2")
    p.add_argument("--procs", type=int,
                   help="TRICOLOR_PROCS and GOMAXPROCS (default: tricolor 2, "
                        "Go all CPUs)")
    p.add_argument("--depth", type=int,
                   help=f"binary-trees depth (default {DEFAULT_DEPTH})")
    p.add_argument("--json", type=Path,
                   help="raw results file (default DIR/bench-results.json)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds before one run is killed (default 900)")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.procs is not None and args.procs < 1:
        p.error("--procs must be at least 1")
    if args.depth is None:
        args.depth = QUICK_DEPTH if args.quick else DEFAULT_DEPTH
    if args.json is None:
        args.json = args.build / "bench-results.json"
    return args


# ------------------------------------------------------------- discovery


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
    info = benchlib.machine_info()
    go = shutil.which("go")
    if go:
        v = subprocess.run([go, "version"], capture_output=True, text=True)
        info["go"] = v.stdout.strip()
    return info

# ------------------------------------------------------------- variants

def with_setting(var, key, value):
    """Returns the comma list in env var `var` with key=value set."""
    items = [x for x in os.environ.get(var, "").split(",")
             if x and not x.startswith(key + "=")]
    return ",".join(items + [f"{key}={value}"])


def make_variants(args, bench, backends, binaries):
    """Returns the variants of one benchmark, in table order."""
    out = []
    counts = args.mutators if bench in MUTATOR_BENCHES else [1]
    for backend in backends:
        if backend not in binaries:
            continue
        modes = args.modes if backend == "tricolor" else [None]
        for mode in modes:
            for k in counts:
                if k > 1 and backend not in CONCURRENT_BACKENDS:
                    continue
                label = f"tricolor-{mode}" if mode else backend
                argv = []
                if bench == "binarytrees":
                    argv = [str(args.depth)]
                elif bench == "parked":
                    argv = ["--trees", str(QUICK_PARKED_TREES if args.quick
                                           else PARKED_TREES)]
                if k > 1:
                    argv += [MUTATOR_BENCHES[bench], str(k)]
                env = {}
                if backend == "tricolor":
                    env["TRICOLOR_DEBUG"] = with_setting("TRICOLOR_DEBUG",
                                                         "barrier", mode)
                    if args.procs:
                        env["TRICOLOR_PROCS"] = str(args.procs)
                if backend == "go":
                    env["GODEBUG"] = with_setting("GODEBUG", "gctrace", 1)
                    if args.procs:
                        env["GOMAXPROCS"] = str(args.procs)
                out.append({"bench": bench, "backend": backend,
                            "label": label, "mode": mode, "mutators": k,
                            "binary": binaries[backend], "argv": argv,
                            "env": env})
    return out


# ------------------------------------------------------------- running



def gctrace_pauses(stderr):
    """Returns the pauses of Go's gctrace lines: [(kind, us)], kind 0 for
    sweep termination (Go's mark start) and 1 for mark termination."""
    out = []
    for line in stderr.splitlines():
        m = GCTRACE.match(line)
        if m:
            out.append((0, float(m.group(1)) * 1e3))
            out.append((1, float(m.group(3)) * 1e3))
    return out


def apply_gctrace(result, pauses):
    """Replaces Go's per-cycle pause figures with per-pause ones."""
    result["memstats_max_pause_us"] = result.get("max_pause_us")
    result["memstats_p99_pause_us"] = result.get("p99_pause_us")
    vals = sorted(us for _, us in pauses)
    starts = [us for k, us in pauses if k == 0]
    terms = [us for k, us in pauses if k == 1]
    result.update(pauses=len(vals), p50_pause_us=nearest_rank(vals, 0.5),
                  p99_pause_us=nearest_rank(vals, 0.99),
                  max_pause_us=vals[-1] if vals else None,
                  start_max_us=max(starts) if starts else None,
                  term_max_us=max(terms) if terms else None,
                  pause_source="gctrace")


def run_one(variant, timeout):
    """Runs one benchmark process; returns a raw record."""
    cmd = [str(variant["binary"])] + variant["argv"]
    env = dict(os.environ)
    env.update(variant["env"])
    rec = {"cmd": cmd, "env": variant["env"], "returncode": None,
           "result": None, "checks": [], "error": None}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout, env=env)
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
    elif variant["backend"] == "go":
        pauses = gctrace_pauses(proc.stderr)
        if pauses or rec["result"].get("cycles") == 0:
            apply_gctrace(rec["result"], pauses)
    return rec


def plan_runs(variants, runs):
    """Returns [(round, variant)], each round starting one variant later."""
    order = []
    for r in range(runs):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            order.append((r, v))
    return order


# ------------------------------------------------------------- summary

def key_of(v):
    return (v["label"], v["mutators"])


def median_of(recs, key):
    vals = [r["result"][key] for r in recs
            if r["result"] and isinstance(r["result"].get(key), (int, float))]
    return statistics.median(vals) if vals else None


def max_of(recs, key):
    vals = [r["result"][key] for r in recs
            if r["result"] and isinstance(r["result"].get(key), (int, float))]
    return max(vals) if vals else None


def summarise(records, bench, variants):
    """Returns [(variant, medians)] over the successful runs of `bench`."""
    out = []
    for v in variants:
        mine = [r for r in records
                if r["bench"] == bench and (r["label"], r["mutators"]) ==
                key_of(v)]
        if not mine:
            continue
        ok = [r for r in mine if not r["error"]]
        wall_ms = median_of(ok, "wall_ms")
        rss = median_of(ok, "rss_kib")
        s = {"label": v["label"], "mutators": v["mutators"],
             "runs_ok": len(ok), "runs": len(mine),
             "wall_s": wall_ms / 1e3 if wall_ms is not None else None,
             "rss_mib": rss / 1024 if rss is not None else None,
             "worst_max_pause_us": max_of(ok, "max_pause_us")}
        for k in ("cycles", "pauses", "p50_pause_us", "p99_pause_us",
                  "max_pause_us", "start_max_us", "term_max_us",
                  "gc_cpu_pct"):
            s[k] = median_of(ok, k)
        out.append(s)
    base = next((s["wall_s"] for s in out
                 if s["label"] == "boehm" and s["mutators"] == 1), None)
    for s in out:
        s["vs_boehm"] = (s["wall_s"] / base
                         if base and s["wall_s"] is not None else None)
    return out


def fmt(v, spec):
    if v is None:
        return "-"
    if spec == "count":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    if spec == "us":  # one decimal below 1 ms, whole microseconds above
        return f"{v:.1f}" if v < 1000 else f"{v:.0f}"
    return format(v, spec)


def print_tables(title, summary, skipped, failures):
    rows = []
    for s in summary:
        name = s["label"]
        if s["runs_ok"] < s["runs"]:
            name += f" ({s['runs_ok']}/{s['runs']} ok)"
        rows.append([name, str(s["mutators"]), fmt(s["wall_s"], ".3f"),
                     fmt(s["vs_boehm"], ".2f"), fmt(s["rss_mib"], ".1f"),
                     fmt(s["cycles"], "count"), fmt(s["gc_cpu_pct"], ".1f")])
    print(f"\n{title}\n")
    print_md(["backend", "mutators", "median wall s", "ratio to Boehm",
              "peak RSS MiB", "cycles", "GC CPU %"], rows)
    rows = []
    for s in summary:
        if s["pauses"] is None and s["max_pause_us"] is None:
            continue
        rows.append([s["label"], str(s["mutators"]), fmt(s["pauses"], "count"),
                     fmt(s["p50_pause_us"], "us"),
                     fmt(s["p99_pause_us"], "us"),
                     fmt(s["max_pause_us"], "us"),
                     fmt(s["worst_max_pause_us"], "us"),
                     fmt(s["start_max_us"], "us"),
                     fmt(s["term_max_us"], "us")])
    if rows:
        print("\npauses in us (medians over the runs; worst = the largest "
              "maximum of any run)\n")
        print_md(["backend", "mutators", "pauses", "p50", "p99", "max",
                  "worst max", "start max", "term max"], rows)
    for b, why in skipped.items():
        print(f"skipped: {b} ({why})")
    for f in failures:
        print(f"failed: {f}")


def find(summary, label, k):
    return next((s for s in summary
                 if s["label"] == label and s["mutators"] == k), None)


def print_targets(bench, summary, args):
    """The issue's targets for this benchmark, measured (not asserted)."""
    lines = []
    if bench in ("binarytrees", "parked"):
        for k in args.mutators:
            s = find(summary, "tricolor-hybrid", k)
            if not s or s["max_pause_us"] is None:
                continue
            ok = (s["max_pause_us"] <= PAUSE_TARGET_MAX_US and
                  s["p99_pause_us"] <= PAUSE_TARGET_P99_US)
            lines.append(
                f"hybrid, {k} mutator(s): max pause {fmt(s['max_pause_us'], 'us')}"
                f" us (target <= {PAUSE_TARGET_MAX_US:.0f}), p99 "
                f"{fmt(s['p99_pause_us'], 'us')} us (target <= "
                f"{PAUSE_TARGET_P99_US:.0f}): {'met' if ok else 'NOT met'}")
    if bench == "binarytrees":
        boehm = find(summary, "boehm", 1)
        for k in args.mutators:
            s = find(summary, "tricolor-hybrid", k)
            go = find(summary, "go", k)
            if not s or s["wall_s"] is None:
                continue
            parts = [f"hybrid, {k} mutator(s): wall {s['wall_s']:.2f} s"]
            ok = True
            if boehm and boehm["wall_s"]:
                r = s["wall_s"] / boehm["wall_s"]
                ok &= r <= WALL_TARGET_VS_BOEHM
                parts.append(f"{r:.2f}x Boehm (target <= "
                             f"{WALL_TARGET_VS_BOEHM})")
            if go and go["wall_s"]:
                ok &= s["wall_s"] < go["wall_s"]
                parts.append(f"Go {go['wall_s']:.2f} s (target: below)")
            lines.append(", ".join(parts) + (": met" if ok else ": NOT met"))
    if lines:
        procs = args.procs or "2 (tricolor default)"
        print(f"\ntargets ({bench}, procs {procs}; reported, not asserted):")
        for l in lines:
            print("  " + l)


# ------------------------------------------------------------- main

def main(argv):
    args = parse_args(argv)
    build = args.build.resolve()
    if not build.is_dir():
        log(f"run.py: no build dir {build}")
        return 2

    cache = read_cmake_cache(build)
    if "tricolor" in args.backends and find_program(
            build, f"bench_{args.bench[0]}_tricolor"):
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
        wanted = [b for b in args.backends
                  if b in BENCH_BACKENDS.get(bench, ALL_BACKENDS)]
        for backend in wanted:
            if backend == "go":
                continue
            path = find_program(build, f"bench_{bench}_{backend}")
            if path:
                binaries[bench][backend] = path
            else:
                skipped[bench][backend] = (f"bench_{bench}_{backend} not "
                                           f"built in {build}")
    if "go" in args.backends:
        go_benches = [b for b in args.bench
                      if "go" in BENCH_BACKENDS.get(b, ALL_BACKENDS)]
        go_paths, go_skipped = build_go(build, go_benches)
        for bench in go_benches:
            if bench in go_paths:
                binaries[bench]["go"] = go_paths[bench]
            else:
                skipped[bench]["go"] = go_skipped[bench]
    for bench in args.bench:
        for backend, why in skipped[bench].items():
            log(f"skipping {bench}/{backend}: {why}")

    # 2. variants
    variants = {}
    plan = []
    for bench in args.bench:
        order = [b for b in args.backends if b in binaries[bench]]
        variants[bench] = make_variants(args, bench, order, binaries[bench])
        plan += [(bench, r, v) for r, v in
                 plan_runs(variants[bench], args.runs)]
    if not plan:
        log("run.py: nothing to run")
        return 2

    # 3-4. runs
    records, reference = [], {}
    width = max(len(f"{v['label']} x{v['mutators']}") for _, _, v in plan)
    for i, (bench, r, v) in enumerate(plan, 1):
        name = f"{v['label']} x{v['mutators']}"
        log(f"[{i:>{len(str(len(plan)))}}/{len(plan)}] {bench:<11} "
            f"{name:<{width}} run {r + 1}/{args.runs} ... ", end="")
        rec = run_one(v, args.timeout)
        rec.update(bench=bench, backend=v["backend"], label=v["label"],
                   mode=v["mode"], mutators=v["mutators"], run=r + 1)
        if not rec["error"] and rec["checks"]:
            ref = reference.setdefault(bench, (name, rec["checks"]))
            if rec["checks"] != ref[1]:
                rec["error"] = f"check lines differ from {ref[0]}'s"
        records.append(rec)
        if rec["error"]:
            log(f"FAILED: {rec['error']}")
        else:
            res = rec["result"]
            mx = res.get("max_pause_us")
            log(f"{res['wall_ms'] / 1e3:.3f} s, "
                f"{res['rss_kib'] / 1024:.1f} MiB"
                + (f", max pause {fmt(mx, 'us')} us" if mx is not None
                   else ""))

    # 5. tables and JSON
    summaries = {}
    failed = False
    for bench in args.bench:
        summary = summarise(records, bench, variants[bench])
        summaries[bench] = summary
        failures = [f"{r['label']} x{r['mutators']} run {r['run']}: "
                    f"{r['error']}"
                    for r in records if r["bench"] == bench and r["error"]]
        failed |= bool(failures)
        if bench == "binarytrees":
            size = f"depth {args.depth}"
        elif bench == "parked":
            size = (f"10000 parked x 10 roots, "
                    f"{QUICK_PARKED_TREES if args.quick else PARKED_TREES} "
                    f"trees of depth 10 per run; mutators = churners")
        else:
            size = "stretch 18, long-lived 16, trees 4..16"
        print_tables(f"{bench} ({size}; median of {args.runs} runs)",
                     summary, skipped[bench], failures)
        print_targets(bench, summary, args)

    doc = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="seconds"),
            "build_dir": str(build),
            "cmake": cache,
            "machine": machine_info(),
            "args": {"runs": args.runs, "quick": args.quick,
                     "bench": args.bench, "backends": args.backends,
                     "modes": args.modes, "mutators": args.mutators,
                     "procs": args.procs, "depth": args.depth},
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith(("TRICOLOR_", "GOGC", "GOMAXPROCS",
                                     "GODEBUG", "GC_", "MIMALLOC_",
                                     "MALLOC_CONF", "BENCH_"))},
        },
        "skipped": skipped,
        "summary": summaries,
        "runs": [{k: (str(v) if isinstance(v, Path) else v)
                  for k, v in r.items()} for r in records],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    log(f"raw results written to {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
