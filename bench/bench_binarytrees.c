/*
 * bench/bench_binarytrees.c -- binary-trees from the Computer Language
 * Benchmarks Game, single-threaded.
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
 * Usage: bench_binarytrees_<backend> [depth]   (default 21)
 * Prints the Game's check lines, then one RESULT line (backend.h).
 *
 * Roots (tricolor).  The children built so far are registered with
 * BENCH_LOCALS while their sibling and parent are allocated; leaves return
 * before registering anything.
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

/* Returns the number of nodes in the tree; allocates nothing. */
static long item_check(const node *n) {
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
  node *t = bottom_up_tree(depth);
  long check = item_check(t);
  if (BENCH_NEEDS_FREE)
    free_tree(t);
  return check;
}

/* Runs the whole workload; returns its wall time in ns.  A function of its
 * own so that its root frame is popped before bench_finish shuts down. */
static uint64_t run(int min_depth, int max_depth) {
  int stretch_depth = max_depth + 1;
  uint64_t start = bench_now_ns();

  printf("stretch tree of depth %d\t check: %ld\n", stretch_depth,
         check_tree(stretch_depth));

  node *long_lived = NULL;
  BENCH_LOCALS(long_lived);
  long_lived = bottom_up_tree(max_depth);

  for (int d = min_depth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + min_depth);
    long check = 0;
    for (long i = 1; i <= iterations; i++)
      check += check_tree(d);
    printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
  }

  printf("long lived tree of depth %d\t check: %ld\n", max_depth,
         item_check(long_lived));
  if (BENCH_NEEDS_FREE)
    free_tree(long_lived);

  return bench_now_ns() - start;
}

int main(int argc, char **argv) {
  const int min_depth = 4;
  int n = 21;
  if (argc > 1) {
    char *end;
    long v = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || v < 0 || v > 30) {
      fprintf(stderr, "usage: %s [depth 0..30]\n", argv[0]);
      return 2;
    }
    n = (int)v;
  }
  int max_depth = n > min_depth + 2 ? n : min_depth + 2;

  bench_init();
  uint64_t wall = run(min_depth, max_depth);
  bench_finish("binarytrees", wall);
  return 0;
}
