/*
 * stress_gc_torture.c -- many coroutines on two Ps allocate, link, unlink
 * and move references between heap objects, locals, globals and channels,
 * and make and read weak references and ephemerons to them, while the
 * collector marks concurrently, under every barrier mode with the mark
 * verifier on (TRICOLOR_DEBUG=gccheckmark=1), with fixed seeds; and two
 * negative controls: the test-only mode that skips the barrier while
 * marking (barrier=none), and the test hook that skips the read shade of
 * tc_weak_get and the ephemeron readers (noweakshade=1), must each be
 * caught by the verifier.
 *
 * Objects.  A node has three traced reference fields, the id each of them
 * is expected to point to (ref_id, untraced), its own id, a payload length
 * and a header check word, then `nwords` payload words that are a function
 * of the id.  Every access to a node verifies the header, the id the
 * referrer recorded next to the reference (any id for a value received
 * from a channel) and the whole payload: an object the collector freed
 * (poisoned with 0xdb in
 * TC_DEBUG >= 2 builds, zeroed when its pages went back to the OS) or
 * reused for another node fails, and the test prints seed, mode, where, the
 * address and what differed, then aborts.  Sizes: mostly 48-240 bytes,
 * 1 in 64 up to 8 KiB, 1 in 512 above 32 KiB (a large-object span).
 *
 * Roots.  TC_LOCALS in every coroutine; a global array of NGLOBAL slots
 * (tc_root_add, stored with tc_store); four channels (buffered 8 and 2,
 * unbuffered, buffered 16), two relay coroutines that move values between
 * them with blocking operations (so values sit in blocked senders' and
 * receivers' records and in rings); heap-to-heap links with TC_STORE.
 * Weak references and ephemerons to nodes of the graph sit in two shared
 * root arrays of NWEAK and NEPH slots, next to the ids of their targets
 * (keys and values), under the graph's lock.
 *
 * Coroutines (25, fewer than ThreadSanitizer's limits by far):
 *   torture x NTORTURE   a per-coroutine xorshift (fixed seed ^ index)
 *       chooses each step: allocate into a local; local -> global; global ->
 *       local; link X.ref[k] = Y (X and Y from locals or globals, Y may be
 *       NULL); heap -> local; heap -> global; unlink; drop a local; drop a
 *       global; non-blocking send of a local on a channel (moving or
 *       copying it); non-blocking receive into a local; a walk from a
 *       global along non-NULL references that cuts the reference it meets
 *       at depth PRUNE_DEPTH (without it the shared graph grows into long
 *       chains and tens of MiB live); tc_yield; tc_safepoint; verify all
 *       locals; make a weak reference to a node of the graph (a local or
 *       a global) in a shared slot; read one (tc_weak_get) and store what
 *       it returns into a global, a local or a field of a node (a local
 *       allocated while a cycle marks is black: the store into a black
 *       object that only the read shade makes safe), after checking that
 *       it is the node the slot was made for, intact; make an ephemeron
 *       in a shared slot, keyed by a node of the graph or by another
 *       ephemeron's value (so chains key_i -> value key_i+1 form), whose
 *       value is a new node that may refer to its own key; read one (key
 *       and value are both NULL or both the recorded nodes, intact) and
 *       store the value into the graph.  The shared
 *       graph (globals and what they reach) is guarded by one tc_mutex, so
 *       the program is data-race free (the ids next to the references are
 *       plain words, and payloads are published under the lock or through a
 *       channel); a node held in a local may be read without it (payloads
 *       never change).
 *   private x NPRIVATE   build lists (with cross links to lists kept from
 *       earlier rounds) that live only in locals, across yields and
 *       allocations, and verify them node by node.
 *   lost-object scenario x NSCEN (the negative control's trigger, run in
 *       every mode).  Object A reachable only through global slot G1 holds
 *       the only reference to W (both allocated while no cycle marks).  The
 *       coroutine polls every POLL_NS (white-box: tc__marking()) until a
 *       new cycle marks (in stw, where none ever marks concurrently, it
 *       waits 1 ms), then with no safepoint in between: allocates B (black:
 *       allocated while
 *       marking), stores B into global G2, copies A.ref[0] (W) into B.ref[0]
 *       and clears A.ref[0].  The gcmarkdelay hook keeps the collector
 *       asleep meanwhile, so G1 and G2 are scanned afterwards: A has nothing
 *       left and B is black, and W stays white unless a barrier shaded it
 *       (insertion: the store into B; deletion and hybrid: the overwrite of
 *       A.ref[0]).  The coroutine's root stack never held W or A, so the
 *       stack scans cannot save it.  Without a barrier the verifier reports
 *       W in that cycle; with one, W survives and is checked after the
 *       cycle.  The summary line counts the rounds and those that ran
 *       while the cycle was marking ("in the window").
 *   weak-read scenario (the second negative control's trigger, run in
 *       every mode while --scenarios > 0).  T is reachable only through a
 *       weak reference in a root slot, or (every other round) is the
 *       value of an ephemeron whose key K only T refers to (a value that
 *       refers to its own key: neither is alive), all allocated while no
 *       cycle marks.  The coroutine polls every quarter of the mark delay
 *       until a new cycle marks, then, with no safepoint in between,
 *       creates a reader coroutine: created while marking, its root stack
 *       is black from the start.  The reader reads T (and K), allocates B
 *       (black), stores T into B and B into a root slot, keeps T on its
 *       root stack until the cycle is over, then checks T, B and a second
 *       read (B reaches T now, so it must not read NULL).  Only the read
 *       shade marks T: without it the verifier reports T in that cycle.
 *       The summary line counts the rounds and those whose read ran while
 *       the reader's cycle marked ("in the window").
 *   census    rounds, each with exact expectations: CT targets with two
 *       weak references each; two chains E_i(key_i -> key_i+1) of CL
 *       ephemerons whose last value refers to its own key, made in order
 *       or in reverse; two ephemerons E(key -> value) whose value refers
 *       to its key.  Target 0, one chain (through its head key) and one
 *       self entry are kept; target 1, the other chain and the other self
 *       entry are dropped; the seed decides for the other targets, and
 *       keeps each in a root slot, on the root stack or in a field of a
 *       holder node.  Before the drop every entry must read its
 *       objects (reachable: never NULL).  After the drop and a tc_gc (a
 *       cycle that began after the drop): each kept entry reads its
 *       objects intact, each dropped one reads NULL (key and value), every
 *       entry of the previous round (all of it garbage since this round
 *       began) reads NULL, and tc_stats counted at least as many weak
 *       references and ephemerons cleared.  At least one round runs.
 *   gc        tc_gc() every GC_PERIOD_MS; besides, min_heap = 1 MiB and
 *             gc_percent = 50 trigger cycles often.
 *   relays x 2, main.
 * At the end main stops everyone, closes the channels, verifies every
 * value left in them, verifies all of the graph the globals reach (with
 * the collector's rule for ephemerons: a value is reached once its key
 * is), collects twice and verifies it again, and checks the shared weak
 * references and ephemerons against what the walk reached: a reached
 * target or key reads its node, intact (before and after the collections),
 * and after them every unreached one reads NULL, key and value; the
 * summary line gives the counts.  Then it checks the stats: cycles >= a
 * minimum (the test cannot pass without collecting), the census ran, and
 * last_mode == the mode under test.  (The first allocations of node_type
 * happen on both Ps at once: under ThreadSanitizer that checks the type
 * registration against tc_alloc's inline read of fast_id.)
 *
 * Modes.  Each mode runs in a forked child (TRICOLOR_DEBUG is read at
 * tc_run start) with TRICOLOR_DEBUG=barrier=MODE,gccheckmark=1,
 * gcmarkdelay=US (after whatever TRICOLOR_DEBUG already held, so
 * gctrace=1 can be added by hand), TRICOLOR_GC and TRICOLOR_PROCS unset,
 * procs = 2; the child must exit with status 0.  The negative controls run
 * the same torture under tc_expect_death: with barrier=none, requiring an
 * abort whose stderr names "tricolor: gccheckmark: reachable object", and
 * in hybrid with noweakshade=1, requiring "(type torture_node) was not
 * marked by the hybrid mark".  The weak-read scenario alone trips the
 * second in its first round in the window, and so does the random
 * workload alone (--scenarios 0).
 *
 * Arguments (all optional; ctest runs it without any):
 *   --mode M    hybrid|insertion|deletion|stw|none|noweakshade|all
 *               (default all: the four modes, then the negative controls;
 *               none, noweakshade: only that control)
 *   --seed S    (default 20260301)   --iters N   steps per torture
 *               coroutine (default 250000)   --markdelay US  (default 2000)
 *   --scenarios N  lost-object scenario coroutines, 0..2, and the
 *               weak-read scenario if N > 0 (default 2; 0 shows what the
 *               random workload alone catches)
 * Iterations are divided by 8 under ThreadSanitizer or qemu-user (and
 * the mark delay multiplied by 10: a slower mutator needs a wider window),
 * by 2 under AddressSanitizer (delay x2), by 20 under valgrind (x10).
 */
