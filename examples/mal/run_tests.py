#!/usr/bin/env python3
"""Feeds MAL test files to the mal REPL and counts passes and failures.

The test format is that of the public Make-a-Lisp project (kanaka/mal,
impls/tests/, described in ../shared/mal/README.md):

  a line of mal code       sent to the REPL as one input line
  ;=>VALUE                 the printed result expected for that input
  ;/REGEX                  a line of output that must match, before the result
  ;; text, ;;; text        comments
  ;>>> deferrable=True     the tests after it are deferrable
  ;>>> optional=True       ... optional
  ;>>> soft=True           ... soft: a failure is reported, not counted

Each suite (a test file) runs in a fresh interpreter, driven line by line
over pipes: the runner waits for the prompt "user> " before sending the
next line.  A suite's working directory is a scratch folder whose sibling
`tests/` links to the folder of the test file, so the upstream tests'
paths (../tests/inc.mal) resolve.

Matching.  With a ;=> line, the whole output of the input (printed lines
and the result) must equal the ;/ regexes followed by the result, exactly
(re.fullmatch, DOTALL).  With ;/ lines only, the joined regexes must match
somewhere in the output (re.search, DOTALL), as the upstream runner does.
With neither, the result is ignored (but the interpreter must survive).
At the end of a file the interpreter must exit with status 0 (a crash at
exit or a sanitizer's leak report fails the suite).
This is stricter than upstream's runner, which only searches for the
expected text and so accepts trailing garbage after a result.

Counting.  A test is required, deferrable or optional (optional or soft
section).  Failures of required and deferrable tests fail the run;
optional failures are reported as soft failures.

Suites: step0 .. step9 (the upstream files; step0 and step1 run the
interpreter with --step 0/1, which echo or read-print without evaluating)
and the .mal files of --extra (this example's own tests).

Exit status: 0 all non-optional tests passed, 1 some failed, 77 the MAL
test files were not found (ctest reports the test as skipped).
"""

import argparse
import glob
import os
import re
import select
import subprocess
import sys
import tempfile
import time

PROMPT = "user> "
SKIP = 77


class Interp:
    """One interpreter process spoken to through pipes."""

    def __init__(self, argv, cwd, env, timeout):
        self.timeout = timeout
        self.p = subprocess.Popen(argv, cwd=cwd, env=env,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b""

    def read_to_prompt(self):
        """Returns the output up to the next prompt, or raises."""
        deadline = time.monotonic() + self.timeout
        fd = self.p.stdout.fileno()
        while True:
            i = self.buf.find(PROMPT.encode())
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(PROMPT):]
                return out.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("timeout after %gs, output so far: %r"
                                   % (self.timeout, self.buf[-400:]))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.p.wait()
                raise RuntimeError("interpreter exited with status %s, "
                                   "output: %r"
                                   % (self.p.returncode, self.buf[-800:]))
            self.buf += chunk

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def close(self):
        """Ends the input; returns (exit status, output after the last
        prompt)."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + self.timeout
        fd = self.p.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            r = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
            if not r:
                self.p.kill()
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        self.p.stdout.close()
        self.p.wait()
        return self.p.returncode, self.buf.decode("utf-8", "replace")


class Test:
    def __init__(self, form, out, ret, line, kind):
        self.form, self.out, self.ret = form, out, ret
        self.line, self.kind = line, kind


def parse(path):
    """Returns the tests of a file, read by the upstream runner's rules."""
    lines = open(path, newline="").read().split("\n")
    flags = {"soft": False, "deferrable": False, "optional": False}
    tests = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if re.match(r"^\s*$", line) or line.startswith(";;"):
            continue
        if line.startswith(";>>> "):
            for item in line[5:].split(","):
                k, _, v = item.partition("=")
                flags[k.strip()] = v.strip() == "True"
            continue
        if line.startswith(";"):
            raise SystemExit("%s:%d: unexpected line %r" % (path, i, line))
        form, out, ret, form_line = line, [], None, i
        while i < len(lines):
            nxt = lines[i]
            if nxt.startswith(";=>"):
                ret = nxt[3:]
                i += 1
                break
            if nxt.startswith(";/"):
                out.append(nxt[2:])
                i += 1
                continue
            break
        if flags["optional"] or flags["soft"]:
            kind = "optional"
        elif flags["deferrable"]:
            kind = "deferrable"
        else:
            kind = "required"
        tests.append(Test(form, out, ret, form_line, kind))
    return tests


def check(t, output):
    """Tells whether the output of t's input (prompt excluded) is right."""
    if output.endswith("\n"):
        output = output[:-1]
    if t.ret is None and not t.out:
        return True
    if t.ret is not None:
        pattern = "".join(o + "\n" for o in t.out) + re.escape(t.ret)
        return re.fullmatch(pattern, output, re.S) is not None
    return re.search("\n".join(t.out), output, re.S) is not None


