/*
 * test_sched_basic.c -- the G/M/P scheduler seen through the public API
 * (sched/proc.c, run.c, timer.c, sysmon.c).
 *
 * What is tested:
 *   - tc_run returns after main returns, also with other coroutines still
 *     parked or yielding (they are dropped); a coroutine looping on
 *     tc_safepoint() is dropped at its next safepoint, not run to the end;
 *     tc_run can be called 20 times in a row and leaves no thread, file
 *     descriptor or mapping behind; bad arguments are refused;
 *   - tc_go of 10k coroutines: each runs once, with its own argument; a
 *     heap object passed as the argument survives collections until the
 *     coroutine starts;
 *   - tc_yield on one P is round-robin: every coroutine runs once per round,
 *     in the same order each round;
 *   - tc_self: 1 for main, distinct ids for the others, stable across
 *     yields and thread changes;
 *   - tc_sleep wakes sleepers in deadline order, both when the deadlines
 *     are far apart and when several fall due together (one batch);
 *   - two coroutines print 1..N strictly alternately (a semaphore pair);
 *   - 100k coroutines parked at once on a semaphore, then all released;
 *   - work stealing: on 2 Ps, CPU-bound tasks spawned by one coroutine run
 *     on both threads and both Ps tick;
 *   - syscall hand-off: on 1 P, a coroutine blocked in read() inside
 *     tc_syscall_enter/exit does not stop another from running (and writing
 *     the pipe it waits on), 1000 times in a row;
 *   - preemption request: on 1 P, a coroutine spinning on tc_safepoint()
 *     lets another run (which sets the flag the spinner waits for); a
 *     coroutine asked to yield goes behind the Gs on the global queue
 *     (sleepers woken by sysmon all run before it comes back);
 *   - an allocation is a safepoint on its inline path too: asked to stop,
 *     a coroutine whose allocation run has room still takes the slow
 *     path, which answers the request (the word is 0 after it), so a
 *     pause waits for the next allocation, not for the run's end;
 *   - GC: lists held in coroutine locals across yields, lists parked in
 *     buffered channels and values in flight in a blocked unbuffered send
 *     survive forced collections (checksums; their finalizers do not run),
 *     and are finalized once dropped.
 *
 * Sizes shrink on slow builds (scaled(): /4..10 under the sanitizers, more
 * under valgrind; at most 4000 coroutines alive at once under
 * ThreadSanitizer, which dies beyond 8128 threads and fibers).  An
 * argument selects tests by name (cmocka filter, e.g. "test_sleep*").
 *
 * Assertions inside coroutines are recorded (EXPECT) and checked after
 * tc_run returns: cmocka's failure path longjmps, which must not cross a
 * coroutine switch.  Nothing asserts on time; the few time limits are hang
 * guards that turn a broken scheduler into a failure instead of a hang,
 * and a watchdog thread aborts a tc_run that does not return within 60 s
 * (more on slow builds), printing the scheduler's state (schedtrace).
 */
#include "tc_test.h"

#include "sched/proc.h" /* white-box: P schedticks, G status, schedtrace */

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <tricolor.h>

#include "tc_sched_test.h" /* run(), EXPECT, scaled(), guard_ns() */

/* A GC'd list: node.next is the reference; value feeds the checksum. */
typedef tc_test_node node; /* type tc_test_node_type */

/* A list head with a finalizer, to see when a list became unreachable. */
#define MAX_TRACKED 4096
typedef struct head {
  node *first;
  long id;
  long len;
  uint64_t sum;
} head;
static atomic_int finalized[MAX_TRACKED];
static atomic_long finalized_total;
static void head_finalize(void *obj) {
  head *h = obj;
  if (h->id >= 0 && h->id < MAX_TRACKED)
    atomic_fetch_add(&finalized[h->id], 1);
  atomic_fetch_add(&finalized_total, 1);
}
static const uint32_t head_offsets[] = {offsetof(head, first)};
static tc_type head_type = {.name = "head",
                            .offsets = head_offsets,
                            .noffsets = 1,
                            .finalize = head_finalize};

/* An array of references (offset 0, every 8 bytes). */
static const uint32_t ptrs_offsets[] = {0};
static tc_type ptrs_type = {
    .name = "ptrs", .offsets = ptrs_offsets, .noffsets = 1, .stride = 8};

static void finalized_reset(void) {
  for (int i = 0; i < MAX_TRACKED; i++)
    atomic_store(&finalized[i], 0);
  atomic_store(&finalized_total, 0);
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

/* Builds a tracked list of len nodes; returns its head (unrooted). */
static head *make_list(long id, long len) {
  head *h = NULL;
  node *n = NULL;
  TC_LOCALS(h, n);
  h = tc_alloc(&head_type, sizeof(head));
  h->id = id;
  h->len = len;
  for (long i = 0; i < len; i++) {
    n = tc_alloc(&tc_test_node_type, sizeof(node));
    n->value = mix((uint64_t)id * 1000003u + (uint64_t)i);
    TC_STORE(n, next, h->first);
    TC_STORE(h, first, n);
    h->sum += n->value;
  }
  return h;
}

/* True if h's list still has its length and checksum (no allocation). */
static bool list_intact(const head *h) {
  uint64_t sum = 0;
  long len = 0;
  for (const node *n = h->first; n; n = n->next) {
    sum += n->value;
    len++;
  }
  return len == h->len && sum == h->sum;
}

/* ------------------------------------------------------------------ */
/* tc_run                                                              */

typedef struct run_state {
  atomic_int main_ran;
  atomic_int children_done;
  atomic_int spinner_started;
  atomic_int spinner_finished;
  uint64_t main_id;
  tc_sema never; /* nobody releases it */
} run_state;

static void parked_forever(void *arg) {
  run_state *s = arg;
  tc_sema_acquire(&s->never);
  atomic_fetch_add(&s->children_done, 1); /* never reached */
}

static void yields_forever(void *arg) {
  (void)arg;
  for (;;)
    tc_yield();
}

static void child_returns(void *arg) {
  run_state *s = arg;
  atomic_fetch_add(&s->children_done, 1);
}

static void main_returns(void *arg) {
  run_state *s = arg;
  s->main_id = tc_self();
  tc_sema_init(&s->never, 0);
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(child_returns, s) == TC_OK);
  EXPECT(tc_go(parked_forever, s) == TC_OK);
  EXPECT(tc_go(yields_forever, s) == TC_OK);
  while (atomic_load(&s->children_done) < 3)
    tc_yield();
  atomic_store(&s->main_ran, 1);
}