#include "tc_test.h"

#include "barrier/barrier.h" /* white-box: tc__marking() */

#include <stdatomic.h>

/* ------------------------------------------------------------------ */
/* Parameters                                                          */

#define NREF 3
#define NLOC 8
#define NGLOBAL 256
#define NCHAN 4
#define NTORTURE 12
#define NPRIVATE 4
#define NSCEN 2
#define GC_PERIOD_MS 2
#define POLL_NS ((int64_t)50 * 1000) /* scenario: how often it looks */
#define PRUNE_DEPTH 8 /* walks cut references this deep */
#define NWEAK 64  /* shared weak-reference slots */
#define NEPH 64   /* shared ephemeron slots */
#define CT 6      /* census: targets per round, two weak references each */
#define CL 5      /* census: ephemerons per chain: CL keys, then the value */
#define AUX_PAUSE_MS 8 /* census, weak-read scenario: between rounds (x10
                          in slow builds, like the mark delay) */

static struct {
  uint64_t seed;
  long iters;
  int markdelay_us;
  int scenarios;
} opt = {20260301u, 250000, 2000, NSCEN};

static const char *mode_name(int m) {
  return tc_barrier_name(tc_test_modes[m]);
}

static long iters_scaled(void) {
  long n = opt.iters;
  if (tc_test_under_valgrind())
    n /= 20;
  else if (tc_test_under_emulator() || tc_test_under_tsan())
    n /= 8;
  else if (tc_test_under_asan())
    n /= 2;
  return n > 0 ? n : 1;
}

/* A slower mutator needs a wider window for the scenario. */
static int markdelay_scaled(void) {
  if (tc_test_under_asan() && !tc_test_under_emulator())
    return opt.markdelay_us * 2;
  return tc_test_slow_build() ? opt.markdelay_us * 10 : opt.markdelay_us;
}

static long min_cycles(void) { return tc_test_slow_build() ? 3 : 10; }

/* ------------------------------------------------------------------ */
/* Nodes                                                               */

typedef struct node {
  struct node *ref[NREF]; /* traced */
  uint64_t ref_id[NREF];  /* id ref[k] points to, 0 for NULL (untraced) */
  uint64_t id;            /* unique, never 0 */
  uint64_t nwords;        /* payload words */
  uint64_t check;         /* hdr_check(id, nwords) */
  uint64_t payload[];     /* payload[i] = pay(id, i) */
} node;

static const uint32_t node_offsets[] = {offsetof(node, ref[0]),
                                        offsetof(node, ref[1]),
                                        offsetof(node, ref[2])};
static tc_type node_type = {
    .name = "torture_node", .offsets = node_offsets, .noffsets = NREF};

static uint64_t hdr_check(uint64_t id, uint64_t nwords) {
  return tc_test_mix(id * 0x9e3779b97f4a7c15ULL ^ nwords ^ 0x70c7u) | 1;
}

static uint64_t pay(uint64_t id, uint64_t i) {
  return tc_test_mix(id ^ (i + 1) * 0xd6e8feb86659fd93ULL);
}

static uint64_t rng_seed(uint64_t salt) {
  uint64_t s = tc_test_mix(opt.seed ^ tc_test_mix(salt + 0x51));
  return s ? s : 1;
}

/* Payload words: mostly small, some medium, a few large (> 32 KiB). */
static uint64_t pick_nwords(uint64_t *rng) {
  uint64_t r = tc_test_xorshift(rng);
  if (r % 512 == 0)
    return 4100 + (r >> 9) % 2000;
  if (r % 64 == 0)
    return 128 + (r >> 9) % 897;
  return (r >> 9) % 25;
}

#define NODE_BYTES(nw) (sizeof(node) + (size_t)(nw) * sizeof(uint64_t))

/* The run being tortured, for failure reports. */
static const char *cur_mode = "?";

static __attribute__((noreturn)) void
node_fail(const node *n, uint64_t want, const char *where, const char *what,
          uint64_t a, uint64_t b) {
  fprintf(stderr,
          "stress_gc_torture: seed=%llu mode=%s: %s: object %p: %s "
          "(found %#llx, expected %#llx); expected id %llu\n",
          (unsigned long long)opt.seed, cur_mode, where, (const void *)n, what,
          (unsigned long long)a, (unsigned long long)b,
          (unsigned long long)want);
  abort();
}

/* Verifies n's immutable part (NULL allowed when want == 0; want ==
 * ANY_ID: any node): header, id, payload.  No safepoint, no lock needed
 * (ref_id is not read: it changes under world_mu). */
#define ANY_ID (~(uint64_t)0)
static void check_node(const node *n, uint64_t want, const char *where) {
  if (n == NULL) {
    if (want != 0 && want != ANY_ID)
      node_fail(n, want, where, "NULL where a node was expected", 0, want);
    return;
  }
  if (want == 0)
    node_fail(n, want, where, "a node where NULL was expected", 0, 0);
  uint64_t id = n->id, nw = n->nwords;
  if (want != ANY_ID && id != want)
    node_fail(n, want, where, "wrong id (freed and reused?)", id, want);
  if (id == 0 || n->check != hdr_check(id, nw))
    node_fail(n, want, where, "bad header check word (freed? poisoned?)",
              n->check, hdr_check(id, nw));
  for (uint64_t i = 0; i < nw; i++)
    if (n->payload[i] != pay(id, i))
      node_fail(n, want, where, "bad payload word", n->payload[i], pay(id, i));
}

/* check_node, plus: each reference agrees with the id recorded next to
 * it, and each target is intact.  Under world_mu (or a private node). */
static void check_deep(const node *n, uint64_t want, const char *where) {
  check_node(n, want, where);
  if (n == NULL)
    return;
  for (int k = 0; k < NREF; k++)
    check_node(tc_load((void *const *)&n->ref[k]), n->ref_id[k], where);
}

/* Allocates and fills a node; a safepoint (callers root what they hold). */
static node *node_new(uint64_t id, uint64_t nwords) {
  node *n = tc_alloc(&node_type, NODE_BYTES(nwords));
  if (n == NULL) {
    fprintf(stderr, "stress_gc_torture: seed=%llu mode=%s: out of memory "
                    "allocating %zu bytes\n",
            (unsigned long long)opt.seed, cur_mode, NODE_BYTES(nwords));
    abort();
  }
  n->id = id;
  n->nwords = nwords;
  for (uint64_t i = 0; i < nwords; i++)
    n->payload[i] = pay(id, i);
  n->check = hdr_check(id, nwords);
  return n;
}

/* Stores y (whose id is yid) into x->ref[k]; x is rooted or locked. */
static void link_ref(node *x, int k, node *y, uint64_t yid) {
  tc_store((void **)&x->ref[k], y);
  x->ref_id[k] = y ? yid : 0;
}

/* ------------------------------------------------------------------ */
/* Shared state (one run per process: a forked child)                  */

static node *globals[NGLOBAL];      /* roots; guarded by world_mu */
static uint64_t gid[NGLOBAL];       /* ids of globals[i]; world_mu */
static tc_mutex world_mu;           /* the shared graph */
static tc_chan *chans[NCHAN];       /* roots; set before the workers start */
static node *scen_slots[2 * NSCEN]; /* roots: G1, G2 of each scenario */
static tc_weak *weaks[NWEAK];       /* roots; world_mu */
static uint64_t weak_tid[NWEAK];    /* id of weaks[i]'s target; world_mu */
static tc_ephemeron *ephs[NEPH];    /* roots; world_mu */
static uint64_t eph_kid[NEPH];      /* id of ephs[i]'s key; world_mu */
static uint64_t eph_vid[NEPH];      /* id of ephs[i]'s value; world_mu */

static tc_waitgroup wg_work, wg_aux;
static atomic_int stop_aux;
static atomic_long forced_gcs, scen_runs, scen_hits, sent, received;
static atomic_long weak_reads, weak_nulls, eph_reads, eph_nulls;
static atomic_long wread_runs, wread_hits;
static atomic_long census_rounds, census_live, census_dead;
static struct {
  tc_stats st;
  bool ran;
  long weak_live, weak_dead, eph_live, eph_dead; /* the final exact check */
} result;

typedef struct worker {
  int index;
  uint64_t rng;
  uint64_t next_id;
} worker;

/* workers[]: torture, private, scenario, relay x 2, weak-read, census */
#define W_RELAY (NTORTURE + NPRIVATE + NSCEN)
#define W_WREAD (W_RELAY + 2)
#define W_CENSUS (W_RELAY + 3)
static worker workers[W_RELAY + 4];

