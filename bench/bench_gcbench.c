/*
 * bench/bench_gcbench.c -- GCBench, the classic collector benchmark by John
 * Ellis and Pete Kovac (Java), ported to C by Hans Boehm; same constants and
 * the same phases as Boehm's GCBench.c.
 *
 * What it stresses.  Allocation rate of small objects (24-byte nodes: two
 * references and two ints) against a fixed live heap: a long-lived tree of
 * 131071 nodes (3 MiB) plus a 3.8 MiB pointer-free array that must never be
 * scanned.  Every full mark traces the long-lived tree; the temporary trees
 * die young.  Top-down construction (Populate) stores new nodes into
 * an older node, so it exercises the write barrier on old-to-young stores;
 * bottom-up construction (MakeTree) stores only into the node just
 * allocated.  With a GC the figures measure allocation, marking, sweeping
 * and barrier cost; with malloc they measure malloc plus an explicit
 * recursive free of each tree.
 *
 * Phases (every figure from the original):
 *   1. stretch the heap: build and drop a tree of depth 18 (bottom-up);
 *   2. build a long-lived tree of depth 16 (top-down) and a long-lived array
 *      of 500000 doubles, half of it filled;
 *   3. for depth d = 4, 6, .., 16: build NumIters(d) =
 *      2 * TreeSize(18) / TreeSize(d) trees of depth d top-down, then as many
 *      bottom-up, dropping each one;
 *   4. check that the long-lived data is intact.
 *
 * Usage: bench_gcbench_<backend>   (no arguments)
 * Prints the original's progress lines, then one RESULT line (backend.h).
 * tricolor runs it as the main coroutine of tc_run (concurrent marking in
 * the barrier mode of TRICOLOR_DEBUG=barrier=..., see backend.h).
 *
 * Roots (tricolor).  A node held in a C local across an allocation is
 * registered with BENCH_LOCALS; children are stored with BENCH_STORE.
 */
#include "backend.h"

enum {
  kStretchTreeDepth = 18,   /* 2^19 - 1 nodes, 12 MiB */
  kLongLivedTreeDepth = 16, /* 2^17 - 1 nodes, 3 MiB, live throughout */
  kArraySize = 500000,      /* doubles, 3.8 MiB, live throughout */
  kMinTreeDepth = 4,
  kMaxTreeDepth = 16,
};

typedef struct node {
  struct node *left;
  struct node *right;
  int i, j; /* payload, as in the original (never read) */
} node;

BENCH_TYPE2(node_type, node, left, right);

/* Returns the number of nodes in a tree of depth i. */
static int tree_size(int i) { return (1 << (i + 1)) - 1; }

/* Returns how many trees of depth i to build: same node count per depth. */
static int num_iters(int i) {
  return 2 * tree_size(kStretchTreeDepth) / tree_size(i);
}

/* Frees a tree node by node (malloc backends only). */
static void free_tree(node *n) {
  if (n->left != NULL)
    free_tree(n->left);
  if (n->right != NULL)
    free_tree(n->right);
  BENCH_FREE(n);
}

/* Builds a tree of depth `depth` below this_node, top-down: each new child
 * is stored into its (older) parent. */
static void populate(int depth, node *this_node) {
  if (depth <= 0)
    return;
  BENCH_LOCALS(this_node); /* lives across the allocations below */
  depth--;
  node *child = BENCH_NEW(node_type, node);
  BENCH_STORE(this_node, left, child);
  child = BENCH_NEW(node_type, node);
  BENCH_STORE(this_node, right, child);
  populate(depth, this_node->left);
  populate(depth, this_node->right);
}

/* Returns a new tree of depth `depth`, built bottom-up. */
static node *make_tree(int depth) {
  if (depth <= 0)
    return BENCH_NEW(node_type, node);
  node *left = NULL, *right = NULL;
  BENCH_LOCALS(left, right);
  left = make_tree(depth - 1);
  right = make_tree(depth - 1);
  node *result = BENCH_NEW(node_type, node);
  BENCH_STORE(result, left, left);
  BENCH_STORE(result, right, right);
  return result;
}

/* Builds num_iters(depth) trees both ways, printing the time of each. */
static void time_construction(int depth) {
  int iters = num_iters(depth);
  printf("Creating %d trees of depth %d\n", iters, depth);

  uint64_t t0 = bench_now_ns();
  for (int i = 0; i < iters; i++) {
    node *temp = BENCH_NEW(node_type, node);
    populate(depth, temp);
    if (BENCH_NEEDS_FREE)
      free_tree(temp);
  }
  uint64_t t1 = bench_now_ns();
  printf("\tTop down construction took %.0f msec\n", (double)(t1 - t0) / 1e6);

  for (int i = 0; i < iters; i++) {
    node *temp = make_tree(depth);
    if (BENCH_NEEDS_FREE)
      free_tree(temp);
  }
  uint64_t t2 = bench_now_ns();
  printf("\tBottom up construction took %.0f msec\n", (double)(t2 - t1) / 1e6);
}

/* Runs phases 1-4; returns the wall time in ns, or 0 if the long-lived
 * data was damaged.  A function of its own so that its root frame is
 * popped before bench_finish shuts down. */
static uint64_t run(void) {
  printf("Garbage Collector Test\n");
  printf(" Live storage will peak at %zu bytes.\n\n",
         2 * sizeof(node) * (size_t)tree_size(kLongLivedTreeDepth) +
             sizeof(double) * kArraySize);
  printf(" Stretching memory with a binary tree of depth %d\n",
         kStretchTreeDepth);

  uint64_t start = bench_now_ns();

  node *temp = make_tree(kStretchTreeDepth);
  if (BENCH_NEEDS_FREE)
    free_tree(temp);
  temp = NULL; /* as the original: no stale reference for a conservative GC */

  node *long_lived = NULL;
  double *array = NULL;
  BENCH_LOCALS(long_lived, array);

  printf(" Creating a long-lived binary tree of depth %d\n",
         kLongLivedTreeDepth);
  long_lived = BENCH_NEW(node_type, node);
  populate(kLongLivedTreeDepth, long_lived);

  printf(" Creating a long-lived array of %d doubles\n", kArraySize);
  array = BENCH_NEW_NOSCAN(sizeof(double) * kArraySize);
  for (int i = 0; i < kArraySize / 2; i++)
    array[i] = 1.0 / i; /* array[0] = inf, as in the original */

  long trees = 2; /* the stretch tree and the long-lived one */
  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    time_construction(d);
    trees += 2L * num_iters(d); /* top down, then bottom up */
  }
  bench_set_ops((uint64_t)trees, "trees");

  /* The long-lived data must have survived every collection. */
  int intact = long_lived != NULL && array[1000] == 1.0 / 1000 &&
               long_lived->left != NULL && long_lived->right != NULL;
  if (BENCH_NEEDS_FREE) {
    free_tree(long_lived);
    BENCH_FREE(array);
  }

  uint64_t wall = bench_now_ns() - start;
  printf("Completed in %.0f msec\n", (double)wall / 1e6);
  return intact ? wall : 0;
}

static int bench_main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  uint64_t wall = run();
  if (wall == 0) {
    fprintf(stderr, "bench_gcbench: long-lived data damaged: Failed\n");
    return 1;
  }
  bench_finish("gcbench", wall);
  return 0;
}

int main(int argc, char **argv) { return bench_start(bench_main, argc, argv); }