static void test_run_returns_after_main(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    run_state s = {0};
    run(procs, main_returns, &s);
    assert_int_equal(atomic_load(&s.main_ran), 1);
    assert_int_equal(atomic_load(&s.children_done), 3);
    assert_int_equal(s.main_id, 1);
  }
}

/* A coroutine that only hits tc_safepoint() is dropped there when main
 * returns (tricolor.h: "other coroutines still alive then are dropped"). */
static void safepoint_spinner(void *arg) {
  run_state *s = arg;
  atomic_store(&s->spinner_started, 1);
  int64_t end = tc_now() + guard_ns() / 2;
  while (tc_now() < end)
    tc_safepoint();
  atomic_store(&s->spinner_finished, 1);
}

static void main_leaves_spinner(void *arg) {
  run_state *s = arg;
  EXPECT(tc_go(safepoint_spinner, s) == TC_OK);
  while (!atomic_load(&s->spinner_started))
    tc_yield(); /* on 2 Ps the spinner may run on the other P */
}

static void test_run_drops_spinning_coroutine(void **state) {
  (void)state;
  run_state s = {0};
  run(2, main_leaves_spinner, &s);
  /* tc_run returned; the spinner must have been abandoned at a safepoint,
   * not waited for until its loop ran out. */
  assert_int_equal(atomic_load(&s.spinner_started), 1);
  assert_int_equal(atomic_load(&s.spinner_finished), 0);
}

/* Every coroutine still running when main returns must see the exit at
 * its next safepoint, whichever M it runs on.  The exit pokes each M
 * once; an M that had just picked a coroutine from a queue reset its
 * preempt word as it switched to it, after the poke, so the coroutine
 * ran on, and tc_run waited for it forever (the watchdog of run() turns
 * that into a failure).  Coroutines that loop on tc_safepoint() through
 * system calls move between Ms often (the syscall hand-off), which makes
 * the switch frequent; main returns after a varying delay. */
typedef struct exit_race {
  int64_t delay_ns;
} exit_race;

static void exit_race_noop(void *arg) { (void)arg; }

static void exit_race_syscaller(void *arg) {
  (void)arg;
  for (;;) {
    tc_syscall_enter();
    usleep(20);
    tc_syscall_exit();
    tc_safepoint(); /* the only way out */
  }
}

static void exit_race_spawner(void *arg) {
  (void)arg;
  /* at most 256 coroutines a run: each has a stack mapping, and under
   * valgrind unbounded spawning overflowed its table of mappings */
  for (int i = 0;;) {
    if (i < 256) {
      EXPECT(tc_go(exit_race_noop, NULL) == TC_OK);
      i++;
    }
    tc_safepoint();
  }
}

static void exit_race_main(void *arg) {
  exit_race *s = arg;
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(exit_race_syscaller, NULL) == TC_OK);
  EXPECT(tc_go(exit_race_spawner, NULL) == TC_OK);
  tc_sleep(s->delay_ns);
}

static void test_run_exit_reaches_running_coroutines(void **state) {
  (void)state;
  int runs = (int)scaled(60, 4);
  for (int r = 0; r < runs; r++) {
    exit_race s = {.delay_ns = 200000 + 100000 * (r % 20)};
    run(4, exit_race_main, &s);
  }
}

static void noop_main(void *arg) { (void)arg; }

static void test_run_bad_arguments(void **state) {
  (void)state;
  assert_int_equal(tc_run(NULL, NULL, NULL), TC_EINVAL);
  tc_config bad = {.procs = -1};
  assert_int_not_equal(tc_run(&bad, noop_main, NULL), TC_OK);
  /* NULL config: defaults */
  assert_int_equal(tc_run(NULL, noop_main, NULL), TC_OK);
}

typedef struct repeat_state {
  atomic_long sum;
  tc_waitgroup wg;
} repeat_state;

static void repeat_worker(void *arg) {
  repeat_state *s = arg;
  head *h = NULL;
  TC_LOCALS(h);
  h = make_list(-1, 50);
  tc_yield();
  EXPECT(list_intact(h));
  atomic_fetch_add(&s->sum, h->len);
  tc_waitgroup_done(&s->wg);
}

static int own_threads(bool print);

static void repeat_main(void *arg) {
  repeat_state *s = arg;
  /* the count in test_run_repeated sees tricolor's threads (sysmon and
   * the collector thread, once they have named themselves) */
  if (!tc_test_under_emulator()) {
    for (int i = 0; i < 1000 && own_threads(false) < 2; i++)
      tc_sleep(1000000);
    EXPECT(own_threads(false) >= 2);
  }
  tc_waitgroup_add(&s->wg, 20);
  for (int i = 0; i < 20; i++)
    EXPECT(tc_go(repeat_worker, s) == TC_OK);
  tc_gc();
  tc_waitgroup_wait(&s->wg);
}

/* Reads the first line of /proc/self/task/TID/FILE into buf, up to the
 * first character of `stop` ("" if unreadable). */
static void task_line(const char *tid, const char *file, char *buf,
                      size_t size, const char *stop) {
  char path[300];
  snprintf(path, sizeof path, "/proc/self/task/%s/%s", tid, file);
  FILE *f = fopen(path, "r");
  if (f == NULL || fgets(buf, (int)size, f) == NULL)
    buf[0] = '\0';
  buf[strcspn(buf, stop)] = '\0';
  if (f)
    fclose(f);
}

/* Returns how many of this process's threads are tricolor's own (named
 * tricolor-..., base.c); with `print`, lists every thread by name, state
 * and the system call it sits in. */
static int own_threads(bool print) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char comm[64], stat[256], sys[64];
    task_line(e->d_name, "comm", comm, sizeof comm, "\n");
    n += strncmp(comm, "tricolor-", 9) == 0;
    if (!print)
      continue;
    task_line(e->d_name, "stat", stat, sizeof stat, "\n");
    task_line(e->d_name, "syscall", sys, sizeof sys, " \n");
    const char *st = strrchr(stat, ')'); /* "pid (comm) S ..." */
    print_error("  tid %s %s state %c syscall %s\n", e->d_name, comm,
                st && st[1] ? st[2] : '?', sys);
  }
  if (d)
    closedir(d);
  return n;
}

