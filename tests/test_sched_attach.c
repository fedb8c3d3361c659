/*
 * test_sched_attach.c -- threads tricolor did not create, attached as
 * mutators (sched/attach.c).
 *
 *   - pool: N threads made with pthread_create (not by tricolor) attach,
 *     allocate, link what they allocate into a shared structure (a global
 *     root range, tc_store), hand requests to coroutines over a channel and
 *     wait for the answers on channels of their own, then detach; each
 *     attaches and detaches K times.  Cycles run back to back meanwhile,
 *     in every barrier mode with gccheckmark; at the end every object in
 *     the shared structure is intact and every answer was right.
 *   - blocking in its own code: an attached thread inside tc_syscall_enter
 *     / exit does not hold up the cycles the coroutines ask for.
 *   - misuse: attaching outside tc_run, twice, detaching unattached,
 *     detaching with a TC_LOCALS frame, main returning while a thread is
 *     attached; and the negative control: a thread that allocates without
 *     attaching gets the clear abort.
 * Counts are asserted, never time.
 */
#include "tc_sched_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct node {
  struct node *next;
  long value;
} node;
static const uint32_t node_offsets[] = {offsetof(node, next)};
static tc_type node_type = {.name = "attach node", .offsets = node_offsets,
                            .noffsets = 1};

/* A request: a number to square and the channel for the answer. */
typedef struct request {
  tc_chan *reply;
  node *arg;
} request;
static const uint32_t request_offsets[] = {offsetof(request, reply),
                                           offsetof(request, arg)};
static tc_type request_type = {.name = "request", .offsets = request_offsets,
                               .noffsets = 2};

enum { THREADS = 4, SLOTS = 64 };

static void *shared[SLOTS];  /* global roots: each thread owns SLOTS/THREADS */
static void *chans[2];       /* [0] requests to the coroutines */

typedef struct pool {
  int rounds;                /* attach/detach rounds per thread */
  int requests;              /* requests per round */
  atomic_int answered;       /* right answers */
  atomic_int wrong;
  atomic_int attach_failed;
  atomic_int done;           /* threads finished */
  int cycles;                /* tc_gc calls while the threads worked */
  atomic_int enough;         /* main saw enough cycles: threads may stop */
  atomic_int sent;           /* requests sent */
} pool;

#define POOL_CYCLES 3        /* cycles the pool must work across */

static pool P;

/* A coroutine: answers requests with the square of arg->value. */
static void server(void *arg) {
  (void)arg;
  request *r = NULL;
  node *ans = NULL;
  TC_LOCALS(r, ans);
  for (;;) {
    bool ok;
    r = tc_chan_recv(chans[0], &ok);
    if (!ok)
      return;
    ans = tc_alloc(&node_type, sizeof *ans);
    ans->value = r->arg->value * r->arg->value;
    tc_chan_send(r->reply, ans);
  }
}

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  /* at least `rounds` rounds, and on until main saw POOL_CYCLES cycles */
  for (int round = 0; round < P.rounds || !atomic_load(&P.enough);
       round++) {
    if (tc_thread_attach() != TC_OK) {
      atomic_fetch_add(&P.attach_failed, 1);
      break;
    }
    {
      node *n = NULL;
      request *r = NULL;
      tc_chan *reply = NULL;
      node *got = NULL;
      TC_LOCALS(n, r, reply, got);
      reply = tc_chan_new(0, 0);
      for (int k = 0; k < P.requests; k++) {
        long v = id * 1000 + round * 10 + k % 10;
        /* link a fresh node into this thread's part of the shared list */
        int slot = id * (SLOTS / THREADS) + k % (SLOTS / THREADS);
        n = tc_alloc(&node_type, sizeof *n);
        n->value = v;
        TC_STORE(n, next, shared[slot]);
        tc_store(&shared[slot], n);
        /* ask a coroutine to square it, wait for the answer */
        r = tc_alloc(&request_type, sizeof *r);
        TC_STORE(r, reply, reply);
        TC_STORE(r, arg, n);
        tc_chan_send(chans[0], r);
        atomic_fetch_add(&P.sent, 1);
        got = tc_chan_recv(reply, NULL);
        if (got && got->value == v * v)
          atomic_fetch_add(&P.answered, 1);
        else
          atomic_fetch_add(&P.wrong, 1);
        if (k % 8 == 0) { /* its own blocking code, without the P */
          tc_syscall_enter();
          usleep(100);
          tc_syscall_exit();
        }
      }
    }
    if (tc_thread_detach() != TC_OK)
      atomic_fetch_add(&P.wrong, 1000);
  }
  atomic_fetch_add(&P.done, 1);
  return NULL;
}

