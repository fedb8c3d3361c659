/*
 * stress_roots_foreign.c -- threads that are not mutators (plain pthreads,
 * no root stack, never stopped by a pause) add and remove root ranges
 * while coroutines fill, take and drop them and churn garbage, under every
 * barrier mode with the mark verifier on (TRICOLOR_DEBUG=gccheckmark=1),
 * with fixed seeds.  What it checks is the door of collector/gcwork.c:
 * the references of a range that such a thread adds or removes while a
 * cycle marks enter or leave the roots as stores would (root_change,
 * collector/roots.c), so a reference a coroutine copied out of a range
 * just before a thread removed it is not lost.
 *
 * Banks.  NBANK arrays of SLOTS slots (even banks static, odd banks
 * malloc'd), each with an atomic state; whoever moves a bank out of a
 * state by compare-and-swap owns it (BUSY) until it stores the next state
 * (release; the claim is acq_rel), so the ids next to the slots are plain
 * words handed over with the bank.  Slots are written with tc_store by
 * coroutines and with relaxed atomic stores by the threads (the collector
 * reads them concurrently).  The states, and who moves a bank on:
 *     FREE   unregistered, empty          thread: add -> EMPTY; or B of a move
 *     EMPTY  registered, empty            coroutine: fill -> FULL;
 *                                         thread: remove and re-add -> EMPTY
 *     FULL   registered, SLOTS chains     thread: move -> READY (see below)
 *     READY  registered, moved chains     coroutine: take -> EMPTY or DROP
 *     DROP   registered, taken chains     thread: remove, clear -> FREE
 * A chain is a root, its child and its grandchild, ids id, id+1, id+2, each
 * with a header check word and a payload that are functions of the id.
 * Everyone who meets a chain verifies all three nodes: an object the
 * collector freed (poisoned with 0xdb in TC_DEBUG >= 2 builds) or reused
 * fails, and the test prints seed, mode, procs, where and what, then
 * aborts.
 *
 * Plain threads (--threads, default 3), each with its own xorshift stream,
 * in a random order each round:
 *   move  claim a FULL bank A and a FREE bank B; copy A's references and
 *         ids into B (A still holds them, so they stay reachable); then
 *         tc_root_add(B) (they enter the roots: shaded while marking),
 *         tc_root_remove(A), clear A; B becomes READY, A FREE.  Sometimes
 *         a few microseconds between the steps.
 *   drop  claim a DROP bank, tc_root_remove it (its references leave the
 *         roots: shaded while marking), clear it -> FREE.  A coroutine
 *         copied some of them into its locals and heap objects before
 *         handing it over: once the range is gone, only those copies keep
 *         them.
 *   add   claim a FREE bank while few are EMPTY and enough are FREE,
 *         tc_root_add it (empty).
 *   readd claim an EMPTY bank, remove and re-add it (and check TC_EEXIST
 *         and TC_ENOENT on the way).
 * Coroutines (procs Ps):
 *   worker x NWORKER  ITERS steps, chosen by its own xorshift: fill an
 *         EMPTY bank with fresh chains (tc_store), keeping some in its
 *         keeper (a traced heap array in a TC_LOCALS local); take a READY
 *         bank: verify it, copy references into locals and the keeper,
 *         then clear it (tc_store NULL) -> EMPTY or hand it over -> DROP
 *         and wait until a thread removed it; spawn a taker; churn garbage;
 *         verify its locals and keeper (kept across many cycles).
 *   taker (spawned by workers, at most MAX_TAKERS alive)  takes one READY
 *         bank like a worker, into its locals and a fresh heap object,
 *         hands it over as DROP, then holds the copies until two more
 *         cycles have ended and verifies them.  A coroutine created while
 *         marking starts with a black root stack, and a coroutine that
 *         switches in while marking scans its own stack first
 *         (sched/gscan.c): under hybrid, if the thread removes the bank
 *         before the collector scanned the globals (the gcmarkdelay hook
 *         holds that window open), its copies stay white unless the
 *         removal shaded them through the door, and the verifier aborts
 *         in that cycle's termination.  (Under insertion the stacks are
 *         rescanned at termination and heap stores shade the new
 *         reference, and a move adds B while A still holds its references;
 *         under deletion the mark-start snapshot greys every registered
 *         reference: there this traffic does not need the door, and
 *         breaking it fails the hybrid runs only.)
 *   gc    tc_gc() in a loop: cycles back to back; min_heap 1 MiB and
 *         gc_percent 50 add heap-triggered ones.
 * The run ends on counts: every worker did its ITERS steps and every
 * thread its quota (ITERS / QUOTA_DIV moves, half as many drops, an add
 * and a re-add; workers go on until the threads have theirs).  Then main
 * stops the threads, checks that the counts add up (fills = moves + FULL
 * banks left, moves = takes + READY banks left, hand-overs = drops,
 * nothing BUSY), verifies every bank and every keeper, collects twice,
 * verifies again, and checks the stats: cycles >= a minimum and last_mode
 * == the mode under test.
 *
 * Runs.  Each (mode, procs) runs in a forked child (TRICOLOR_DEBUG is read
 * at tc_run start) with TRICOLOR_DEBUG=barrier=MODE,gccheckmark=1,
 * gcmarkdelay=US[,shadedelay=US] after whatever TRICOLOR_DEBUG held (so
 * gctrace=1 can be added by hand), TRICOLOR_GC and TRICOLOR_PROCS unset;
 * the child must exit with status 0.  procs=2 runs: gcmarkdelay=MARKDELAY
 * (the collector waits before marking); procs=4 runs: gcmarkdelay =
 * MARKDELAY / 2 and shadedelay=SHADEDELAY (a thread holds the door that
 * long before each grey, so pauses wait for it).
 *
 * Arguments (all optional; ctest runs it without any):
 *   --mode M       hybrid|insertion|deletion|stw|all (default all)
 *   --procs N      2, 4, or 0 for both (default 0)
 *   --seed S       (default 20260311)   --iters N  worker steps (80000)
 *   --threads N    plain threads, 1..MAX_THREAD (3)
 *   --markdelay US (default 500)        --shadedelay US (default 20)
 * Steps are divided by 8 under ThreadSanitizer, AddressSanitizer or
 * qemu-user and by 32 under valgrind (scaled(), tc_sched_test.h), where
 * the mark delay is multiplied by 4 (a slower mutator needs a wider
 * window).  About 35 s in the plain build and 90 s under
 * ThreadSanitizer on 2 cores.
 */
