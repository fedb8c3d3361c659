# tricolor-gdb.py -- gdb commands for programs that use tricolor: the
# coroutines (Gs) of the scheduler, the collector's figures and the heap's
# spans, read from the library's globals through its debug information.
# Go's runtime-gdb.py (info goroutines, goroutine N bt) is the model.
#
#   info coroutines          every coroutine: id, status, wait reason, entry
#                            function, creation site (the tc_go's function,
#                            file:line); "*" marks the one running on the
#                            selected thread
#   coroutine N CMD          runs gdb command CMD (bt, info frame, ...) on
#                            coroutine N's stack; N may be "all"
#   tricolor stats           heap sizes, cycles, pauses, scheduler counts
#   tricolor spans           spans per size class: count, pages, objects
#                            in use, free slots; large and free spans
#
# Loading.  The library carries this file inline in its .debug_gdb_scripts
# section (base/base.c), so gdb loads it with the library's symbols once
# auto-loading is allowed for that file:
#     add-auto-load-safe-path /path/to/libtricolor.so.0.1.0  (~/.gdbinit)
#     gdb -iex "set auto-load safe-path /" ...               (everything)
# or by hand, for a stripped library or after `set auto-load off`:
#     (gdb) source /path/to/tricolor-gdb.py
# docs/debugging.md shows the commands' output.
# The commands need tricolor's debug information (CMake RelWithDebInfo or
# Debug: -g).  `coroutine N` writes the selected thread's registers for
# the duration of CMD, so it needs a live process (not a core file); the
# other commands work on core files too.
#
# How `coroutine N CMD` works (Go's goroutine command, frame-safe): a
# parked coroutine's registers are in g->ctx (sched/context.h: what
# tc__switch saved, the machine state just after tc__switch returns into
# tc__park).  The command selects the newest frame of the selected thread,
# saves the registers it is going to write (pc, sp, frame pointer and the
# other callee-saved registers), writes the coroutine's, runs CMD (gdb
# unwinds the coroutine's stack with the DWARF CFI), then writes the saved
# values back and reselects the frame the user had selected.  A coroutine
# running on a thread (or in a system call, or an attached thread's) has
# no saved context: CMD runs on that thread instead.  Only inspect: state
# changed in the coroutine's frames is not written back to it.

import struct

import gdb

G_STATUS = {0: "idle", 1: "runnable", 2: "running", 3: "syscall",
            4: "waiting", 6: "dead"}
G_RUNNING, G_SYSCALL, G_WAITING, G_DEAD = 2, 3, 4, 6
PHASES = {0: "off", 1: "mark", 2: "mark termination"}
PAGE_SIZE = 8192
ARENA_PAGES = 8192
SPAN_SMALL, SPAN_LARGE = 1, 2


def _val(expr):
    return gdb.parse_and_eval(expr)


def _str(v):
    try:
        return v.string() if int(v) != 0 else None
    except gdb.error:
        return None


def _running():
    try:
        return bool(int(_val("tc__sched")["running"]))
    except gdb.error:
        return False


def _all_gs():
    """Yields every G on the list of all Gs, oldest first."""
    g = _val("tc__sched")["allg"]
    n = 0
    while int(g) != 0 and n < 10000000:
        yield g
        g = g["allnext"]
        n += 1


def _func_name(addr):
    addr = int(addr)
    if addr == 0:
        return "?"
    try:
        block = gdb.block_for_pc(addr)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            return block.function.print_name
    except RuntimeError:
        pass
    try:
        s = gdb.execute("info symbol 0x%x" % addr, to_string=True)
    except gdb.error:
        return "0x%x" % addr
    if s.startswith("No symbol"):
        return "0x%x" % addr
    return s.split(" in section")[0].split(" + ")[0].strip()


def _status(g):
    st = int(g["status"])
    why = _str(g["waitreason"])
    return G_STATUS.get(st, str(st)), (why if st == G_WAITING else None)


def _site(g):
    if int(g["lockedm"] if _has_field(g, "lockedm") else 0) != 0:
        return "an attached thread (tc_thread_attach)"
    if int(g) == int(_val("tc__sched")["maing"]):
        return "tc_run (the main coroutine)"
    fn = _str(g["go_func"]) or "?"
    return "%s at %s:%d" % (fn, _str(g["go_file"]) or "?", int(g["go_line"]))


def _has_field(v, name):
    try:
        return any(f.name == name for f in v.dereference().type.fields())
    except gdb.error:
        return False


def _thread_ms():
    """Maps each M's address to the gdb thread running it, read from the
    threads' tc__ctx_tls.owner (thread-local)."""
    found = {}
    orig = gdb.selected_thread()
    if orig is None:
        return found
    frame = gdb.selected_frame()
    try:
        for t in gdb.selected_inferior().threads():
            try:
                t.switch()
                owner = int(_val("tc__ctx_tls")["owner"])
            except gdb.error:
                continue
            if owner:
                found[owner] = t
    finally:
        orig.switch()
        try:
            frame.select()
        except gdb.error:
            pass
    return found


