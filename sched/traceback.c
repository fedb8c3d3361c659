/*
 * sched/traceback.c -- the coroutine dump: every coroutine with its
 * status, wait reason, entry function, creation site and a backtrace of
 * where it is parked (Go's traceback.go, tracebackothers).  One function,
 * dump_g, writes a coroutine's entry for all three users:
 * tc_dump_coroutines, the SIGQUIT handler and the deadlock report
 * (sched/deadlock.c).
 *
 * An entry (Go's layout; the blank line separates coroutines):
 *     coroutine 7 [chan receive]: worker(), created by serve at srv/conn.c:42
 *     	#0  0x00007f3c2a1b0c4f in tc__park+0x5f
 *     	#1  0x00007f3c2a1b4a10 in tc_chan_recv+0x1c0
 *     	#2  0x000055d0c0de1234 in worker+0x24
 *     	#3  0x00007f3c2a1b1e20 in g_main+0x30
 * The bracket holds the status (runnable, running, syscall), and for a
 * waiting coroutine its wait reason, as Go prints it.  The creation site
 * costs nothing at tc_go: the tc_go macro passes __FILE__, __LINE__ and
 * __func__.  The main coroutine has no tc_go site (tc_run is a plain
 * function: its caller's line is not known), so its entry says "created
 * by tc_run (the main coroutine)".  Function names (the entry function,
 * every frame) come from libunwind's symbol lookup, only when reporting;
 * `addr2line -f -e <object>` turns a frame's address (less the object's
 * load address) into a file and line.
 *
 * Backtraces, by what the coroutine is doing:
 *   1. Runnable or waiting, switched out (g->m == NULL): tc__switch left
 *      its callee-saved registers, stack pointer and return address in
 *      g->ctx (sched/context.h).  That is the machine state just after
 *      tc__switch returns into its caller, so a libunwind context built
 *      from those registers (unw_init_local2 with no flag: the IP is a
 *      return address, looked up at IP - 1) unwinds through the DWARF CFI
 *      of every frame, as a debugger does.  The walk ends at
 *      tc__context_trampoline, whose CFI marks the return address
 *      undefined.  A coroutine that never ran resumes at the trampoline
 *      itself: "not started yet".
 *   2. The caller's own coroutine: from a context taken inside
 *      tc_dump_coroutines, that frame skipped.  Under SIGQUIT, the
 *      coroutine the signal interrupted on its own stack: from the
 *      signal's ucontext (UNW_INIT_SIGNAL_FRAME: the IP is the interrupted
 *      instruction, not a return address).
 *   3. Running on another thread, in a system call, or between a status
 *      change and its switch (g->m still set): no backtrace, as Go's
 *      "stack unavailable"; its stack changes under us.  Nor for the G of
 *      a thread attached with tc_thread_attach (sched/attach.c) unless it
 *      is the caller: it blocks on its own thread's stack and saves no
 *      context.
 * Frame pointers were rejected: the library and the programs it is linked
 * into are built with -O2 and no -fno-omit-frame-pointer, so an rbp chain
 * on x86-64 skips or loses frames; the CFI (.eh_frame) is always there.
 *
 * Races.  The dump holds the list of all Gs (allg_lock), so no G is
 * created, freed or reused while it walks; tc_run's teardown waits for a
 * dump in progress before it frees the Gs and unmaps the stacks
 * (tc__dump_wait).  Nothing stops a parked G from being readied and run on
 * another M while its stack is unwound: the status, g->m and the saved
 * stack pointer and resume address are read again after the walk, and a
 * walk whose G moved meanwhile ends with "(resumed while dumped: frames
 * may be wrong)".  A stale read yields wrong frames, not a fault: the
 * stack stays mapped (pooled stacks are unmapped only at the teardown)
 * and unwinding one parked at the same place with the same depth again
 * reads the same frames.  g->m is cleared with a release store once the
 * switch-out completed (proc.c, after_switch), so NULL means the saved
 * context is complete.
 *
 * Output: one write per line.  tc_dump_coroutines formats into a memory
 * stream while it holds the G list and writes the caller's FILE after
 * releasing it, so a slow or blocked stream never holds the list.  SIGQUIT
 * and the deadlock report write(2) each line to stderr (tc__print): no
 * stdio, no allocation of ours (libunwind's symbol lookup maps the object
 * files with mmap).
 *
 * SIGQUIT (Go's default: dump, then exit status 2): tc_run installs the
 * handler only when SIGQUIT has its default disposition (an application's
 * handler and SIG_IGN are left alone) and puts the old disposition back
 * when it returns, unless someone replaced ours meanwhile.
 *   1. The handler (on the thread's alternate signal stack: every M has
 *      one, sched/stack.c) prints "SIGQUIT: quit", records the context it
 *      interrupted and that thread's coroutine, asks sysmon, and freezes
 *      its thread in pause(); a second SIGQUIT meanwhile just freezes.
 *   2. sysmon polls for the request each round, dumps every G, the
 *      frozen thread's from the recorded context, and _exits with status
 *      2.  A SIGQUIT that lands on sysmon itself is dumped by the handler
 *      at once, as in step 3.
 *   3. Not in the handler, because libunwind's symbol lookup allocates and
 *      malloc is not async-signal-safe (the interrupted code may hold its
 *      lock; ThreadSanitizer reports it).  If sysmon has not taken the
 *      request after a second (stuck on a lock the frozen thread holds),
 *      a CAS on the request lets the handler dump by itself, best-effort.
 *      (Blocking SIGQUIT in sysmon instead was rejected: the Ms it starts
 *      and the threads their coroutines start would inherit the mask.)
 *   4. The dump takes the G list with a bounded trylock (the frozen thread
 *      may hold it) and walks it unlocked after a second, as Go's dump is
 *      best-effort too.
 */