#include "tc_sched_test.h"

#include "collector/collector.h" /* white-box: phase, cycles_done */

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Parameters                                                          */

#define NBANK 48        /* banks in circulation */
#define SLOTS 12        /* chains per bank */
#define EMPTY_TARGET 8  /* threads add banks while fewer are EMPTY */
#define FREE_RESERVE 8  /* and more than this are FREE: a move needs a FREE
                           bank and gives one back, so FULL banks always
                           find a partner */
#define NWORKER 6
#define MAX_TAKERS 8    /* takers alive at once */
#define MAX_THREAD 4
#define NLOC 4          /* a worker's TC_LOCALS copies */
#define NKEEP 24        /* a worker's keeper slots */
#define QUOTA_DIV 32    /* a thread's quota: ITERS / QUOTA_DIV moves (and
                           half as many drops); a floor: each thread did
                           1.5-6 times that in the runs measured */
#define POLL_NS ((int64_t)20 * 1000) /* coroutines waiting on a thread */

static struct {
  uint64_t seed;
  long iters;
  int threads;
  int markdelay_us, shadedelay_us;
} opt = {20260311u, 80000, 3, 500, 20};

static const char *mode_name(int m) {
  return tc_barrier_name(tc_test_modes[m]);
}

static long iters_scaled(void) {
  return tc_test_under_emulator() && !tc_test_under_valgrind()
             ? (opt.iters / 8 > 0 ? opt.iters / 8 : 1)
             : scaled(opt.iters, 8);
}

static int markdelay_scaled(int us) { return tc_test_slow_build() ? us * 4 : us; }

static long min_cycles(void) { return tc_test_slow_build() ? 3 : 10; }

/* ------------------------------------------------------------------ */
/* Chains                                                              */

typedef struct node {
  struct node *child; /* traced */
  uint64_t id;        /* never 0 */
  uint64_t nwords;    /* payload words, a function of id */
  uint64_t check;     /* hdr_check(id) */
  uint64_t payload[]; /* payload[i] = pay(id, i) */
} node;

static const uint32_t node_offsets[] = {offsetof(node, child)};
static tc_type node_type = {
    .name = "foreign_node", .offsets = node_offsets, .noffsets = 1};

/* An array of references (stride 8): keepers, takers' holders. */
static const uint32_t keep_offsets[] = {0};
static tc_type keep_type = {.name = "foreign_keeper",
                            .offsets = keep_offsets,
                            .noffsets = 1,
                            .stride = sizeof(void *)};

static uint64_t hdr_check(uint64_t id) { return tc_test_mix(id ^ 0xf0e1) | 1; }
static uint64_t pay(uint64_t id, uint64_t i) {
  return tc_test_mix(id * 0x9e3779b97f4a7c15ULL + i);
}
static uint64_t nwords_of(uint64_t id) { return tc_test_mix(id) % 7; }

static uint64_t rng_seed(uint64_t salt) {
  uint64_t s = tc_test_mix(opt.seed ^ tc_test_mix(salt + 0x51));
  return s ? s : 1;
}

/* The run under test, for failure reports. */
static const char *cur_mode = "?";
static int cur_procs;

static __attribute__((noreturn)) void
fail_at(const void *obj, const char *where, const char *what, uint64_t found,
        uint64_t want) {
  fprintf(stderr,
          "stress_roots_foreign: seed=%llu mode=%s procs=%d: %s: object %p: "
          "%s (found %#llx, expected %#llx)\n",
          (unsigned long long)opt.seed, cur_mode, cur_procs, where, obj, what,
          (unsigned long long)found, (unsigned long long)want);
  abort();
}

static void check_node(const node *n, uint64_t id, const char *where) {
  if (n == NULL)
    fail_at(n, where, "NULL where a node was expected", 0, id);
  if (n->id != id)
    fail_at(n, where, "wrong id (freed and reused?)", n->id, id);
  if (n->check != hdr_check(id))
    fail_at(n, where, "bad header check word (freed? poisoned?)", n->check,
            hdr_check(id));
  uint64_t nw = n->nwords;
  if (nw != nwords_of(id))
    fail_at(n, where, "bad payload length", nw, nwords_of(id));
  for (uint64_t i = 0; i < nw; i++)
    if (n->payload[i] != pay(id, i))
      fail_at(n, where, "bad payload word", n->payload[i], pay(id, i));
}

/* Verifies root, child and grandchild of the chain `id`.  No safepoint:
 * any thread, while something keeps the chain reachable. */