static void test_run_repeated(void **state) {
  (void)state;
  /* The first run sets up what stays for the process (signal handlers,
   * lazily loaded libraries); the next 20 must add nothing. */
  repeat_state s0 = {0};
  run(2, repeat_main, &s0);
  int fds = tc_test_count_entries("/proc/self/fd");
  int maps = tc_test_count_lines("/proc/self/maps");
  for (int r = 0; r < 20; r++) {
    repeat_state s = {0};
    run(1 + r % 2, repeat_main, &s);
    assert_int_equal(atomic_load(&s.sum), 20 * 50);
  }
  /* No thread of tricolor's (named tricolor-*, base.c) is left; a joined
   * thread can stay listed for a moment.  Counted by name, so that the
   * sanitizers' own threads and qemu-user's host threads do not count. */
  if (!tc_test_under_emulator()) {
    int left = own_threads(false);
    for (int i = 0; i < 1000 && left != 0; i++) {
      usleep(10000);
      left = own_threads(false);
    }
    if (left != 0) {
      print_error("%d tricolor thread(s) left after tc_run returned:\n",
                  left);
      own_threads(true);
    }
    assert_int_equal(left, 0);
  }
  assert_int_equal(tc_test_count_entries("/proc/self/fd"), fds);
  /* Some slack, far below one mapping per run: glibc's malloc may split
   * or merge its own, and glibc keeps the stacks (stack + guard) and the
   * malloc arenas of exited threads for reuse, as many as were alive at
   * once; how many Ms (plus sysmon and the collector thread) coexist in a
   * run depends on timing, so the cache can settle a few higher.
   * The sanitizers' and valgrind's allocators map memory on demand and
   * keep it (and ThreadSanitizer keeps state for every thread and fiber it
   * has seen): the mapping count is checked in plain builds only. */
  int maps_after = tc_test_count_lines("/proc/self/maps");
  bool plain = !UNDER_TSAN && !tc_test_under_asan() &&
               !tc_test_under_valgrind();
  if (plain && maps_after > maps + 10) {
    print_error("mappings: %d before 20 runs, %d after\n", maps, maps_after);
    fail();
  }
}

/* main returns while the collector stops and restarts the world again
 * and again: every M must leave, whether it is running, stopped for the
 * collector (waiting for the restart) or idle, so tc_run returns (the
 * watchdog of run() fails the test if it hangs).  Churners allocate
 * garbage under gcstress=1, so that cycles run back to back (several a
 * millisecond); main returns after a varying
 * delay so that its exit lands in different phases of a cycle. */
typedef struct exit_state {
  int64_t delay_ns;
} exit_state;

/* Allocates garbage until the runtime drops it (main's exit). */
static void exit_churner(void *arg) {
  (void)arg;
  node *n = NULL;
  TC_LOCALS(n);
  for (;;)
    n = tc_alloc(&tc_test_node_type, sizeof(node)); /* garbage at once */
}

static void exit_main(void *arg) {
  exit_state *s = arg;
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(exit_churner, s) == TC_OK);
  /* first one whole cycle (under valgrind the churners need a while to
   * start one, and a woken main no longer waits behind them: sched/proc.c,
   * TC__AFTER_PREEMPT), then the varying delay */
  tc_stats st;
  int64_t end = tc_now() + guard_ns();
  do {
    tc_sleep(100000);
    tc_read_stats(&st);
  } while (st.cycles == 0 && tc_now() < end);
  tc_sleep(s->delay_ns);
  /* returns with the churners still allocating: they are dropped */
}

static void test_run_exits_while_collecting(void **state) {
  (void)state;
  int runs = tc_test_under_valgrind() ? 5 : 60;
  tc_stats st;
  uint64_t cycles = 0;
  setenv("TRICOLOR_DEBUG", "gcstress=1", 1); /* a cycle per refill */
  for (int r = 0; r < runs; r++) {
    exit_state s = {.delay_ns = 200000 + (int64_t)(r % 13) * 137000};
    run(2, exit_main, &s);
    tc_read_stats(&st);
    cycles += st.cycles;
  }
  unsetenv("TRICOLOR_DEBUG");
  print_message("%d runs exited while collecting; %llu cycles in all\n",
                runs, (unsigned long long)cycles);
  assert_true(cycles > 0); /* the exits did meet cycles */
}

/* ------------------------------------------------------------------ */
/* tc_go                                                               */

#define MANY 10000

typedef struct many_state {
  atomic_int ran[MANY];
  long n;
  tc_waitgroup wg;
} many_state;

typedef struct many_arg {
  many_state *s;
  long i;
} many_arg;

static many_arg many_args[MANY];

static void many_worker(void *arg) {
  many_arg *a = arg;
  atomic_fetch_add(&a->s->ran[a->i], 1);
  tc_waitgroup_done(&a->s->wg);
}

static void many_main(void *arg) {
  many_state *s = arg;
  tc_waitgroup_add(&s->wg, s->n);
  for (long i = 0; i < s->n; i++) {
    many_args[i] = (many_arg){s, i};
    EXPECT(tc_go(many_worker, &many_args[i]) == TC_OK);
  }
  tc_waitgroup_wait(&s->wg);
}

static void test_go_many(void **state) {
  (void)state;
  static many_state s;
  for (int procs = 1; procs <= 2; procs++) {
    memset(&s, 0, sizeof s);
    s.n = scaled_gs(MANY, 2);
    run(procs, many_main, &s);
    for (long i = 0; i < s.n; i++)
      if (atomic_load(&s.ran[i]) != 1) {
        print_error("procs=%d: coroutine %ld ran %d times\n", procs, i,
                    atomic_load(&s.ran[i]));
        fail();
      }
  }
}

/* tc_go's argument is a root until the coroutine starts (tricolor.h). */
#define ARG_GS 64

typedef struct arg_state {
  atomic_int started;
  tc_waitgroup wg;
} arg_state;
static arg_state *arg_st;

static void arg_worker(void *arg) {
  head *h = arg;
  TC_LOCALS(h);
  EXPECT(atomic_load(&finalized[h->id]) == 0);
  EXPECT(list_intact(h));
  atomic_fetch_add(&arg_st->started, 1);
  tc_waitgroup_done(&arg_st->wg);
}

