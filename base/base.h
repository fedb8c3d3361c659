/*
 * base/base.h -- what every module of the library shares: the check levels,
 * the fatal-error path, atomics with their memory order in the name, locks,
 * clocks and the debug settings read from TRICOLOR_DEBUG.
 *
 * Check levels (TC_DEBUG, set by CMake's TRICOLOR_DEBUG):
 *   0  none beyond what keeps the heap safe
 *   1  cheap checks of API misuse (default)            TC_ASSERT
 *   2  internal invariants, poisoned free memory,
 *      every store checked through the slow path       TC_CHECK
 *   3  O(heap) verification                            TC_EXPENSIVE
 *
 * The failure path formats into a stack buffer and write(2)s it: it never
 * allocates, so it works with the heap lock held or the heap corrupt.
 */
#ifndef TC_BASE_H
#define TC_BASE_H

#ifndef TC_BUILDING_LIBRARY
#error "base/base.h is internal to tricolor"
#endif

#include "tricolor.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef TC_DEBUG
#define TC_DEBUG 1
#endif

#define TC_NORETURN __attribute__((noreturn))
#define TC_NOINLINE __attribute__((noinline))
#define TC_COLD __attribute__((cold, noinline))
#define TC_UNUSED __attribute__((unused))
#define TC_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- messages (base.c) ---- */

/* Prints "tricolor: <message>" and a newline to stderr, then aborts.
 * Never allocates.  Any thread, any state. */
TC_NORETURN TC_COLD void tc__fatal(const char *fmt, ...) TC_PRINTF(1, 2);
/* Prints "tricolor: <message>" to stderr without allocating. */
void tc__warn(const char *fmt, ...) TC_PRINTF(1, 2);
/* Writes a formatted line to stderr without allocating (no prefix). */
void tc__print(const char *fmt, ...) TC_PRINTF(1, 2);

#define TC__CHECK_AT(level, cond)                                          \
  do {                                                                     \
    if (TC_DEBUG >= (level) && TC__UNLIKELY(!(cond)))                      \
      tc__fatal("%s:%d: %s: check failed: %s", __FILE__, __LINE__,         \
                __func__, #cond);                                          \
  } while (0)
#define TC_ASSERT(cond) TC__CHECK_AT(1, cond)
#define TC_CHECK(cond) TC__CHECK_AT(2, cond)
#define TC_EXPENSIVE(cond) TC__CHECK_AT(3, cond)

/* ---- atomics: the order is in the name ---- */
#define tc__load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define tc__load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define tc__store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define tc__store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define tc__add_relaxed(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define tc__sub_relaxed(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)
#define tc__cas_acq_rel(p, expp, v)                                        \
  __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_ACQ_REL,   \
                              __ATOMIC_ACQUIRE)

/* ---- locks (see HACKING.md for the order) ---- */
typedef pthread_mutex_t tc__lock;
#define TC__LOCK_INIT PTHREAD_MUTEX_INITIALIZER
static inline void tc__lock_acquire(tc__lock *l) { pthread_mutex_lock(l); }
static inline void tc__lock_release(tc__lock *l) { pthread_mutex_unlock(l); }

/* A futex mutex word, tc__spin (lock.c): for short critical sections that
 * coroutines on several threads share; it blocks the thread, never parks
 * a coroutine.  0 unlocked, 1 locked, 2 locked with waiters (Drepper). */
void tc__spin_lock(uint32_t *l);
void tc__spin_unlock(uint32_t *l);
bool tc__spin_trylock(uint32_t *l);

/* ---- intrusive FIFOs: a head, a tail, and a link field in each node ---- */
/* Appends the chain first..last, already linked through `link`, to the
 * queue (head, tail); one node: first == last. */
#define TC__FIFO_APPEND(head, tail, first, last, link)                       \
  do {                                                                       \
    (last)->link = NULL;                                                     \
    if (tail)                                                                \
      (tail)->link = (first);                                                \
    else                                                                     \
      (head) = (first);                                                      \
    (tail) = (last);                                                         \
  } while (0)
/* Takes the oldest node of the queue into out (NULL: it was empty). */
#define TC__FIFO_POP(head, tail, out, link)                                  \
  do {                                                                       \
    (out) = (head);                                                          \
    if (out) {                                                               \
      (head) = (out)->link;                                                  \
      if ((head) == NULL)                                                    \
        (tail) = NULL;                                                       \
    }                                                                        \
  } while (0)

