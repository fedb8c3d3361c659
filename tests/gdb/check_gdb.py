#!/usr/bin/env python3
"""check_gdb.py -- runs gdb on tests/gdb/gdb_target.c's program and checks
what the tricolor gdb extension (scripts/tricolor-gdb.py) prints.

    check_gdb.py [--gdb GDB] --script scripts/tricolor-gdb.py PROGRAM

Two runs, each stopping at gdb_target_ready() with coroutines 2-5 parked:
  auto-load  the extension comes from the library's .debug_gdb_scripts
             section (gdb -iex "set auto-load safe-path /"), nothing sourced;
  source     auto-loading of Python scripts off, the file sourced by hand.
Each run checks:
  - info coroutines: every coroutine once, with its status, wait reason,
    entry function and creation site (target_main at gdb_target.c:LINE;
    main: tc_run), "*" on main (it runs on the selected thread);
  - coroutine 2 bt / coroutine 4 bt: the parked coroutine's stack, from
    tc__park through the function it parked in (parked_on_recv,
    parked_in_select) to g_main; coroutine 1 bt: main runs on a thread,
    so its bt is that thread's (gdb_target_ready, target_main);
  - coroutine 3 bt with frame 1 selected: the same (registers are written
    in frame 0 only), and frame 1 is selected again afterwards;
  - coroutine all bt: every coroutine, parked_in_sleep and
    parked_on_mutex included;
  - the selected thread's registers are back afterwards: bt still starts
    in gdb_target_ready;
  - tricolor stats: heap, at least one cycle, pauses, 5 coroutines;
  - tricolor spans: a row per size class in use, large and free spans;
  - no Python error, and the program then exits normally.
Exit status 0 on success, 1 on a failed check, 77 (ctest's skip) when gdb
is not installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

COMMANDS = r"""
set pagination off
set confirm off
set width 0
set print thread-events off
break gdb_target_ready
run
echo ==info-coroutines==\n
info coroutines
echo ==bt2==\n
coroutine 2 bt
echo ==bt4==\n
coroutine 4 bt
echo ==bt1==\n
coroutine 1 bt
up
echo ==up==\n
coroutine 3 bt
echo ==selected==\n
frame
down
echo ==bt-all==\n
coroutine all bt
echo ==after==\n
bt
echo ==stats==\n
tricolor stats
echo ==spans==\n
tricolor spans
echo ==end==\n
continue
"""

# id, status, wait reason, entry function, creator
COROUTINES = [
    (1, "running", "-", "target_main", r"tc_run \(the main coroutine\)"),
    (2, "waiting", "chan receive", "parked_on_recv", "SITE"),
    (3, "waiting", "sleep", "parked_in_sleep", "SITE"),
    (4, "waiting", "select", "parked_in_select", "SITE"),
    (5, "waiting", "sync.Mutex.Lock", "parked_on_mutex", "SITE"),
]


class Failed(Exception):
    pass


def sections(out):
    parts = {}
    marks = list(re.finditer(r"^==([a-z0-9-]+)==$", out, re.M))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(out)
        parts[m.group(1)] = out[m.end():end]
    return parts


def need(cond, what, text):
    if not cond:
        raise Failed("%s\n----8<----\n%s----8<----" % (what, text))


def frames(bt):
    """Function names of a gdb backtrace, innermost first."""
    names = []
    for line in bt.splitlines():
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?([\w.]+)", line)
        if m:
            names.append(m.group(1))
    return names


def check_bt(bt, want, what):
    # tc__park, or the helpers inlined into it (switch_to, to_g0), first
    names = frames(bt)
    need("tc__park" in names[:4],
         "%s: the backtrace does not start at tc__park" % what, bt)
    for fn in want:
        need(fn in names and names.index(fn) > names.index("tc__park"),
             "%s: no frame %s below tc__park" % (what, fn), bt)
    need("g_main" in names, "%s: the backtrace does not reach g_main" % what,
         bt)


def check(out):
    need("Python Exception" not in out and
         "Error occurred in Python" not in out, "a Python error", out)
    parts = sections(out)
    for name in ("info-coroutines", "bt2", "bt4", "bt1", "up", "selected",
                 "bt-all", "after",
                 "stats", "spans", "end"):
        need(name in parts, "no output section %s (gdb stopped early?)" %
             name, out)

    info = parts["info-coroutines"]
    need(re.search(r"^\s*Id\s+Status\s+Wait reason\s+Entry\s+Created by",
                   info, re.M), "info coroutines: no header", info)
    for goid, status, why, entry, site in COROUTINES:
        if site == "SITE":
            site = r"target_main at \S*gdb_target\.c:\d+"
        mark = r"\*" if goid == 1 else " "
        pat = (r"^%s\s+%d\s+%s\s+%s\s+%s\s+%s\s*$"
               % (mark, goid, status, re.escape(why), entry, site))
        hits = re.findall(pat, info, re.M)
        need(len(hits) == 1, "info coroutines: coroutine %d not listed "
             "once as %s" % (goid, pat), info)
    rows = [l for l in info.splitlines() if re.match(r"[ *]\s*\d+\s", l)]
    need(len(rows) == len(COROUTINES),
         "info coroutines: %d rows, %d expected" % (len(rows),
                                                   len(COROUTINES)), info)

    check_bt(parts["bt2"], ["tc_chan_recv", "parked_on_recv"], "coroutine 2")
    check_bt(parts["bt4"], ["tc_select", "parked_in_select"], "coroutine 4")
    bt1 = parts["bt1"]
    need(re.search(r"coroutine 1 is running on thread \d+:", bt1),
         "coroutine 1: not shown as running on a thread", bt1)
    need(frames(bt1)[:2] == ["gdb_target_ready", "target_main"],
         "coroutine 1: not its thread's stack", bt1)
    # from a caller's frame: the coroutine's stack all the same, and that
    # frame selected again afterwards
    check_bt(parts["up"], ["parked_in_sleep"], "coroutine 3 (from frame 1)")
    need(re.match(r"\s*#1\s+0x[0-9a-f]+ in target_main", parts["selected"]),
         "the frame selected before coroutine N bt is not selected again",
         parts["selected"])
    every = parts["bt-all"]
    for goid, _, why, entry, _ in COROUTINES:
        need("\ncoroutine %d [" % goid in every,
             "coroutine all bt: no coroutine %d" % goid, every)
        need(entry in frames(every) or goid == 1,
             "coroutine all bt: no frame %s" % entry, every)
    need(frames(parts["after"])[:2] == ["gdb_target_ready", "target_main"],
         "the selected thread's registers were not restored", parts["after"])

    stats = parts["stats"]
    need(re.search(r"^heap: live \d", stats, re.M), "stats: no heap line",
         stats)
    m = re.search(r"^collector: cycles (\d+)", stats, re.M)
    need(m and int(m.group(1)) >= 1, "stats: no finished cycle", stats)
    m = re.search(r"^pauses: (\d+), total", stats, re.M)
    need(m and int(m.group(1)) >= 1, "stats: no pauses", stats)
    need(re.search(r"^scheduler: 5 coroutines, 2 P", stats, re.M),
         "stats: not 5 coroutines on 2 P", stats)

    spans = parts["spans"]
    need(re.search(r"^class\s+size\s+spans\s+pages\s+objects\s+in use\s+"
                   r"free\s+bytes in use", spans, re.M),
         "spans: no header", spans)
    classes = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)"
                         r"\s+(\d+)\s", spans, re.M)
    need(len(classes) >= 3, "spans: fewer than 3 size classes in use", spans)
    for c in classes:
        size, n, objs, used, free = (int(c[1]), int(c[2]), int(c[4]),
                                     int(c[5]), int(c[6]))
        need(n >= 1 and used + free == objs and used <= objs,
             "spans: a row does not add up", spans)
    need(re.search(r"^large: \d+ spans", spans, re.M), "spans: no large line",
         spans)
    need(re.search(r"^free: \d+ spans", spans, re.M), "spans: no free line",
         spans)
    need(re.search(r"gdb_target: done", out) and
         re.search(r"exited normally", out),
         "the program did not finish normally after gdb let it go", out)


def run_gdb(gdb, program, script, mode):
    with tempfile.NamedTemporaryFile("w", suffix=".gdb", delete=False) as f:
        f.write(COMMANDS)
        cmds = f.name
    try:
        argv = [gdb, "-nx", "-batch"]
        if mode == "auto-load":
            argv += ["-iex", "set auto-load safe-path /"]
        else:
            argv += ["-iex", "set auto-load python-scripts off",
                     "-ex", "source " + script]
        argv += ["-x", cmds, "--args", program]
        env = dict(os.environ)
        # LeakSanitizer cannot run under ptrace (ASan builds)
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        print("+ " + " ".join(argv), flush=True)
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, timeout=240,
                           universal_newlines=True)
        return p.stdout
    finally:
        os.unlink(cmds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gdb", default="gdb")
    ap.add_argument("--script", required=True)
    ap.add_argument("program")
    args = ap.parse_args()
    gdb = args.gdb
    if not (os.path.isfile(gdb) and os.access(gdb, os.X_OK)):
        gdb = shutil.which("gdb")
    if gdb is None:
        print("check_gdb: gdb is not installed: skipped "
              "(scripts/deps.sh installs it)")
        return 77
    status = 0
    for mode in ("auto-load", "source"):
        out = run_gdb(gdb, args.program, args.script, mode)
        try:
            check(out)
            print("check_gdb: %s: ok" % mode)
        except Failed as e:
            print("check_gdb: %s: %s" % (mode, e))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