#define _GNU_SOURCE 1 /* REG_RIP and friends in <sys/ucontext.h> */
#include "sched/proc.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Frames printed per coroutine, then "...": a runaway recursion must not
 * flood the dump (Go prints 100). */
#define MAX_FRAMES 64
/* Attempts (1 ms apart) of the SIGQUIT dump to take the G list before it
 * walks it without the lock (the frozen thread may hold it). */
#define QUIT_LOCK_TRIES 1000
/* How long (ms) the SIGQUIT handler waits for sysmon to take the dump
 * before it dumps by itself: sysmon polls at least every 10 ms, so a
 * second means it is stuck. */
#define QUIT_SYSMON_WAIT_MS 1000

/* Dumps reading the Gs right now (tc_dump_coroutines, SIGQUIT): tc_run's
 * teardown waits for none (tc__dump_wait). */
static uint32_t dumpers;

/* ---------------------------------------------------------------- output */

/* Where lines go: a stdio stream, or stderr by write(2) (f == NULL). */
typedef struct sink {
  FILE *f;
} sink;

static TC_PRINTF(2, 3) void out_line(sink *s, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0)
    buf[0] = '\0';
  if (s->f) {
    fputs(buf, s->f);
    fputc('\n', s->f);
  } else {
    tc__print("%s", buf);
  }
}

/* ---------------------------------------------------------------- names */

/* Names the function at address pc, or "?" (libunwind: a local cursor
 * whose IP is moved to pc). */
static const char *func_name(void *pc, char *buf, size_t len) {
  unw_context_t uc;
  unw_cursor_t cur;
  unw_word_t off = 0;
  if (pc == NULL || unw_getcontext(&uc) != 0 || unw_init_local(&cur, &uc) != 0)
    return "?";
  /* +1: libunwind looks up ip - 1 (it takes IPs for return addresses),
   * and pc is a function's first byte. */
  if (unw_set_reg(&cur, UNW_REG_IP, (unw_word_t)(uintptr_t)pc + 1) != 0)
    return "?";
  int rc = unw_get_proc_name(&cur, buf, len, &off);
  if (rc == 0 || rc == -UNW_ENOMEM) /* ENOMEM: truncated, still a name */
    return buf;
  return "?";
}

