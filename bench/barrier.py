#!/usr/bin/env python3
"""bench/barrier.py -- what tricolor's write barrier costs the mutator.

What it does, in order (bench_barrier.c has the workload and the method):
  1. for each store density (--work, xorshift steps per iteration; 0 is
     a pure store loop) and each barrier mode (--modes), runs
     `bench_barrier_tricolor time` --runs times; each run measures
     --rounds paired chunks and reports the median slowdowns of
       (a) tc_store against a plain store, no cycle marking, and
       (b) tc_store while a cycle marks against tc_store while none does;
     the table shows the median over the runs;
  2. counts instructions with callgrind (when valgrind is installed, unless
     --no-callgrind): one chunk of plain stores, one of tc_store without
     marking, one of tc_store while marking (per mode), each between
     CALLGRIND_TOGGLE_COLLECT requests; prints Ir per iteration and the
     extra instructions per store (the mutator's: with markthread=1, so
     that the markers' shading of what the barrier recorded, which is GC
     work, is not counted in the chunk);
  3. prints the targets (not marking <= 2%, marking <= 15%, for hybrid;
     reported, never asserted) and writes everything to a JSON file.

Progress goes to stderr, the tables to stdout.  Exit status 1 if a run
failed.  Standard library only.

Usage:
  bench/barrier.py --build DIR [--runs N] [--rounds R] [--iters N]
                   [--work 0,16] [--modes hybrid,...] [--quick]
                   [--no-callgrind] [--json PATH]
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import print_md, find_program, parse_result

MODES = ["hybrid", "insertion", "deletion", "stw"]
TARGET_NOMARK_PCT = 2.0
TARGET_MARK_PCT = 15.0
IR_ITERS = 200000


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", required=True, type=Path)
    p.add_argument("--runs", type=int, default=3,
                   help="processes per mode and density (default 3)")
    p.add_argument("--rounds", type=int, default=15,
                   help="paired rounds per process (default 15)")
    p.add_argument("--iters", type=int, default=4000000,
                   help="iterations per chunk (default 4000000)")
    p.add_argument("--work", default="0,16",
                   help="xorshift steps per iteration, a list (default 0,16)")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--procs", type=int, help="TRICOLOR_PROCS")
    p.add_argument("--quick", action="store_true",
                   help="1 run of 5 rounds of 1M iterations, work 0 only")
    p.add_argument("--no-callgrind", action="store_true")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    if any(m not in MODES for m in a.modes) or not a.modes:
        p.error(f"--modes: choose from {','.join(MODES)}")
    try:
        a.work = [int(x) for x in a.work.split(",") if x.strip()]
    except ValueError:
        p.error("--work: a list of integers")
    if a.quick:
        a.runs, a.rounds, a.iters, a.work = 1, 5, 1000000, [0]
    if a.json is None:
        a.json = a.build / "bench-barrier.json"
    return a



def mode_env(mode, procs):
    env = dict(os.environ)
    items = [x for x in env.get("TRICOLOR_DEBUG", "").split(",")
             if x and not x.startswith("barrier=")]
    env["TRICOLOR_DEBUG"] = ",".join(items + [f"barrier={mode}"])
    if procs:
        env["TRICOLOR_PROCS"] = str(procs)
    return env



def run_time(binary, mode, work, args):
    cmd = [str(binary), "time", "--rounds", str(args.rounds), "--iters",
           str(args.iters), "--work", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=mode_env(mode, args.procs), timeout=600)
    if proc.returncode != 0:
        return None, f"exit status {proc.returncode}: {proc.stderr.strip()}"
    res = parse_result(proc.stdout)
    if res is None:
        return None, "no RESULT line"
    return res, None


def count_ir(binary, variant, mode, work, tmp, procs):
    """Returns the Ir of one chunk of `variant`, or None."""
    out = Path(tmp) / f"cg.{variant}.{mode}.{work}"
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
           f"--callgrind-out-file={out}", str(binary), "ir", variant,
           "--iters", str(IR_ITERS), "--work", str(work)]
    env = mode_env(mode, procs)
    # The barrier's own cost: the markers shade what it records, and with
    # mark workers on the Ps the mutator's thread would also run its
    # fractional share of that marking inside the counted chunk.
    # markthread=1 leaves marking to the collector thread, which the
    # program holds back (gcmarkdelay) while the chunk runs.
    env["TRICOLOR_DEBUG"] += ",markthread=1"
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=env, timeout=600)
    if proc.returncode != 0 or "did not run while marking" in proc.stderr:
        log(f"callgrind {variant} {mode}: " + proc.stderr.strip()[-300:])
        return None
    try:
        with open(out) as f:
            for line in f:
                if line.startswith("totals:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main(argv):
    args = parse_args(argv)
    build = args.build.resolve()
    binary = find_program(build, "bench_barrier_tricolor")
    if binary is None:
        log(f"barrier.py: bench_barrier_tricolor not built in {build}")
        return 2
    errors, results, irs = [], [], {}

    # 1. paired timings
    for work in args.work:
        for mode in args.modes:
            for r in range(args.runs):
                log(f"time work={work} mode={mode} run {r + 1}/{args.runs}")
                res, err = run_time(binary, mode, work, args)
                if err:
                    errors.append(f"{mode} work={work} run {r + 1}: {err}")
                    continue
                results.append({"work": work, "mode": mode, "run": r + 1,
                                "result": res})

    # 2. instruction counts
    use_cg = not args.no_callgrind and shutil.which("valgrind")
    if use_cg:
        with tempfile.TemporaryDirectory() as tmp:
            for work in args.work:
                for variant, modes in (("plain", ["hybrid"]),
                                       ("tc", ["hybrid"]),
                                       ("mark", [m for m in args.modes
                                                 if m != "stw"])):
                    for mode in modes:
                        log(f"callgrind {variant} work={work} mode={mode}")
                        irs[(variant, mode, work)] = count_ir(
                            binary, variant, mode, work, tmp, args.procs)
    elif not args.no_callgrind:
        log("barrier.py: valgrind not found, no instruction counts")

    # 3. tables
    print(f"\nwrite barrier, paired runs (median over {args.runs} process(es) "
          f"of each one's median over {args.rounds} pairs; chunks of "
          f"{args.iters} iterations, 2 stores each)\n")
    rows = []
    for work in args.work:
        for mode in args.modes:
            mine = [x["result"] for x in results
                    if x["work"] == work and x["mode"] == mode]
            if not mine:
                continue
            rows.append([mode, str(work),
                         fmt(med([m.get("plain_ns") for m in mine]), ".3f"),
                         fmt(med([m.get("tc_ns") for m in mine]), ".3f"),
                         fmt(med([m.get("nomark_slowdown_pct")
                                  for m in mine]), "+.2f"),
                         fmt(med([m.get("mark_ns") for m in mine]), ".3f"),
                         fmt(med([m.get("mark_slowdown_pct")
                                  for m in mine]), "+.2f")])
    print_md(["mode", "work", "plain ns/store", "tc_store ns/store",
              "not marking %", "marking ns/store", "marking %"], rows)

    if irs:
        print(f"\ninstructions (callgrind, one chunk of {IR_ITERS} iterations;"
              f" per iteration = 2 stores)\n")
        rows = []
        for work in args.work:
            plain = irs.get(("plain", "hybrid", work))
            tc = irs.get(("tc", "hybrid", work))
            per = lambda v: None if v is None else v / IR_ITERS
            pct = (100.0 * (tc - plain) / plain
                   if plain and tc is not None else None)
            rows.append([f"not marking", str(work), fmt(per(plain), ".2f"),
                         fmt(per(tc), ".2f"),
                         fmt(None if pct is None else
                             (tc - plain) / IR_ITERS / 2, ".2f"),
                         fmt(pct, "+.1f")])
            for mode in args.modes:
                mk = irs.get(("mark", mode, work))
                if mode == "stw" or mk is None:
                    continue
                rows.append([f"marking, {mode}", str(work), fmt(per(tc), ".2f"),
                             fmt(per(mk), ".2f"),
                             fmt((mk - tc) / IR_ITERS / 2
                                 if tc is not None else None, ".2f"),
                             fmt(100.0 * (mk - tc) / tc if tc else None,
                                 "+.1f")])
        print_md(["case", "work", "Ir/iter base", "Ir/iter", "extra Ir/store",
                  "Ir %"], rows)
        print("(not marking: base = plain stores, vs tc_store; marking: "
              "base = tc_store not marking)")

    print("\ntargets (hybrid; reported, not asserted):")
    for work in args.work:
        mine = [x["result"] for x in results
                if x["work"] == work and x["mode"] == "hybrid"]
        if not mine:
            continue
        a = med([m.get("nomark_slowdown_pct") for m in mine])
        b = med([m.get("mark_slowdown_pct") for m in mine])
        print(f"  work={work}: not marking {fmt(a, '+.2f')}% (target <= "
              f"{TARGET_NOMARK_PCT:g}%): "
              f"{'met' if a is not None and a <= TARGET_NOMARK_PCT else 'NOT met'}"
              f"; marking {fmt(b, '+.2f')}% (target <= {TARGET_MARK_PCT:g}%):"
              f" {'met' if b is not None and b <= TARGET_MARK_PCT else 'NOT met'}")
    for e in errors:
        print(f"failed: {e}")

    doc = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="seconds"),
                    "build_dir": str(build), "cpus": os.cpu_count(),
                    "args": {"runs": args.runs, "rounds": args.rounds,
                             "iters": args.iters, "work": args.work,
                             "modes": args.modes, "procs": args.procs,
                             "ir_iters": IR_ITERS}},
           "runs": results,
           "callgrind": [{"variant": v, "mode": m, "work": w, "ir": ir}
                         for (v, m, w), ir in irs.items()],
           "errors": errors}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    log(f"raw results written to {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