static uint64_t new_id(worker *w) {
  return ((uint64_t)(w->index + 1) << 40) | ++w->next_id;
}

/* Resolves a node from a local (bit set) or a global, under world_mu. */
static node *resolve(uint64_t r, node *const *loc, const uint64_t *lid,
                     int j, int g, uint64_t *id) {
  if (r & 1) {
    *id = lid[j];
    return loc[j];
  }
  *id = gid[g];
  return tc_load((void *const *)&globals[g]);
}

static tc_weak *weak_new_or_die(void *target) {
  tc_weak *w = tc_weak_new(target);
  if (w == NULL) {
    fprintf(stderr, "stress_gc_torture: seed=%llu mode=%s: tc_weak_new: out "
                    "of memory\n",
            (unsigned long long)opt.seed, cur_mode);
    abort();
  }
  return w;
}

static tc_ephemeron *ephemeron_new_or_die(void *key, void *value) {
  tc_ephemeron *e = tc_ephemeron_new(key, value);
  if (e == NULL) {
    fprintf(stderr, "stress_gc_torture: seed=%llu mode=%s: tc_ephemeron_new: "
                    "out of memory\n",
            (unsigned long long)opt.seed, cur_mode);
    abort();
  }
  return e;
}

/* Stores x (id xid), just read from a weak reference or an ephemeron,
 * into a global, a local, or a field of a node (a local allocated while
 * the cycle marks is black: the case the read shade protects).  Under
 * world_mu; no safepoint since the read. */
static void store_read(uint64_t bits, node **loc, uint64_t *lid, int j,
                       int j2, int g, int g2, int k, node *x, uint64_t xid) {
  switch ((bits >> 5) % 4) {
  case 0:
    tc_store((void **)&globals[g2], x);
    gid[g2] = xid;
    break;
  case 1:
    loc[j2] = x;
    lid[j2] = xid;
    break;
  default: {
    uint64_t yid;
    node *y = resolve(bits, loc, lid, j, g, &yid);
    if (y != NULL) {
      check_deep(y, yid, "node that takes a weak read");
      link_ref(y, k, x, xid);
    }
  }
  }
}

