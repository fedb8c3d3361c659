/*
 * test_bare_attach.c -- threads attached to a runtime started with
 * tc_init alone (bare mode, no tc_run): they take turns with the tc_init
 * thread on the runtime's one processor (sched/bare.c).
 *
 *   - pool: N threads made with pthread_create attach, allocate lists into
 *     their own slots of a global root range and into one chain they all
 *     link into (tc_store), collect, check, and detach, K times each;
 *     the tc_init thread collects meanwhile.  gccheckmark on; at the end
 *     every list and the chain are intact.
 *   - roots: an object an attached thread holds only in TC_LOCALS while it
 *     waits outside tricolor (tc_syscall_enter) survives the tc_init
 *     thread's cycles, seen through a weak reference.  Negative control:
 *     held in a plain variable instead, the same weak reference reads NULL
 *     after the same cycles (so the check sees an unscanned stack).
 *   - hand-over: the tc_init thread allocating in a loop, or polling
 *     tc_safepoint, lets a waiting thread attach and run.  A waiter's poke
 *     (TC__PREEMPT_TURN) is left by tc_alloc's inline path to the next
 *     refill or tc_safepoint, so a contended turn lasts about one run,
 *     not one allocation (negative control: with the inline path
 *     answering it, the word is 0 after the allocation).
 *   - misuse: attach before tc_init and twice, detach unattached, the
 *     tc_init thread attaching; deaths: a thread allocating without
 *     attaching (the clear abort), tc_shutdown while a thread is attached,
 *     detach between tc_syscall_enter and tc_syscall_exit, allocation
 *     there (bare and under tc_run); a checked build names the thread
 *     that holds the turn too long.
 * Counts are asserted, never time; waits have only a hang guard.
 */
#include "tc_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef tc_test_node node;
#define node_type tc_test_node_type

#define GUARD_NS ((int64_t)120 * 1000000000) /* hang guard only */

/* The tc_init thread waits for cond, letting attached threads have turns. */
#define WAIT_YIELDING(cond)                                                  \
  do {                                                                       \
    int64_t end_ = tc_now() + GUARD_NS;                                      \
    while (!(cond) && tc_now() < end_)                                       \
      tc_yield();                                                            \
  } while (0)

/* Joins a thread from a mutator: outside tricolor while it waits. */
static void join_outside(pthread_t t) {
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
}

/* ---------------------------------------------------------------- pool */

enum { THREADS = 4, ROUNDS = 6, LEN = 200, SLOTS_PER = 4 };

static void *slots[THREADS * SLOTS_PER]; /* global roots */
static void *chain[1];                   /* every thread links into it */

typedef struct pool {
  atomic_int attach_failed, wrong, done, chained;
} pool;
static pool P;

static node *make_list(uint64_t seed, int len) {
  node *head = NULL, *n = NULL;
  TC_LOCALS(head, n);
  for (int i = 0; i < len; i++) {
    n = tc_alloc(&node_type, sizeof *n);
    n->value = seed + (uint64_t)i;
    TC_STORE(n, next, head);
    head = n;
  }
  return head;
}

static bool list_ok(const node *n, uint64_t seed, int len) {
  for (int i = len - 1; i >= 0; i--, n = n->next)
    if (n == NULL || n->value != seed + (uint64_t)i)
      return false;
  return n == NULL;
}

/* One attachment's work: lists into the thread's slots, a cell into the
 * chain, a cycle every other round, then the lists checked. */
static void round_work(int id, int r) {
  node *c = NULL;
  TC_LOCALS(c);
  for (int s = 0; s < SLOTS_PER; s++) {
    uint64_t seed = ((uint64_t)id << 32) | ((uint64_t)r << 16) |
                    ((uint64_t)s << 8);
    tc_store(&slots[id * SLOTS_PER + s], make_list(seed, LEN));
    tc_yield(); /* the list only in a root: other threads collect */
  }
  /* one cell into the shared chain */
  c = tc_alloc(&node_type, sizeof *c);
  c->value = 1;
  TC_STORE(c, next, tc_load(&chain[0]));
  tc_store(&chain[0], c);
  atomic_fetch_add(&P.chained, 1);
  if (r % 2 == 0)
    tc_gc();
  for (int s = 0; s < SLOTS_PER; s++) {
    uint64_t seed = ((uint64_t)id << 32) | ((uint64_t)r << 16) |
                    ((uint64_t)s << 8);
    if (!list_ok(tc_load(&slots[id * SLOTS_PER + s]), seed, LEN))
      atomic_fetch_add(&P.wrong, 1);
  }
}

