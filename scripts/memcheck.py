#!/usr/bin/env python3
"""memcheck.py -- runs ctest's tests under valgrind memcheck.

    python3 scripts/memcheck.py --build build/test [-L unit] [-LE install]
                                [-j 2] [--timeout 900]

Asks ctest which tests match the labels (ctest --show-only=json-v1), then
runs each test's command under valgrind with the test's working directory
and environment, a few at a time.  A test passes when it exits 0 with no
valgrind error; valgrind errors and definite or indirect leaks make
valgrind exit with status 97, so a failure says which of the two happened.
Each test's full log is kept in <build>/memcheck/<test>.log; the log of a
failing test is printed.

Forked children (death tests) run under valgrind too, silently
(--child-silent-after-fork=yes): a child that aborts on purpose leaves
memory behind, which is no leak of the parent.

Extra valgrind arguments, after the defaults (valgrind takes the last of a
repeated option): TRICOLOR_VALGRIND_ARGS="--track-origins=no".
Suppressions: valgrind.supp next to this script, when present (it holds
libunwind's memory probes, which the coroutine dump's unwinding and the
heap profile's stack walks make).
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

VALGRIND_ERROR_EXIT = 97
HERE = os.path.dirname(os.path.abspath(__file__))


def list_tests(build, include, exclude):
    cmd = ["ctest", "--show-only=json-v1"]
    if include:
        cmd += ["-L", include]
    if exclude:
        cmd += ["-LE", exclude]
    out = subprocess.run(cmd, cwd=build, check=True, capture_output=True,
                         text=True).stdout
    tests = []
    for t in json.loads(out).get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if props.get("DISABLED"):
            continue
        tests.append({
            "name": t["name"],
            "command": t.get("command") or [],
            "cwd": props.get("WORKING_DIRECTORY") or build,
            "env": props.get("ENVIRONMENT") or [],
        })
    return tests


def valgrind_command(log):
    args = [
        "valgrind", "--tool=memcheck", "--quiet",
        f"--error-exitcode={VALGRIND_ERROR_EXIT}",
        "--leak-check=full",
        "--show-leak-kinds=definite,indirect,possible",
        "--errors-for-leak-kinds=definite,indirect",
        "--child-silent-after-fork=yes",
        "--track-origins=yes",
        "--gen-suppressions=all",
        f"--log-file={log}",
    ]
    supp = os.path.join(HERE, "valgrind.supp")
    if os.path.exists(supp):
        args.append(f"--suppressions={supp}")
    args += shlex.split(os.environ.get("TRICOLOR_VALGRIND_ARGS", ""))
    return args


def run_one(test, logdir, timeout):
    log = os.path.join(logdir, test["name"] + ".log")
    out = os.path.join(logdir, test["name"] + ".out")
    if not test["command"]:
        return test, False, "no command (test not built?)", 0.0, log, out
    env = dict(os.environ)
    for kv in test["env"]:
        k, _, v = kv.partition("=")
        env[k] = v
    cmd = valgrind_command(log) + test["command"]
    start = time.monotonic()
    try:
        with open(out, "w") as f:
            f.write("$ " + shlex.join(cmd) + "\n")
            f.flush()
            rc = subprocess.run(cmd, cwd=test["cwd"], env=env, stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return test, False, f"timed out after {timeout} s", \
            time.monotonic() - start, log, out
    secs = time.monotonic() - start
    if rc == 0:
        return test, True, "", secs, log, out
    if rc == VALGRIND_ERROR_EXIT:
        why = "valgrind found errors or leaks"
    elif rc < 0:
        why = f"killed by signal {-rc}"
    else:
        why = f"test failed with exit status {rc}"
    if rc != VALGRIND_ERROR_EXIT and os.path.exists(log) \
            and os.path.getsize(log) > 0:
        why += "; valgrind reported errors too"
    return test, False, why, secs, log, out


def tail(path, lines):
    try:
        with open(path, errors="replace") as f:
            content = f.read().splitlines()
    except OSError:
        return "(no file)"
    if len(content) > lines:
        content = [f"... ({len(content) - lines} lines cut, see {path})"] + \
            content[-lines:]
    return "\n".join(content)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="configured build tree")
    ap.add_argument("-L", dest="include", default="unit",
                    help="ctest label regex to include (default: unit)")
    ap.add_argument("-LE", dest="exclude", default="install",
                    help="ctest label regex to exclude (default: install)")
    ap.add_argument("-j", dest="jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds per test under valgrind (default 900)")
    a = ap.parse_args()

    if shutil.which("valgrind") is None:
        sys.exit("memcheck: valgrind not installed (scripts/deps.sh)")
    build = os.path.abspath(a.build)
    tests = list_tests(build, a.include, a.exclude)
    if not tests:
        sys.exit(f"memcheck: no test matches -L '{a.include}' -LE "
                 f"'{a.exclude}' in {build}")
    logdir = os.path.join(build, "memcheck")
    os.makedirs(logdir, exist_ok=True)

    print(f"memcheck: {len(tests)} test(s) under valgrind, {a.jobs} at a "
          f"time; logs in {logdir}", flush=True)
    failed = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futs = [pool.submit(run_one, t, logdir, a.timeout) for t in tests]
        for fut in concurrent.futures.as_completed(futs):
            test, ok, why, secs, log, out = fut.result()
            mark = "ok  " if ok else "FAIL"
            print(f"  [{mark}] {test['name']:<40} {secs:7.1f} s"
                  + ("" if ok else f"  {why}"), flush=True)
            if not ok:
                failed.append((test, why, log, out))
    for test, why, log, out in failed:
        print(f"\n---- {test['name']}: {why}\n---- output ({out}):\n"
              f"{tail(out, 60)}\n---- valgrind ({log}):\n{tail(log, 200)}")
    total = time.monotonic() - start
    clean = len(tests) - len(failed)
    print(f"memcheck: {clean} of {len(tests)} test(s) clean in {total:.0f} s",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