/* Checks every shared list: each node's value is one a worker stored
 * there.  After the workers finished (their plain stores of `value` are
 * not synchronised with a concurrent reader). */
static bool lists_intact(void) {
  for (int s = 0; s < SLOTS; s++) {
    int id = s / (SLOTS / THREADS);
    for (node *n = shared[s]; n; n = n->next)
      if (n->value / 1000 != id)
        return false;
  }
  return true;
}

static void pool_main(void *arg) {
  (void)arg;
  tc_root_add(shared, SLOTS);
  tc_root_add(chans, 2);
  tc_store(&chans[0], tc_chan_new(4, 0));
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(server, NULL) == TC_OK);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    EXPECT(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0);
  /* cycles back to back while the threads work (a hang is the
   * watchdog's: run() aborts with the scheduler's state) */
  while (atomic_load(&P.done) < THREADS) {
    tc_gc();
    if (++P.cycles >= POOL_CYCLES)
      atomic_store(&P.enough, 1);
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL); /* they finished: no wait inside tricolor */
  tc_gc();
  EXPECT(lists_intact());
  tc_chan_close(chans[0]);
  for (int i = 0; i < 50; i++)
    tc_yield(); /* the servers see the close */
  tc_root_remove(chans);
  tc_root_remove(shared);
  memset(shared, 0, sizeof shared);
}

static void run_pool(const char *mode) {
  memset(&P, 0, sizeof P);
  P.rounds = (int)scaled(6, 3);
  P.requests = (int)scaled(64, 4);
  char env[96];
  snprintf(env, sizeof env, "barrier=%s,gccheckmark=1", mode);
  tc_test_debug_env(env);
  tc_config cfg = {.procs = 2, .foreign_threads = true};
  run_cfg(&cfg, pool_main, NULL);
  tc_test_debug_env(NULL);
  int least = THREADS * P.rounds * P.requests;
  print_message("%-9s: %d answers of %d requests, %d wrong, %d cycles "
                "meanwhile\n",
                mode, atomic_load(&P.answered), atomic_load(&P.sent),
                atomic_load(&P.wrong), P.cycles);
  assert_true(P.cycles >= POOL_CYCLES); /* worked across cycles */
  assert_int_equal(atomic_load(&P.attach_failed), 0);
  assert_int_equal(atomic_load(&P.wrong), 0);
  assert_true(atomic_load(&P.sent) >= least);
  assert_int_equal(atomic_load(&P.answered), atomic_load(&P.sent));
}

static void test_attach_pool_hybrid(void **state) {
  (void)state;
  run_pool("hybrid");
}
static void test_attach_pool_insertion(void **state) {
  (void)state;
  run_pool("insertion");
}
static void test_attach_pool_deletion(void **state) {
  (void)state;
  run_pool("deletion");
}
static void test_attach_pool_stw(void **state) {
  (void)state;
  run_pool("stw");
}

/* ---------------------------------------------------------------- late attach */

static void *late_sender(void *arg) {
  (void)arg;
  usleep(20000); /* main is blocked on the channel long before */
  if (tc_thread_attach() != TC_OK)
    return NULL;
  tc_chan_send(chans[1], chans[1]);
  tc_thread_detach();
  return NULL;
}

static bool late_ok;

static void late_main(void *arg) {
  (void)arg;
  tc_root_add(chans, 2);
  tc_store(&chans[1], tc_chan_new(0, 0));
  pthread_t t;
  pthread_create(&t, NULL, late_sender, NULL);
  /* every coroutine is blocked until the thread attaches: with
   * foreign_threads that is not a deadlock */
  late_ok = tc_chan_recv(chans[1], NULL) == chans[1];
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
  tc_root_remove(chans);
}

static void test_attach_late_no_deadlock(void **state) {
  (void)state;
  late_ok = false;
  tc_config cfg = {.procs = 2, .foreign_threads = true};
  run_cfg(&cfg, late_main, NULL);
  assert_true(late_ok);
}

/* ---------------------------------------------------------------- misuse */

static int rc_outside, rc_twice, rc_detach_plain;

static void *attach_twice(void *arg) {
  (void)arg;
  if (tc_thread_attach() == TC_OK) {
    rc_twice = tc_thread_attach();
    tc_thread_detach();
  }
  rc_detach_plain = tc_thread_detach();
  return NULL;
}

