/*
 * sched/proc.h -- the M, P and scheduler records, shared by proc.c, run.c,
 * sysmon.c and deadlock.c.
 *
 * P status, and what holds in each:
 *   IDLE     on the idle list (or being handed over); no M.
 *   RUNNING  owned by an M that runs Gs with it; only that M uses its cache.
 *   SYSCALL  owned by nobody: its last M let go of it when its G entered a
 *            system call (m->p and p->m are NULL).  Whoever moves it out
 *            of SYSCALL by CAS owns it: that M coming back (to RUNNING),
 *            sysmon (to IDLE, then hands it on) or a stopping world (to
 *            GCSTOP).  So no M can hold it unknowingly (as in Go).
 *   GCSTOP   stopped for the collector; nobody runs Gs with it.
 */
#ifndef TC_SCHED_PROC_H
#define TC_SCHED_PROC_H

#ifndef TC_BUILDING_LIBRARY
#error "sched/proc.h is internal to tricolor"
#endif

#include "sched/sched.h"

#define TC__RUNQ 256 /* local run queue slots (Go's) */

enum { TC__P_IDLE = 0, TC__P_RUNNING = 1, TC__P_SYSCALL = 2,
       TC__P_GCSTOP = 3 };

/* What a G that switched to g0 wants g0 to finish. */
enum { TC__AFTER_NONE, TC__AFTER_PARK, TC__AFTER_YIELD, TC__AFTER_PREEMPT,
       TC__AFTER_EXIT, TC__AFTER_SYSCALL_BLOCK };

struct tc__p {
  uint32_t id;
  uint32_t status;            /* TC__P_* */
  tc__p *link;                /* idle list */
  tc__m *m;                   /* owner while RUNNING; NULL otherwise */
  uint32_t schedtick;         /* G switches not inheriting a slice */
  uint32_t syscalltick;       /* syscalls entered and retakes */
  uint32_t runqhead;          /* consumers CAS */
  uint32_t runqtail;          /* owner stores (release) */
  tc__g *runq[TC__RUNQ];
  tc__g *runnext;             /* runs next, inherits the time slice */
  tc__g *gfree;               /* dead Gs kept for reuse */
  int gfreecnt;
  tc__mcache cache;           /* allocation cache (heap/cache.c) */
  tc__m *stopm;               /* stopped here for the collector: the M that
                                 waits to get this P back (sched lock) */
  /* sysmon's view, to detect long runs and long syscalls */
  uint32_t mon_schedtick;
  int64_t mon_schedwhen;
  uint32_t mon_syscalltick;
  int64_t mon_syscallwhen;
};

struct tc__m {
  uint32_t id;
  pthread_t thread;
  tc__ctx *ctx;               /* this thread's context (TLS) */
  tc__context g0ctx;          /* the scheduling loop's saved context */
  char *g0_lo, *g0_hi;        /* native stack bounds (sanitizers) */
  void *g0_tsan_fiber;
  void *g0_fake;              /* ASan fake stack of g0 during a switch */
  tc__g *curg;                /* running G */
  tc__p *p;                   /* attached P */
  tc__p *nextp;               /* P handed over by startm or a restart */
  tc__p *oldp;                /* P let go at syscall entry: tried first
                                 at exit (a hint: it may be anyone's) */
  bool spinning;              /* looking for work, counted in nmspinning */
  tc__note park;              /* sleeps here while idle */
  tc__m *schedlink;           /* idle list */
  tc__m *alllink;             /* every M */
  int after;                  /* TC__AFTER_* left by the G for g0 */
  void (*unlockf)(void *);    /* park: run on g0 after switching out */
  void *unlockarg;
  uint32_t rand;              /* xorshift state: stealing, select */
  void *sigstack;             /* alternate signal stack */
  uint64_t trace_ns;          /* event trace: start of the running G's
                                 slice, 0 = none (collector/trace.c) */
  int trace_p;                /* event trace: the slice's P id, -1 = none */
  bool foreign;               /* a thread tricolor did not create, attached
                                 (sched/attach.c): no g0, runs only its G */
  tc__m *freelink;            /* detached foreign Ms, for reuse */
  const void *entered;        /* an attached thread: where it last came
                                 into tricolor (the return address of
                                 tc_thread_attach or tc_syscall_exit), for
                                 the slow-stop report */
};