static void arg_main(void *arg) {
  arg_state *s = arg;
  void **lists = NULL;
  TC_LOCALS(lists);
  arg_st = s;
  /* Build the lists first (allocation is a safepoint: main could be asked
   * to yield there), then start the coroutines without a safepoint in
   * between: one P, so none runs before main parks in tc_gc below, and
   * until it runs only its g->arg reaches its list. */
  lists = tc_alloc(&ptrs_type, ARG_GS * sizeof(void *));
  for (long i = 0; i < ARG_GS; i++)
    tc_store(&lists[i], make_list(i, 20));
  tc_waitgroup_add(&s->wg, ARG_GS);
  for (long i = 0; i < ARG_GS; i++) {
    EXPECT(tc_go(arg_worker, tc_load(&lists[i])) == TC_OK);
    tc_store(&lists[i], NULL);
  }
  lists = NULL;
  EXPECT(atomic_load(&s->started) == 0);
  /* tc_gc parks main while the collector thread works, so the workers
   * may start during these cycles; each checks on entry that its list
   * survived every cycle that ran before it (only g->arg held it). */
  for (int i = 0; i < 3; i++)
    tc_gc();
  tc_waitgroup_wait(&s->wg);
  /* Now they are garbage: the finalizers run (so the GC did look). */
  for (int i = 0; i < 3 && atomic_load(&finalized_total) < ARG_GS; i++)
    tc_gc();
  EXPECT(atomic_load(&finalized_total) == ARG_GS);
}

static void test_go_heap_argument_survives_gc(void **state) {
  (void)state;
  finalized_reset();
  arg_state s = {0};
  run(1, arg_main, &s);
  assert_int_equal(atomic_load(&s.started), ARG_GS);
}

/* ------------------------------------------------------------------ */
/* tc_yield order, tc_self                                             */

#define YG 4      /* coroutines */
#define YROUNDS 6 /* rounds each; YG * YROUNDS stays far below 61 ticks */

typedef struct yield_state {
  int seq[YG * YROUNDS]; /* who ran, in order */
  int n;
  tc_waitgroup wg;
} yield_state;

typedef struct yield_arg {
  yield_state *s;
  int who;
} yield_arg;

static void yield_worker(void *arg) {
  yield_arg *a = arg;
  for (int r = 0; r < YROUNDS; r++) {
    a->s->seq[a->s->n++] = a->who; /* one P: no race */
    tc_yield();
  }
  tc_waitgroup_done(&a->s->wg);
}

static void yield_main(void *arg) {
  yield_state *s = arg;
  static yield_arg args[YG];
  tc_waitgroup_add(&s->wg, YG);
  for (int i = 0; i < YG; i++) {
    args[i] = (yield_arg){s, i};
    EXPECT(tc_go(yield_worker, &args[i]) == TC_OK);
  }
  tc_waitgroup_wait(&s->wg);
}

static void test_yield_round_robin(void **state) {
  (void)state;
  yield_state s = {0};
  run(1, yield_main, &s);
  assert_int_equal(s.n, YG * YROUNDS);
  /* Round 0 is some permutation; every later round repeats it. */
  bool seen[YG] = {false};
  for (int i = 0; i < YG; i++) {
    assert_in_range(s.seq[i], 0, YG - 1);
    assert_false(seen[s.seq[i]]);
    seen[s.seq[i]] = true;
  }
  for (int i = YG; i < YG * YROUNDS; i++)
    if (s.seq[i] != s.seq[i % YG]) {
      print_error("yield order broke at step %d: got %d, round 0 had %d\n",
                  i, s.seq[i], s.seq[i % YG]);
      fail();
    }
}

#define SELF_GS 200

typedef struct self_state {
  uint64_t ids[SELF_GS];
  atomic_int moved; /* ran on more than one thread */
  tc_waitgroup wg;
  uint64_t main_id;
} self_state;

typedef struct self_arg {
  self_state *s;
  int i;
} self_arg;

static void self_worker(void *arg) {
  self_arg *a = arg;
  uint64_t id = tc_self();
  pthread_t t0 = pthread_self();
  a->s->ids[a->i] = id;
  for (int k = 0; k < 50; k++) {
    tc_yield();
    EXPECT(tc_self() == id);
    if (!pthread_equal(pthread_self(), t0))
      atomic_store(&a->s->moved, 1);
  }
  tc_waitgroup_done(&a->s->wg);
}