static void *pool_thread(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int r = 0; r < ROUNDS; r++) {
    if (tc_thread_attach() != TC_OK) {
      atomic_fetch_add(&P.attach_failed, 1);
      return NULL;
    }
    round_work(id, r);
    tc_thread_detach();
    if (r % 3 == 1) /* between attachments: outside tricolor entirely */
      usleep(100);
  }
  atomic_fetch_add(&P.done, 1);
  return NULL;
}

static void test_bare_pool(void **state) {
  (void)state;
  memset(&P, 0, sizeof P);
  memset(slots, 0, sizeof slots);
  chain[0] = NULL;
  tc_test_debug_env("gccheckmark=1");
  assert_int_equal(tc_test_start(NULL), 0);
  assert_int_equal(tc_root_add(slots, THREADS * SLOTS_PER), TC_OK);
  assert_int_equal(tc_root_add(chain, 1), TC_OK);
  tc_stats s0, s1;
  tc_read_stats(&s0);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(
        pthread_create(&t[i], NULL, pool_thread, (void *)(intptr_t)i), 0);
  /* the tc_init thread works and collects while the pool runs */
  int64_t end = tc_now() + GUARD_NS;
  while (atomic_load(&P.done) + atomic_load(&P.attach_failed) < THREADS &&
         tc_now() < end) {
    (void)make_list(7, 50); /* garbage */
    tc_gc();
    tc_yield();
  }
  for (int i = 0; i < THREADS; i++)
    join_outside(t[i]);
  tc_read_stats(&s1);
  int chained = 0;
  for (node *n = tc_load(&chain[0]); n; n = n->next)
    chained += (int)n->value;
  assert_int_equal(atomic_load(&P.attach_failed), 0);
  assert_int_equal(atomic_load(&P.wrong), 0);
  assert_int_equal(atomic_load(&P.done), THREADS);
  assert_int_equal(chained, THREADS * ROUNDS);
  assert_int_equal(atomic_load(&P.chained), THREADS * ROUNDS);
  assert_true(s1.cycles >= s0.cycles + THREADS * ROUNDS / 2);
  tc_root_remove(slots);
  tc_root_remove(chain);
  tc_test_finish(4);
  tc_test_debug_env(NULL);
}

/* ---------------------------------------------------------------- roots */

static void *weak_slot[1]; /* global root: the weak reference */

typedef struct holder_arg {
  bool in_locals;      /* hold X in TC_LOCALS (else a plain variable) */
  atomic_int outside;  /* the thread waits outside tricolor */
  atomic_int collected;
  bool alive;          /* the weak reference after the cycles */
  bool intact;
} holder_arg;

/* Holds X while the tc_init thread collects; a scope of its own, so the
 * frame is popped before the thread detaches. */
static void hold(holder_arg *h) {
  node *x = NULL;
  TC_LOCALS(x);
  node *volatile plain = NULL;
  if (h->in_locals) {
    x = tc_alloc(&node_type, sizeof *x);
    x->value = 4242;
    tc_store(&weak_slot[0], tc_weak_new(x));
  } else {
    plain = tc_alloc(&node_type, sizeof(node));
    plain->value = 4242;
    tc_store(&weak_slot[0], tc_weak_new(plain));
  }
  tc_syscall_enter(); /* the turn to the tc_init thread, which collects */
  atomic_store(&h->outside, 1);
  while (!atomic_load(&h->collected))
    usleep(100);
  tc_syscall_exit();
  node *got = tc_weak_get(tc_load(&weak_slot[0]));
  h->alive = got != NULL;
  h->intact = got != NULL && got == x && got->value == 4242;
}

static void *holder_thread(void *arg) {
  holder_arg *h = arg;
  if (tc_thread_attach() != TC_OK)
    return NULL;
  hold(h);
  tc_thread_detach();
  return NULL;
}

static void run_holder(holder_arg *h) {
  weak_slot[0] = NULL;
  tc_test_debug_env("gccheckmark=1");
  assert_int_equal(tc_test_start(NULL), 0);
  assert_int_equal(tc_root_add(weak_slot, 1), TC_OK);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, holder_thread, h), 0);
  WAIT_YIELDING(atomic_load(&h->outside));
  assert_true(atomic_load(&h->outside));
  for (int i = 0; i < 3; i++)
    tc_gc();
  atomic_store(&h->collected, 1);
  join_outside(t);
  tc_root_remove(weak_slot);
  tc_test_finish(4);
  tc_test_debug_env(NULL);
}

