/*
 * bench/bench_parked.c -- collector pauses with many parked coroutines that
 * hold roots, while other coroutines churn the heap.  tricolor only (the
 * Go peer is bench/go/parked.go; it has no --frames).
 *
 * What it stresses.  The root-stack work of a cycle and where each barrier
 * mode puts it.  N coroutines (default 10000) each recurse F frames deep
 * (default 1), each frame allocating R objects (default 10) that it keeps
 * in its own TC_LOCALS, and park in a channel receive from the deepest
 * frame, so every cycle finds N root stacks of F frames of R slots:
 * 100000 root slots by default, that only the collector reads.  F > 1
 * makes the stacks deep, like handlers parked in the middle of a call
 * chain: N * F frames to walk, N * F * R slots to read.  Meanwhile C
 * "churner" coroutines (default 1) allocate binary trees (depth D, default
 * 10: 2047 nodes of 24 bytes) and keep the last W (default 32) of them
 * live in a heap array through tc_store, so cycles run back to back over
 * a small live heap (the parked objects plus the window: about 4 MiB
 * with the defaults, more with --frames) and the barrier sees overwrites.
 * Where the stack work lands, by mode (docs/barriers.md):
 *   hybrid     every stack scanned once, concurrently: pauses O(procs);
 *   insertion  stacks scanned concurrently, and all rescanned in the
 *              mark-termination pause: that pause is O(N * F * R);
 *   deletion   all stacks snapshotted in the mark-start pause:
 *              O(N * F * R);
 *   stw        everything in one pause.
 *
 * Method.
 *   1. Main starts the N parked coroutines and waits (a wait group) until
 *      each has allocated its objects and is about to park; then it forgets
 *      the pauses so far (bench_pauses_reset: set-up is not measured).
 *   2. The churn phase is timed: C churners share T trees (default 40000)
 *      and main waits for them.  Every pause of this phase is in the RESULT
 *      line (pauses, p50, p99, max; mark start and termination maxima).
 *   3. Main closes the channel; every parked coroutine wakes and, frame
 *      by frame as it returns, checks that the frame's R objects still
 *      hold the values it stored (a lost root would be reclaimed and
 *      reused: the run fails, exit status 1).
 * The mode comes from TRICOLOR_DEBUG=barrier=..., procs from TRICOLOR_PROCS
 * (default 2), as for every tricolor benchmark (backend.h).
 *
 * Usage: bench_parked_tricolor [--parked N] [--roots R (1..16)]
 *        [--frames F (1..64)] [--churners C] [--trees T] [--depth D]
 *        [--window W]
 * Prints a summary line, then one RESULT line (backend.h) with bench=parked;
 * wall_ms is the churn phase.
 */
#include "backend.h"

#if !defined(BACKEND_TRICOLOR)
#error "bench_parked is tricolor only"
#endif

typedef struct obj {
  struct obj *left;
  struct obj *right;
  long value; /* parked objects: the value to check; tree nodes: 0 */
} obj;

static const uint32_t obj_refs[] = {offsetof(obj, left), offsetof(obj, right)};
static tc_type obj_type = {.name = "obj", .offsets = obj_refs, .noffsets = 2};
static const uint32_t array_refs[] = {0};
static tc_type array_type = {.name = "window", .offsets = array_refs,
                             .noffsets = 1, .stride = sizeof(void *)};

typedef struct settings {
  long parked, roots, frames, churners, trees, depth, window;
} settings;

/* Shared by main and the coroutines; lives on main's stack. */
typedef struct shared {
  const settings *cfg;
  tc_chan *release;        /* closed to wake the parked coroutines */
  tc_waitgroup ready;      /* parked coroutines that hold their objects */
  tc_waitgroup finished;   /* parked coroutines that checked them */
  long next_id;            /* atomic */
  long errors;             /* atomic: objects found damaged */
} shared;

typedef struct churn_share {
  const settings *cfg;
  long trees;
  long check; /* out: nodes counted */
} churn_share;

static obj *new_obj(long value) {
  obj *o = bench_check(tc_alloc(&obj_type, sizeof(obj)), "tc_alloc");
  o->value = value;
  return o;
}

/* ---- the parked coroutines ---- */

#define MAX_ROOTS 16
#define MAX_FRAMES 64 /* frames of park_frame, 400 bytes each (gcc -O2,
                         -fstack-usage): 26 KiB of a 64 KiB stack */

/* Allocates this frame's R objects (value (id * F + frame) * MAX_ROOTS +
 * i: with F = 1 the values of the single-frame version), recurses until
 * frame F - 1, which parks; checks the objects once the deeper frames
 * returned.  Returns the damaged ones.  Parked coroutine. */
static long __attribute__((noinline)) park_frame(shared *sh, long id,
                                                 long frame) {
  long r = sh->cfg->roots;
  long base = (id * sh->cfg->frames + frame) * MAX_ROOTS;
  obj *o[MAX_ROOTS] = {NULL};
  /* 16 named locals: TC_LOCALS registers the slots of o[] one by one */
  TC_LOCALS(o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9],
            o[10], o[11], o[12], o[13], o[14], o[15]);
  for (long i = 0; i < r; i++)
    o[i] = new_obj(base + i);
  long bad = 0;
  if (frame + 1 < sh->cfg->frames) {
    bad = park_frame(sh, id, frame + 1);
  } else {
    tc_waitgroup_done(&sh->ready);
    tc_chan_recv(sh->release, NULL); /* parked until main closes it */
  }
  for (long i = 0; i < r; i++)
    if (o[i] == NULL || o[i]->value != base + i || o[i]->left != NULL ||
        o[i]->right != NULL)
      bad++;
  return bad;
}