typedef struct tc__sched_t {
  uint32_t lock;              /* tc__spin: queues, idle lists, stopwait */
  bool running;               /* tc_run is active */
  uint32_t exiting;           /* main returned: every M leaves */
  unsigned nprocs;
  unsigned ncpu;              /* CPUs online when tc_run began */
  tc__p *allp;
  tc__m *allm;
  tc__m *m0;                  /* the thread that called tc_run */
  uint32_t mcount, maxmcount;
  tc__m *midle;
  uint32_t nmidle;
  tc__p *pidle;
  uint32_t npidle;            /* read without the lock */
  uint32_t nmspinning;        /* atomic */
  tc__g *runq_head, *runq_tail; /* global run queue */
  uint32_t runqsize;          /* read without the lock */
  tc__g *gfree;               /* global dead-G cache */
  uint32_t gcwaiting;         /* the world is stopping or stopped */
  uint32_t stopwait;          /* Ps still to stop */
  tc__note stopnote;
  uint32_t worldgen;          /* bumped by each restart: the Ms stopped for
                                 the collector wait on it (tc__gen_wait) */
  uint32_t resume_left;       /* Ms a restart gave their P back to, not yet
                                 running again */
  uint64_t restart_ns;        /* when the last restart ended the pause */
  tc__note resumenote;        /* the last M of a restart to run again: the
                                 restarter (the collector thread) waits
                                 off the CPU until then */
  uint64_t restart_lag_max;   /* longest time from a restart to the last of
                                 its Ms running (the OS's delay); written
                                 under the lock, read relaxed by stats */
  uint64_t restarts;          /* restarts whose lag was measured, and */
  uint64_t restart_lag[TC_PAUSE_RING]; /* the last ones' lags (restart k
                                 at [k % TC_PAUSE_RING]); under the lock */
  uint64_t goidgen;
  uint32_t allg_lock;         /* tc__spin */
  tc__g *allg;                /* every live G, oldest first */
  tc__g *allg_tail;
  uint64_t ngoroutines;
  tc__g *maing;
  int64_t start_ns;
  size_t stack_size;
  uint64_t retakes;           /* Ps sysmon took from system calls (relaxed) */
  tc__m *mfree;               /* detached foreign Ms (sched lock) */
  uint32_t nmfree;            /* how many: not running, not idle either */
  uint32_t nattached;         /* threads attached now (sched lock) */
  bool foreign_threads;       /* tc_config.foreign_threads: no deadlock
                                 report (an attach may come at any time) */
} tc__sched_t;

extern tc__sched_t tc__sched;

/* proc.c */
/* A random number from the running M's xorshift state (stealing, select). */
uint32_t tc__fastrand(void);
void tc__proc_schedule(tc__m *m);
tc__g *tc__proc_newg(tc_fn fn, void *arg, const char *file, int line,
                     const char *func);
void tc__proc_gfree(tc__m *m, tc__g *g);
/* Names the function containing code address pc in buf, or "?"
 * (libunwind; traceback.c).  Not async-signal-safe; takes no lock of
 * ours. */
const char *tc__func_name(const void *pc, char *buf, size_t len);
/* Foreign Ms (sched/attach.c): m, holding no P, waits until it holds one
 * and runs its G (status RUNNABLE, on no queue); a P of the caller's
 * (RUNNING G) is given up and the G blocks the OS thread (yield: it goes
 * on the global queue; park: WAITING, then unlock(arg)). */
void tc__proc_foreign_run(tc__m *m, tc__g *g);
void tc__proc_foreign_block(tc__m *m, tc__g *g, bool yield,
                            void (*unlock)(void *), void *arg);
/* The M's P, released for good (detach): the P goes on to other work. */
void tc__proc_foreign_release(tc__m *m);
/* A G joins / leaves the list of all Gs (allg_lock inside). */
void tc__proc_allg_add(tc__g *g);
void tc__proc_allg_remove(tc__g *g);
/* Under the sched lock: an M record joins allm (mcount). */
void tc__proc_m_link(tc__m *m);
bool tc__proc_retake_syscall(tc__p *p);

/* tc_thread_detach's misuse checks (both modes): aborts if the thread is
 * between tc_syscall_enter and tc_syscall_exit, or rs has a frame. */
void tc__detach_check(bool in_syscall, const tc__rootstack *rs);
/* Bare mode (sched/bare.c; tc_init without tc_run): ctx's thread attaches
 * (pc: where, for the slow-turn report), detaches, gives up its turn
 * around its own blocking code, and at a safepoint hands the turn to a
 * thread waiting for it. */
int tc__bare_attach(tc__ctx *ctx, const void *pc);
int tc__bare_detach(tc__ctx *ctx);
void tc__bare_syscall_enter(tc__ctx *ctx);
void tc__bare_syscall_exit(tc__ctx *ctx, const void *pc);
void tc__bare_safepoint(tc__ctx *ctx, const void *pc);

/* run.c */
void *tc__m_thread(void *arg);
void tc__sanitizer_g_create(tc__g *g);
void tc__sanitizer_g_exit(tc__g *g);
/* Announces a switch to the sanitizers, right before tc__switch:
 * save_fake receives the current context's ASan fake stack (NULL when the
 * current coroutine never resumes); the target's stack and TSan fiber.
 * tc__sanitizer_switch_end completes it in the context that resumed.
 * Without a sanitizer both are empty inline functions: nothing on the
 * switch path. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
void tc__sanitizer_switch_begin(void **save_fake, const void *to_lo,
                                size_t to_size, void *to_fiber);
void tc__sanitizer_switch_end(void *fake);
#else
static inline void tc__sanitizer_switch_begin(void **save_fake,
                                              const void *to_lo,
                                              size_t to_size, void *to_fiber) {
  (void)save_fake;
  (void)to_lo;
  (void)to_size;
  (void)to_fiber;
}
static inline void tc__sanitizer_switch_end(void *fake) { (void)fake; }
#endif

/* deadlock.c: called with the sched lock held when an M goes idle */
void tc__sched_checkdead(void);

/* sysmon.c */
void tc__sysmon_wake(void);
/* True on the sysmon thread (the SIGQUIT handler: sysmon cannot wait for
 * itself). */
bool tc__sysmon_is_current(void);

#endif /* TC_SCHED_PROC_H */