const char *tc__func_name(const void *pc, char *buf, size_t len) {
  /* pc is a return address: func_name takes a function's first byte and
   * looks up pc - 1 + 1 */
  return pc ? func_name((void *)((uintptr_t)pc - 1), buf, len) : "?";
}

/* ---------------------------------------------------------------- contexts */

/* Copies a saved context word by word (relaxed loads: the G's M may be
 * writing it, in assembly, if the G switches out meanwhile). */
static void ctx_copy(tc__context *dst, const tc__context *src) {
  _Static_assert(sizeof(tc__context) % sizeof(uint64_t) == 0, "word copy");
  const uint64_t *s = (const uint64_t *)(const void *)src;
  uint64_t *d = (uint64_t *)(void *)dst;
  for (size_t i = 0; i < sizeof *dst / sizeof(uint64_t); i++)
    d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

#if defined(TC__SWITCH_ASM)
void tc__context_trampoline(void); /* the .S files under sched/arch/ */
#endif

/* The saved stack pointer and resume address of a context. */
static void ctx_sp_pc(const tc__context *c, uint64_t *sp, uint64_t *pc) {
#if defined(TC__SWITCH_ASM) && defined(__x86_64__)
  *sp = c->rsp;
  *pc = c->rip;
#elif defined(TC__SWITCH_ASM) && defined(__aarch64__)
  *sp = c->sp;
  *pc = c->lr;
#else
  (void)c;
  *sp = *pc = 0;
#endif
}

/* Builds a libunwind context from a saved one: the state just after
 * tc__switch returned into its caller.  False when the target has no
 * assembly switch (ucontext fallback: no backtraces). */
static bool ctx_to_unw(const tc__context *c, unw_context_t *uc) {
  memset(uc, 0, sizeof *uc);
#if defined(TC__SWITCH_ASM) && defined(__x86_64__)
  greg_t *r = uc->uc_mcontext.gregs;
  r[REG_RIP] = (greg_t)c->rip;
  r[REG_RSP] = (greg_t)c->rsp;
  r[REG_RBP] = (greg_t)c->rbp;
  r[REG_RBX] = (greg_t)c->rbx;
  r[REG_R12] = (greg_t)c->r12;
  r[REG_R13] = (greg_t)c->r13;
  r[REG_R14] = (greg_t)c->r14;
  r[REG_R15] = (greg_t)c->r15;
  return true;
#elif defined(TC__SWITCH_ASM) && defined(__aarch64__)
  for (int i = 0; i < 10; i++)
    uc->uc_mcontext.regs[19 + i] = c->x19_x28[i];
  uc->uc_mcontext.regs[29] = c->fp;
  uc->uc_mcontext.regs[30] = c->lr;
  uc->uc_mcontext.sp = c->sp;
  uc->uc_mcontext.pc = c->lr; /* the return address is where it resumes */
  return true;
#else
  (void)c;
  return false;
#endif
}

/* The stack pointer of an interrupted context (a signal's ucontext). */
static uintptr_t ucontext_sp(const ucontext_t *uc) {
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
  return (uintptr_t)uc->uc_mcontext.sp;
#else
  (void)uc;
  return 0;
#endif
}

/* ---------------------------------------------------------------- entries */

/* Where the dumping thread is: its own coroutine, if any, and a context
 * to unwind it from. */
typedef struct dump_self {
  tc__g *g;                /* the coroutine `uc` describes, or NULL */
  unw_context_t *uc;
  int flags;               /* unw_init_local2: 0 or UNW_INIT_SIGNAL_FRAME */
  int skip;                /* frames of the dump itself, not printed */
} dump_self;

/* The address of tc__context_trampoline, where every coroutine's stack
 * begins (0 with the portable switch). */
static unw_word_t trampoline_ip(void) {
#if defined(TC__SWITCH_ASM)
  return (unw_word_t)(uintptr_t)tc__context_trampoline;
#else
  return 0;
#endif
}

/* Prints the frames from cursor cur on, after skipping `skip`. */
static void walk(sink *s, unw_cursor_t *cur, int skip) {
  for (int i = 0; i < skip; i++)
    if (unw_step(cur) <= 0)
      return;
  int n = 0;
  do {
    unw_word_t ip = 0, off = 0;
    if (unw_get_reg(cur, UNW_REG_IP, &ip) < 0 || ip == 0)
      break;
    if (n == MAX_FRAMES) {
      out_line(s, "\t...more frames");
      break;
    }
    char name[256];
    int rc = unw_get_proc_name(cur, name, sizeof name, &off);
    if (rc != 0 && rc != -UNW_ENOMEM) {
      out_line(s, "\t#%-2d 0x%016llx in ?", n, (unsigned long long)ip);
    } else {
      out_line(s, "\t#%-2d 0x%016llx in %s+0x%llx", n,
               (unsigned long long)ip, name, (unsigned long long)off);
    }
    n++;
    /* A coroutine's first frame: nothing called it.  Stop here rather
     * than ask libunwind to step past its undefined return address. */
    unw_proc_info_t pi;
    if (unw_get_proc_info(cur, &pi) == 0 && pi.start_ip == trampoline_ip())
      break;
  } while (unw_step(cur) > 0);
  if (n == 0)
    out_line(s, "\t(no frames: the unwinder found none)");
}

/* Prints the backtrace of a switched-out G from its saved context, and
 * says so if it moved while being unwound. */
static void walk_saved(sink *s, tc__g *g, uint32_t status) {
  tc__context c;
  ctx_copy(&c, &g->ctx);
  uint64_t sp0, pc0;
  ctx_sp_pc(&c, &sp0, &pc0);
#if defined(TC__SWITCH_ASM)
  if (pc0 == (uint64_t)trampoline_ip()) {
    out_line(s, "\t(not started yet)");
    return;
  }
#endif
  unw_context_t uc;
  unw_cursor_t cur;
  if (!ctx_to_unw(&c, &uc)) {
    out_line(s, "\t(no backtrace with the portable context switch)");
    return;
  }
  if (unw_init_local2(&cur, &uc, 0) != 0) {
    out_line(s, "\t(no backtrace: libunwind cannot start from its context)");
    return;
  }
  walk(s, &cur, 0);
  tc__context c1;
  ctx_copy(&c1, &g->ctx);
  uint64_t sp1, pc1;
  ctx_sp_pc(&c1, &sp1, &pc1);
  if (tc__load_acquire(&g->status) != status ||
      tc__load_acquire(&g->m) != NULL || sp1 != sp0 || pc1 != pc0)
    out_line(s, "\t(resumed while dumped: frames may be wrong)");
}

/* Prints g's entry: the header line, then its backtrace or why there is
 * none.  Caller holds allg_lock (or, under SIGQUIT, tried to). */
static void dump_g(sink *s, tc__g *g, const dump_self *self) {
  uint32_t status = tc__load_acquire(&g->status);
  if (status == TC__G_DEAD || status == TC__G_IDLE)
    return;
  const char *reason = tc__load_relaxed(&g->waitreason);
  const char *what = status == TC__G_WAITING && reason
                         ? reason
                         : tc__g_status_name(status);
  char name[128];
  const char *fn = func_name((void *)(uintptr_t)g->fn, name, sizeof name);
  if (g->lockedm)
    out_line(s, "coroutine %llu [%s]: an attached thread (tc_thread_attach)",
             (unsigned long long)g->id, what);
  else if (g == tc__sched.maing)
    out_line(s, "coroutine %llu [%s]: %s(), created by tc_run (the main "
             "coroutine)", (unsigned long long)g->id, what, fn);
  else
    out_line(s, "coroutine %llu [%s]: %s(), created by %s at %s:%d",
             (unsigned long long)g->id, what, fn,
             g->go_func ? g->go_func : "?", g->go_file ? g->go_file : "?",
             g->go_line);
  if (self && g == self->g) {
    unw_cursor_t cur;
    if (unw_init_local2(&cur, self->uc, self->flags) == 0)
      walk(s, &cur, self->skip);
    else
      out_line(s, "\t(no backtrace: libunwind cannot start here)");
  } else if (g->lockedm) {
    out_line(s, "\t(on its own thread's stack: no backtrace)");
  } else if (status == TC__G_RUNNING) {
    out_line(s, "\t(running on another thread: no backtrace)");
  } else if (status == TC__G_SYSCALL) {
    out_line(s, "\t(in a system call on its thread: no backtrace)");
  } else if (tc__load_acquire(&g->m) != NULL) {
    out_line(s, "\t(switching on its thread: no backtrace)");
  } else {
    walk_saved(s, g, status);
  }
  out_line(s, "%s", "");
}

/* Prints every G; the caller holds allg_lock or gave up on it. */
static void dump_all(sink *s, const dump_self *self) {
  for (tc__g *g = tc__sched.allg; g; g = g->allnext)
    dump_g(s, g, self);
}

static void dump_one(tc__g *g, void *arg) {
  sink s = {NULL};
  dump_g(&s, g, arg);
}

void tc__dump_stderr(void) { tc__for_each_g(dump_one, NULL); }

/* Enters a dump; false (and not entered) if tc_run is not running.  The
 * seq_cst increment and load pair with tc__dump_wait's store and load. */
static bool dump_enter(void) {
  __atomic_add_fetch(&dumpers, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&tc__sched.running, __ATOMIC_SEQ_CST))
    return true;
  __atomic_sub_fetch(&dumpers, 1, __ATOMIC_SEQ_CST);
  return false;
}

