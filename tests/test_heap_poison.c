/*
 * test_heap_poison.c -- a use of a collected object is reported by the
 * tools at the faulting access (heap/poison.h, docs/debugging.md).
 *
 * The scenarios, each a function of this file that tc_init()s its own
 * runtime:
 *   write-after-collect        a 16-byte object nothing roots is collected
 *                              (tc_gc) and then written through the raw
 *                              pointer the program kept;
 *   write-after-collect-large  the same with a 64 KiB object (its pages go
 *                              back to the page heap);
 *   rooted                     the same program without the bug: the
 *                              objects are in TC_LOCALS, survive tc_gc, are
 *                              written and read back, and their slots'
 *                              neighbours are reused by new allocations.
 *
 * Where each runs.
 *   ASan build (ctest label unit, death): the cmocka tests below run the
 *   first two in forked children that must die with ASan's
 *   "use-after-poison" report, and run `rooted` in-process (any ASan
 *   report ends the test).  A white-box test checks what is poisoned
 *   when: a freed slot and not its live neighbour, a run's unused tail,
 *   a collected large object, a span's tail past its last object, and a
 *   freed slot no longer once a run hands it out again.
 *   Plain and ThreadSanitizer builds: no tool watches the heap, so the
 *   death tests and the white-box checks are skipped (they print why);
 *   `rooted` still runs as a functional test.
 *   valgrind (a plain build on a host with valgrind; ctest label
 *   valgrind, tests/CMakeLists.txt): `test_heap_poison --case NAME` runs
 *   one scenario outside cmocka under valgrind.  The program counts
 *   memcheck's errors (VALGRIND_COUNT_ERRORS) around the write and says
 *   so only if the write was the one error; ctest checks that line, the
 *   report's "Invalid write", the freed block and tc__sweep_finish in the
 *   stack that freed it, or for `rooted` a clean exit (leaks included).
 *   In scripts/memcheck.py's run of the unit tests (this binary without
 *   arguments under valgrind) the death tests skip: the --case entries
 *   cover valgrind.
 */
#include "tc_test.h"

#include "heap/heap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON_ASAN 1
#endif
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define POISON_VALGRIND 1
#endif

typedef tc_test_node node;

#define LARGE_SIZE (64 * 1024) /* a large object: above 32 KiB */

/* Errors memcheck has reported so far; 0 when not under valgrind. */
static unsigned memcheck_errors(void) {
#if defined(POISON_VALGRIND)
  return RUNNING_ON_VALGRIND ? (unsigned)VALGRIND_COUNT_ERRORS : 0;
#else
  return 0;
#endif
}

/* Returns the address of a fresh object of `size` bytes that nothing roots
 * (a node when size is 16, else noscan).  The caller keeps it as a plain
 * integer, which the collector cannot see. */
static uintptr_t unrooted(size_t size) {
  void *p = size == sizeof(node) ? tc_alloc(&tc_test_node_type, size)
                                 : tc_alloc_noscan(size);
  return (uintptr_t)p;
}

/* Allocates an unrooted object of *(size_t *)arg bytes, collects, then
 * writes its first word: the bug.  Returns (prints) only if nothing
 * stopped the write. */
static void write_after_collect(void *arg) {
  size_t size = *(const size_t *)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  uintptr_t a = unrooted(size);
  tc_gc(); /* a is garbage: swept */
  if (tc_is_object((void *)a)) {
    fprintf(stderr, "heap_poison: %p survived tc_gc\n", (void *)a);
    exit(4);
  }
  unsigned before = memcheck_errors();
  *(volatile uint64_t *)a = 42; /* use after collection */
  unsigned after = memcheck_errors();
  fprintf(stderr, "heap_poison: wrote to collected %p; memcheck counted %u "
          "error(s)\n", (void *)a, after - before);
  tc_shutdown();
}

/* The same program without the bug; returns the number of mismatches. */
static int rooted_run(void) {
  node *n = NULL;
  char *big = NULL;
  node *fill = NULL;
  TC_LOCALS(n, big, fill);
  n = tc_alloc(&tc_test_node_type, sizeof(node));
  big = tc_alloc_noscan(LARGE_SIZE);
  (void)unrooted(sizeof(node)); /* garbage beside n, swept below */
  tc_gc();
  n->value = 42;
  memset(big, 0x5a, LARGE_SIZE);
  /* new objects take the freed slots around n: handed out again */
  for (int i = 0; i < 1000; i++) {
    fill = tc_alloc(&tc_test_node_type, sizeof(node));
    fill->value = (uint64_t)i;
  }
  tc_gc();
  int bad = n->value != 42;
  for (size_t i = 0; i < LARGE_SIZE; i += 4096)
    bad += big[i] != 0x5a;
  bad += fill->value != 999;
  return bad;
}

/* ---------------------------------------------------------- --case mode */

/* Runs one scenario outside cmocka (tests/CMakeLists.txt's valgrind
 * entries; by hand: docs/debugging.md); returns the exit status.  Under
 * valgrind the write must be memcheck's one error and the rooted run must
 * have none; under ASan the write does not return. */