static void check_chain(const node *n, uint64_t id, const char *where) {
  check_node(n, id, where);
  const node *c = tc_load((void *const *)&n->child);
  check_node(c, id + 1, where);
  const node *g = tc_load((void *const *)&c->child);
  check_node(g, id + 2, where);
  if (tc_load((void *const *)&g->child) != NULL)
    fail_at(g, where, "grandchild has a child", 1, 0);
}

static node *node_new(uint64_t id) {
  uint64_t nw = nwords_of(id);
  node *n = tc_alloc(&node_type, sizeof(node) + nw * sizeof(uint64_t));
  if (n == NULL)
    fail_at(NULL, "node_new", "out of memory", 0, 0);
  n->id = id;
  n->nwords = nw;
  for (uint64_t i = 0; i < nw; i++)
    n->payload[i] = pay(id, i);
  n->check = hdr_check(id);
  return n;
}

/* Allocates the chain id, id+1, id+2; a safepoint. */
static node *chain_new(uint64_t id) {
  node *g = NULL, *c = NULL, *r = NULL;
  TC_LOCALS(g, c, r);
  g = node_new(id + 2);
  c = node_new(id + 1);
  TC_STORE(c, child, g);
  r = node_new(id);
  TC_STORE(r, child, c);
  node *out = r;
  return out; /* no safepoint before the caller roots it */
}

static void **keeper_new(size_t n) {
  void **k = tc_alloc(&keep_type, n * sizeof(void *));
  if (k == NULL)
    fail_at(NULL, "keeper_new", "out of memory", 0, 0);
  return k;
}

/* ------------------------------------------------------------------ */
/* Banks                                                               */

enum { B_FREE, B_EMPTY, B_FULL, B_READY, B_DROP, B_BUSY, B_NSTATES };
static const char *const state_names[] = {"FREE", "EMPTY", "FULL",
                                          "READY", "DROP", "BUSY"};

typedef struct bank {
  void **slot;          /* SLOTS slots: static (even) or malloc'd (odd) */
  uint64_t id[SLOTS];   /* chain id in slot[i], 0 = empty; the owner's */
  atomic_int state;
} bank;

static void *bank_static[NBANK / 2][SLOTS];
static bank banks[NBANK];

/* Claims a bank in state `from` (random start); -1 if none. */
static int claim(int from, uint64_t *rng) {
  int start = (int)(tc_test_xorshift(rng) % NBANK);
  for (int k = 0; k < NBANK; k++) {
    int b = (start + k) % NBANK;
    int s = from;
    if (atomic_load_explicit(&banks[b].state, memory_order_relaxed) == from &&
        atomic_compare_exchange_strong_explicit(&banks[b].state, &s, B_BUSY,
                                                memory_order_acq_rel,
                                                memory_order_relaxed))
      return b;
  }
  return -1;
}

static void release(int b, int to) {
  atomic_store_explicit(&banks[b].state, to, memory_order_release);
}

static int count_state(int s) {
  int n = 0;
  for (int b = 0; b < NBANK; b++)
    n += atomic_load_explicit(&banks[b].state, memory_order_relaxed) == s;
  return n;
}

/* Verifies every chain of a bank its caller owns (or one nobody moves). */
static void check_bank(int b, const char *where) {
  for (int i = 0; i < SLOTS; i++)
    check_chain(tc_load(&banks[b].slot[i]), banks[b].id[i], where);
}

static void check_bank_empty(int b, const char *where) {
  for (int i = 0; i < SLOTS; i++)
    if (tc_load(&banks[b].slot[i]) != NULL || banks[b].id[i] != 0)
      fail_at(tc_load(&banks[b].slot[i]), where, "slot of an empty bank set",
              banks[b].id[i], 0);
}

/* ------------------------------------------------------------------ */
/* Counters                                                            */

static struct {
  atomic_long fills, takes, clears, handed, taker_takes;
  atomic_long moves, drops, adds, readds;
  atomic_long drops_marking, moves_marking; /* removals seen in MARK */
  atomic_long takers, takers_marking, takers_idle;
  atomic_long gcs, churned;
} cnt;

typedef struct thread_state {
  int index;
  uint64_t rng;
  long moves, drops, adds, readds; /* own; read by others when done */
  atomic_int quota_met;
} thread_state;

static thread_state threads[MAX_THREAD];
static atomic_int threads_go, threads_stop, threads_exited;
static atomic_int takers_live, stop_aux;
static atomic_long taker_seq;
static tc_waitgroup wg_work, wg_takers, wg_aux;

static long quota(void) {
  long q = iters_scaled() / QUOTA_DIV;
  return q > 0 ? q : 1;
}

static bool quotas_met(void) {
  for (int t = 0; t < opt.threads; t++)
    if (!atomic_load(&threads[t].quota_met))
      return false;
  return true;
}

static uint64_t cycles_done(void) {
  return tc__load_acquire(&tc__gc.cycles_done);
}

static bool marking(void) {
  return tc__marking();
}

/* ------------------------------------------------------------------ */
/* Plain threads (not mutators: no TC_LOCALS, no tc_store, no tc_alloc) */

static void root_call(int rc, int want, const char *call, int b) {
  if (rc != want) {
    fprintf(stderr, "stress_roots_foreign: seed=%llu mode=%s procs=%d: "
                    "thread: %s(bank %d): %s, expected %s\n",
            (unsigned long long)opt.seed, cur_mode, cur_procs, call, b,
            tc_strerror(rc), tc_strerror(want));
    abort();
  }
}