static void dump_leave(void) {
  __atomic_sub_fetch(&dumpers, 1, __ATOMIC_SEQ_CST);
}

void tc__dump_wait(void) {
  while (__atomic_load_n(&dumpers, __ATOMIC_SEQ_CST) != 0) {
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
}

int tc_dump_coroutines(FILE *out) {
  if (out == NULL)
    return TC_EINVAL;
  /* The caller's frames, from here: frame 0 is this function, skipped. */
  unw_context_t uc;
  if (unw_getcontext(&uc) != 0)
    return TC_ESTATE;
  if (!dump_enter())
    return TC_ESTATE;
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  if (mem == NULL) {
    dump_leave();
    return TC_ENOMEM;
  }
  sink s = {mem};
  dump_self self = {tc__getg(), &uc, 0, 1};
  tc__spin_lock(&tc__sched.allg_lock);
  dump_all(&s, &self);
  tc__spin_unlock(&tc__sched.allg_lock);
  dump_leave();
  int rc = fclose(mem) == 0 ? TC_OK : TC_ENOMEM;
  if (rc == TC_OK && len > 0 && fwrite(buf, 1, len, out) != len)
    rc = TC_EINVAL;
  if (rc == TC_OK)
    fflush(out);
  free(buf);
  return rc;
}

/* ---------------------------------------------------------------- SIGQUIT */

static struct sigaction quit_old; /* the disposition before tc_run */
static bool quit_installed;

/* A SIGQUIT's dump, handed from the handler to sysmon: */
enum { QUIT_NONE, QUIT_ASKED, QUIT_SYSMON, QUIT_HANDLER };
static struct {
  uint32_t state;          /* QUIT_*: CAS from ASKED decides who dumps */
  uint32_t once;           /* a handler is running (0 -> 1) */
  void *uc;                /* the interrupted context (the frozen thread's
                              signal frame) */
  tc__g *g;                /* its coroutine, or NULL */
} quit;

/* Prints the SIGQUIT dump to stderr and exits with status 2.  Any
 * thread: sysmon, or the handler itself. */
static TC_NORETURN void quit_dump(void) {
  dump_self self = {tc__load_relaxed(&quit.g), tc__load_relaxed(&quit.uc),
                    UNW_INIT_SIGNAL_FRAME, 0};
  if (!dump_enter()) {
    tc__print("tricolor: the scheduler is not running: no coroutines");
    tc__heap_abandon();
    _exit(2);
  }
  bool locked = false;
  for (int i = 0; i < QUIT_LOCK_TRIES && !locked; i++) {
    locked = tc__spin_trylock(&tc__sched.allg_lock);
    if (!locked) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  if (!locked)
    tc__print("tricolor: the coroutine list stayed locked: walking it "
              "unlocked");
  sink s = {NULL};
  dump_all(&s, &self);
  tc__heap_abandon(); /* valgrind: the heap's objects are no leaks */
  _exit(2);
}

void tc__sigquit_poll(void) {
  uint32_t asked = QUIT_ASKED;
  if (tc__load_acquire(&quit.state) == QUIT_ASKED &&
      __atomic_compare_exchange_n(&quit.state, &asked, (uint32_t)QUIT_SYSMON,
                                  false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    quit_dump();
}

/* The handler freezes the thread it interrupted and has sysmon dump: the
 * dump calls libunwind's symbol lookup, which allocates, and malloc is
 * not async-signal-safe (the interrupted code may hold its lock; TSan
 * reports it).  Only if sysmon does not take the request within a second
 * (it may itself wait for a lock the frozen thread holds) does the handler
 * dump by itself, best-effort. */
static void quit_handler(int sig, siginfo_t *info, void *uctx) {
  (void)sig;
  (void)info;
  if (__atomic_exchange_n(&quit.once, 1u, __ATOMIC_ACQ_REL) != 0)
    for (;;)
      pause(); /* another thread dumps; it exits the process */
  tc__print("SIGQUIT: quit");
  tc__print("%s", "");
  /* The interrupted coroutine of this thread, if it was on its stack (an
   * attached thread's G always is: it runs on the thread's own). */
  tc__ctx *ctx = tc__ctx_current();
  tc__m *m = ctx ? (tc__m *)ctx->owner : NULL;
  tc__g *g = m ? tc__load_relaxed(&m->curg) : NULL;
  uintptr_t sp = ucontext_sp(uctx);
  if (!(g && (g->lockedm == m ||
              (g->stack && sp >= (uintptr_t)g->stack->lo &&
               sp < (uintptr_t)g->stack->hi))))
    g = NULL;
  tc__store_relaxed(&quit.uc, uctx);
  tc__store_relaxed(&quit.g, g);
  tc__store_release(&quit.state, (uint32_t)QUIT_ASKED);
  tc__sysmon_wake();
  for (int i = 0; i < QUIT_SYSMON_WAIT_MS && !tc__sysmon_is_current(); i++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    if (tc__load_acquire(&quit.state) != QUIT_ASKED)
      break;
  }
  uint32_t asked = QUIT_ASKED;
  if (__atomic_compare_exchange_n(&quit.state, &asked,
                                  (uint32_t)QUIT_HANDLER, false,
                                  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    quit_dump();
  for (;;)
    pause(); /* frozen: sysmon unwinds this thread's stack, then exits */
}

void tc__sigquit_install(void) {
  struct sigaction cur;
  quit_installed = false;
  memset(&quit, 0, sizeof quit);
  if (sigaction(SIGQUIT, NULL, &cur) != 0)
    return;
  if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)
    return; /* the application's handler, or ignored: leave it */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = quit_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask); /* nothing else runs on this thread meanwhile */
  if (sigaction(SIGQUIT, &sa, &quit_old) == 0)
    quit_installed = true;
}

void tc__sigquit_restore(void) {
  if (!quit_installed)
    return;
  quit_installed = false;
  struct sigaction cur;
  if (sigaction(SIGQUIT, NULL, &cur) != 0)
    return;
  if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != quit_handler)
    return; /* replaced by the application meanwhile: keep its choice */
  sigaction(SIGQUIT, &quit_old, NULL);
}