static void misuse_main(void *arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, attach_twice, NULL);
  /* the thread needs this P while it is attached: let it run */
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
  EXPECT(tc_thread_attach() == TC_ESTATE); /* a coroutine is a mutator */
}

static void test_attach_return_codes(void **state) {
  (void)state;
  rc_outside = tc_thread_attach(); /* no runtime at all */
  assert_int_equal(rc_outside, TC_ESTATE);
  assert_int_equal(tc_thread_detach(), TC_ESTATE);
  run(1, misuse_main, NULL);
  assert_int_equal(rc_twice, TC_ESTATE);
  assert_int_equal(rc_detach_plain, TC_ESTATE);
}

static void *detach_with_frame(void *arg) {
  (void)arg;
  tc_thread_attach();
  node *n = NULL;
  TC_LOCALS(n);
  tc_thread_detach();
  return NULL;
}

static void frame_main(void *arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, detach_with_frame, NULL);
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
}

static void die_detach_with_frame(void *arg) {
  (void)arg;
  tc_run(NULL, frame_main, NULL);
}

static atomic_int left_attached;

static void *stay_attached(void *arg) {
  (void)arg;
  tc_thread_attach();
  atomic_store(&left_attached, 1);
  tc_syscall_enter(); /* its own code, for ever */
  for (;;)
    pause();
  return NULL;
}

static void leave_main(void *arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, stay_attached, NULL);
  while (!atomic_load(&left_attached))
    tc_yield();
}

static void die_main_returns_attached(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 2};
  tc_run(&cfg, leave_main, NULL);
}

static void *alloc_unattached(void *arg) {
  (void)arg;
  (void)tc_alloc(&node_type, sizeof(node));
  return NULL;
}

static void unattached_main(void *arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, alloc_unattached, NULL);
  pthread_join(t, NULL);
}

static void die_alloc_unattached(void *arg) {
  (void)arg;
  tc_run(NULL, unattached_main, NULL);
}

/* ---------------------------------------------------------------- slow stop */

static atomic_int spin_go;

/* An attached thread that breaks the rule: it spins in its own code,
 * holding its P, without a safepoint or a syscall bracket. */
static void *rule_breaker(void *arg) {
  (void)arg;
  tc_thread_attach();
  atomic_store(&spin_go, 1);
  int64_t until = tc_now() + 400 * 1000000LL; /* longer than the report's
                                                 100 ms threshold */
  while (tc_now() < until)
    ;
  tc_thread_detach();
  return NULL;
}

static void slow_main(void *arg) {
  (void)arg;
  pthread_t t;
  pthread_create(&t, NULL, rule_breaker, NULL);
  while (!atomic_load(&spin_go))
    tc_yield();
  tc_gc(); /* its stop waits for the spinner */
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
  abort(); /* the report is in stderr; end the child */
}

static void die_slow_stop(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 2, .foreign_threads = true};
  tc_run(&cfg, slow_main, NULL);
}

static void test_attach_slow_stop_named(void **state) {
  (void)state;
  if (TC_DEBUG < 2) {
    print_message("skipped: the slow-stop report is in checked builds "
                  "(TRICOLOR_DEBUG >= 2)\n");
    return;
  }
  tc_expect_death(die_slow_stop, NULL,
                  "an attached thread that last entered tricolor in "
                  "rule_breaker()");
}

static void test_attach_misuse_aborts(void **state) {
  (void)state;
  tc_expect_death(die_detach_with_frame, NULL,
                  "tricolor: tc_thread_detach with TC_LOCALS(n)");
  tc_expect_death(die_main_returns_attached, NULL,
                  "main returned while 1 thread(s) were still attached");
  /* negative control: without attaching, the clear abort */
  tc_expect_death(die_alloc_unattached, NULL,
                  "tricolor: tc_alloc called from a thread that is not a "
                  "mutator");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_attach_pool_hybrid),
      cmocka_unit_test(test_attach_pool_insertion),
      cmocka_unit_test(test_attach_pool_deletion),
      cmocka_unit_test(test_attach_pool_stw),
      cmocka_unit_test(test_attach_late_no_deadlock),
      cmocka_unit_test(test_attach_return_codes),
      cmocka_unit_test(test_attach_misuse_aborts),
      cmocka_unit_test(test_attach_slow_stop_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