static void self_main(void *arg) {
  self_state *s = arg;
  static self_arg args[SELF_GS];
  s->main_id = tc_self();
  tc_waitgroup_add(&s->wg, SELF_GS);
  for (int i = 0; i < SELF_GS; i++) {
    args[i] = (self_arg){s, i};
    EXPECT(tc_go(self_worker, &args[i]) == TC_OK);
  }
  tc_waitgroup_wait(&s->wg);
  EXPECT(tc_self() == s->main_id);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_self_ids(void **state) {
  (void)state;
  self_state s = {0};
  run(2, self_main, &s);
  assert_int_equal(s.main_id, 1);
  qsort(s.ids, SELF_GS, sizeof s.ids[0], cmp_u64);
  assert_true(s.ids[0] > 1);
  for (int i = 1; i < SELF_GS; i++)
    assert_true(s.ids[i] > s.ids[i - 1]); /* distinct */
}

/* ------------------------------------------------------------------ */
/* tc_sleep                                                            */

#define SLEEPERS 12

typedef struct sleep_state {
  int64_t base, step;   /* sleeper of rank r wakes at base + r * step */
  int order[SLEEPERS];  /* ranks, in wake-up order */
  int64_t late_ns[SLEEPERS]; /* how late each ran (diagnostics only) */
  pthread_t thread[SLEEPERS];
  atomic_int n;
  atomic_int late;      /* a deadline had passed before its tc_sleep */
  atomic_int sleeping;  /* reached tc_sleep (one P: parked when we look) */
  tc_sema start;
  tc_waitgroup wg;
  bool busy_main;       /* main holds the P while the deadlines pass */
} sleep_state;

typedef struct sleep_arg {
  sleep_state *s;
  int rank;
} sleep_arg;

static void sleeper(void *arg) {
  sleep_arg *a = arg;
  sleep_state *s = a->s;
  tc_sema_acquire(&s->start);
  int64_t ns = s->base + a->rank * s->step - tc_now();
  if (ns <= 0)
    atomic_store(&s->late, 1);
  atomic_fetch_add(&s->sleeping, 1); /* no safepoint until tc_sleep parks */
  tc_sleep(ns);
  int64_t woke = tc_now();
  int k = atomic_fetch_add(&s->n, 1);
  s->order[k] = a->rank;
  s->late_ns[k] = woke - (s->base + a->rank * s->step);
  s->thread[k] = pthread_self();
  tc_waitgroup_done(&s->wg);
}

static void sleep_main(void *arg) {
  sleep_state *s = arg;
  static sleep_arg args[SLEEPERS];
  /* creation order differs from deadline order */
  static const int ranks[SLEEPERS] = {5, 2, 11, 0, 7, 9, 1, 10, 3, 8, 6, 4};
  tc_sema_init(&s->start, 0);
  tc_waitgroup_add(&s->wg, SLEEPERS);
  for (int i = 0; i < SLEEPERS; i++) {
    args[i] = (sleep_arg){s, ranks[i]};
    EXPECT(tc_go(sleeper, &args[i]) == TC_OK);
  }
  /* Let them all park on the semaphore, then start them together: the
   * margin covers the microseconds they need to reach tc_sleep. */
  for (int i = 0; i < 4 * SLEEPERS; i++)
    tc_yield();
  int64_t margin = tc_test_under_valgrind() ? 400000000
                   : tc_test_slow_build()   ? 200000000
                                            : 40000000;
  s->base = tc_now() + margin;
  for (int i = 0; i < SLEEPERS; i++)
    tc_sema_release(&s->start);
  if (s->busy_main) {
    /* Hold the only P (no safepoint) until every deadline has passed:
     * sysmon fires the timers, several at once. */
    while (atomic_load(&s->sleeping) < SLEEPERS)
      tc_yield(); /* let the sleepers reach tc_sleep */
    int64_t end = s->base + SLEEPERS * s->step + 5000000;
    while (tc_now() < end) {
    }
  }
  tc_waitgroup_wait(&s->wg);
}

static void check_sleep_order(sleep_state *s) {
  if (atomic_load(&s->late)) {
    print_error("a sleeper started after its deadline: the margin is too "
                "small for this machine\n");
    fail();
  }
  assert_int_equal(atomic_load(&s->n), SLEEPERS);
  for (int i = 0; i < SLEEPERS; i++)
    if (s->order[i] != i) {
      char buf[256];
      size_t len = 0;
      for (int k = 0; k < SLEEPERS; k++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, " %d",
                                s->order[k]);
      print_error("wake-up order by rank:%s (expected 0..%d)\n", buf,
                  SLEEPERS - 1);
      for (int k = 0; k < SLEEPERS; k++)
        print_error("  rank %2d ran %8.1f us after its deadline%s\n",
                    s->order[k], (double)s->late_ns[k] / 1e3,
                    k && !pthread_equal(s->thread[k], s->thread[k - 1])
                        ? " (another thread)"
                        : "");
      fail();
    }
}

static void test_sleep_wakes_in_deadline_order(void **state) {
  (void)state;
  sleep_state s = {0};
  s.step = tc_test_under_valgrind() ? 20000000 : 5000000; /* 5 ms apart */
  run(1, sleep_main, &s);
  check_sleep_order(&s);
}

static void test_sleep_batch_wakes_in_deadline_order(void **state) {
  (void)state;
  /* Deadlines 5 us apart (more on slow builds, where the time between a
   * sleeper's tc_now() and the one in tc_sleep is longer) fall due
   * together; the timer code must still ready them earliest first. */
  sleep_state s = {0};
  s.step = tc_test_slow_build() ? 1000000 : 5000; /* a sleeper descheduled
    between its tc_now() and tc_sleep's clock for longer than a step (a
    loaded machine, sanitizers: 200 us was seen too little under TSan)
    would move its own deadline past the next rank's */
  s.busy_main = true;
  run(1, sleep_main, &s);
  check_sleep_order(&s);
}

/* ------------------------------------------------------------------ */
/* Alternation with a semaphore pair                                   */

typedef struct alt_state {
  long n;
  long *seq;      /* seq[i] = the number printed at step i */
  int *who;       /* who printed it */
  long next;
  tc_sema turn[2];
  tc_waitgroup wg;
} alt_state;

typedef struct alt_arg {
  alt_state *s;
  int me;
} alt_arg;

static void alternator(void *arg) {
  alt_arg *a = arg;
  alt_state *s = a->s;
  for (;;) {
    tc_sema_acquire(&s->turn[a->me]);
    long k = s->next;
    if (k >= s->n) {
      tc_sema_release(&s->turn[!a->me]); /* let the other one finish */
      break;
    }
    s->seq[k] = k + 1;
    s->who[k] = a->me;
    s->next = k + 1;
    if ((k & 63) == 0)
      tc_yield(); /* holding the turn across a switch changes nothing */
    tc_sema_release(&s->turn[!a->me]);
  }
  tc_waitgroup_done(&s->wg);
}

static void alt_main(void *arg) {
  alt_state *s = arg;
  static alt_arg args[2];
  tc_sema_init(&s->turn[0], 1);
  tc_sema_init(&s->turn[1], 0);
  tc_waitgroup_add(&s->wg, 2);
  /* the second one first, so the first has to wait for its turn */
  args[1] = (alt_arg){s, 1};
  args[0] = (alt_arg){s, 0};
  EXPECT(tc_go(alternator, &args[1]) == TC_OK);
  EXPECT(tc_go(alternator, &args[0]) == TC_OK);
  tc_waitgroup_wait(&s->wg);
}

static void test_alternate_sema_pair(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    alt_state s = {0};
    s.n = scaled(20000, 4);
    s.seq = calloc((size_t)s.n, sizeof *s.seq);
    s.who = calloc((size_t)s.n, sizeof *s.who);
    assert_non_null(s.seq);
    assert_non_null(s.who);
    run(procs, alt_main, &s);
    assert_int_equal(s.next, s.n);
    for (long i = 0; i < s.n; i++) {
      if (s.seq[i] != i + 1 || s.who[i] != (int)(i % 2)) {
        print_error("procs=%d step %ld: printed %ld by %d\n", procs, i,
                    s.seq[i], s.who[i]);
        fail();
      }
    }
    free(s.seq);
    free(s.who);
  }
}

/* ------------------------------------------------------------------ */
/* 100k parked coroutines                                              */

typedef struct park_state {
  long n;
  atomic_long parked;   /* reached tc_sema_acquire */
  atomic_long released; /* returned from it */
  tc_sema sema;
  tc_waitgroup wg;
} park_state;

static void parker(void *arg) {
  park_state *s = arg;
  atomic_fetch_add(&s->parked, 1);
  tc_sema_acquire(&s->sema);
  atomic_fetch_add(&s->released, 1);
  tc_waitgroup_done(&s->wg);
}

static void park_main(void *arg) {
  park_state *s = arg;
  tc_sema_init(&s->sema, 0);
  tc_waitgroup_add(&s->wg, s->n);
  for (long i = 0; i < s->n; i++)
    EXPECT(tc_go(parker, s) == TC_OK);
  int64_t end = tc_now() + guard_ns();
  while (atomic_load(&s->parked) < s->n && tc_now() < end)
    tc_yield();
  /* all of them alive at once: none could pass the semaphore yet */
  EXPECT(atomic_load(&s->parked) == s->n);
  EXPECT(atomic_load(&s->released) == 0);
  tc_gc(); /* scans every parked coroutine */
  for (long i = 0; i < s->n; i++)
    tc_sema_release(&s->sema);
  tc_waitgroup_wait(&s->wg);
  EXPECT(atomic_load(&s->released) == s->n);
}