static void test_bare_attached_locals_are_roots(void **state) {
  (void)state;
  holder_arg h = {.in_locals = true};
  run_holder(&h);
  assert_true(h.alive);
  assert_true(h.intact);
}

/* Negative control: the same check reports a reference nobody roots. */
static void test_bare_plain_variable_is_not_a_root(void **state) {
  (void)state;
  holder_arg h = {.in_locals = false};
  run_holder(&h);
  assert_false(h.alive);
}

/* ---------------------------------------------------------------- hand-over */

static atomic_int ran;

static void *runs_once(void *arg) {
  (void)arg;
  if (tc_thread_attach() != TC_OK)
    return NULL;
  (void)tc_alloc(&node_type, sizeof(node));
  atomic_store(&ran, 1);
  tc_thread_detach();
  return NULL;
}

static void test_bare_safepoints_hand_the_turn_over(void **state) {
  (void)state;
  assert_int_equal(tc_test_start(NULL), 0);
  for (int how = 0; how < 2; how++) {
    atomic_store(&ran, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, runs_once, NULL), 0);
    int64_t end = tc_now() + GUARD_NS;
    long loops = 0;
    while (!atomic_load(&ran) && tc_now() < end) {
      if (how == 0)
        (void)tc_alloc(&node_type, sizeof(node)); /* refills poll */
      else
        tc_safepoint();
      loops++;
    }
    assert_true(atomic_load(&ran));
    join_outside(t);
    print_message("hand-over by %s after %ld loops\n",
                  how == 0 ? "allocation" : "tc_safepoint", loops);
  }
  tc_test_finish(4);
}

static void test_bare_turn_poke_waits_for_a_refill(void **state) {
  (void)state;
  assert_int_equal(tc_test_start(NULL), 0);
  (void)tc_alloc(&node_type, sizeof(node)); /* the run: room after this */
  (void)tc_alloc_noscan(16);
  uint32_t *word = &tc__ctx_get()->preempt;
  __atomic_fetch_or(word, TC__PREEMPT_TURN, __ATOMIC_RELAXED);
  (void)tc_alloc(&node_type, sizeof(node));
  (void)tc_alloc_noscan(16);
  /* not answered inline: the poke waits for a refill or a safepoint */
  assert_int_equal(__atomic_load_n(word, __ATOMIC_RELAXED), TC__PREEMPT_TURN);
  tc_safepoint(); /* answers it (nobody waits: the turn stays here) */
  assert_int_equal(__atomic_load_n(word, __ATOMIC_RELAXED), 0);
  tc_test_finish(4);
}

/* ---------------------------------------------------------------- misuse */

static int rc_twice, rc_detach_plain;

static void *attach_twice(void *arg) {
  (void)arg;
  rc_detach_plain = tc_thread_detach();
  if (tc_thread_attach() == TC_OK) {
    rc_twice = tc_thread_attach();
    tc_thread_detach();
  }
  return NULL;
}

static void test_bare_attach_return_codes(void **state) {
  (void)state;
  assert_int_equal(tc_thread_attach(), TC_ESTATE); /* no runtime */
  assert_int_equal(tc_test_start(NULL), 0);
  assert_int_equal(tc_thread_attach(), TC_ESTATE); /* tc_init's thread */
  assert_int_equal(tc_thread_detach(), TC_ESTATE);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, attach_twice, NULL), 0);
  join_outside(t);
  assert_int_equal(rc_twice, TC_ESTATE);
  assert_int_equal(rc_detach_plain, TC_ESTATE);
  tc_test_finish(4);
}

static void *alloc_unattached(void *arg) {
  (void)arg;
  (void)tc_alloc(&node_type, sizeof(node));
  return NULL;
}

/* A death test's child: a bare runtime and one thread running fn. */
typedef struct thread_fn {
  void *(*fn)(void *);
} thread_fn;

static void bare_join_child(void *arg) {
  const thread_fn *f = arg;
  tc_init(NULL);
  pthread_t t;
  pthread_create(&t, NULL, f->fn, NULL);
  join_outside(t);
}

