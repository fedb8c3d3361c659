/*
 * sched/sched.h -- the scheduler's internal interface: coroutines (G),
 * threads (M), processors (P), parking, locks, stacks and timers.
 *
 * Entities (as in Go's runtime2.go and proc.go):
 *   G  a coroutine: machine context, C stack, root stack, status.
 *   M  an OS thread.  Runs the scheduler loop on its own (native) stack,
 *      called g0 here, and switches into Gs from there.
 *   P  a processor token, `procs` of them.  An M needs a P to run Gs.  A P
 *      owns a local run queue (256 + runnext) and the allocation cache.
 *
 * G status, and what holds in each (changed only through tc__g_cas):
 *   IDLE      being created; nobody else sees it.
 *   RUNNABLE  on a run queue (or about to be); not running.  Its stack and
 *             root stack are frozen: the collector may scan them.
 *   RUNNING   running on an M that holds a P.  Only it touches its stack.
 *   SYSCALL   inside tc_syscall_enter/exit, without a P.  Its root stack
 *             is frozen (published at entry): the collector may scan it.
 *   WAITING   parked on a channel, sync object or timer; frozen as RUNNABLE.
 *   DEAD      finished; its stack went back to the pool.
 *
 * Parking protocol (Go's gopark): a G that must wait puts a waiter record
 * on the object's wait queue while holding the object's lock, then calls
 * tc__park(reason, unlock, lock).  tc__park switches to g0 first and only
 * there releases the lock, so a waker that takes the lock and calls
 * tc__ready(g) always finds the G fully switched out.
 *
 * Locks: tc__spin (base/lock.c) is a futex-backed mutex for short critical
 * sections (channels, sync objects, wait queues); it never parks a G, it
 * blocks the M.  Never hold one across a safepoint or a tc__park other than through
 * its unlock callback.
 */
#ifndef TC_SCHED_H
#define TC_SCHED_H

#ifndef TC_BUILDING_LIBRARY
#error "sched/sched.h is internal to tricolor"
#endif

#include "base/base.h"
#include "heap/heap.h"
#include "sched/context.h"
#include "sched/world.h" /* the one seam with the collector */

/* ---- parking threads (lock.c; the tc__spin mutex is base/lock.c's) ---- */

/* A one-shot wake-up for a parked M (Go's note): sleep until woken or a
 * deadline; futex-based. */
typedef struct tc__note {
  uint32_t key;
} tc__note;
void tc__note_clear(tc__note *n);
void tc__note_wake(tc__note *n);
/* Sleeps until woken; ns < 0: no deadline.  Returns true if woken. */
bool tc__note_sleep(tc__note *n, int64_t ns);
/* Polls for the wake-up for at most ns without sleeping (a waiter that
 * holds a CPU nobody else needs meanwhile); true if woken. */
bool tc__note_spin(tc__note *n, uint64_t ns);
/* Polls for the wake-up for at most ns, yielding the CPU between looks
 * (to any thread runnable on it) instead of sleeping: no futex wake-up
 * latency, and no CPU held from others; true if woken. */
bool tc__note_yield(tc__note *n, uint64_t ns);

/* A generation word many threads wait on until it moves on; one system
 * call wakes them all (a world restart).  tc__gen_wait returns once *gen
 * differs from seen (acquire). */
void tc__gen_wait(uint32_t *gen, uint32_t seen);
/* Moves *gen on (release); the caller serialises the writers.  Then
 * tc__gen_wake wakes every waiter (it may follow after a lock release). */
void tc__gen_advance(uint32_t *gen);
void tc__gen_wake(uint32_t *gen);

/* ---- G ---- */
enum {
  TC__G_IDLE = 0,
  TC__G_RUNNABLE = 1,
  TC__G_RUNNING = 2,
  TC__G_SYSCALL = 3,
  TC__G_WAITING = 4,
  TC__G_DEAD = 6,
};

typedef struct tc__m tc__m;
typedef struct tc__p tc__p;
typedef struct tc__stack tc__stack;

/* A waiter record: one G waiting on one queue (a channel may hold several
 * records of one G during a select).  Lives on the waiting G's C stack,
 * which stays put while the G is parked. */