static void test_100k_parked(void **state) {
  (void)state;
  static park_state s;
  memset(&s, 0, sizeof s);
  s.n = scaled_gs(100000, 10);
  run(2, park_main, &s);
  assert_int_equal(atomic_load(&s.parked), s.n);
  assert_int_equal(atomic_load(&s.released), s.n);
}

/* ------------------------------------------------------------------ */
/* Work stealing                                                       */

#define STEAL_TASKS 64

typedef struct steal_state {
  pthread_t thread[STEAL_TASKS];
  atomic_int threads_seen; /* bit 0: main's thread, bit 1: another */
  pthread_t main_thread;
  tc_waitgroup wg;
  uint32_t ticks[2];
  atomic_int nran;
} steal_state;

typedef struct steal_arg {
  steal_state *s;
  int i;
} steal_arg;

static void cpu_task(void *arg) {
  steal_arg *a = arg;
  steal_state *s = a->s;
  pthread_t self = pthread_self();
  s->thread[a->i] = self;
  atomic_fetch_or(&s->threads_seen,
                  pthread_equal(self, s->main_thread) ? 1 : 2);
  /* CPU-bound until a task has run on a second thread (or the hang guard):
   * the other tasks sit in this P's queue meanwhile, so only a steal (or
   * a preemption that moves them) lets another thread in. */
  volatile uint64_t x = 0;
  int64_t end = tc_now() + guard_ns() / 4;
  while (atomic_load(&s->threads_seen) != 3 && tc_now() < end) {
    for (int k = 0; k < 1000; k++)
      x += (uint64_t)k * 7;
    tc_safepoint();
  }
  atomic_fetch_add(&s->nran, 1);
  tc_waitgroup_done(&s->wg);
}

static void steal_main(void *arg) {
  steal_state *s = arg;
  static steal_arg args[STEAL_TASKS];
  s->main_thread = pthread_self();
  tc_waitgroup_add(&s->wg, STEAL_TASKS);
  for (int i = 0; i < STEAL_TASKS; i++) {
    args[i] = (steal_arg){s, i};
    EXPECT(tc_go(cpu_task, &args[i]) == TC_OK);
  }
  tc_waitgroup_wait(&s->wg);
  /* white-box: both Ps scheduled Gs of their own (not only inherited) */
  for (int p = 0; p < 2; p++)
    s->ticks[p] = tc__load_relaxed(&tc__sched.allp[p].schedtick);
}

static void test_work_stealing(void **state) {
  (void)state;
  steal_state s = {0};
  run(2, steal_main, &s);
  assert_int_equal(atomic_load(&s.nran), STEAL_TASKS);
  int distinct = 1;
  for (int i = 1; i < STEAL_TASKS; i++) {
    bool fresh = true;
    for (int k = 0; k < i; k++)
      if (pthread_equal(s.thread[i], s.thread[k]))
        fresh = false;
    distinct += fresh;
  }
  if (distinct < 2) {
    print_error("all %d tasks ran on one thread\n", STEAL_TASKS);
    fail();
  }
  assert_true(s.ticks[0] > 0);
  assert_true(s.ticks[1] > 0);
}

/* ------------------------------------------------------------------ */
/* Syscall hand-off                                                    */

typedef struct sys_state {
  int fds[2];
  atomic_int reader_in_syscall;
  atomic_int writer_ran_while_blocked;
  atomic_int reader_done;
  char got;
  int poll_rc;
  long spin; /* busy iterations between the write and the wait */
  tc_waitgroup wg;
} sys_state;

static void blocking_reader(void *arg) {
  sys_state *s = arg;
  atomic_store(&s->reader_in_syscall, 1);
  tc_syscall_enter();
  /* poll with a hang guard rather than a bare read: a missing hand-off
   * then fails the test instead of hanging it */
  struct pollfd pfd = {.fd = s->fds[0], .events = POLLIN};
  int rc = poll(&pfd, 1, (int)(guard_ns() / 1000000));
  char c = 0;
  if (rc == 1 && read(s->fds[0], &c, 1) != 1)
    rc = -2;
  tc_syscall_exit();
  s->poll_rc = rc;
  s->got = c;
  atomic_store(&s->reader_done, 1);
  tc_waitgroup_done(&s->wg);
}

static void sys_main(void *arg) {
  sys_state *s = arg;
  tc_waitgroup_add(&s->wg, 1);
  EXPECT(tc_go(blocking_reader, s) == TC_OK);
  /* One P: the reader runs (next, or after another turn of ours if the
   * queues are served in another order) and blocks in the kernel holding
   * the P.  Once it has, we run again only if the P is handed to another
   * thread. */
  int64_t end = tc_now() + guard_ns();
  while (!atomic_load(&s->reader_in_syscall) && tc_now() < end)
    tc_yield();
  EXPECT(atomic_load(&s->reader_in_syscall) == 1);
  if (!atomic_load(&s->reader_done))
    atomic_store(&s->writer_ran_while_blocked, 1);
  char c = 'x';
  EXPECT(write(s->fds[1], &c, 1) == 1);
  /* Vary when this thread gives the P up relative to the reader's wake-up
   * (the repeated test sweeps the window; no safepoint in here). */
  for (volatile long k = 0; k < s->spin; k++) {
  }
  tc_waitgroup_wait(&s->wg);
}

static void test_syscall_handoff(void **state) {
  (void)state;
  sys_state s = {0};
  assert_int_equal(pipe(s.fds), 0);
  run(1, sys_main, &s);
  close(s.fds[0]);
  close(s.fds[1]);
  assert_int_equal(s.poll_rc, 1);
  assert_int_equal(s.got, 'x');
  assert_int_equal(atomic_load(&s.writer_ran_while_blocked), 1);
}

/* The same, many times in one run: each tc_syscall_exit races with the
 * thread that took the P over going idle (the exiting coroutine may find
 * no idle P, queue itself and park its thread just as that P is released);
 * a lost wake-up there hangs the program (the watchdog reports it). */
typedef struct sysrep_state {
  sys_state one;
  long rounds, handoffs, done;
} sysrep_state;