static void parked_main(void *arg) {
  shared *sh = arg;
  long id = __atomic_fetch_add(&sh->next_id, 1, __ATOMIC_RELAXED);
  long bad = park_frame(sh, id, 0);
  if (bad)
    __atomic_add_fetch(&sh->errors, bad, __ATOMIC_RELAXED);
  tc_waitgroup_done(&sh->finished);
}

/* ---- the churners ---- */

/* Returns a new tree of depth `depth`, built bottom-up (binary-trees). */
static obj *make_tree(int depth) {
  if (depth <= 0)
    return bench_check(tc_alloc(&obj_type, sizeof(obj)), "tc_alloc");
  obj *left = NULL, *right = NULL;
  TC_LOCALS(left, right);
  left = make_tree(depth - 1);
  right = make_tree(depth - 1);
  obj *n = bench_check(tc_alloc(&obj_type, sizeof(obj)), "tc_alloc");
  TC_STORE(n, left, left);
  TC_STORE(n, right, right);
  return n;
}

static long count(const obj *n) {
  tc_safepoint(); /* no allocation here: let the collector in */
  if (n->left == NULL)
    return 1;
  return 1 + count(n->left) + count(n->right);
}

static void churn(void *arg) {
  churn_share *cs = arg;
  long w = cs->cfg->window;
  void **window = NULL;
  obj *t = NULL;
  TC_LOCALS(window, t);
  window = bench_check(tc_alloc(&array_type, (size_t)w * sizeof(void *)),
                       "tc_alloc");
  long check = 0;
  for (long i = 0; i < cs->trees; i++) {
    t = make_tree((int)cs->cfg->depth);
    check += count(t);
    tc_store(&window[i % w], t); /* drops the tree W builds ago */
  }
  cs->check = check;
}

/* ---- main ---- */

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--parked N] [--roots R (1..%d)] [--frames F (1..%d)] "
          "[--churners C (1..64)] [--trees T] [--depth D (0..20)] "
          "[--window W]\n",
          prog, MAX_ROOTS, MAX_FRAMES);
  return 2;
}

/* Parses argv into *c; false on a bad argument. */
static bool parse(int argc, char **argv, settings *c) {
  static const bench_opt opts[] = {
      {"--parked", offsetof(settings, parked), 0, 10000000},
      {"--roots", offsetof(settings, roots), 1, MAX_ROOTS},
      {"--frames", offsetof(settings, frames), 1, MAX_FRAMES},
      {"--churners", offsetof(settings, churners), 1, 64},
      {"--trees", offsetof(settings, trees), 1, 1L << 40},
      {"--depth", offsetof(settings, depth), 0, 20},
      {"--window", offsetof(settings, window), 1, 1L << 20},
  };
  return bench_parse_opts(argc, argv, opts, sizeof opts / sizeof opts[0], c);
}

static int bench_main(int argc, char **argv) {
  settings cfg = {.parked = 10000, .roots = 10, .frames = 1, .churners = 1,
                  .trees = 40000, .depth = 10, .window = 32};
  if (!parse(argc, argv, &cfg))
    return usage(argv[0]);

  shared sh = {.cfg = &cfg};
  TC_LOCALS(sh.release);
  sh.release = tc_chan_new(0, TC_CHAN_RAW);
  if (sh.release == NULL) {
    fprintf(stderr, "bench_parked: tc_chan_new failed\n");
    return 1;
  }

  /* 1. the parked coroutines */
  tc_waitgroup_add(&sh.ready, cfg.parked);
  tc_waitgroup_add(&sh.finished, cfg.parked);
  for (long i = 0; i < cfg.parked; i++)
    if (tc_go(parked_main, &sh) != TC_OK) {
      fprintf(stderr, "bench_parked: tc_go failed after %ld\n", i);
      return 1;
    }
  tc_waitgroup_wait(&sh.ready);
  bench_pauses_reset();

  /* 2. the churn phase, timed */
  churn_share shares[64];
  for (long k = 0; k < cfg.churners; k++)
    shares[k] = (churn_share){&cfg,
                              cfg.trees * (k + 1) / cfg.churners -
                                  cfg.trees * k / cfg.churners,
                              0};
  bench_set_mutators((int)cfg.churners);
  uint64_t start = bench_now_ns();
  bench_parallel((int)cfg.churners, churn, shares, sizeof shares[0]);
  uint64_t wall = bench_now_ns() - start;
  bench_phase_end(); /* waking the parked ones is not measured */
  long nodes = 0;
  for (long k = 0; k < cfg.churners; k++)
    nodes += shares[k].check;

  /* 3. wake the parked ones: each checks its objects */
  tc_chan_close(sh.release);
  tc_waitgroup_wait(&sh.finished);
  char frames[32] = "";
  if (cfg.frames > 1)
    snprintf(frames, sizeof frames, " x %ld frames", cfg.frames);
  printf("parked %ld coroutines%s x %ld roots; %ld churner(s): %ld trees of "
         "depth %ld (%ld nodes), window %ld; damaged objects: %ld\n",
         cfg.parked, frames, cfg.roots, cfg.churners, cfg.trees, cfg.depth,
         nodes, cfg.window, sh.errors);
  if (sh.errors) {
    fprintf(stderr, "bench_parked: %ld parked objects damaged: Failed\n",
            sh.errors);
    return 1;
  }
  bench_set_ops((uint64_t)cfg.trees, "trees");
  bench_note("parked", (double)cfg.parked); /* tricolor-lab's title */
  bench_note("frames", (double)cfg.frames);
  bench_note("roots", (double)cfg.roots);
  bench_finish("parked", wall);
  return 0;
}

int main(int argc, char **argv) { return bench_start(bench_main, argc, argv); }