typedef struct tc__sudog {
  struct tc__g *g;
  struct tc__sudog *next, *prev;
  void *elem;              /* value being sent, or the value received
                              (also in a root frame of the G: chan.c) */
  bool success;            /* woken by a completed operation, not a close */
  bool isselect;           /* part of a select: see g->selectdone */
  int caseidx;             /* select case index */
  void *obj;               /* the channel or sync object waited on */
} tc__sudog;

struct tc__g {
  tc__context ctx;         /* saved registers while not running */
  tc__rootstack rs;        /* TC_LOCALS frames of this coroutine */
  uint32_t status;         /* TC__G_*, through tc__g_cas */
  uint64_t id;             /* 1 = main */
  tc_fn fn;                /* entry function */
  void *arg;               /* its argument: a root until fn starts */
  tc__stack *stack;        /* C stack (pooled) */
  char *stack_lo;          /* usable stack [stack_lo, stack_hi) */
  char *stack_hi;
  struct tc__g *schedlink; /* run queue and free list link */
  struct tc__g *allnext;   /* list of all live Gs */
  struct tc__g *allprev;
  tc__m *m;                /* M running it, or NULL */
  tc__m *lockedm;          /* an attached thread's G runs only on its own
                              M (sched/attach.c), NULL for coroutines */
  const char *waitreason;  /* why it is WAITING (Go's waitReasonStrings) */
  const char *go_file;     /* creation site, for dumps and the deadlock */
  int go_line;             /*   report */
  const char *go_func;
  uint32_t selectdone;     /* a select case already won (CAS 0 -> 1) */
  void *param;             /* the sudog that woke this G, set by waker */
  int64_t timer_when;      /* sleep deadline (ns), 0 when not sleeping */
  size_t timer_index;      /* position in the timer heap */
  uint32_t gcscan;         /* root stack colour (sched/gscan.c): 2*epoch =
                              black this cycle, odd = being scanned */
  void *tsan_fiber;        /* ThreadSanitizer fiber */
  void *asan_fake_stack;   /* AddressSanitizer fake stack during a switch */
};

/* Changes g's status from `from` to `to` by CAS; aborts if the move is
 * not in the transition table (proc.c) or the status was not `from`
 * (Go's casgstatus). */
void tc__g_cas(tc__g *g, uint32_t from, uint32_t to);
/* Names a G status: "runnable", "waiting", ... */
const char *tc__g_status_name(uint32_t status);
/* Returns the running G (NULL on g0 or outside the scheduler). */
tc__g *tc__getg(void);
/* tc__needg, tc__park, tc__ready_global, tc__g_push: sched/world.h.
 * tc__park parks the running G (status WAITING, reason for dumps), runs
 * unlock(arg) on g0 once the G is switched out, and schedules; it returns
 * when the G is readied. */
/* Makes a WAITING g runnable; it runs next on the caller's P (inheriting
 * the time slice) or, from a thread without a P, goes on the global queue. */
void tc__ready(tc__g *g);
/* (tc__ready_global makes a list of WAITING Gs, linked through
 * schedlink, runnable in order on the global queue and starts Ms on idle
 * Ps for them.) */

/* Adds q to the tail / removes the first record of a FIFO wait queue (sync
 * objects, channels); the caller holds the object's lock. */
void tc__waitq_push(tc__waitq *q, tc__sudog *s);
tc__sudog *tc__waitq_pop(tc__waitq *q);
void tc__waitq_remove(tc__waitq *q, tc__sudog *s);

/* ---- stacks (stack.c) ---- */
struct tc__stack {
  char *lo, *hi;           /* usable range */
  char *guard;             /* guard page below lo, or NULL */
  size_t size;             /* hi - lo */
  struct tc__stack *next;  /* pool link */
};
int tc__stacks_init(size_t size);
void tc__stacks_destroy(void);
tc__stack *tc__stack_get(void);
void tc__stack_put(tc__stack *s);
/* Installs the SIGSEGV handler and this thread's alternate signal stack. */
void tc__stack_thread_init(void);
void tc__stack_thread_destroy(void);