static void test_bare_unattached_thread_aborts(void **state) {
  (void)state;
  static const thread_fn f = {alloc_unattached};
  tc_expect_death(bare_join_child, (void *)&f,
                  "tc_alloc called from a thread that is not a mutator");
}

static atomic_int attached_and_out;

static void *attach_and_wait(void *arg) {
  (void)arg;
  tc_thread_attach();
  tc_syscall_enter();
  atomic_store(&attached_and_out, 1);
  for (;;)
    pause();
  return NULL;
}

static void shutdown_attached_child(void *arg) {
  (void)arg;
  tc_init(NULL);
  pthread_t t;
  pthread_create(&t, NULL, attach_and_wait, NULL);
  WAIT_YIELDING(atomic_load(&attached_and_out));
  tc_shutdown();
}

static void test_bare_shutdown_with_attached_thread_aborts(void **state) {
  (void)state;
  tc_expect_death(shutdown_attached_child, NULL,
                  "tc_shutdown with 1 thread still attached");
}

static void *detach_outside(void *arg) {
  (void)arg;
  tc_thread_attach();
  tc_syscall_enter();
  tc_thread_detach();
  return NULL;
}

static void test_bare_detach_in_syscall_aborts(void **state) {
  (void)state;
  static const thread_fn f = {detach_outside};
  tc_expect_death(bare_join_child, (void *)&f,
                  "tc_thread_detach between tc_syscall_enter and "
                  "tc_syscall_exit");
}

/* Allocating between tc_syscall_enter and tc_syscall_exit: the thread has
 * no processor (bare: no turn) and no cache; the clear abort, in both
 * modes. */
static void alloc_in_syscall_bare(void *arg) {
  (void)arg;
  tc_init(NULL);
  tc_syscall_enter();
  (void)tc_alloc(&node_type, sizeof(node));
}

static void alloc_in_syscall_main(void *arg) {
  (void)arg;
  tc_syscall_enter();
  (void)tc_alloc(&node_type, sizeof(node));
}

static void alloc_in_syscall_run(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 1};
  tc_run(&cfg, alloc_in_syscall_main, NULL);
}

static void test_alloc_in_syscall_aborts(void **state) {
  (void)state;
  tc_expect_death(alloc_in_syscall_bare, NULL,
                  "tc_alloc between tc_syscall_enter and tc_syscall_exit");
  tc_expect_death(alloc_in_syscall_run, NULL,
                  "tc_alloc between tc_syscall_enter and tc_syscall_exit");
}

static atomic_int spin_go;

static void *bare_rule_breaker(void *arg) {
  (void)arg;
  tc_thread_attach(); /* waits for the turn, then holds it */
  atomic_store(&spin_go, 1);
  int64_t until = tc_now() + 400 * 1000000LL; /* longer than the report's
                                                 100 ms threshold */
  while (tc_now() < until)
    ; /* no safepoint: breaks the rule */
  tc_thread_detach();
  return NULL;
}

static void slow_turn_child(void *arg) {
  (void)arg;
  tc_init(NULL);
  pthread_t t;
  pthread_create(&t, NULL, bare_rule_breaker, NULL);
  while (!atomic_load(&spin_go))
    tc_yield(); /* hands the turn over, then waits for it back */
  join_outside(t);
  abort(); /* the report is in stderr; end the child */
}

static void test_bare_slow_turn_named(void **state) {
  (void)state;
  if (TC_DEBUG < 1) {
    print_message("skipped: the slow-turn report is in checked builds "
                  "(TRICOLOR_DEBUG >= 1)\n");
    return;
  }
  tc_expect_death(slow_turn_child, NULL,
                  "attached thread 1 holds it, since bare_rule_breaker()");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bare_pool),
      cmocka_unit_test(test_bare_attached_locals_are_roots),
      cmocka_unit_test(test_bare_plain_variable_is_not_a_root),
      cmocka_unit_test(test_bare_safepoints_hand_the_turn_over),
      cmocka_unit_test(test_bare_turn_poke_waits_for_a_refill),
      cmocka_unit_test(test_bare_attach_return_codes),
      cmocka_unit_test(test_bare_unattached_thread_aborts),
      cmocka_unit_test(test_bare_shutdown_with_attached_thread_aborts),
      cmocka_unit_test(test_bare_detach_in_syscall_aborts),
      cmocka_unit_test(test_bare_slow_turn_named),
      cmocka_unit_test(test_alloc_in_syscall_aborts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