def _find_g(goid):
    for g in _all_gs():
        if int(g["id"]) == goid and int(g["status"]) != G_DEAD:
            return g
    return None


# ------------------------------------------------------------ info coroutines

class InfoCoroutines(gdb.Command):
    """Lists the coroutines of tricolor's scheduler (tc_run).

Usage: info coroutines
One line per live coroutine, oldest first: id, status, wait reason (of a
waiting one), entry function and where it was created (the function,
file and line of its tc_go).  "*" marks the coroutine running on the
selected thread."""

    def __init__(self):
        super().__init__("info coroutines", gdb.COMMAND_STACK,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        if not _running():
            print("tricolor: no scheduler running (tc_run)")
            return
        current = 0
        try:
            owner = _val("tc__ctx_tls")["owner"]
            if int(owner):
                m = owner.cast(gdb.lookup_type("tc__m").pointer())
                current = int(m["curg"])
        except gdb.error:
            pass
        rows = []
        for g in _all_gs():
            status, why = _status(g)
            if status == "dead":
                continue
            entry = ("-" if _site(g).startswith("an attached")
                     else _func_name(g["fn"]))
            mark = "*" if int(g) == current else " "
            rows.append((mark, str(int(g["id"])), status, why or "-", entry,
                         _site(g)))
        head = ("", "Id", "Status", "Wait reason", "Entry", "Created by")
        widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
        fmt = "%-1s %*s  %-*s  %-*s  %-*s  %s"
        print(fmt % (head[0], widths[1], head[1], widths[2], head[2],
                     widths[3], head[3], widths[4], head[4], head[5]))
        for r in rows:
            print(fmt % (r[0], widths[1], r[1], widths[2], r[2], widths[3],
                         r[3], widths[4], r[4], r[5]))


# ------------------------------------------------------------ coroutine N CMD

def _arch():
    return gdb.selected_frame().architecture().name()


def _saved_regs(g):
    """The registers of a switched-out G as (name, value) pairs, pc first,
    or None when the saved context has no known layout."""
    ctx = g["ctx"]
    arch = _arch()
    if "x86-64" in arch:
        return [("rip", int(ctx["rip"])), ("rsp", int(ctx["rsp"])),
                ("rbp", int(ctx["rbp"])), ("rbx", int(ctx["rbx"])),
                ("r12", int(ctx["r12"])), ("r13", int(ctx["r13"])),
                ("r14", int(ctx["r14"])), ("r15", int(ctx["r15"]))]
    if "aarch64" in arch:
        regs = [("pc", int(ctx["lr"])), ("sp", int(ctx["sp"])),
                ("x29", int(ctx["fp"])), ("x30", int(ctx["lr"]))]
        for i in range(10):
            regs.append(("x%d" % (19 + i), int(ctx["x19_x28"][i])))
        return regs
    return None


def _set_reg(name, value):
    gdb.execute("set var $%s = %d" % (name, value), to_string=True)


def _run_on_g(g, cmd):
    status = int(g["status"])
    goid = int(g["id"])
    locked = _has_field(g, "lockedm") and int(g["lockedm"]) != 0
    m = int(g["m"])
    if status in (G_RUNNING, G_SYSCALL) or locked or m != 0:
        # no saved context: its stack is a thread's live stack
        t = _thread_ms().get(int(g["lockedm"]) if locked else m)
        if t is None:
            print("coroutine %d is %s on a thread gdb cannot find"
                  % (goid, G_STATUS.get(status, "?")))
            return
        print("coroutine %d is %s on thread %d:"
              % (goid, G_STATUS.get(status, "?"), t.num))
        orig, frame = gdb.selected_thread(), gdb.selected_frame()
        try:
            t.switch()
            gdb.execute(cmd)
        finally:
            orig.switch()
            frame.select()
        return
    regs = _saved_regs(g)
    if regs is None:
        print("coroutine %d: unknown saved-context layout on %s (the "
              "portable ucontext switch)" % (goid, _arch()))
        return
    selected = gdb.selected_frame()
    newest = gdb.newest_frame()
    newest.select()  # registers are written in frame 0, never in a caller
    saved = [(name, int(newest.read_register(name))) for name, _ in regs]
    try:
        _set_reg(regs[0][0], regs[0][1])  # the pc first: writable at all?
    except gdb.error as e:
        selected.select()
        raise gdb.GdbError("coroutine %d: cannot load its registers (%s); "
                           "a core file has no writable registers: info "
                           "coroutines, tricolor stats and tricolor spans "
                           "work there" % (goid, e))
    try:
        for name, value in regs[1:]:
            _set_reg(name, value)
        gdb.execute(cmd)
    finally:
        gdb.newest_frame().select()
        for name, value in saved:
            _set_reg(name, value)
        try:
            selected.select()
        except (gdb.error, RuntimeError):
            gdb.newest_frame().select()


class CoroutineCmd(gdb.Command):
    """Runs a gdb command on a coroutine's stack.

Usage: coroutine ID CMD      e.g. coroutine 7 bt, coroutine 7 info frame
       coroutine all CMD
A parked coroutine's saved registers are loaded into the selected
thread's newest frame for the duration of CMD, then put back; a running
coroutine's CMD runs on its thread.  Inspect only: writes to its frames'
registers are not kept."""

    def __init__(self):
        super().__init__("coroutine", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        parts = arg.split(None, 1)
        if len(parts) < 2:
            raise gdb.GdbError("usage: coroutine ID|all CMD")
        if not _running():
            raise gdb.GdbError("tricolor: no scheduler running (tc_run)")
        if gdb.selected_inferior().pid == 0:
            raise gdb.GdbError("coroutine: no process")
        which, cmd = parts
        if which == "all":
            for g in list(_all_gs()):
                if int(g["status"]) == G_DEAD:
                    continue
                status, why = _status(g)
                print("\ncoroutine %d [%s]:" % (int(g["id"]), why or status))
                _run_on_g(g, cmd)
            return
        try:
            goid = int(_val(which))
        except gdb.error:
            raise gdb.GdbError("coroutine: %s is not a coroutine id" % which)
        g = _find_g(goid)
        if g is None:
            raise gdb.GdbError("coroutine: no coroutine %d" % goid)
        _run_on_g(g, cmd)


# ------------------------------------------------------------ tricolor stats

def _size(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return ("%d %s" % (n, unit)) if unit == "B" else \
                ("%.2f %s" % (n, unit))
        n /= 1024
    return "%.2f GiB" % n


def _ms(ns):
    return "%.3f ms" % (int(ns) / 1e6)


def _stats_st():
    """collector/stats.c's static `st` (several files have a static st)."""
    try:
        for sym in gdb.lookup_static_symbols("st"):
            if sym.symtab.filename.endswith("collector/stats.c"):
                return sym.value()
    except (AttributeError, gdb.error):
        pass
    return _val("'stats.c'::st")


class Tricolor(gdb.Command):
    """tricolor: commands that read tricolor's state (tricolor stats,
tricolor spans)."""

    def __init__(self):
        super().__init__("tricolor", gdb.COMMAND_DATA, gdb.COMPLETE_COMMAND,
                         True)


class TricolorStats(gdb.Command):
    """Prints tricolor's heap sizes, collector cycles, pauses and
scheduler counts, read from the library's globals (tc__h, tc__gc,
collector/stats.c's st, tc__sched)."""

    def __init__(self):
        super().__init__("tricolor stats", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        gc = _val("tc__gc")
        if not int(gc["initialized"]):
            print("tricolor: not initialised (no tc_init or tc_run)")
            return
        h, st = _val("tc__h"), _stats_st()
        goal = int(gc["goal"])
        pct = int(gc["gc_percent"])
        print("heap: live %s, marked %s, goal %s (GC %s)"
              % (_size(h["live"]), _size(h["marked"]),
                 "none" if goal in (0, 2**64 - 1) else _size(goal),
                 "off" if pct < 0 else "%d%%" % pct))
        print("  spans in use %s, free %s, released %s, mapped %s (arenas: "
              "%d)" % (_size(h["inuse"]), _size(h["free_dirty"]),
                            _size(h["released"]), _size(h["mapped"]),
                            int(h["narenas"])))
        print("  allocated %s in total, freed %s"
              % (_size(h["total_alloc"]), _size(h["total_freed"])))
        mode = str(_val("(tc_barrier_mode)%d" % int(st["last_mode"])))
        mode = mode.replace("TC_BARRIER_", "").lower() \
            if int(st["cycles"]) else "none yet"
        print("collector: cycles %d (%d forced, %d by time), phase %s, "
              "last cycle's barrier %s, %d marking threads"
              % (int(st["cycles"]), int(st["forced_cycles"]),
                 int(st["time_cycles"]),
                 PHASES.get(int(_val("tc__phase")), "?"), mode,
                 int(gc["procs"])))
        n = int(st["pauses"])
        ring = st["pause_ns"]
        nring = ring.type.range()[1] + 1
        last = int(ring[(n - 1) % nring]) if n else 0
        print("pauses: %d, total %s, max %s (mark start %s, mark "
              "termination %s), last %s"
              % (n, _ms(st["pause_total_ns"]), _ms(st["pause_max_ns"]),
                 _ms(st["pause_start_max_ns"]), _ms(st["pause_term_max_ns"]),
                 _ms(last)))
        print("  GC CPU %s" % _ms(st["gc_cpu_ns"]))
        if _running():
            s = _val("tc__sched")
            print("scheduler: %d coroutines, %d P, %d M"
                  % (int(s["ngoroutines"]), int(s["nprocs"]),
                     int(s["mcount"])))
        else:
            print("scheduler: not running (a bare mutator)")


# ------------------------------------------------------------ tricolor spans

class _Layout:
    """Field offsets and sizes of a C struct, to decode raw bytes read in
    one go (a gdb.Value per field would take seconds on a large heap)."""

    def __init__(self, typename):
        t = gdb.lookup_type(typename).strip_typedefs()
        self.size = t.sizeof
        self.fields = {f.name: (f.bitpos // 8, f.type.sizeof)
                       for f in t.fields()}

    def get(self, buf, name):
        off, size = self.fields[name]
        return int.from_bytes(bytes(buf[off:off + size]), "little")


class TricolorSpans(gdb.Command):
    """Prints tricolor's spans per size class: spans, pages, objects,
objects in use, free slots and the bytes in use; then large spans and
free spans.  Walks every arena's page map, so it sees each span once,
whatever list it is on or whether a cache holds it (a cached span counts
the objects its cache has handed out so far)."""

    def __init__(self):
        super().__init__("tricolor spans", gdb.COMMAND_DATA,
                         gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        h = _val("tc__h")
        if int(h["dir"]) == 0:
            print("tricolor: no heap (tc_init has not run)")
            return
        inf = gdb.selected_inferior()
        span_l, run_l = _Layout("tc__span"), _Layout("tc__run")
        ptr = gdb.lookup_type("void").pointer().sizeof
        arenas = h["arenas"]
        spans = {}
        for i in range(int(h["narenas"])):
            ar = arenas[i]
            base = int(ar["base"])
            pages_addr = int(ar["pages"].address)
            raw = inf.read_memory(pages_addr, ARENA_PAGES * ptr)
            pages = struct.unpack("<%dQ" % ARENA_PAGES, bytes(raw))
            for j, sp in enumerate(pages):
                if sp and sp not in spans:
                    spans[sp] = base + j * PAGE_SIZE
        classes = {}
        large = [0, 0, 0]   # spans, pages, bytes
        free = [0, 0, 0]    # spans, pages, released spans
        for sp in spans:
            b = inf.read_memory(sp, span_l.size)
            state = span_l.get(b, "state")
            npages = span_l.get(b, "npages")
            if state == SPAN_LARGE:
                large[0] += 1
                large[1] += npages
                large[2] += span_l.get(b, "elem_size")
                continue
            if state != SPAN_SMALL:
                free[0] += 1
                free[1] += npages
                free[2] += span_l.get(b, "released") != 0
                continue
            cls = span_l.get(b, "cls")
            size = span_l.get(b, "elem_size")
            nelems = span_l.get(b, "nelems")
            used = span_l.get(b, "nalloc")
            run = span_l.get(b, "run")
            if run:  # a cache bumps through it: add what it handed out
                r = inf.read_memory(run, run_l.size)
                p = run_l.get(r, "ptr")
                start = span_l.get(b, "base") + \
                    span_l.get(b, "run_start") * size
                if p >= start:
                    used += (p - start) // size
            c = classes.setdefault(cls, [size, 0, 0, 0, 0])
            c[1] += 1
            c[2] += npages
            c[3] += nelems
            c[4] += used
        head = ("class", "size", "spans", "pages", "objects", "in use",
                "free", "bytes in use")
        print("%5s %6s %6s %6s %8s %8s %8s  %s" % head)
        tot = [0, 0, 0, 0, 0]
        for cls in sorted(classes):
            size, n, pages, objs, used = classes[cls]
            print("%5d %6d %6d %6d %8d %8d %8d  %s"
                  % (cls, size, n, pages, objs, used, objs - used,
                     _size(used * size)))
            tot[0] += n
            tot[1] += pages
            tot[2] += objs
            tot[3] += used
            tot[4] += used * size
        print("%5s %6s %6d %6d %8d %8d %8d  %s"
              % ("all", "", tot[0], tot[1], tot[2], tot[3], tot[2] - tot[3],
                 _size(tot[4])))
        print("large: %d spans, %d pages, %s" % (large[0], large[1],
                                                 _size(large[2])))
        print("free: %d spans, %d pages (%d released to the OS)"
              % (free[0], free[1], free[2]))


InfoCoroutines()
CoroutineCmd()
Tricolor()
TricolorStats()
TricolorSpans()