static int run_case(const char *name) {
  static size_t small = sizeof(node), large = LARGE_SIZE;
  bool vg = false;
#if defined(POISON_VALGRIND)
  vg = RUNNING_ON_VALGRIND != 0;
#endif
  if (strcmp(name, "write-after-collect") == 0 ||
      strcmp(name, "write-after-collect-large") == 0) {
    unsigned before = memcheck_errors();
    write_after_collect(name[19] == '\0' ? &small : &large);
    unsigned n = memcheck_errors() - before;
    if (!vg) {
      fprintf(stderr, "heap_poison: FAILED: no tool reported the write "
              "(run it under valgrind, or build with ASan)\n");
      return 1;
    }
    if (n != 1) {
      fprintf(stderr, "heap_poison: FAILED: %u memcheck errors, expected 1 "
              "(the write)\n", n);
      return 1;
    }
    fprintf(stderr, "heap_poison: reported: the write was memcheck's one "
            "error\n");
    return 0;
  }
  if (strcmp(name, "rooted") == 0) {
    if (tc_init(NULL) != TC_OK)
      return 3;
    int bad = rooted_run();
    tc_shutdown();
    unsigned n = memcheck_errors();
    fprintf(stderr, "heap_poison: rooted: %d mismatch(es), %u memcheck "
            "error(s)%s\n", bad, n, vg ? "" : " (not under valgrind)");
    return bad == 0 && n == 0 ? 0 : 1;
  }
  fprintf(stderr, "heap_poison: unknown case '%s'\n", name);
  return 2;
}

/* ---------------------------------------------------------- cmocka tests */

static int setup(void **state) {
  (void)state;
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_test_finish(4);
  return 0;
}

/* Skips (with the reason) unless ASan watches the heap. */
static void need_asan(void) {
#if !defined(POISON_ASAN)
  if (tc_test_under_valgrind())
    print_message("skipped: under valgrind the ctest entries "
                  "heap_poison_valgrind_* run this scenario (--case)\n");
  else
    print_message("skipped: no tool watches the heap in this build (ASan "
                  "poisons it; valgrind: the heap_poison_valgrind_* "
                  "entries)\n");
  skip();
#endif
}

static void test_poison_write_after_collect_reported(void **state) {
  (void)state;
  need_asan();
  static size_t small = sizeof(node);
  tc_expect_death(write_after_collect, &small,
                  "ERROR: AddressSanitizer: use-after-poison");
  tc_expect_death(write_after_collect, &small, "WRITE of size 8");
}

static void test_poison_write_after_collect_large_reported(void **state) {
  (void)state;
  need_asan();
  static size_t large = LARGE_SIZE;
  tc_expect_death(write_after_collect, &large,
                  "ERROR: AddressSanitizer: use-after-poison");
}

static void test_poison_rooted_run_is_clean(void **state) {
  (void)state;
  assert_int_equal(rooted_run(), 0);
}

#if defined(POISON_ASAN)
static bool poisoned(const void *p) {
  return __asan_address_is_poisoned(p) != 0;
}
#endif

/* What is poisoned, white-box: a freed slot and not its live neighbour; a
 * run's unused tail after the cache gives it back; a slot handed out
 * again; a new span's tail past its last object; a collected large
 * object's pages. */
static void test_poison_states(void **state) {
  (void)state;
  need_asan();
#if defined(POISON_ASAN)
  node *keep = NULL;
  char *odd = NULL;
  TC_LOCALS(keep, odd);
  uintptr_t dead = unrooted(sizeof(node));
  keep = tc_alloc(&tc_test_node_type, sizeof(node));
  uintptr_t next = unrooted(sizeof(node));
  assert_false(poisoned((void *)dead)); /* handed out with the run */
  assert_false(poisoned(keep));
  assert_false(poisoned((void *)(next + sizeof(node)))); /* the run's rest */
  uintptr_t big = unrooted(LARGE_SIZE);
  assert_false(poisoned((void *)(big + LARGE_SIZE - 8)));
  /* class 24: 341 objects in a page, then an 8-byte tail */
  odd = tc_alloc_noscan(24);
  tc__span *s = tc__span_of(odd);
  assert_ptr_equal(odd, s->base); /* the class's first span */
  char *tail = s->base + (size_t)s->nelems * s->elem_size;
  assert_true(tail < s->base + s->npages * TC__PAGE_SIZE);
  assert_false(poisoned(odd + 24));
  assert_true(poisoned(tail));

  tc_gc(); /* flushes the cache: the runs' unused tails go back */
  assert_true(poisoned((void *)dead));
  assert_true(poisoned((void *)next));
  assert_false(poisoned(keep));
  assert_true(poisoned((void *)(next + sizeof(node))));
  assert_true(poisoned((void *)big));
  assert_true(poisoned((void *)(big + LARGE_SIZE - 8)));
  assert_false(poisoned(odd));
  assert_true(poisoned(odd + 24));
  assert_true(poisoned(tail));

  /* the first free slot of the swept span is handed out again */
  uintptr_t again = (uintptr_t)tc_alloc(&tc_test_node_type, sizeof(node));
  assert_true(again == dead);
  assert_false(poisoned((void *)again));
  keep = NULL;
  odd = NULL;
#endif
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--case") == 0)
    return run_case(argv[2]);
  if (argc != 1) {
    fprintf(stderr, "usage: %s [--case write-after-collect|"
            "write-after-collect-large|rooted]\n", argv[0]);
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_poison_write_after_collect_reported),
      cmocka_unit_test(test_poison_write_after_collect_large_reported),
      cmocka_unit_test_setup_teardown(test_poison_rooted_run_is_clean, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_poison_states, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
