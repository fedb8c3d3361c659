/*
 * bench/bench_binarytrees.c -- binary-trees from the Computer Language
 * Benchmarks Game, on one mutator or split over several.
 *
 * What it stresses.  Raw allocation throughput of the smallest object a
 * runtime can have (16-byte nodes: two references, no payload) and the
 * cost of reclaiming them: almost everything dies young, while one
 * long-lived tree of depth `max` (2^(max+1) - 1 nodes, 64 MiB at depth 21)
 * stays live for the whole run and must be traced by every full mark.  Trees
 * are built bottom-up, so every store goes into the node just allocated.
 * With a GC the figures measure allocation, marking and sweeping; with malloc
 * they measure malloc plus an explicit recursive free of each tree (as the
 * Game's C programs do).
 *
 * Algorithm (as in the Game):
 *   1. max = max(min + 2, depth) with min = 4; build a "stretch" tree of
 *      depth max + 1, check it, drop it;
 *   2. build the long-lived tree of depth max;
 *   3. for d = min, min + 2, .., max: build 2^(max - d + min) trees of depth
 *      d one after the other, summing their checks;
 *   4. check the long-lived tree.
 * A tree's check is its node count.  The check lines are the Game's output,
 * so every backend's stdout can be compared line by line (bench/run.py does).
 *
 * Mutators.  With --mutators K (or BENCH_MUTATORS=K) the trees of each
 * depth in step 3 are split into K equal shares run by bench_parallel: K
 * coroutines for tricolor (tc_go + tc_waitgroup, spread by the scheduler
 * over its procs), one share after the other on one thread for every other
 * backend, which stay single-threaded (their RESULT line says mutators=1).
 * Steps 1, 2 and 4 run on the main mutator.  The sums, and so the output,
 * do not depend on K.  bench/go/binarytrees.go does the same with
 * goroutines.
 *
 * Usage: bench_binarytrees_<backend> [depth] [--mutators K]
 *        (depth default 21, K default 1)
 * Prints the Game's check lines, then one RESULT line (backend.h).
 *
 * Roots (tricolor).  The children built so far are registered with
 * BENCH_LOCALS while their sibling and parent are allocated; leaves return
 * before registering anything.  item_check allocates nothing, so it calls
 * BENCH_SAFEPOINT (tc_safepoint) at each node, as tricolor's API asks of
 * long loops that do not allocate: without it the world cannot stop while
 * a large tree is being checked (a mark-start pause waited up to 12 ms at
 * depth 21).  A safepoint may collect, so the tree being checked is a root
 * too (check_tree).
 */
#include "backend.h"

typedef struct node {
  struct node *left;
  struct node *right;
} node;

BENCH_TYPE2(node_type, node, left, right);

/* Returns a new tree of depth `depth`, built bottom-up. */
static node *bottom_up_tree(int depth) {
  if (depth <= 0)
    return BENCH_NEW(node_type, node); /* a leaf: both children NULL */
  node *left = NULL, *right = NULL;
  BENCH_LOCALS(left, right);
  left = bottom_up_tree(depth - 1);
  right = bottom_up_tree(depth - 1);
  node *n = BENCH_NEW(node_type, node);
  BENCH_STORE(n, left, left);
  BENCH_STORE(n, right, right);
  return n;
}

/* Returns the number of nodes in the tree; allocates nothing, so it
 * offers the collector a safepoint (tricolor) at every node. */
static long item_check(const node *n) {
  BENCH_SAFEPOINT();
  if (n->left == NULL)
    return 1;
  return 1 + item_check(n->left) + item_check(n->right);
}

/* Frees a tree node by node (malloc backends only). */
static void free_tree(node *n) {
  if (n->left != NULL) {
    free_tree(n->left);
    free_tree(n->right);
  }
  BENCH_FREE(n);
}

/* Builds one tree, returns its check and frees it where needed. */
static long check_tree(int depth) {
  node *t = NULL;
  BENCH_LOCALS(t); /* item_check has safepoints: t must be a root */
  t = bottom_up_tree(depth);
  long check = item_check(t);
  if (BENCH_NEEDS_FREE)
    free_tree(t);
  return check;
}

/* One mutator's share of the trees of one depth. */
typedef struct share {
  int depth;
  long trees;
  long check; /* out */
} share;

static void run_share(void *arg) {
  share *sh = arg;
  long check = 0;
  for (long i = 0; i < sh->trees; i++)
    check += check_tree(sh->depth);
  sh->check = check;
}

/* Runs the whole workload with `mutators` mutators in step 3; returns its
 * wall time in ns.  A function of its own so that its root frame is popped
 * before bench_finish. */
static uint64_t run(int min_depth, int max_depth, int mutators) {
  int stretch_depth = max_depth + 1;
  uint64_t start = bench_now_ns();
  long trees = 2; /* the stretch tree and the long-lived one */

  printf("stretch tree of depth %d\t check: %ld\n", stretch_depth,
         check_tree(stretch_depth));

  node *long_lived = NULL;
  BENCH_LOCALS(long_lived);
  long_lived = bottom_up_tree(max_depth);

  for (int d = min_depth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + min_depth);
    share shares[64];
    for (int k = 0; k < mutators; k++)
      shares[k] = (share){d, iterations * (k + 1) / mutators -
                                 iterations * k / mutators, 0};
    bench_parallel(mutators, run_share, shares, sizeof shares[0]);
    long check = 0;
    for (int k = 0; k < mutators; k++)
      check += shares[k].check;
    printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
    trees += iterations;
  }

  printf("long lived tree of depth %d\t check: %ld\n", max_depth,
         item_check(long_lived));
  if (BENCH_NEEDS_FREE)
    free_tree(long_lived);

  bench_set_ops((uint64_t)trees, "trees");
  return bench_now_ns() - start;
}

static int usage(const char *prog) {
  fprintf(stderr, "usage: %s [depth 0..30] [--mutators 1..64]\n", prog);
  return 2;
}

static int bench_main(int argc, char **argv) {
  const int min_depth = 4;
  int n = 21, mutators = 1;
  const char *env = getenv("BENCH_MUTATORS");
  if (env && *env && (mutators = bench_parse_mutators(env)) == 0)
    return usage(argv[0]);
  bool have_depth = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--mutators") == 0 && i + 1 < argc) {
      if ((mutators = bench_parse_mutators(argv[++i])) == 0)
        return usage(argv[0]);
      continue;
    }
    char *end;
    long v = strtol(argv[i], &end, 10);
    if (have_depth || *argv[i] == '\0' || *end != '\0' || v < 0 || v > 30)
      return usage(argv[0]);
    n = (int)v;
    have_depth = true;
  }
  int max_depth = n > min_depth + 2 ? n : min_depth + 2;
  if (mutators > 1 && !BENCH_CONCURRENT)
    fprintf(stderr, "bench_binarytrees_%s: %d shares run one after the "
                    "other (this backend is single-threaded)\n",
            BENCH_BACKEND_NAME, mutators);

  bench_set_mutators(mutators);
  uint64_t wall = run(min_depth, max_depth, mutators);
  bench_note("depth", max_depth); /* what ran: tricolor-lab's title */
  bench_finish("binarytrees", wall);
  return 0;
}

int main(int argc, char **argv) { return bench_start(bench_main, argc, argv); }