static void sysrep_main(void *arg) {
  sysrep_state *s = arg;
  for (long r = 0; r < s->rounds; r++) {
    memset(&s->one.wg, 0, sizeof s->one.wg);
    atomic_store(&s->one.reader_in_syscall, 0);
    atomic_store(&s->one.reader_done, 0);
    atomic_store(&s->one.writer_ran_while_blocked, 0);
    s->one.spin = (r * 997) % 40000;
    sys_main(&s->one);
    EXPECT(s->one.poll_rc == 1 && s->one.got == 'x');
    s->handoffs += atomic_load(&s->one.writer_ran_while_blocked);
    s->done++;
  }
}

static void test_syscall_handoff_repeated(void **state) {
  (void)state;
  sysrep_state s = {0};
  s.rounds = scaled(1000, 5);
  assert_int_equal(pipe(s.one.fds), 0);
  run(1, sysrep_main, &s);
  close(s.one.fds[0]);
  close(s.one.fds[1]);
  assert_int_equal(s.done, s.rounds);
  assert_int_equal(s.handoffs, s.rounds);
}

/* ------------------------------------------------------------------ */
/* Preemption request                                                  */

typedef struct preempt_state {
  atomic_int spinning;
  atomic_int flag;
  atomic_int setter_saw_spinner; /* the setter ran while the spinner spun */
  atomic_int spinner_saw_flag;
  tc_waitgroup wg;
} preempt_state;

static void flag_spinner(void *arg) {
  preempt_state *s = arg;
  atomic_store(&s->spinning, 1);
  int64_t end = tc_now() + guard_ns();
  while (!atomic_load(&s->flag) && tc_now() < end)
    tc_safepoint();
  atomic_store(&s->spinner_saw_flag, atomic_load(&s->flag));
  atomic_store(&s->spinning, 0);
  tc_waitgroup_done(&s->wg);
}

static void flag_setter(void *arg) {
  preempt_state *s = arg;
  atomic_store(&s->setter_saw_spinner, atomic_load(&s->spinning));
  atomic_store(&s->flag, 1);
  tc_waitgroup_done(&s->wg);
}