static void torture(void *arg) {
  worker *w = arg;
  node *loc[NLOC] = {NULL};
  uint64_t lid[NLOC] = {0};
  node *tmp = NULL, *val = NULL;
  void *wo = NULL; /* a new weak reference or ephemeron */
  TC_LOCALS(loc[0], loc[1], loc[2], loc[3], loc[4], loc[5], loc[6], loc[7],
            tmp, val, wo);
  long iters = iters_scaled();
  for (long it = 0; it < iters; it++) {
    uint64_t r = tc_test_xorshift(&w->rng);
    int op = (int)(r % 108);
    int j = (int)((r >> 8) % NLOC), j2 = (int)((r >> 12) % NLOC);
    int g = (int)((r >> 16) % NGLOBAL), g2 = (int)((r >> 24) % NGLOBAL);
    int k = (int)((r >> 32) % NREF), c = (int)((r >> 36) % NCHAN);
    uint64_t bits = r >> 40;
    int ws = (int)((bits >> 8) % NWEAK), es = (int)((bits >> 14) % NEPH);
    if (op < 15) { /* allocate into a local */
      tmp = node_new(new_id(w), pick_nwords(&w->rng));
      loc[j] = tmp;
      lid[j] = tmp->id;
      tmp = NULL;
    } else if (op < 24) { /* local -> global (move or copy) */
      if (loc[j] == NULL)
        continue;
      check_node(loc[j], lid[j], "local before publishing");
      tc_mutex_lock(&world_mu);
      tc_store((void **)&globals[g], loc[j]);
      gid[g] = lid[j];
      tc_mutex_unlock(&world_mu);
      if (bits & 1) {
        loc[j] = NULL;
        lid[j] = 0;
      }
    } else if (op < 33) { /* global -> local */
      tc_mutex_lock(&world_mu);
      node *x = tc_load((void *const *)&globals[g]);
      check_deep(x, gid[g], "global read into a local");
      loc[j] = x;
      lid[j] = gid[g];
      tc_mutex_unlock(&world_mu);
    } else if (op < 48) { /* link X.ref[k] = Y */
      tc_mutex_lock(&world_mu);
      uint64_t xid, yid = 0;
      node *x = resolve(bits, loc, lid, j, g, &xid);
      node *y = (bits & 6) == 6 ? NULL
                                : resolve(bits >> 3, loc, lid, j2, g2, &yid);
      if (x != NULL) {
        check_deep(x, xid, "link source");
        if (y != NULL)
          check_node(y, yid, "link target");
        link_ref(x, k, y, yid);
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 56) { /* heap -> local */
      tc_mutex_lock(&world_mu);
      uint64_t xid;
      node *x = resolve(bits, loc, lid, j, g, &xid);
      if (x != NULL) {
        check_deep(x, xid, "heap source");
        node *y = tc_load((void *const *)&x->ref[k]);
        check_node(y, x->ref_id[k], "heap reference read into a local");
        loc[j2] = y;
        lid[j2] = x->ref_id[k];
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 61) { /* heap -> global */
      tc_mutex_lock(&world_mu);
      uint64_t xid;
      node *x = resolve(bits, loc, lid, j, g, &xid);
      if (x != NULL) {
        check_deep(x, xid, "heap source");
        node *y = tc_load((void *const *)&x->ref[k]);
        check_node(y, x->ref_id[k], "heap reference read into a global");
        tc_store((void **)&globals[g2], y);
        gid[g2] = x->ref_id[k];
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 66) { /* unlink */
      tc_mutex_lock(&world_mu);
      uint64_t xid;
      node *x = resolve(bits, loc, lid, j, g, &xid);
      if (x != NULL) {
        check_deep(x, xid, "unlink source");
        check_node(tc_load((void *const *)&x->ref[k]), x->ref_id[k],
                   "unlinked reference");
        link_ref(x, k, NULL, 0);
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 71) { /* drop a local */
      loc[j] = NULL;
      lid[j] = 0;
    } else if (op < 74) { /* drop a global */
      tc_mutex_lock(&world_mu);
      check_node(tc_load((void *const *)&globals[g]), gid[g], "dropped global");
      tc_store((void **)&globals[g], NULL);
      gid[g] = 0;
      tc_mutex_unlock(&world_mu);
    } else if (op < 80) { /* send a local (non-blocking) */
      if (loc[j] == NULL)
        continue;
      check_node(loc[j], lid[j], "local before sending");
      tc_select_case cs = {.chan = chans[c], .dir = TC_SELECT_SEND,
                           .value = loc[j]};
      if (tc_select(&cs, 1, false) == 0) {
        atomic_fetch_add_explicit(&sent, 1, memory_order_relaxed);
        if (bits & 1) {
          loc[j] = NULL;
          lid[j] = 0;
        }
      }
    } else if (op < 86) { /* receive into a local (non-blocking) */
      tc_select_case cs = {.chan = chans[c], .dir = TC_SELECT_RECV};
      if (tc_select(&cs, 1, false) == 0 && cs.ok) {
        node *x = cs.value;
        check_node(x, ANY_ID, "value received from a channel");
        loc[j] = x;
        lid[j] = x->id;
        atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
      }
    } else if (op < 90) { /* a walk from a global; prunes deep paths */
      tc_mutex_lock(&world_mu);
      node *x = tc_load((void *const *)&globals[g]);
      uint64_t xid = gid[g];
      for (int d = 0; x != NULL; d++) {
        check_deep(x, xid, "walk from a global");
        int kk = (int)((bits >> (2 * d)) % NREF), n = 0;
        while (n < NREF && tc_load((void *const *)&x->ref[kk]) == NULL)
          kk = (kk + 1) % NREF, n++;
        if (n == NREF)
          break;
        if (d == PRUNE_DEPTH) { /* keeps the live graph shallow */
          link_ref(x, kk, NULL, 0);
          break;
        }
        xid = x->ref_id[kk];
        x = tc_load((void *const *)&x->ref[kk]);
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 95) {
      tc_yield(); /* locals live across the switch */
    } else if (op < 98) {
      tc_safepoint();
    } else if (op < 100) {
      for (int i = 0; i < NLOC; i++)
        check_node(loc[i], lid[i], "local (all locals)");
    } else if (op < 101) { /* a weak reference to a node of the graph */
      tc_mutex_lock(&world_mu);
      uint64_t xid;
      tmp = resolve(bits, loc, lid, j, g, &xid);
      check_deep(tmp, xid, "weak reference target");
      tc_mutex_unlock(&world_mu);
      if (tmp == NULL)
        continue;
      wo = weak_new_or_die(tmp);
      tc_mutex_lock(&world_mu);
      tc_store((void **)&weaks[ws], wo);
      weak_tid[ws] = xid;
      tc_mutex_unlock(&world_mu);
      tmp = NULL;
      wo = NULL;
    } else if (op < 104) { /* a weak read, stored into the graph */
      tc_mutex_lock(&world_mu);
      tc_weak *wr = tc_load((void *const *)&weaks[ws]);
      node *x = tc_weak_get(wr);
      uint64_t xid = weak_tid[ws];
      if (x != NULL) {
        check_node(x, xid, "weak reference read");
        store_read(bits, loc, lid, j, j2, g, g2, k, x, xid);
        atomic_fetch_add_explicit(&weak_reads, 1, memory_order_relaxed);
      } else if (wr != NULL) {
        atomic_fetch_add_explicit(&weak_nulls, 1, memory_order_relaxed);
      }
      tc_mutex_unlock(&world_mu);
    } else if (op < 105) { /* an ephemeron keyed by a node of the graph */
      tc_mutex_lock(&world_mu);
      uint64_t xid = 0;
      if (bits & 2) { /* chain: the key is another ephemeron's value */
        int e2 = (int)(tc_test_xorshift(&w->rng) % NEPH);
        tmp = tc_ephemeron_value(tc_load((void *const *)&ephs[e2]));
        xid = eph_vid[e2];
        check_node(tmp, tmp ? xid : 0, "ephemeron value as the next key");
      }
      if (tmp == NULL) {
        tmp = resolve(bits, loc, lid, j, g, &xid);
        check_deep(tmp, xid, "ephemeron key");
      }
      tc_mutex_unlock(&world_mu);
      if (tmp == NULL)
        continue;
      val = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
      if (bits & 4) /* the value refers to its own key */
        link_ref(val, 0, tmp, xid);
      wo = ephemeron_new_or_die(tmp, val);
      tc_mutex_lock(&world_mu);
      tc_store((void **)&ephs[es], wo);
      eph_kid[es] = xid;
      eph_vid[es] = val->id;
      tc_mutex_unlock(&world_mu);
      tmp = val = NULL;
      wo = NULL;
    } else { /* an ephemeron read, its value stored into the graph */
      tc_mutex_lock(&world_mu);
      tc_ephemeron *er = tc_load((void *const *)&ephs[es]);
      node *v = tc_ephemeron_value(er), *kx = tc_ephemeron_key(er);
      if (v != NULL) {
        check_node(kx, eph_kid[es], "ephemeron key read");
        check_node(v, eph_vid[es], "ephemeron value read");
        store_read(bits, loc, lid, j, j2, g, g2, k, v, eph_vid[es]);
        atomic_fetch_add_explicit(&eph_reads, 1, memory_order_relaxed);
      } else if (er != NULL) {
        check_node(kx, 0, "ephemeron key read (its value is NULL)");
        atomic_fetch_add_explicit(&eph_nulls, 1, memory_order_relaxed);
      }
      tc_mutex_unlock(&world_mu);
    }
  }
  for (int i = 0; i < NLOC; i++)
    check_node(loc[i], lid[i], "local at the end");
  tc_waitgroup_done(&wg_work);
}

/* Lists that live only in locals, with cross links (ref[1]) to kept
 * lists.  Only "plain" kept lists (made without cross links) are linked
 * to, so a kept list never drags a chain of older lists along. */
static void private_worker(void *arg) {
  worker *w = arg;
  node *head = NULL, *n = NULL;
  node *keep[4] = {NULL};
  uint64_t keep_id[4] = {0};
  bool keep_plain[4] = {false};
  TC_LOCALS(head, n, keep[0], keep[1], keep[2], keep[3]);
  long rounds = iters_scaled() / 40;
  if (rounds < 4)
    rounds = 4;
  for (long it = 0; it < rounds; it++) {
    long len = 1 + (long)(tc_test_xorshift(&w->rng) % 48);
    uint64_t head_id = 0;
    bool plain = true;
    for (long i = 0; i < len; i++) {
      n = node_new(new_id(w), pick_nwords(&w->rng));
      link_ref(n, 0, head, head_id);
      uint64_t r = tc_test_xorshift(&w->rng);
      int kx = (int)(r % 4);
      if ((r & 16) && keep_plain[kx]) {
        link_ref(n, 1, keep[kx], keep_id[kx]);
        plain = false;
      }
      head = n;
      head_id = n->id;
      n = NULL;
      if ((r >> 8) % 8 == 0)
        tc_yield(); /* the half-built list only in a local */
    }
    for (int pass = 0; pass < 2; pass++) {
      long count = 0;
      uint64_t id = head_id;
      for (node *x = head; x != NULL; count++) {
        check_deep(x, id, "private list");
        node *side = tc_load((void *const *)&x->ref[1]);
        if (side != NULL)
          check_node(side, x->ref_id[1], "private cross link");
        id = x->ref_id[0];
        x = tc_load((void *const *)&x->ref[0]);
      }
      if (count != len)
        node_fail(head, head_id, "private list", "list length", (uint64_t)count,
                  (uint64_t)len);
      if (pass == 0)
        tc_yield();
    }
    uint64_t r = tc_test_xorshift(&w->rng);
    if (r % 4 == 0) {
      keep[(r >> 4) % 4] = head;
      keep_id[(r >> 4) % 4] = head_id;
      keep_plain[(r >> 4) % 4] = plain;
    }
    head = NULL;
  }
  for (int i = 0; i < 4; i++)
    check_node(keep[i], keep_id[i], "kept private list");
  tc_waitgroup_done(&wg_work);
}

/* Sleeps between two rounds of the census or the weak-read scenario: a
 * round every few cycles is plenty, and CI time stays with the torture
 * coroutines.  A safepoint. */
static void aux_pause(void) {
  if (!atomic_load(&stop_aux))
    tc_sleep((int64_t)AUX_PAUSE_MS * 1000 * 1000 *
             (tc_test_slow_build() ? 10 : 1));
}

/* Polls every poll_ns until a cycle that began after the call marks, at
 * most 200 ms (1 ms in stw, where no mark ever runs concurrently), or
 * until stop_aux; returns whether that cycle marks now.  A safepoint. */
static bool wait_next_mark(bool stw, int64_t poll_ns) {
  bool saw_idle = !tc__marking();
  int64_t give_up = tc_now() + (stw ? 1 : 200) * (int64_t)1000 * 1000;
  while (!atomic_load(&stop_aux) && tc_now() < give_up &&
         !(saw_idle && tc__marking())) {
    tc_sleep(poll_ns);
    saw_idle |= !tc__marking();
  }
  return saw_idle && tc__marking();
}

/* The lost-object scenario (see the top of the file). */
static void scenario(void *arg) {
  worker *w = arg;
  int s = w->index - NTORTURE - NPRIVATE;
  node **g1 = &scen_slots[2 * s], **g2 = &scen_slots[2 * s + 1];
  node *a = NULL, *wn = NULL, *b = NULL;
  TC_LOCALS(a, wn, b);
  bool stw = tc_get_barrier() == TC_BARRIER_STW;
  while (!atomic_load(&stop_aux)) {
    /* 1. A -> W, A reachable only from G1; both white (no cycle marks, or
     *    a cycle marks and they are black: then this round is no hit) */
    a = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
    wn = node_new(new_id(w), pick_nwords(&w->rng));
    link_ref(a, 0, wn, wn->id);
    uint64_t w_id = wn->id, a_id = a->id;
    tc_store((void **)g1, a);
    a = wn = NULL; /* nothing of it on this root stack */
    /* 2. wait for the next mark (the steps are legal whenever they run) */
    bool in_window = wait_next_mark(stw, POLL_NS);
    if (atomic_load(&stop_aux))
      break;
    /* 3. no safepoint from here to the end of the moves */
    /* black if marking */
    b = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
    uint64_t b_id = b->id;
    bool hit = in_window && tc__marking();
    tc_store((void **)g2, b);
    node *ax = tc_load((void *const *)g1);
    check_node(ax, a_id, "scenario A");
    node *wx = tc_load((void *const *)&ax->ref[0]);
    check_node(wx, w_id, "scenario W (in A)");
    link_ref(b, 0, wx, w_id);
    link_ref(ax, 0, NULL, 0);
    wx = ax = NULL;
    b = NULL;
    hit = hit && tc__marking();
    atomic_fetch_add_explicit(&scen_runs, 1, memory_order_relaxed);
    if (hit)
      atomic_fetch_add_explicit(&scen_hits, 1, memory_order_relaxed);
    /* 4. wait until that cycle is over, then W must be intact */
    int64_t give_up = tc_now() + (int64_t)1000 * 1000 * 1000;
    while (!atomic_load(&stop_aux) && tc_now() < give_up && tc__marking())
      tc_sleep(POLL_NS);
    tc_yield();
    node *bx = tc_load((void *const *)g2);
    check_node(bx, b_id, "scenario B (in G2)");
    check_node(tc_load((void *const *)&bx->ref[0]), w_id,
               "scenario W (in B) after the cycle");
  }
  tc_waitgroup_done(&wg_aux);
}

/* The weak-read scenario (see the top of the file): one round, handed
 * from the scenario coroutine to the reader it creates. */
typedef struct wread {
  worker *w;           /* ids come from the scenario's worker */
  bool eph;            /* read an ephemeron (else a weak reference) */
  bool in_window;      /* the reader was created while a new cycle marked */
  uint32_t epoch;      /* that cycle (tc__gc.epoch) */
  uint64_t tid, kid;   /* ids of T and, for an ephemeron, of its key K */
  bool hit;            /* T read, in that cycle, while it marked */
  tc_waitgroup done;
} wread;

static void *wread_slots[2]; /* roots: the weak reference or ephemeron; B */

/* The reader has the whole mark to start in, not only the mark delay:
 * a quarter of the delay between looks is soon enough and wakes the
 * scenario a few times per cycle, not dozens. */
static int64_t wread_poll_ns(void) {
  int64_t ns = (int64_t)markdelay_scaled() * 1000 / 4;
  return ns > POLL_NS ? ns : POLL_NS;
}

/* Created while the cycle marks: its root stack is black from the start,
 * so what it reads is saved by the read shade or by nothing. */
static void wread_reader(void *arg) {
  wread *wr = arg;
  node *t = NULL, *kx = NULL, *b = NULL;
  TC_LOCALS(t, kx, b);
  /* 1. the read, with no safepoint since the coroutine began */
  void *o = tc_load((void *const *)&wread_slots[0]);
  if (wr->eph) {
    t = tc_ephemeron_value(o);
    kx = tc_ephemeron_key(o);
  } else {
    t = tc_weak_get(o);
  }
  wr->hit = wr->in_window && t != NULL && tc__marking() &&
            tc__load_relaxed(&tc__gc.epoch) == wr->epoch;
  uint64_t tid = t ? wr->tid : 0;
  check_deep(t, tid, "weak-read scenario: T read");
  if (wr->eph)
    check_node(kx, t ? wr->kid : 0, "weak-read scenario: K read");
  /* 2. a black object (allocated while marking) takes T: B in a root */
  b = node_new(new_id(wr->w), 0);
  uint64_t b_id = b->id;
  link_ref(b, 0, t, tid);
  tc_store(&wread_slots[1], b);
  /* 3. T stays on this root stack and in B across the end of the cycle */
  int64_t give_up = tc_now() + (int64_t)1000 * 1000 * 1000;
  while (tc_now() < give_up && tc__marking() &&
         tc__load_relaxed(&tc__gc.epoch) == wr->epoch)
    tc_sleep(wread_poll_ns());
  tc_yield();
  /* 4. T is intact, B still holds it and, B reaching it, the weak
   *    reference or ephemeron still reads it */
  check_deep(t, tid, "weak-read scenario: T after the cycle");
  check_deep(tc_load((void *const *)&wread_slots[1]), b_id,
             "weak-read scenario: B (and T in it) after the cycle");
  o = tc_load((void *const *)&wread_slots[0]);
  if (t != NULL && (wr->eph ? tc_ephemeron_value(o) != t ||
                                  tc_ephemeron_key(o) != kx
                            : tc_weak_get(o) != t))
    node_fail(t, tid, "weak-read scenario: read again after the cycle",
              "a weak reference or ephemeron lost a reachable node", 0, tid);
  t = kx = b = NULL;
  tc_waitgroup_done(&wr->done);
}

static void wread_scenario(void *arg) {
  static wread wr;
  worker *w = arg;
  node *t = NULL, *kx = NULL;
  void *o = NULL;
  TC_LOCALS(t, kx, o);
  bool stw = tc_get_barrier() == TC_BARRIER_STW;
  for (long round = 0; !atomic_load(&stop_aux); round++) {
    /* 1. T reachable only through a weak reference, or as the value of an
     *    ephemeron whose key K only T refers to; white if no cycle marks */
    bool eph = round % 2 == 1;
    t = node_new(new_id(w), pick_nwords(&w->rng));
    uint64_t tid = t->id, kid = 0;
    if (eph) {
      kx = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
      kid = kx->id;
      link_ref(t, 0, kx, kid); /* the value refers to its own key */
      o = ephemeron_new_or_die(kx, t);
    } else {
      o = weak_new_or_die(t);
    }
    tc_store(&wread_slots[0], o);
    t = kx = NULL; /* nothing of it on this root stack */
    o = NULL;
    /* 2. wait for the next mark */
    bool in_window = wait_next_mark(stw, wread_poll_ns());
    if (atomic_load(&stop_aux))
      break;
    /* 3. the reader, created with no safepoint since the check */
    wr.w = w;
    wr.eph = eph;
    wr.tid = tid;
    wr.kid = kid;
    wr.hit = false;
    tc_waitgroup_add(&wr.done, 1);
    wr.in_window = in_window && tc__marking();
    wr.epoch = tc__load_relaxed(&tc__gc.epoch);
    if (tc_go(wread_reader, &wr) != TC_OK) {
      fprintf(stderr, "stress_gc_torture: tc_go failed\n");
      abort();
    }
    tc_waitgroup_wait(&wr.done);
    atomic_fetch_add_explicit(&wread_runs, 1, memory_order_relaxed);
    if (wr.hit)
      atomic_fetch_add_explicit(&wread_hits, 1, memory_order_relaxed);
    aux_pause();
  }
  tc_waitgroup_done(&wg_aux);
}

/* The census (see the top of the file).  One round's weak references and
 * ephemerons; the set of the previous round stays to be checked too. */
typedef struct census_set {
  void *weak[2 * CT];     /* weak[2i], weak[2i + 1]: to target i */
  void *chain[2][CL];     /* E_i(key_i -> key_i+1); key_CL is the value */
  void *self[2];          /* E(key -> value), value.ref[0] = key */
} census_set;

static struct {
  census_set set[2];      /* this round's and the previous round's */
  void *target[CT];       /* the targets, while built or kept here */
  void *key[2][CL + 1];   /* each chain's keys and value, while built */
  void *skey[2];          /* the self-referenced keys */
  void *holder;           /* a node whose fields keep some targets */
} cs;                     /* roots: sizeof cs / sizeof(void *) slots */

typedef struct census_round {
  uint64_t tid[CT];          /* targets' ids */
  uint64_t kid[2][CL + 1];   /* chain keys' ids, [CL] the value's */
  uint64_t sid[2][2];        /* self entries: key, value */
  bool keep_t[CT], keep_c[2], keep_s[2];
} census_round;

/* Checks a census set: every entry kept (all of them if `all`) reads its
 * objects intact, every other reads NULL (key and value).  Counts each
 * weak reference and ephemeron unless `all`.  No safepoint. */
static void census_check(const census_set *s, const census_round *cr,
                         bool all, const char *when) {
  char where[160];
  long live = 0, dead = 0;
  for (int i = 0; i < 2 * CT; i++) {
    bool keep = all || cr->keep_t[i / 2];
    snprintf(where, sizeof where, "census %s: weak reference to a %s target",
             when, keep ? "kept" : "dropped");
    check_node(tc_weak_get(s->weak[i]), keep ? cr->tid[i / 2] : 0, where);
    *(keep ? &live : &dead) += 1;
  }
  for (int c = 0; c < 2; c++) {
    bool keep = all || cr->keep_c[c];
    snprintf(where, sizeof where, "census %s: ephemeron of a chain whose "
             "head is %s", when, keep ? "kept" : "dropped");
    for (int i = 0; i < CL; i++) {
      const tc_ephemeron *e = s->chain[c][i];
      check_deep(tc_ephemeron_value(e), keep ? cr->kid[c][i + 1] : 0, where);
      check_node(tc_ephemeron_key(e), keep ? cr->kid[c][i] : 0, where);
      *(keep ? &live : &dead) += 1;
    }
  }
  for (int c = 0; c < 2; c++) {
    bool keep = all || cr->keep_s[c];
    snprintf(where, sizeof where, "census %s: ephemeron whose value refers "
             "to its %s key", when, keep ? "kept" : "dropped");
    const tc_ephemeron *e = s->self[c];
    check_deep(tc_ephemeron_value(e), keep ? cr->sid[c][1] : 0, where);
    check_node(tc_ephemeron_key(e), keep ? cr->sid[c][0] : 0, where);
    *(keep ? &live : &dead) += 1;
  }
  if (!all) {
    atomic_fetch_add_explicit(&census_live, live, memory_order_relaxed);
    atomic_fetch_add_explicit(&census_dead, dead, memory_order_relaxed);
  }
}

static void census(void *arg) {
  worker *w = arg;
  node *t = NULL, *v = NULL;
  node *held[CT] = {NULL}; /* kept targets on this root stack */
  _Static_assert(CT == 6, "TC_LOCALS below lists held[0 .. CT - 1]");
  TC_LOCALS(t, v, held[0], held[1], held[2], held[3], held[4], held[5]);
  int cur = 0;
  do { /* at least one round */
    census_set *s = &cs.set[cur];
    census_round cr;
    memset(&cr, 0, sizeof cr);
    /* 1. build, everything held strongly; what the previous round kept is
     *    garbage from here on (its holders are overwritten) */
    for (int i = 0; i < CT; i++)
      held[i] = NULL;
    tc_store(&cs.holder, node_new(new_id(w), 0));
    for (int i = 0; i < CT; i++) {
      t = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
      cr.tid[i] = t->id;
      tc_store(&cs.target[i], t);
      tc_store(&s->weak[2 * i], weak_new_or_die(t));
      tc_store(&s->weak[2 * i + 1], weak_new_or_die(t));
    }
    for (int c = 0; c < 2; c++) {
      for (int i = 0; i <= CL; i++) {
        t = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
        cr.kid[c][i] = t->id;
        tc_store(&cs.key[c][i], t);
      }
      /* the value refers to its own key, the last one */
      link_ref(cs.key[c][CL], 0, cs.key[c][CL - 1], cr.kid[c][CL - 1]);
      /* the order a marker meets */
      bool reverse = tc_test_xorshift(&w->rng) & 1;
      for (int n = 0; n < CL; n++) {
        int i = reverse ? CL - 1 - n : n;
        tc_store(&s->chain[c][i],
                 ephemeron_new_or_die(cs.key[c][i], cs.key[c][i + 1]));
      }
      t = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
      v = node_new(new_id(w), tc_test_xorshift(&w->rng) % 8);
      link_ref(v, 0, t, t->id);
      cr.sid[c][0] = t->id;
      cr.sid[c][1] = v->id;
      tc_store(&cs.skey[c], t);
      tc_store(&s->self[c], ephemeron_new_or_die(t, v));
    }
    t = v = NULL;
    /* 2. what stays: target 0, one chain and one self entry stay, target
     *    1, the other chain and self entry go, the rest by the seed; a
     *    kept target stays in its root slot, on this root stack or in a
     *    field of the holder */
    uint64_t r = tc_test_xorshift(&w->rng);
    for (int i = 0; i < CT; i++)
      cr.keep_t[i] = i == 0 || (i != 1 && ((r >> i) & 1));
    cr.keep_c[0] = (r >> 8) & 1;
    cr.keep_c[1] = !cr.keep_c[0];
    cr.keep_s[0] = (r >> 9) & 1;
    cr.keep_s[1] = !cr.keep_s[0];
    int nheld = 0;
    for (int i = 0; i < CT; i++) {
      int how = (int)((r >> (16 + 2 * i)) % 3);
      if (!cr.keep_t[i] || how == 0)
        continue;
      if (how == 1)
        held[i] = cs.target[i];
      else if (nheld < NREF)
        link_ref(cs.holder, nheld++, cs.target[i], cr.tid[i]);
      else
        continue;
      tc_store(&cs.target[i], NULL);
    }
    /* 3. reachable: nothing reads NULL (reads while a cycle may mark) */
    census_check(s, &cr, true, "before the drop");
    /* 4. drop the last strong references */
    tc_stats s0, s1;
    tc_read_stats(&s0);
    long dead_weak = 0, dead_eph = 0;
    for (int i = 0; i < CT; i++)
      if (!cr.keep_t[i]) {
        tc_store(&cs.target[i], NULL);
        dead_weak += 2;
      }
    for (int c = 0; c < 2; c++) {
      for (int i = cr.keep_c[c] ? 1 : 0; i <= CL; i++)
        tc_store(&cs.key[c][i], NULL);
      if (!cr.keep_c[c])
        dead_eph += CL;
      if (!cr.keep_s[c]) {
        tc_store(&cs.skey[c], NULL);
        dead_eph++;
      }
    }
    /* 5. a cycle that begins after the drop */
    tc_gc();
    tc_read_stats(&s1);
    /* 6. exactly: kept entries read intact objects, dropped ones NULL;
     *    everything of the previous round reads NULL */
    census_check(s, &cr, false, "after tc_gc");
    const census_set *prev = &cs.set[cur ^ 1];
    for (int i = 0; i < 2 * CT; i++)
      check_node(tc_weak_get(prev->weak[i]), 0,
                 "census after tc_gc: weak reference of the previous round");
    for (int c = 0; c < 2; c++) {
      for (int i = 0; i < CL; i++) {
        check_node(tc_ephemeron_key(prev->chain[c][i]), 0,
                   "census after tc_gc: chain of the previous round (key)");
        check_node(tc_ephemeron_value(prev->chain[c][i]), 0,
                   "census after tc_gc: chain of the previous round (value)");
      }
      check_node(tc_ephemeron_key(prev->self[c]), 0,
                 "census after tc_gc: self entry of the previous round");
      check_node(tc_ephemeron_value(prev->self[c]), 0,
                 "census after tc_gc: self entry of the previous round");
    }
    if (s1.weak_cleared - s0.weak_cleared < (uint64_t)dead_weak ||
        s1.ephemerons_cleared - s0.ephemerons_cleared < (uint64_t)dead_eph) {
      fprintf(stderr,
              "stress_gc_torture: seed=%llu mode=%s: census: tc_gc cleared "
              "%llu weak references and %llu ephemerons, expected at least "
              "%ld and %ld\n",
              (unsigned long long)opt.seed, cur_mode,
              (unsigned long long)(s1.weak_cleared - s0.weak_cleared),
              (unsigned long long)(s1.ephemerons_cleared -
                                   s0.ephemerons_cleared),
              dead_weak, dead_eph);
      abort();
    }
    atomic_fetch_add_explicit(&census_rounds, 1, memory_order_relaxed);
    cur ^= 1;
    aux_pause(); /* its tc_gc adds few cycles to gc's */
  } while (!atomic_load(&stop_aux));
  for (int i = 0; i < CT; i++)
    held[i] = NULL;
  tc_waitgroup_done(&wg_aux);
}

/* Moves values from chans[from] to chans[to] with blocking operations. */
typedef struct relay_arg {
  worker *w;
  int from, to;
} relay_arg;

static void relay(void *arg) {
  relay_arg *ra = arg;
  node *v = NULL;
  TC_LOCALS(v);
  for (;;) {
    bool ok = false;
    v = tc_chan_recv(chans[ra->from], &ok);
    if (!ok)
      break;
    check_node(v, ANY_ID, "value at a relay");
    if (tc_test_xorshift(&ra->w->rng) % 4 == 0) {
      tc_yield();
      check_node(v, ANY_ID, "value held by a relay across a yield");
    }
    if (tc_chan_send(chans[ra->to], v) != TC_OK)
      break;
    v = NULL;
  }
  tc_waitgroup_done(&wg_aux);
}

static void gc_loop(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_aux)) {
    tc_sleep((int64_t)GC_PERIOD_MS * 1000 * 1000);
    tc_gc();
    atomic_fetch_add_explicit(&forced_gcs, 1, memory_order_relaxed);
  }
  tc_waitgroup_done(&wg_aux);
}

static void *walk_realloc(void *p, size_t bytes) {
  p = realloc(p, bytes);
  if (p == NULL) {
    fprintf(stderr, "stress_gc_torture: out of memory (walk)\n");
    abort();
  }
  return p;
}

/* A walk: a set of node addresses (open addressing) and a stack. */
typedef struct walk {
  const node **seen;
  size_t cap, n;
  struct item {
    const node *x;
    uint64_t id;
  } *stack;
  size_t top, stcap;
} walk;

static size_t walk_find(const walk *wk, const node *x) {
  size_t h = (size_t)(tc_test_mix((uintptr_t)x) & (wk->cap - 1));
  while (wk->seen[h] != NULL && wk->seen[h] != x)
    h = (h + 1) & (wk->cap - 1);
  return h;
}

static void walk_push(walk *wk, const node *x, uint64_t id) {
  if (wk->top == wk->stcap) {
    wk->stcap = wk->stcap ? 2 * wk->stcap : 1 << 10;
    wk->stack = walk_realloc(wk->stack, wk->stcap * sizeof *wk->stack);
  }
  wk->stack[wk->top++] = (struct item){x, id};
}

/* Verifies every node the stack leads to and adds it to the set. */
static void walk_drain(walk *wk, const char *where) {
  while (wk->top > 0) {
    struct item it = wk->stack[--wk->top];
    check_node(it.x, it.id, where);
    if (it.x == NULL)
      continue;
    size_t h = walk_find(wk, it.x);
    if (wk->seen[h] == it.x)
      continue;
    wk->seen[h] = it.x;
    if (2 * ++wk->n > wk->cap) { /* grow: rehash */
      const node **old = wk->seen;
      wk->cap *= 2;
      wk->seen = walk_realloc(NULL, wk->cap * sizeof *wk->seen);
      memset(wk->seen, 0, wk->cap * sizeof *wk->seen);
      for (size_t i = 0; i < wk->cap / 2; i++)
        if (old[i] != NULL)
          wk->seen[walk_find(wk, old[i])] = old[i];
      free(old);
    }
    for (int k = 0; k < NREF; k++)
      walk_push(wk, tc_load((void *const *)&it.x->ref[k]), it.x->ref_id[k]);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Verifies everything reachable from the globals, with the collector's
 * rule for ephemerons (a value is reached once its key is), then checks
 * the shared weak references and ephemerons against what was reached: a
 * reached target (key) is never cleared, and after tc_gc (`collected`)
 * an unreached one is, value and key.  Only main runs it, after the others
 * are done; no safepoint.  Returns the number of nodes reached. */
static long walk_globals(const char *where, bool collected) {
  walk wk = {.cap = 1 << 12};
  wk.seen = walk_realloc(NULL, wk.cap * sizeof *wk.seen);
  memset(wk.seen, 0, wk.cap * sizeof *wk.seen);
  for (int g = 0; g < NGLOBAL; g++)
    walk_push(&wk, tc_load((void *const *)&globals[g]), gid[g]);
  bool eph_done[NEPH] = {false};
  for (bool more = true; more;) {
    walk_drain(&wk, where);
    more = false;
    for (int i = 0; i < NEPH; i++) {
      const tc_ephemeron *e = tc_load((void *const *)&ephs[i]);
      const node *kx = tc_ephemeron_key(e);
      if (eph_done[i] || kx == NULL || wk.seen[walk_find(&wk, kx)] != kx)
        continue;
      eph_done[i] = more = true;
      walk_push(&wk, tc_ephemeron_value(e), eph_vid[i]);
    }
  }
  uint64_t *ids = walk_realloc(NULL, (wk.n + 1) * sizeof *ids);
  size_t nid = 0;
  for (size_t i = 0; i < wk.cap; i++)
    if (wk.seen[i] != NULL)
      ids[nid++] = wk.seen[i]->id;
  qsort(ids, nid, sizeof *ids, cmp_u64);
  long weak_live = 0, weak_dead = 0, eph_live = 0, eph_dead = 0;
  for (int i = 0; i < NWEAK; i++) {
    const tc_weak *wr = tc_load((void *const *)&weaks[i]);
    if (wr == NULL)
      continue;
    node *x = tc_weak_get(wr);
    bool reached = bsearch(&weak_tid[i], ids, nid, sizeof *ids, cmp_u64);
    check_node(x, x ? weak_tid[i] : 0, where);
    if (reached && x == NULL)
      node_fail(x, weak_tid[i], where,
                "a weak reference to a reachable node reads NULL", 0,
                weak_tid[i]);
    if (collected && !reached && x != NULL)
      node_fail(x, weak_tid[i], where,
                "tc_gc left a weak reference to an unreachable node", 0, 0);
    weak_live += reached;
    weak_dead += x == NULL;
  }
  for (int i = 0; i < NEPH; i++) {
    const tc_ephemeron *e = tc_load((void *const *)&ephs[i]);
    if (e == NULL)
      continue;
    node *v = tc_ephemeron_value(e), *kx = tc_ephemeron_key(e);
    bool reached = bsearch(&eph_kid[i], ids, nid, sizeof *ids, cmp_u64);
    check_node(kx, v ? eph_kid[i] : 0, where);
    check_node(v, v ? eph_vid[i] : 0, where);
    if (reached && v == NULL)
      node_fail(v, eph_vid[i], where,
                "an ephemeron with a reachable key reads NULL", 0,
                eph_vid[i]);
    if (collected && !reached && v != NULL)
      node_fail(kx, eph_kid[i], where,
                "tc_gc left an ephemeron with an unreachable key", 0, 0);
    eph_live += reached;
    eph_dead += v == NULL;
  }
  if (collected) {
    result.weak_live = weak_live;
    result.weak_dead = weak_dead;
    result.eph_live = eph_live;
    result.eph_dead = eph_dead;
  }
  free(ids);
  free(wk.seen);
  free(wk.stack);
  return (long)wk.n;
}

static void torture_main(void *arg) {
  (void)arg;
  static relay_arg ras[2];
  _Static_assert(sizeof cs % sizeof(void *) == 0, "cs: pointers only");
  if (tc_root_add((void **)globals, NGLOBAL) != TC_OK ||
      tc_root_add((void **)chans, NCHAN) != TC_OK ||
      tc_root_add((void **)scen_slots, 2 * NSCEN) != TC_OK ||
      tc_root_add((void **)weaks, NWEAK) != TC_OK ||
      tc_root_add((void **)ephs, NEPH) != TC_OK ||
      tc_root_add(wread_slots, 2) != TC_OK ||
      tc_root_add((void **)&cs, sizeof cs / sizeof(void *)) != TC_OK) {
    fprintf(stderr, "stress_gc_torture: tc_root_add failed\n");
    abort();
  }
  static const size_t caps[NCHAN] = {8, 2, 0, 16};
  for (int c = 0; c < NCHAN; c++) {
    tc_chan *ch = tc_chan_new(caps[c], 0);
    if (ch == NULL) {
      fprintf(stderr, "stress_gc_torture: tc_chan_new failed\n");
      abort();
    }
    tc_store((void **)&chans[c], ch);
  }
  for (int i = 0; i < (int)(sizeof workers / sizeof workers[0]); i++)
    workers[i] = (worker){.index = i, .rng = rng_seed((uint64_t)i)};

  tc_waitgroup_add(&wg_aux, 1 + opt.scenarios + (opt.scenarios > 0) + 1 + 2);
  tc_go(gc_loop, NULL);
  for (int s = 0; s < opt.scenarios; s++)
    tc_go(scenario, &workers[NTORTURE + NPRIVATE + s]);
  if (opt.scenarios > 0)
    tc_go(wread_scenario, &workers[W_WREAD]);
  tc_go(census, &workers[W_CENSUS]);
  ras[0] = (relay_arg){&workers[W_RELAY], 0, 2};
  ras[1] = (relay_arg){&workers[W_RELAY + 1], 2, 1};
  tc_go(relay, &ras[0]);
  tc_go(relay, &ras[1]);
  tc_waitgroup_add(&wg_work, NTORTURE + NPRIVATE);
  for (int i = 0; i < NTORTURE; i++)
    tc_go(torture, &workers[i]);
  for (int i = 0; i < NPRIVATE; i++)
    tc_go(private_worker, &workers[NTORTURE + i]);

  tc_waitgroup_wait(&wg_work);
  atomic_store(&stop_aux, 1);
  for (int c = 0; c < NCHAN; c++)
    tc_chan_close(chans[c]);
  tc_waitgroup_wait(&wg_aux);

  /* everything still reachable must be intact, before and after cycles */
  long left = 0;
  node *v = NULL;
  TC_LOCALS(v);
  for (int c = 0; c < NCHAN; c++) {
    bool ok = true;
    while ((v = tc_chan_recv(chans[c], &ok), ok)) {
      check_node(v, ANY_ID, "value left in a closed channel");
      left++;
    }
  }
  v = NULL;
  walk_globals("graph from the globals after the run", false);
  tc_gc();
  tc_gc();
  long reached = walk_globals("graph from the globals after tc_gc", true);
  for (int s = 0; s < NSCEN; s++) {
    node *b = tc_load((void *const *)&scen_slots[2 * s + 1]);
    if (b != NULL)
      check_node(tc_load((void *const *)&b->ref[0]), b->ref_id[0],
                 "scenario W at the end");
  }
  tc_read_stats(&result.st);
  result.ran = true;
  printf("stress_gc_torture: mode=%s: %ld nodes reachable from the globals, "
         "%ld values left in channels\n",
         cur_mode, reached, left);
  tc_root_remove((void **)&cs);
  tc_root_remove(wread_slots);
  tc_root_remove((void **)ephs);
  tc_root_remove((void **)weaks);
  tc_root_remove((void **)scen_slots);
  tc_root_remove((void **)chans);
  tc_root_remove((void **)globals);
}

/* Runs the torture in this (forked) process with the given mode; returns
 * the exit status: 0 when every check passed. */
static int torture_run(const char *barrier, tc_barrier_mode want,
                       int delay_us, const char *extra) {
  static char mode[64];
  snprintf(mode, sizeof mode, "%s%s", barrier, extra);
  cur_mode = mode;
  char dbg[128];
  snprintf(dbg, sizeof dbg, "barrier=%s,gccheckmark=1,gcmarkdelay=%d%s",
           barrier, delay_us, extra);
  tc_test_debug_env(dbg); /* after what TRICOLOR_DEBUG held */
  unsetenv("TRICOLOR_GC");
  unsetenv("TRICOLOR_PROCS");
  tc_config cfg = {.procs = 2, .gc_percent = 50, .min_heap = 1 << 20};
  int64_t t0 = tc_now();
  int rc = tc_run(&cfg, torture_main, NULL);
  int64_t t1 = tc_now();
  if (rc != TC_OK || !result.ran) {
    fprintf(stderr, "stress_gc_torture: mode=%s: tc_run: %s\n", mode,
            tc_strerror(rc));
    return 1;
  }
  const tc_stats *st = &result.st;
  printf("stress_gc_torture: seed=%llu mode=%s iters=%ld markdelay=%dus: "
         "%llu cycles (%ld forced), %llu pauses, max pause %llu us, "
         "barrier slow %llu shaded %llu, scenario %ld runs %ld in the "
         "window, sent %ld received %ld, heap: %.1f MiB allocated, goal "
         "%.1f MiB, in use %.1f MiB, mapped %.1f MiB, peak %llu%% of goal, "
         "%.2f s\n",
         (unsigned long long)opt.seed, mode, iters_scaled(), delay_us,
         (unsigned long long)st->cycles, atomic_load(&forced_gcs),
         (unsigned long long)st->pauses,
         (unsigned long long)(st->pause_max_ns / 1000),
         (unsigned long long)st->barrier_slow,
         (unsigned long long)st->barrier_shaded, atomic_load(&scen_runs),
         atomic_load(&scen_hits), atomic_load(&sent), atomic_load(&received),
         (double)st->total_alloc / 1048576.0, (double)st->heap_goal / 1048576.0,
         (double)st->heap_inuse / 1048576.0,
         (double)st->heap_mapped / 1048576.0,
         (unsigned long long)st->heap_peak_over_goal_pct,
         (double)(t1 - t0) / 1e9);
  printf("stress_gc_torture: mode=%s: weak reads %ld (NULL %ld), ephemeron "
         "reads %ld (NULL %ld); weak-read scenario %ld runs %ld in the "
         "window; census %ld rounds, %ld kept and %ld dropped entries "
         "checked after tc_gc; at the end weak references %ld reachable %ld "
         "cleared, ephemerons %ld reachable %ld cleared; cleared in all "
         "%llu weak references, %llu ephemerons (%llu resolved while "
         "marking)\n",
         mode, atomic_load(&weak_reads), atomic_load(&weak_nulls),
         atomic_load(&eph_reads), atomic_load(&eph_nulls),
         atomic_load(&wread_runs), atomic_load(&wread_hits),
         atomic_load(&census_rounds), atomic_load(&census_live),
         atomic_load(&census_dead), result.weak_live, result.weak_dead,
         result.eph_live, result.eph_dead,
         (unsigned long long)st->weak_cleared,
         (unsigned long long)st->ephemerons_cleared,
         (unsigned long long)st->ephemerons_resolved);
  int status = 0;
  if (atomic_load(&census_rounds) < 1 || atomic_load(&census_live) < 1 ||
      atomic_load(&census_dead) < 1) {
    printf("FAIL: mode=%s: the census checked %ld rounds, %ld kept and %ld "
           "dropped entries; expected at least one of each\n",
           mode, atomic_load(&census_rounds), atomic_load(&census_live),
           atomic_load(&census_dead));
    status = 1;
  }
  if ((long)st->cycles < min_cycles()) {
    printf("FAIL: mode=%s: %llu cycles, expected at least %ld\n", mode,
           (unsigned long long)st->cycles, min_cycles());
    status = 1;
  }
  if (st->last_mode != (uint32_t)want) {
    printf("FAIL: mode=%s: stats.last_mode is %u (%s), expected %d\n", mode,
           st->last_mode, tc_barrier_name((tc_barrier_mode)st->last_mode),
           (int)want);
    status = 1;
  }
  fflush(stdout);
  return status;
}

/* ------------------------------------------------------------------ */
/* The cmocka side: one forked child per mode                          */

/* The child of test_mode: one torture run of the mode at *arg. */
static int mode_child(void *arg) {
  int m = *(int *)arg;
  return torture_run(mode_name(m), tc_test_modes[m], markdelay_scaled(), "");
}

static void test_mode(void **state) {
  int m = *(int *)*state;
  char what[96];
  snprintf(what, sizeof what, "mode %s (seed %llu)", mode_name(m),
           (unsigned long long)opt.seed);
  tc_test_run_child(mode_child, *state, what);
}

static void negative_child(void *arg) {
  (void)arg;
  /* returns (a test failure) only if the verifier never fired */
  torture_run("none", (tc_barrier_mode)TC__BARRIER_NONE, markdelay_scaled(),
              "");
}

static void test_no_barrier_is_caught(void **state) {
  (void)state;
  tc_expect_death(negative_child, NULL,
                  "tricolor: gccheckmark: reachable object");
}

static void noweakshade_child(void *arg) {
  (void)arg;
  /* returns (a test failure) only if the verifier never fired */
  torture_run("hybrid", TC_BARRIER_HYBRID, markdelay_scaled(),
              ",noweakshade=1");
}

static void test_no_weak_shade_is_caught(void **state) {
  (void)state;
  tc_expect_death(noweakshade_child, NULL,
                  "(type torture_node) was not marked by the hybrid mark");
}

int main(int argc, char **argv) {
  const char *mode = "all";
  const char *k, *v;
  for (int i = 1;
       tc_test_next_opt(argc, argv, &i, "stress_gc_torture", &k, &v);) {
    char *end = NULL;
    if (strcmp(k, "--mode") == 0) {
      mode = v;
      continue;
    } else if (strcmp(k, "--seed") == 0) {
      opt.seed = strtoull(v, &end, 0);
    } else if (strcmp(k, "--iters") == 0) {
      opt.iters = strtol(v, &end, 0);
      if (opt.iters < 1)
        end = NULL;
    } else if (strcmp(k, "--scenarios") == 0) {
      opt.scenarios = (int)strtol(v, &end, 0);
      if (opt.scenarios < 0 || opt.scenarios > NSCEN)
        end = NULL;
    } else if (strcmp(k, "--markdelay") == 0) {
      opt.markdelay_us = (int)strtol(v, &end, 0);
      if (opt.markdelay_us < 0 || opt.markdelay_us > 1000000)
        end = NULL;
    } else {
      fprintf(stderr, "stress_gc_torture: unknown option %s (--mode, --seed, "
                      "--iters, --markdelay, --scenarios)\n", k);
      return 2;
    }
    if (end == NULL || *end != '\0') {
      fprintf(stderr, "stress_gc_torture: bad value '%s' for %s\n", v, k);
      return 2;
    }
  }

  static int idx[4] = {0, 1, 2, 3};
  static const char *const test_names[4] = {
      "torture_hybrid", "torture_insertion", "torture_deletion",
      "torture_stw"};
  struct CMUnitTest tests[6];
  size_t n = 0;
  bool all = strcmp(mode, "all") == 0, found = all;
  for (int m = 0; m < 4; m++)
    if (all || strcmp(mode, mode_name(m)) == 0) {
      tests[n++] = (struct CMUnitTest){test_names[m], test_mode, NULL, NULL,
                                       &idx[m]};
      found = true;
    }
  if (all || strcmp(mode, "none") == 0) {
    tests[n++] =
        (struct CMUnitTest){"no_barrier_is_caught", test_no_barrier_is_caught,
                            NULL, NULL, NULL};
    found = true;
  }
  if (all || strcmp(mode, "noweakshade") == 0) {
    tests[n++] = (struct CMUnitTest){"no_weak_shade_is_caught",
                                     test_no_weak_shade_is_caught, NULL, NULL,
                                     NULL};
    found = true;
  }
  if (!found) {
    fprintf(stderr, "stress_gc_torture: --mode must be hybrid, insertion, "
                    "deletion, stw, none, noweakshade or all\n");
    return 2;
  }
  printf("stress_gc_torture: seed=%llu iters=%ld markdelay=%dus procs=2\n",
         (unsigned long long)opt.seed, iters_scaled(), markdelay_scaled());
  return _cmocka_run_group_tests("stress_gc_torture", tests, n, NULL, NULL);
}
