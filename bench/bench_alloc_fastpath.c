/*
 * bench/bench_alloc_fastpath.c -- the instruction cost of one small
 * allocation, counted under callgrind by bench/fastpath.sh.
 *
 * What it stresses.  Nothing but the allocator's common path: N objects of
 * 16 bytes (a type with two pointer fields) allocated back to back, with
 * collection off, so no cycle, no marking and no sweeping is counted.  The
 * figure includes the slow path amortised over the run (refilling a run or
 * a free list, zeroing), which is what an allocation costs on average.
 *
 * Method.
 *   1. The program runs in one of two modes with the same start-up and the
 *      same loop: "alloc" calls alloc_one() N times, "base" calls base_one()
 *      N times.  Both are out-of-line functions with the same shape (call,
 *      produce a pointer, return it, store it to a volatile sink); base_one
 *      returns a static object instead of allocating.
 *   2. fastpath.sh runs both modes under `valgrind --tool=callgrind` and
 *      prints (Ir_alloc - Ir_base) / N: instructions per allocation, with
 *      start-up, the loop and the call overhead cancelled out.
 *   3. One allocation before the loop, in both modes, takes the one-time
 *      costs (tricolor registers the type on its first allocation).
 *
 * Usage: bench_alloc_fastpath_<backend> alloc|base [N]   (N default 1000000)
 * Prints one line "fastpath backend=K mode=M n=N" for the script's log.
 */
#include "backend.h"

typedef struct node {
  struct node *left;
  struct node *right;
} node;

_Static_assert(sizeof(node) == 16, "the object must be 16 bytes");

BENCH_TYPE2(node_type, node, left, right);

static void *volatile sink; /* keeps every result observable */

/* Out of line and opaque to interprocedural analysis, so the compiler can
 * neither inline the calls nor prove base_one constant and hoist it. */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define BENCH_OPAQUE __attribute__((noipa))
#endif
#endif
#ifndef BENCH_OPAQUE
#define BENCH_OPAQUE __attribute__((noinline))
#endif

/* Returns a new 16-byte object: the operation being counted. */
BENCH_OPAQUE static node *alloc_one(void) {
  return BENCH_NEW(node_type, node);
}

/* Returns a pointer without allocating: everything alloc_one does but the
 * allocation itself. */
BENCH_OPAQUE static node *base_one(void) {
  static node dummy;
  return &dummy;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "alloc") != 0 &&
                   strcmp(argv[1], "base") != 0)) {
    fprintf(stderr, "usage: %s alloc|base [N]\n", argv[0]);
    return 2;
  }
  int do_alloc = strcmp(argv[1], "alloc") == 0;
  long n = argc > 2 ? atol(argv[2]) : 1000000;
  if (n <= 0) {
    fprintf(stderr, "%s: N must be positive\n", argv[0]);
    return 2;
  }

  bench_init();
  bench_gc_off();
  sink = alloc_one(); /* one-time costs, in both modes */

  if (do_alloc) {
    for (long i = 0; i < n; i++)
      sink = alloc_one();
  } else {
    for (long i = 0; i < n; i++)
      sink = base_one();
  }

  printf("fastpath backend=%s mode=%s n=%ld\n", BENCH_BACKEND_NAME, argv[1], n);
  /* The objects are never freed: the process exits right after.  tricolor
   * is shut down so it releases its heap the normal way. */
#if defined(BACKEND_TRICOLOR)
  tc_shutdown();
#endif
  return 0;
}