def run_suite(name, path, argv, env, timeout, verbose, log):
    tests = parse(path)
    counts = {k: [0, 0] for k in ("required", "deferrable", "optional")}
    failures = []
    scratch = tempfile.mkdtemp(prefix="mal-tests-")
    os.symlink(os.path.dirname(os.path.abspath(path)),
               os.path.join(scratch, "tests"))
    cwd = os.path.join(scratch, "run")
    os.mkdir(cwd)
    start = time.monotonic()
    interp = None
    try:
        for t in tests:
            if interp is None:
                interp = Interp(argv, cwd, env, timeout)
                try:
                    interp.read_to_prompt()
                except RuntimeError as e:
                    failures.append((t, "interpreter did not start: %s" % e))
                    counts[t.kind][1] += 1
                    interp = None
                    continue
            ok, got = False, None
            try:
                interp.send(t.form)
                got = interp.read_to_prompt()
                ok = check(t, got)
            except (RuntimeError, BrokenPipeError) as e:
                got = "<%s>" % e
                interp.close()
                interp = None  # restarted for the next test (state is lost)
            counts[t.kind][0 if ok else 1] += 1
            if not ok:
                failures.append((t, got))
            if verbose:
                log("%s:%d %s %r -> %r" % (name, t.line,
                                           "ok" if ok else "FAIL",
                                           t.form, got))
        if interp:
            # The interpreter must end cleanly at end of input: a crash at
            # exit or a sanitizer report (leaks) fails the suite.
            status, rest = interp.close()
            interp = None
            if status != 0:
                t = Test("<end of input>", [], None, len(tests), "required")
                counts["required"][1] += 1
                failures.append((t, "exit status %d: %s" % (status,
                                                           rest[-2000:])))
    finally:
        if interp:
            interp.close()
        os.unlink(os.path.join(scratch, "tests"))
        os.rmdir(cwd)
        os.rmdir(scratch)
    return counts, failures, time.monotonic() - start


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("suites", nargs="*",
                    help="step0..step9, names of extra files (gc_heavy), "
                         "'steps' (step2..step9) or 'all' (default)")
    ap.add_argument("--mal", required=True, help="the mal executable")
    ap.add_argument("--wrapper", default="",
                    help="command prefix to run mal with (an emulator: "
                         "'qemu-aarch64 -L /usr/aarch64-linux-gnu')")
    ap.add_argument("--tests", default=os.path.join(repo, "..", "shared",
                                                    "mal", "tests"),
                    help="folder of the upstream step*.mal files "
                         "(default: REPO/../shared/mal/tests)")
    ap.add_argument("--extra", default=os.path.join(here, "tests"),
                    help="folder of extra .mal test files")
    ap.add_argument("--gcstress", action="store_true",
                    help="run with TRICOLOR_DEBUG=gcstress=1 (a full "
                         "collection at every allocation)")
    ap.add_argument("--debug", default="",
                    help="more TRICOLOR_DEBUG settings, e.g. "
                         "barrier=deletion,gccheckmark=1")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per input line before it counts as "
                         "hung (default 300, 900 with --gcstress)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    timeout = args.timeout or (900.0 if args.gcstress else 300.0)

    steps = {}
    if os.path.isdir(args.tests):
        for n in range(10):
            found = glob.glob(os.path.join(args.tests, "step%d_*.mal" % n))
            if found:
                steps["step%d" % n] = found[0]
    extras = {}
    if os.path.isdir(args.extra):
        for f in sorted(glob.glob(os.path.join(args.extra, "*.mal"))):
            base = os.path.splitext(os.path.basename(f))[0]
            if not base.startswith("inc"):  # helpers loaded by the tests
                extras[base] = f

    wanted = args.suites or ["all"]
    names = []
    for w in wanted:
        if w == "all":
            names += ["step%d" % n for n in range(10)] + sorted(extras)
        elif w == "steps":
            names += ["step%d" % n for n in range(2, 10)]
        else:
            names.append(w)
    missing_steps = [n for n in names if n.startswith("step") and n not in steps]
    if missing_steps:
        print("SKIP: MAL test files not found in %s (wanted %s)"
              % (os.path.abspath(args.tests), ", ".join(missing_steps)))
        names = [n for n in names if n not in missing_steps]
        if not names:
            return SKIP
    for n in names:
        if not n.startswith("step") and n not in extras:
            ap.error("unknown suite %r (extras: %s)" % (n, ", ".join(extras)))

    env = dict(os.environ)
    if args.gcstress:
        prev = env.get("TRICOLOR_DEBUG")
        env["TRICOLOR_DEBUG"] = (prev + "," if prev else "") + "gcstress=1"
    if args.debug:
        prev = env.get("TRICOLOR_DEBUG")
        env["TRICOLOR_DEBUG"] = (prev + "," if prev else "") + args.debug
    mal = os.path.abspath(args.mal)

    total_bad = 0
    rows = []
    t0 = time.monotonic()
    for n in names:
        path = steps.get(n) or extras[n]
        argv = args.wrapper.split() + [mal]
        if n in ("step0", "step1"):
            argv += ["--step", n[-1]]
        counts, failures, secs = run_suite(n, path, argv, env, timeout,
                                           args.verbose, print)
        for t, got in failures:
            print("%s %s (%s:%d): %s" % (
                "SOFT FAIL" if t.kind == "optional" else "FAIL",
                n, os.path.basename(path), t.line, t.form))
            print("    expected: %r" % ("\n".join(t.out + [t.ret or ""])))
            print("    got     : %r" % got)
        npass = sum(c[0] for c in counts.values())
        hard = counts["required"][1] + counts["deferrable"][1]
        soft = counts["optional"][1]
        total_bad += hard
        rows.append((n, npass, hard, soft, counts, secs))

    print()
    print("%-12s %6s %6s %6s   %-34s %7s" % ("suite", "pass", "fail", "soft",
                                            "failed/run: req  defer  opt",
                                            "time"))
    for n, npass, hard, soft, c, secs in rows:
        detail = "%8s %6s %6s" % tuple("%d/%d" % (c[k][1], sum(c[k]))
                                       for k in ("required", "deferrable",
                                                 "optional"))
        print("%-12s %6d %6d %6d   %-34s %6.2fs" % (n, npass, hard, soft,
                                                    detail, secs))
    print("%s%s in %.1fs" % ("gcstress: " if args.gcstress else "",
                            "PASS" if total_bad == 0 else
                            "FAIL (%d non-optional failures)" % total_bad,
                            time.monotonic() - t0))
    return 0 if total_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