static void preempt_main(void *arg) {
  preempt_state *s = arg;
  tc_waitgroup_add(&s->wg, 2);
  /* The spinner is created last, so it runs first (runnext); the setter
   * waits in the queue of the only P until the spinner is asked to stop. */
  EXPECT(tc_go(flag_setter, s) == TC_OK);
  EXPECT(tc_go(flag_spinner, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
}

static void test_preemption_request(void **state) {
  (void)state;
  preempt_state s = {0};
  run(1, preempt_main, &s);
  assert_int_equal(atomic_load(&s.setter_saw_spinner), 1);
  assert_int_equal(atomic_load(&s.spinner_saw_flag), 1);
}

/* A coroutine that sysmon asks to yield goes behind the global queue, as
 * Go's preempted G does.  On 1 P, K sleepers are woken by sysmon (which
 * has no P: they go to the global queue) while a spinner runs without a
 * safepoint; then the spinner is asked to yield once, as sysmon asks a G
 * that ran 10 ms.  Every sleeper must have run when it comes back.  When
 * the preempted G went to the tail of its own P's queue it came back at
 * once, and the global queue moved one G per 61 switches, that is one
 * per 610 ms of a program whose every P runs such a loop: main, woken
 * from tc_sleep, waited seconds for its turn (test_run_exit_reaches_
 * running_coroutines, under ASan). */
enum { FAIR_SLEEPERS = 8 };

typedef struct fair_state {
  atomic_int woken;
  int woken_by_return; /* sleepers that ran before the spinner came back */
  tc_waitgroup wg;
} fair_state;

static void fair_sleeper(void *arg) {
  fair_state *s = arg;
  tc_sleep(20000000); /* 20 ms: the spinner is running by then */
  atomic_fetch_add(&s->woken, 1);
  tc_waitgroup_done(&s->wg);
}

static void fair_spinner(void *arg) {
  fair_state *s = arg;
  /* no safepoint until every sleeper is off the timer heap and on the
   * global queue (tc__timers_pending counts those in flight) */
  int64_t end = tc_now() + guard_ns();
  while (tc__timers_pending() && tc_now() < end) {
  }
  tc__preempt_set(tc__ctx_get(), TC__PREEMPT_YIELD); /* as sysmon asks */
  tc_safepoint();
  s->woken_by_return = atomic_load(&s->woken);
  tc_waitgroup_done(&s->wg);
}

static void fair_main(void *arg) {
  fair_state *s = arg;
  tc_waitgroup_add(&s->wg, FAIR_SLEEPERS + 1);
  for (int i = 0; i < FAIR_SLEEPERS; i++)
    EXPECT(tc_go(fair_sleeper, s) == TC_OK);
  tc_yield(); /* behind the sleepers: each runs into its tc_sleep */
  EXPECT(tc_go(fair_spinner, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
}

static void test_preempted_goes_behind_global_queue(void **state) {
  (void)state;
  fair_state s = {0};
  run(1, fair_main, &s);
  assert_int_equal(s.woken_by_return, FAIR_SLEEPERS);
}

/* An allocation answers a stop request even when its run has room: the
 * first allocation of each kind makes the run, the second finds room in
 * it, and must still see the request (the slow path clears the word). */
static void alloc_safepoint_main(void *arg) {
  (void)arg;
  void *a = NULL, *b = NULL;
  TC_LOCALS(a, b);
  a = tc_alloc(&tc_test_node_type, sizeof(node));
  b = tc_alloc_noscan(16);
  tc__ctx *x = tc__ctx_get();
  tc__preempt_set(x, TC__PREEMPT_YIELD);
  a = tc_alloc(&tc_test_node_type, sizeof(node));
  EXPECT(__atomic_load_n(&x->preempt, __ATOMIC_RELAXED) == 0);
  x = tc__ctx_get(); /* one P: the same thread, but ask again */
  tc__preempt_set(x, TC__PREEMPT_YIELD);
  b = tc_alloc_noscan(16);
  EXPECT(__atomic_load_n(&x->preempt, __ATOMIC_RELAXED) == 0);
}

static void test_alloc_is_a_safepoint(void **state) {
  (void)state;
  run(1, alloc_safepoint_main, NULL);
}

/* ------------------------------------------------------------------ */
/* GC across yields, in channels, in flight                            */

#define HOLDERS 8
#define CHAN_LISTS 16

typedef struct gc_state {
  atomic_int holders_done;
  atomic_int collections;
  atomic_int stop;
  tc_waitgroup wg;
  tc_chan *buffered; /* a global root (registered in gc_main) */
  tc_chan *unbuf;
  tc__g *sender;     /* white-box: to see it parked in its send */
  long rounds;
} gc_state;
static gc_state *gc_st;

static void holder(void *arg) {
  long id = (long)(intptr_t)arg;
  head *h = NULL;
  TC_LOCALS(h);
  h = make_list(id, 200);
  for (long r = 0; r < gc_st->rounds; r++) {
    tc_yield();
    EXPECT(list_intact(h));
    EXPECT(atomic_load(&finalized[id]) == 0);
  }
  atomic_fetch_add(&gc_st->holders_done, 1);
  tc_waitgroup_done(&gc_st->wg);
}

static void collector_g(void *arg) {
  (void)arg;
  while (!atomic_load(&gc_st->stop)) {
    tc_gc();
    atomic_fetch_add(&gc_st->collections, 1);
    tc_yield();
  }
  tc_waitgroup_done(&gc_st->wg);
}

static void filler(void *arg) {
  (void)arg;
  /* lists that live only in the channel's buffer */
  for (long i = 0; i < CHAN_LISTS; i++)
    EXPECT(tc_chan_send(gc_st->buffered, make_list(100 + i, 100)) == TC_OK);
  tc_waitgroup_done(&gc_st->wg);
}

static void inflight_sender(void *arg) {
  (void)arg;
  gc_st->sender = tc__getg();
  /* the value lives only in this blocked send */
  EXPECT(tc_chan_send(gc_st->unbuf, make_list(200, 300)) == TC_OK);
  tc_waitgroup_done(&gc_st->wg);
}

static void gc_main(void *arg) {
  gc_state *s = arg;
  gc_st = s;
  tc_chan *buffered = NULL, *unbuf = NULL;
  head *h = NULL;
  TC_LOCALS(buffered, unbuf, h);
  buffered = tc_chan_new(CHAN_LISTS, 0);
  unbuf = tc_chan_new(0, 0);
  EXPECT(buffered != NULL && unbuf != NULL);
  s->buffered = buffered;
  s->unbuf = unbuf;

  tc_waitgroup_add(&s->wg, HOLDERS + 3);
  for (long i = 0; i < HOLDERS; i++)
    EXPECT(tc_go(holder, (void *)(intptr_t)i) == TC_OK);
  EXPECT(tc_go(filler, NULL) == TC_OK);
  EXPECT(tc_go(inflight_sender, NULL) == TC_OK);
  EXPECT(tc_go(collector_g, NULL) == TC_OK);

  /* wait until the buffer is full and the sender is parked in its send */
  int64_t end = tc_now() + guard_ns();
  while ((tc_chan_len(buffered) < CHAN_LISTS || s->sender == NULL ||
          tc__load_acquire(&s->sender->status) != TC__G_WAITING) &&
         tc_now() < end)
    tc_yield();
  EXPECT(tc_chan_len(buffered) == CHAN_LISTS);
  for (int i = 0; i < 3; i++)
    tc_gc();
  while (atomic_load(&s->holders_done) < HOLDERS && tc_now() < end)
    tc_yield();
  atomic_store(&s->stop, 1);
  EXPECT(atomic_load(&s->collections) > 0);

  /* the lists in the buffer and in flight are intact and unfinalized (the
   * holders' lists may be gone: the holders have returned) */
  for (long i = 0; i < CHAN_LISTS; i++)
    EXPECT(atomic_load(&finalized[100 + i]) == 0);
  EXPECT(atomic_load(&finalized[200]) == 0);
  for (long i = 0; i < CHAN_LISTS; i++) {
    bool ok = false;
    h = tc_chan_recv(buffered, &ok);
    EXPECT(ok && h != NULL);
    if (h) {
      EXPECT(h->id == 100 + i); /* FIFO */
      EXPECT(list_intact(h));
    }
  }
  h = tc_chan_recv(unbuf, NULL);
  EXPECT(h != NULL && h->id == 200 && list_intact(h));
  h = NULL;
  tc_waitgroup_wait(&s->wg);
  /* all of it is garbage now: every head is finalized exactly once */
  long total = HOLDERS + CHAN_LISTS + 1;
  for (int i = 0; i < 5 && atomic_load(&finalized_total) < total; i++)
    tc_gc();
  EXPECT(atomic_load(&finalized_total) == total);
  for (long i = 0; i < MAX_TRACKED; i++)
    EXPECT(atomic_load(&finalized[i]) <= 1);
}

static void test_gc_objects_survive_yields_and_channels(void **state) {
  (void)state;
  finalized_reset();
  gc_state s = {0};
  s.rounds = scaled(200, 4);
  run(2, gc_main, &s);
  assert_int_equal(atomic_load(&s.holders_done), HOLDERS);
}

/* ------------------------------------------------------------------ */

static void go_null_main(void *arg) {
  (void)arg;
  EXPECT(tc_go(NULL, NULL) == TC_EINVAL); /* refused, nothing started */
  tc_yield();
}

static void test_go_null_function(void **state) {
  (void)state;
  run(1, go_null_main, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1)
    cmocka_set_test_filter(argv[1]); /* e.g. "test_sleep*" */
  unsetenv("TRICOLOR_PROCS"); /* the tests fix procs themselves */
  unsetenv("TRICOLOR_GC");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_run_returns_after_main),
      cmocka_unit_test(test_run_drops_spinning_coroutine),
      cmocka_unit_test(test_run_exit_reaches_running_coroutines),
      cmocka_unit_test(test_run_bad_arguments),
      cmocka_unit_test(test_run_repeated),
      cmocka_unit_test(test_run_exits_while_collecting),
      cmocka_unit_test(test_go_many),
      cmocka_unit_test(test_go_heap_argument_survives_gc),
      cmocka_unit_test(test_go_null_function),
      cmocka_unit_test(test_yield_round_robin),
      cmocka_unit_test(test_self_ids),
      cmocka_unit_test(test_sleep_wakes_in_deadline_order),
      cmocka_unit_test(test_sleep_batch_wakes_in_deadline_order),
      cmocka_unit_test(test_alternate_sema_pair),
      cmocka_unit_test(test_100k_parked),
      cmocka_unit_test(test_work_stealing),
      cmocka_unit_test(test_syscall_handoff),
      cmocka_unit_test(test_syscall_handoff_repeated),
      cmocka_unit_test(test_preemption_request),
      cmocka_unit_test(test_preempted_goes_behind_global_queue),
      cmocka_unit_test(test_alloc_is_a_safepoint),
      cmocka_unit_test(test_gc_objects_survive_yields_and_channels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
