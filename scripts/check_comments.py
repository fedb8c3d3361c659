#!/usr/bin/env python3
"""check_comments.py -- finds comments and docs that name a repository file
that does not exist, or cite a design document the repository does not ship.

    python3 scripts/check_comments.py [TREE]   # default: this repository

Reads the files git tracks in TREE (git ls-files): C sources and headers,
assembly, CMake, shell, Python, Go and Markdown files (extensionless files
by their #! line).  Every line is read, code and comments alike, for:

  1. a path that starts with one of the tree's top-level folders
     (sched/proc.c, docs/barriers.md): it must be a tracked file, or a
     folder holding one, from the top or from the naming file's folder
     (examples/mal/README.md names the files of its own tests folder);
  2. a bare name that looks like one of ours, a lower-case C file or
     header (gcwork.c, heap.h) or a capitalised Markdown file (HACKING.md):
     a tracked file of that name must exist somewhere in the tree;
  3. a citation of a design document by section, "DESIGN section N" or
     "GO_REFERENCE section N" (also across a line break); with .md the
     name is a file and rule 2 reports it.  Cite Go's runtime by its
     file name (mgcmark.go) instead.

Not checked: names inside <...> (system headers: <sys/mman.h>), names
reached through ../ or a variable (${ROOT}/...), build products (build/,
heap/arena.c.o), globs (sched/arch/*.S), other languages' files (mgc.go)
and the few headers of other projects in FOREIGN.
Each finding is printed as "file:line: name (why)"; exit status 1 when
there is one, 0 when there is none, 2 when TREE is not a git checkout.
"""
import os
import re
import subprocess
import sys

SOURCE_EXT = (".c", ".h", ".S", ".s", ".py", ".sh", ".cmake", ".md", ".in",
              ".go")

# Characters that continue a path: a match must not start or end inside one.
PATHCH = r"[\w.\-/]"
# A bare name of ours: a C file or header in our spelling, or a capitalised
# Markdown file.
BARE = re.compile(r"(?<![\w.\-/<])([a-z_][a-z0-9_]*\.[ch]|[A-Z][A-Z_]*\.md)"
                  r"(?![\w\-/])")
# Other projects' files named bare: the benchmarks' peer allocator.
FOREIGN = {"mimalloc.h"}
# A citation of a design document by section; [\s*#/]+ spans a line break
# inside a C, shell or CMake comment.
CITE = re.compile(r"\b(DESIGN|GO_REFERENCE)[\s*#/]+(sections?\s+\d+)")


def tracked(tree):
    out = subprocess.run(["git", "-C", tree, "ls-files", "-z"],
                         capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def is_scanned(tree, path):
    if path.endswith(SOURCE_EXT) or os.path.basename(path) == "CMakeLists.txt":
        return True
    if "." in os.path.basename(path):
        return False
    try:
        with open(os.path.join(tree, path), "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def main():
    tree = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    try:
        files = tracked(tree)
    except (subprocess.CalledProcessError, OSError) as e:
        print("check_comments: %s is not a git checkout (%s)" % (tree, e),
              file=sys.stderr)
        return 2
    paths = set(files)
    dirs = {os.path.dirname(p) for p in files}
    while "" in dirs:
        dirs.discard("")
    for d in list(dirs):
        while "/" in d:
            d = os.path.dirname(d)
            dirs.add(d)
    names = {os.path.basename(p) for p in files}
    top = sorted({p.split("/")[0] for p in files if "/" in p})
    path_re = re.compile(r"(?<![\w.\-/<$])((?:%s)/%s*\w)" %
                         ("|".join(re.escape(t) for t in top), PATHCH))

    findings = []
    for path in files:
        if not is_scanned(tree, path):
            continue
        with open(os.path.join(tree, path), encoding="utf-8",
                  errors="replace") as f:
            text = f.read()
        for no, line in enumerate(text.split("\n"), 1):
            for m in path_re.finditer(line):
                name = m.group(1)
                if line[m.end():m.end() + 1] == "*":
                    continue  # a glob: include/tricolor/*.h
                if "." not in os.path.basename(name) and name not in dirs:
                    continue  # a word after a slash ("heap/arena"), not a file
                if name.endswith(".o"):
                    continue  # an object file of a build tree
                here = os.path.normpath(os.path.join(os.path.dirname(path),
                                                     name))
                if {name, here} & (paths | dirs):
                    continue
                findings.append((path, no, name, "no such file"))
            for m in BARE.finditer(line):
                name = m.group(1)
                if name not in names and name not in FOREIGN:
                    findings.append((path, no, name, "no file of that name"))
        for m in CITE.finditer(text):
            no = text.count("\n", 0, m.start()) + 1
            findings.append((path, no, "%s %s" % (m.group(1), m.group(2)),
                             "a document the repository does not ship"))

    for path, no, name, why in sorted(findings):
        print("%s:%d: %s (%s)" % (path, no, name, why))
    if findings:
        print("check_comments: %d finding(s)" % len(findings), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