/* A few microseconds now and then between the steps of a move. */
static void maybe_pause(uint64_t *rng) {
  uint64_t r = tc_test_xorshift(rng);
  if (r % 4 == 0) {
    struct timespec ts = {0, (long)(1000 + (r >> 8) % 20000)};
    nanosleep(&ts, NULL);
  } else if (r % 4 == 1) {
    sched_yield();
  }
}

static bool try_move(thread_state *t) {
  int a = claim(B_FULL, &t->rng);
  if (a < 0)
    return false;
  int b = claim(B_FREE, &t->rng);
  if (b < 0) {
    release(a, B_FULL);
    return false;
  }
  bank *A = &banks[a], *B = &banks[b];
  check_bank_empty(b, "thread: free bank before a move");
  check_bank(a, "thread: full bank before a move");
  for (int i = 0; i < SLOTS; i++) {
    __atomic_store_n(&B->slot[i], __atomic_load_n(&A->slot[i],
                     __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    B->id[i] = A->id[i];
  }
  maybe_pause(&t->rng);
  root_call(tc_root_add(B->slot, SLOTS), TC_OK, "tc_root_add", b);
  maybe_pause(&t->rng);
  if (marking())
    atomic_fetch_add(&cnt.moves_marking, 1);
  root_call(tc_root_remove(A->slot), TC_OK, "tc_root_remove", a);
  for (int i = 0; i < SLOTS; i++) {
    __atomic_store_n(&A->slot[i], NULL, __ATOMIC_RELAXED);
    A->id[i] = 0;
  }
  release(b, B_READY);
  release(a, B_FREE);
  t->moves++;
  atomic_fetch_add(&cnt.moves, 1);
  return true;
}

static bool try_drop(thread_state *t) {
  int b = claim(B_DROP, &t->rng);
  if (b < 0)
    return false;
  bank *B = &banks[b];
  check_bank(b, "thread: bank handed over for a drop");
  maybe_pause(&t->rng);
  if (marking())
    atomic_fetch_add(&cnt.drops_marking, 1);
  root_call(tc_root_remove(B->slot), TC_OK, "tc_root_remove", b);
  for (int i = 0; i < SLOTS; i++) {
    __atomic_store_n(&B->slot[i], NULL, __ATOMIC_RELAXED);
    B->id[i] = 0;
  }
  release(b, B_FREE);
  t->drops++;
  atomic_fetch_add(&cnt.drops, 1);
  return true;
}

static bool try_add(thread_state *t) {
  if (count_state(B_EMPTY) >= EMPTY_TARGET ||
      count_state(B_FREE) <= FREE_RESERVE)
    return false;
  int b = claim(B_FREE, &t->rng);
  if (b < 0)
    return false;
  check_bank_empty(b, "thread: free bank before an add");
  root_call(tc_root_add(banks[b].slot, SLOTS), TC_OK, "tc_root_add", b);
  release(b, B_EMPTY);
  t->adds++;
  atomic_fetch_add(&cnt.adds, 1);
  return true;
}

static bool try_readd(thread_state *t) {
  int b = claim(B_EMPTY, &t->rng);
  if (b < 0)
    return false;
  void **s = banks[b].slot;
  check_bank_empty(b, "thread: empty bank before a re-add");
  root_call(tc_root_add(s, SLOTS), TC_EEXIST, "tc_root_add (again)", b);
  root_call(tc_root_remove(s), TC_OK, "tc_root_remove", b);
  root_call(tc_root_remove(s), TC_ENOENT, "tc_root_remove (again)", b);
  maybe_pause(&t->rng);
  root_call(tc_root_add(s, SLOTS), TC_OK, "tc_root_add", b);
  release(b, B_EMPTY);
  t->readds++;
  atomic_fetch_add(&cnt.readds, 1);
  return true;
}

static void *thread_main(void *arg) {
  thread_state *t = arg;
  while (!atomic_load(&threads_go))
    sched_yield();
  long q = quota();
  while (!atomic_load(&threads_stop)) {
    uint64_t r = tc_test_xorshift(&t->rng);
    bool did = false;
    for (int k = 0; k < 3; k++)
      switch ((r + (uint64_t)k) % 3) {
      case 0: did |= try_move(t); break;
      case 1: did |= try_drop(t); break;
      default: did |= try_add(t); break;
      }
    if ((r >> 8) % 16 == 0)
      did |= try_readd(t);
    if (t->moves >= q && t->drops >= q / 2 && t->adds > 0 && t->readds > 0 &&
        !atomic_load_explicit(&t->quota_met, memory_order_relaxed))
      atomic_store(&t->quota_met, 1);
    if (!did) {
      struct timespec ts = {0, 20000};
      nanosleep(&ts, NULL);
    }
  }
  atomic_fetch_add(&threads_exited, 1);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Coroutines                                                          */

typedef struct worker {
  int index;
  uint64_t rng;
  uint64_t next_id;
  long steps;
  void **keep_final;     /* main's registered slot for the keeper */
  uint64_t kid[NKEEP];   /* ids in the keeper; read by main at the end */
} worker;

static worker workers[NWORKER];
static void *final_keep[NWORKER]; /* roots: the workers' keepers at the end */

/* Chain ids: multiples of 4 (id+1, id+2 are the child and grandchild). */
static uint64_t new_id(worker *w) {
  return (((uint64_t)(w->index + 1) << 40) | ++w->next_id) << 2;
}

/* Puts chain `id` into keeper slot k, verifying what it replaces. */
static void keep_put(void **keep, uint64_t *kid, int k, node *v, uint64_t id,
                     const char *where) {
  if (kid[k])
    check_chain(tc_load(&keep[k]), kid[k], where);
  tc_store(&keep[k], v);
  kid[k] = v ? id : 0;
}

static void check_keeper(void *const *keep, const uint64_t *kid, int n,
                         const char *where) {
  for (int k = 0; k < n; k++)
    if (kid[k])
      check_chain(tc_load(&keep[k]), kid[k], where);
    else if (tc_load(&keep[k]) != NULL)
      fail_at(tc_load(&keep[k]), where, "keeper slot set without an id", 1,
              0);
}

/* Fills an EMPTY bank with fresh chains; some go to the keeper too. */
static bool fill(worker *w, void **keep) {
  int b = claim(B_EMPTY, &w->rng);
  if (b < 0)
    return false;
  bank *B = &banks[b];
  check_bank_empty(b, "empty bank before a fill");
  node *c = NULL;
  TC_LOCALS(c);
  for (int i = 0; i < SLOTS; i++) {
    uint64_t id = new_id(w);
    c = chain_new(id); /* a safepoint; B is registered and ours */
    tc_store(&B->slot[i], c);
    B->id[i] = id;
    if (tc_test_xorshift(&w->rng) % 6 == 0)
      keep_put(keep, w->kid, (int)(tc_test_xorshift(&w->rng) % NKEEP), c, id,
               "keeper slot replaced by a fill");
  }
  c = NULL;
  release(b, B_FULL);
  atomic_fetch_add(&cnt.fills, 1);
  return true;
}

/* Waits (parked, polling) until a thread has taken bank b out of DROP. */
static void wait_dropped(int b) {
  int64_t end = tc_now() + guard_ns();
  while (atomic_load_explicit(&banks[b].state, memory_order_acquire) ==
         B_DROP) {
    if (tc_now() > end)
      fail_at(banks[b].slot, "waiting for a drop", "no thread dropped the "
              "bank (threads stuck?)", (uint64_t)b, 0);
    tc_sleep(POLL_NS);
  }
}

/* Takes a READY bank: verifies it, copies some chains into loc[] and the
 * keeper, then clears it or hands it over for a drop (and waits). */
static bool take(worker *w, node **loc, uint64_t *lid, void **keep) {
  int b = claim(B_READY, &w->rng);
  if (b < 0)
    return false;
  bank *B = &banks[b];
  check_bank(b, "ready bank taken by a worker");
  uint64_t r = tc_test_xorshift(&w->rng);
  for (int n = 0; n < 2; n++) {
    int i = (int)((r >> (8 * n)) % SLOTS), j = (int)((r >> (8 * n + 4)) % NLOC);
    loc[j] = tc_load(&B->slot[i]);
    lid[j] = B->id[i];
  }
  int i = (int)((r >> 20) % SLOTS);
  keep_put(keep, w->kid, (int)((r >> 28) % NKEEP), tc_load(&B->slot[i]),
           B->id[i], "keeper slot replaced by a take");
  atomic_fetch_add(&cnt.takes, 1);
  if ((r >> 40) & 1) {
    for (int k = 0; k < SLOTS; k++) {
      tc_store(&B->slot[k], NULL);
      B->id[k] = 0;
    }
    release(b, B_EMPTY);
    atomic_fetch_add(&cnt.clears, 1);
    return true;
  }
  release(b, B_DROP);
  atomic_fetch_add(&cnt.handed, 1);
  wait_dropped(b);
  for (int j = 0; j < NLOC; j++)
    if (lid[j])
      check_chain(loc[j], lid[j], "worker local after its bank was dropped");
  return true;
}

/* A short-lived coroutine: one take, hand-over, hold across two cycles. */
static void taker(void *arg) {
  (void)arg;
  uint64_t rng = rng_seed(0x7a4e0000u + (uint64_t)atomic_fetch_add(
                                            &taker_seq, 1));
  node *a = NULL, *b2 = NULL;
  void **hold = NULL;
  uint64_t aid = 0, bid = 0, hid[2] = {0, 0};
  TC_LOCALS(a, b2, hold);
  atomic_fetch_add(&cnt.takers, 1);
  if (marking())
    atomic_fetch_add(&cnt.takers_marking, 1);
  hold = keeper_new(2); /* before the claim: no safepoint after it */
  int b = claim(B_READY, &rng);
  if (b < 0) {
    atomic_fetch_add(&cnt.takers_idle, 1);
    goto out;
  }
  bank *B = &banks[b];
  check_bank(b, "ready bank taken by a taker");
  uint64_t r = tc_test_xorshift(&rng);
  int i1 = (int)(r % SLOTS), i2 = (int)((r >> 8) % SLOTS);
  int i3 = (int)((r >> 16) % SLOTS), i4 = (int)((r >> 24) % SLOTS);
  a = tc_load(&B->slot[i1]);
  aid = B->id[i1];
  b2 = tc_load(&B->slot[i2]);
  bid = B->id[i2];
  tc_store(&hold[0], tc_load(&B->slot[i3]));
  hid[0] = B->id[i3];
  tc_store(&hold[1], tc_load(&B->slot[i4]));
  hid[1] = B->id[i4];
  release(b, B_DROP); /* from here only our copies keep them */
  atomic_fetch_add(&cnt.handed, 1);
  atomic_fetch_add(&cnt.taker_takes, 1);
  wait_dropped(b);
  uint64_t c0 = cycles_done();
  int64_t end = tc_now() + guard_ns();
  while (cycles_done() < c0 + 2) {
    if (tc_now() > end)
      fail_at(NULL, "taker", "no two cycles ended (gc loop stuck?)",
              cycles_done(), c0 + 2);
    tc_sleep(POLL_NS);
  }
  check_chain(a, aid, "taker local after two cycles");
  check_chain(b2, bid, "taker local after two cycles");
  check_keeper(hold, hid, 2, "taker heap holder after two cycles");
out:
  atomic_fetch_sub(&takers_live, 1);
  tc_waitgroup_done(&wg_takers);
}

static void churn(worker *w) {
  node *g = NULL;
  TC_LOCALS(g);
  int n = 4 + (int)(tc_test_xorshift(&w->rng) % 16);
  for (int k = 0; k < n; k++) {
    g = chain_new(new_id(w));
    if (tc_test_xorshift(&w->rng) % 32 == 0)
      (void)tc_alloc_noscan(1024 + tc_test_xorshift(&w->rng) % 8192);
  }
  g = NULL;
  atomic_fetch_add(&cnt.churned, n);
}

static void worker_main(void *arg) {
  worker *w = arg;
  node *loc[NLOC] = {NULL};
  uint64_t lid[NLOC] = {0};
  void **keep = NULL;
  TC_LOCALS(loc[0], loc[1], loc[2], loc[3], keep);
  keep = keeper_new(NKEEP);
  long iters = iters_scaled();
  for (w->steps = 0; w->steps < iters || !quotas_met(); w->steps++) {
    uint64_t r = tc_test_xorshift(&w->rng);
    int op = (int)(r % 100);
    if (op < 30) {
      fill(w, keep);
    } else if (op < 55) {
      take(w, loc, lid, keep);
    } else if (op < 70) {
      if (count_state(B_READY) > 0) {
        if (atomic_fetch_add(&takers_live, 1) < MAX_TAKERS) {
          tc_waitgroup_add(&wg_takers, 1);
          if (tc_go(taker, NULL) != TC_OK)
            fail_at(NULL, "tc_go", "cannot start a taker", 0, 0);
        } else {
          atomic_fetch_sub(&takers_live, 1);
        }
      }
    } else if (op < 85) {
      churn(w);
    } else if (op < 95) {
      for (int j = 0; j < NLOC; j++)
        if (lid[j])
          check_chain(loc[j], lid[j], "worker local");
      check_keeper(keep, w->kid, NKEEP, "worker keeper");
      if ((r >> 32) & 1) {
        int j = (int)((r >> 33) % NLOC);
        loc[j] = NULL;
        lid[j] = 0;
      }
    } else {
      tc_yield();
    }
  }
  for (int j = 0; j < NLOC; j++)
    if (lid[j])
      check_chain(loc[j], lid[j], "worker local at the end");
  check_keeper(keep, w->kid, NKEEP, "worker keeper at the end");
  tc_store(w->keep_final, keep); /* main verifies it after the threads */
  tc_waitgroup_done(&wg_work);
}

static void gc_loop(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_aux)) {
    tc_gc();
    atomic_fetch_add(&cnt.gcs, 1);
  }
  tc_waitgroup_done(&wg_aux);
}

/* Verifies every bank (all owned by main now) and every keeper. */
static void check_all(const char *where) {
  for (int b = 0; b < NBANK; b++) {
    int s = atomic_load(&banks[b].state);
    if (s == B_FULL || s == B_READY)
      check_bank(b, where);
    else if (s == B_FREE || s == B_EMPTY)
      check_bank_empty(b, where);
    else {
      fprintf(stderr, "stress_roots_foreign: bank %d is %s\n", b,
              state_names[s]);
      fail_at(banks[b].slot, where, "bank in an unexpected state",
              (uint64_t)s, B_FREE);
    }
  }
  for (int i = 0; i < NWORKER; i++)
    check_keeper(tc_load(&final_keep[i]), workers[i].kid, NKEEP, where);
}

static struct {
  tc_stats st;
  bool ran;
  int states[B_NSTATES];
} result;

static void run_main(void *arg) {
  (void)arg;
  if (tc_root_add(final_keep, NWORKER) != TC_OK)
    fail_at(final_keep, "main", "tc_root_add failed", 0, 0);
  for (int i = 0; i < NWORKER; i++)
    workers[i] = (worker){.index = i,
                          .rng = rng_seed((uint64_t)i),
                          .keep_final = &final_keep[i]};
  tc_waitgroup_add(&wg_aux, 1);
  tc_go(gc_loop, NULL);
  tc_waitgroup_add(&wg_work, NWORKER);
  for (int i = 0; i < NWORKER; i++)
    tc_go(worker_main, &workers[i]);
  atomic_store(&threads_go, 1);

  tc_waitgroup_wait(&wg_work);
  tc_waitgroup_wait(&wg_takers); /* the workers started the last ones */
  atomic_store(&threads_stop, 1);
  int64_t end = tc_now() + guard_ns();
  while (atomic_load(&threads_exited) < opt.threads) {
    if (tc_now() > end)
      fail_at(NULL, "main", "threads did not stop",
              (uint64_t)atomic_load(&threads_exited), (uint64_t)opt.threads);
    tc_sleep(POLL_NS);
  }
  atomic_store(&stop_aux, 1);
  tc_waitgroup_wait(&wg_aux);

  /* everyone is done: the banks are main's, nothing may be lost */
  for (int b = 0; b < NBANK; b++)
    result.states[atomic_load(&banks[b].state)]++;
  check_all("everything left, after the run");
  tc_gc();
  tc_gc();
  check_all("everything left, after tc_gc");
  for (int b = 0; b < NBANK; b++) {
    int s = atomic_load(&banks[b].state);
    if (s != B_FREE && tc_root_remove(banks[b].slot) != TC_OK)
      fail_at(banks[b].slot, "main", "registered bank not in the registry",
              (uint64_t)b, 0);
  }
  tc_read_stats(&result.st);
  result.ran = true;
  tc_root_remove(final_keep);
}

/* Runs one (mode, procs) in this (forked) process; returns the exit
 * status: 0 when every check passed. */
static int stress_run(int m, int procs, int markdelay, int shadedelay) {
  cur_mode = mode_name(m);
  cur_procs = procs;
  char dbg[256];
  snprintf(dbg, sizeof dbg, "barrier=%s,gccheckmark=1,gcmarkdelay=%d%s",
           cur_mode, markdelay, shadedelay ? ",shadedelay=" : "");
  if (shadedelay)
    snprintf(dbg + strlen(dbg), sizeof dbg - strlen(dbg), "%d", shadedelay);
  tc_test_debug_env(dbg); /* after whatever TRICOLOR_DEBUG held */
  unsetenv("TRICOLOR_GC");
  unsetenv("TRICOLOR_PROCS");

  for (int b = 0; b < NBANK; b++) {
    banks[b].slot = b % 2 == 0 ? bank_static[b / 2]
                               : calloc(SLOTS, sizeof(void *));
    if (banks[b].slot == NULL)
      fail_at(NULL, "setup", "out of memory", 0, 0);
    atomic_init(&banks[b].state, B_FREE);
  }
  pthread_t tids[MAX_THREAD];
  for (int t = 0; t < opt.threads; t++) {
    threads[t] = (thread_state){.index = t,
                                .rng = rng_seed(0x1000u + (uint64_t)t)};
    if (pthread_create(&tids[t], NULL, thread_main, &threads[t]) != 0)
      fail_at(NULL, "setup", "pthread_create failed", 0, 0);
  }
  tc_config cfg = {.procs = procs, .gc_percent = 50, .min_heap = 1 << 20};
  int64_t t0 = tc_now();
  int rc = tc_run(&cfg, run_main, NULL);
  int64_t t1 = tc_now();
  atomic_store(&threads_stop, 1); /* in case main never got there */
  atomic_store(&threads_go, 1);
  for (int t = 0; t < opt.threads; t++)
    pthread_join(tids[t], NULL);
  if (rc != TC_OK || !result.ran) {
    fprintf(stderr, "stress_roots_foreign: mode=%s procs=%d: tc_run: %s\n",
            cur_mode, procs, tc_strerror(rc));
    return 1;
  }

  const tc_stats *st = &result.st;
  long fills = atomic_load(&cnt.fills), moves = atomic_load(&cnt.moves);
  long takes = atomic_load(&cnt.takes) + atomic_load(&cnt.taker_takes);
  long handed = atomic_load(&cnt.handed), drops = atomic_load(&cnt.drops);
  long steps_max = 0;
  for (int i = 0; i < NWORKER; i++)
    if (workers[i].steps > steps_max)
      steps_max = workers[i].steps;
  printf("stress_roots_foreign: seed=%llu mode=%s procs=%d threads=%d "
         "iters=%ld markdelay=%dus shadedelay=%dus: %llu cycles (%ld tc_gc), "
         "fills %ld, moves %ld (%ld removals while marking), takes %ld "
         "(%ld by takers), cleared %ld, dropped %ld (%ld while marking), "
         "adds %ld, re-adds %ld, takers %ld (%ld started marking, %ld "
         "idle), garbage chains %ld, banks left FREE %d EMPTY %d FULL %d "
         "READY %d, worker steps max %ld, barrier shaded %llu, %.1f MiB "
         "allocated, %.2f s\n",
         (unsigned long long)opt.seed, cur_mode, procs, opt.threads,
         iters_scaled(), markdelay, shadedelay,
         (unsigned long long)st->cycles, atomic_load(&cnt.gcs), fills, moves,
         atomic_load(&cnt.moves_marking), takes,
         atomic_load(&cnt.taker_takes), atomic_load(&cnt.clears), drops,
         atomic_load(&cnt.drops_marking), atomic_load(&cnt.adds),
         atomic_load(&cnt.readds), atomic_load(&cnt.takers),
         atomic_load(&cnt.takers_marking), atomic_load(&cnt.takers_idle),
         atomic_load(&cnt.churned), result.states[B_FREE],
         result.states[B_EMPTY], result.states[B_FULL],
         result.states[B_READY], steps_max, (unsigned long long)st->barrier_shaded,
         (double)st->total_alloc / 1048576.0, (double)(t1 - t0) / 1e9);

  int status = 0;
#define REQUIRE(cond, ...)                                                  \
  do {                                                                      \
    if (!(cond)) {                                                          \
      printf("FAIL: mode=%s procs=%d: ", cur_mode, procs);                  \
      printf(__VA_ARGS__);                                                  \
      printf("\n");                                                         \
      status = 1;                                                           \
    }                                                                       \
  } while (0)
  REQUIRE((long)st->cycles >= min_cycles(), "%llu cycles, expected >= %ld",
          (unsigned long long)st->cycles, min_cycles());
  REQUIRE(st->last_mode == (uint32_t)tc_test_modes[m],
          "stats.last_mode is %s", tc_barrier_name(st->last_mode));
  REQUIRE(result.states[B_BUSY] == 0 && result.states[B_DROP] == 0,
          "%d banks BUSY, %d DROP at the end", result.states[B_BUSY],
          result.states[B_DROP]);
  REQUIRE(fills == moves + result.states[B_FULL],
          "fills %ld != moves %ld + FULL banks %d", fills, moves,
          result.states[B_FULL]);
  REQUIRE(moves == takes + result.states[B_READY],
          "moves %ld != takes %ld + READY banks %d", moves, takes,
          result.states[B_READY]);
  REQUIRE(handed == drops, "handed over %ld != dropped %ld", handed, drops);
  REQUIRE(atomic_load(&cnt.takers) == atomic_load(&taker_seq),
          "takers started %ld != spawned %ld", atomic_load(&cnt.takers),
          atomic_load(&taker_seq));
  for (int i = 0; i < NWORKER; i++)
    REQUIRE(workers[i].steps >= iters_scaled(), "worker %d: %ld steps", i,
            workers[i].steps);
  for (int t = 0; t < opt.threads; t++)
    REQUIRE(atomic_load(&threads[t].quota_met),
            "thread %d short of its quota: %ld moves, %ld drops, %ld adds, "
            "%ld re-adds (quota %ld moves)", t, threads[t].moves,
            threads[t].drops, threads[t].adds, threads[t].readds, quota());
#undef REQUIRE
  fflush(stdout);
  return status;
}

/* ------------------------------------------------------------------ */
/* The cmocka side: one forked child per (mode, procs)                  */

typedef struct run_spec {
  int mode, procs;
} run_spec;

/* The child of test_run: one stress run of the spec's mode and procs. */
static int run_child(void *arg) {
  const run_spec *rs = arg;
  int markdelay = markdelay_scaled(rs->procs == 2 ? opt.markdelay_us
                                                  : opt.markdelay_us / 2);
  int shadedelay = rs->procs == 2 ? 0 : opt.shadedelay_us;
  return stress_run(rs->mode, rs->procs, markdelay, shadedelay);
}

static void test_run(void **state) {
  run_spec *rs = *state;
  char what[128];
  snprintf(what, sizeof what, "mode %s procs %d (seed %llu)",
           mode_name(rs->mode), rs->procs, (unsigned long long)opt.seed);
  tc_test_run_child(run_child, rs, what);
}

int main(int argc, char **argv) {
  const char *mode = "all";
  int procs = 0;
  const char *k, *v;
  for (int i = 1;
       tc_test_next_opt(argc, argv, &i, "stress_roots_foreign", &k, &v);) {
    char *end = NULL;
    long x = strtol(v, &end, 0);
    if (strcmp(k, "--mode") == 0) {
      mode = v;
      continue;
    } else if (strcmp(k, "--seed") == 0) {
      opt.seed = strtoull(v, &end, 0);
    } else if (strcmp(k, "--iters") == 0 && x >= 1) {
      opt.iters = x;
    } else if (strcmp(k, "--procs") == 0 && (x == 0 || x == 2 || x == 4)) {
      procs = (int)x;
    } else if (strcmp(k, "--threads") == 0 && x >= 1 && x <= MAX_THREAD) {
      opt.threads = (int)x;
    } else if (strcmp(k, "--markdelay") == 0 && x >= 0 && x <= 1000000) {
      opt.markdelay_us = (int)x;
    } else if (strcmp(k, "--shadedelay") == 0 && x >= 0 && x <= 100000) {
      opt.shadedelay_us = (int)x;
    } else {
      fprintf(stderr, "stress_roots_foreign: unknown option or bad value: "
                      "%s %s (--mode, --procs 0|2|4, --seed, --iters >= 1, "
                      "--threads 1..%d, --markdelay, --shadedelay)\n",
              k, v, MAX_THREAD);
      return 2;
    }
    if (end == NULL || *end != '\0') {
      fprintf(stderr, "stress_roots_foreign: bad value '%s' for %s\n", v, k);
      return 2;
    }
  }

  (void)expect_fail; /* tc_sched_test.h's EXPECT: unused, children abort */
  static run_spec specs[8];
  static char names[8][48];
  struct CMUnitTest tests[8];
  size_t n = 0;
  bool all = strcmp(mode, "all") == 0;
  for (int p = 2; p <= 4; p += 2)
    for (int m = 0; m < 4; m++) {
      if ((!all && strcmp(mode, mode_name(m)) != 0) ||
          (procs != 0 && procs != p))
        continue;
      specs[n] = (run_spec){m, p};
      snprintf(names[n], sizeof names[n], "roots_foreign_%s_procs%d",
               mode_name(m), p);
      tests[n] = (struct CMUnitTest){names[n], test_run, NULL, NULL,
                                     &specs[n]};
      n++;
    }
  if (n == 0) {
    fprintf(stderr, "stress_roots_foreign: --mode must be hybrid, "
                    "insertion, deletion, stw or all\n");
    return 2;
  }
  printf("stress_roots_foreign: seed=%llu iters=%ld threads=%d "
         "markdelay=%dus shadedelay=%dus\n",
         (unsigned long long)opt.seed, iters_scaled(), opt.threads,
         markdelay_scaled(opt.markdelay_us), opt.shadedelay_us);
  return _cmocka_run_group_tests("stress_roots_foreign", tests, n, NULL,
                                 NULL);
}