/* ---- clocks ---- */
static inline uint64_t tc__nanotime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static inline uint64_t tc__thread_cputime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- settings from TRICOLOR_DEBUG, read once by tc_init ---- */
typedef struct tc__debug {
  int gctrace;      /* gctrace=1: one line per cycle on stderr */
  int checkstores;  /* checkstores=1: every tc_store is validated */
  int gcstress;     /* gcstress=1: a full cycle at every slow allocation */
  int schedtrace;   /* schedtrace=MS: Go's SCHED line every MS ms */
  int scheddetail;  /* scheddetail=1: with per-P, per-M, per-G lines */
  int barrier;      /* barrier=hybrid|insertion|deletion|stw (tc_barrier_mode),
                       0 = unset; barrier=none is the test-only broken mode
                       (TC__BARRIER_NONE, below) */
  int gccheckmark;  /* gccheckmark=1: verify the mark in every termination */
  int gcforceperiod;/* gcforceperiod=MS: the force period, overriding config */
  int gcmarkdelay;  /* gcmarkdelay=US: (tests) the collector waits this long
                       after mark start before marking anything */
  int shadedelay;   /* shadedelay=US: (tests) a thread without a P buffer
                       holds the door this long after reading the phase,
                       before it greys (collector/gcwork.c) */
  int noweakshade;  /* noweakshade=1: (tests) tc_weak_get and the
                       ephemeron readers do not shade while marking: the
                       verifier must catch the lost object */
  int markthread;   /* markthread=1: the collector thread does the
                       background marking (the design before mark
                       workers ran on the Ps; for comparisons) */
  int retakedelay;  /* retakedelay=US: (tests) sysmon waits this long right
                       after it took a P from a system call, before it
                       hands the P on (widens the retake window) */
  int timerdelay;   /* timerdelay=US: (tests) the thread firing a due timer
                       waits this long after taking it off the timer heap,
                       before it readies its coroutine or sends on its
                       channel (sched/timer.c) */
  int idledelay;    /* idledelay=US: (tests) an M going idle waits this
                       long after its last look for work, before it parks
                       and runs the deadlock check (sched/proc.c) */
  int checkdelay;   /* checkdelay=US: (tests) the deadlock check, finding
                       the timer heap empty, waits this long before it
                       reads the count of timers being fired
                       (sched/timer.c) */
  int memprofilerate;     /* memprofilerate=N: heap-profile sampling rate
                             in bytes (1 = every object, 0 = off) ... */
  int has_memprofilerate; /* ... when set (else tc_set_mem_profile_rate's) */
  char memprofile[256];   /* memprofile=PATH: write the heap profile there
                             at tc_shutdown and on SIGUSR2; "" = none */
  int wbcheck;      /* wbcheck=1: the missing-barrier finder, aborts at
                       the first report; 2: reports and goes on
                       (collector/wbcheck.c) */
  int markorder;    /* markorder=object|span: TC__MARKORDER_*, the order
                       grey objects are scanned in (collector/spanq.c) */
  int markorderbug; /* markorderbug=1: (tests) span order drops a span's
                       late grey objects instead of queueing it again:
                       the verifier must catch the lost objects */
} tc__debug;
/* Mark orders (markorder=): one grey stack entry per object (the
 * default), or one queue entry per span of grey objects (Green Tea). */
enum { TC__MARKORDER_OBJECT = 0, TC__MARKORDER_SPAN = 1 };
extern tc__debug tc__debug_settings; /* base.c; written by tc_init only */

/* Test-only mode (TRICOLOR_DEBUG=barrier=none): marks concurrently like
 * hybrid but the barrier does nothing; the verifier must catch it.  A
 * value of tc__debug.barrier and of the barrier's mode words
 * (barrier/barrier.h). */
#define TC__BARRIER_NONE 100

/* Parses a TRICOLOR_DEBUG string ("a=1,b=2") into *d; unknown keys warn. */
void tc__debug_parse(tc__debug *d, const char *s);

/* Sleeps us microseconds if us > 0: the body of the test hooks that widen
 * a race window (gcmarkdelay, shadedelay, retakedelay, timerdelay,
 * idledelay, checkdelay). */
void tc__debug_delay(int us);

/* A spin-wait loop's pause: lets the sibling hyperthread run and saves
 * power (x86 pause, aarch64 yield). */
static inline void tc__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* Names the calling thread (printf-style, at most 15 characters, the
 * rest cut off) as top, gdb and /proc/PID/task/TID/comm show it:
 * "tricolor-m3", "tricolor-gc", ...  Threads tricolor starts name
 * themselves first thing. */
void tc__thread_name(const char *fmt, ...) TC_PRINTF(1, 2);

#endif /* TC_BASE_H */