/* ---- timers (timer.c); the channel side (chan.c) ---- */
/* Sends v on a TC_CHAN_RAW channel without blocking, from any thread (a
 * timer firing on sysmon): to a waiting receiver, else into the buffer;
 * false (dropped) if it is full or closed. */
bool tc__chan_offer(tc_chan *c, void *v);
/* Empties c's buffer (a stopped or reset timer's stale tick). */
void tc__chan_drain(tc_chan *c);
void tc__timers_init(void);
void tc__timers_destroy(void);
/* Readies every G whose deadline passed; returns the next deadline or -1. */
int64_t tc__timers_run(int64_t now);
/* Any timer on the heap (relaxed: a hint for an M looking for work). */
bool tc__timers_any(void);
/* For the deadlock check: a timer on the heap or being fired, its G not
 * yet queued (seq_cst; the test hook checkdelay waits between the two
 * reads). */
bool tc__timers_pending(void);
/* The earliest deadline, or -1. */
int64_t tc__timers_next(void);

/* ---- root-stack scanning while marking (gscan.c) ---- */
/* ctx->preempt bits: stop/yield at the next safepoint; do GC work there
 * (scan the own root stack, flush the P's grey buffer). */
#define TC__PREEMPT_YIELD 1u
#define TC__PREEMPT_GCWORK 2u
/* Sets preempt bits on a context (atomic OR). */
static inline void tc__preempt_set(tc__ctx *c, uint32_t bits) {
  __atomic_fetch_or(&c->preempt, bits, __ATOMIC_RELAXED);
}
/* After g became RUNNING: waits while the collector scans its root stack. */
void tc__gscan_wait(tc__g *g);
/* At a safepoint of the running G: answers GC work requests. */
void tc__gscan_safepoint(tc__g *g, tc__p *p);
/* A G created while marking: black root stack; its argument is shaded. */
void tc__gscan_newg(tc__g *g);

/* ---- the scheduler (proc.c) ---- */
/* Stops every P at a safepoint (world stopped on return); the caller is a
 * running G (its own P counts as stopped) or a thread without a P (the
 * collector thread).  Returns false, stopping nothing, if the runtime is
 * exiting.  tc__start_the_world resumes them. */
bool tc__stop_the_world(const char *why);
/* Returns when the world was released (the pause's end). */
uint64_t tc__start_the_world(void);
/* A thread beyond the Ps (the collector thread): waits off the CPU until
 * the Ms the last restart woke all run again (at most 2 ms), as
 * tc__start_the_world does when that thread restarts the world itself. */
void tc__await_restart(void);
/* Calls fn for every G that is not running (root stacks to scan). */
void tc__for_each_g(void (*fn)(tc__g *g, void *arg), void *arg);
/* Wakes an idle P to run queued work, if there is one (Go's wakep). */
void tc__wakep(void);

/* ---- sysmon and traces (sysmon.c) ---- */
void tc__sysmon_start(void);
void tc__sysmon_stop(void);
void tc__schedtrace(bool detailed);

/* ---- deadlock (deadlock.c) ---- */
/* Prints the deadlock report and exits with status 2. */
__attribute__((noreturn)) void tc__deadlock_report(void);

/* ---- the coroutine dump (traceback.c) ---- */
/* Prints every coroutine's entry (id, status or wait reason, entry
 * function, creation site, backtrace) to stderr, a write(2) per line:
 * the deadlock report's body.  Takes allg_lock. */
void tc__dump_stderr(void);
/* tc_run: installs the SIGQUIT dump if SIGQUIT has its default
 * disposition; puts the old one back (before the teardown). */
void tc__sigquit_install(void);
void tc__sigquit_restore(void);
/* sysmon, each round: does the dump a SIGQUIT asked for, and exits. */
void tc__sigquit_poll(void);
/* tc_run's teardown, after `running` is cleared: waits until no dump
 * (tc_dump_coroutines, SIGQUIT) reads the Gs. */
void tc__dump_wait(void);

#endif /* TC_SCHED_H */
