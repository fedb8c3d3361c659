/*
 * test_collector_alloc.c -- what tc_alloc / tc_alloc_noscan hand out.
 *
 * What is tested:
 *   - zeroing: memory is zero every time, also when it reuses slots and
 *     pages that earlier objects filled with 0xff (after tc_gc, after
 *     heap-triggered cycles with lazy sweeping, in holes between survivors,
 *     and for large objects on dirty pages);
 *   - size classes through tc_object_size: for every request 1..40000 the
 *     usable size is >= the request, <= request + max(7, request/8) for
 *     small sizes (<= 32 KiB) and < request + 8 KiB above, non-decreasing,
 *     and a usable size is its own class; typed and noscan agree;
 *   - large objects (40 KiB, 1 MiB, 100 MiB): zeroed, kept with their
 *     contents while rooted, freed when not (heap_inuse drops);
 *   - tc_object_type: the allocating type, NULL for noscan;
 *   - tc_is_object: true for an object start (fresh in a cache run, or
 *     after a cycle), false for interior pointers, non-heap pointers and
 *     freed objects;
 *   - alignment: 8 bytes, 16 when the size is a multiple of 16.
 * TC_TEST_SCALE=small (default under valgrind) samples the sizes above
 * 4 KiB and shrinks the 100 MiB object to 16 MiB and the churn loops.
 */
#include "tc_test.h"

#include <tricolor.h>

static bool small_scale(void) {
  const char *s = getenv("TC_TEST_SCALE");
  if (s != NULL && *s != '\0')
    return strcmp(s, "small") == 0;
  return tc_test_under_valgrind();
}

typedef struct obj {
  void *ref;
  long data[];
} obj;
static const uint32_t obj_offsets[] = {offsetof(obj, ref)};
static tc_type obj_type = {.name = "obj", .offsets = obj_offsets, .noffsets = 1};
static tc_type other_type = {.name = "other"};

/* Deterministic PRNG (xorshift64*). */
static uint64_t rng_state;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static bool all_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  const uint64_t *w = p;
  size_t words = n / 8;
  uint64_t acc = 0;
  for (size_t i = 0; i < words; i++)
    acc |= w[i];
  for (size_t i = words * 8; i < n; i++)
    acc |= c[i];
  return acc == 0;
}

static int setup(void **state) {
  (void)state;
  rng_state = 0x9e3779b97f4a7c15ULL;
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_test_finish(1);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Zeroing                                                              */

static void *alloc_either(size_t size, bool typed) {
  return typed ? tc_alloc(&obj_type, size) : tc_alloc_noscan(size);
}

/* Rounds of: allocate ~budget bytes of `size`, check zero, fill 0xff,
 * drop, tc_gc.  Later rounds must reuse earlier addresses. */
static void zero_rounds(size_t size, bool typed) {
  const size_t budget = 512 * 1024;
  size_t n = budget / size + 1;
  void **now = calloc(n, sizeof(void *));
  void **prev = calloc(n, sizeof(void *));
  assert_non_null(now);
  assert_non_null(prev);
  size_t reused = 0;
  int rounds = small_scale() ? 6 : 25;
  for (int round = 0; round < rounds; round++) {
    for (size_t i = 0; i < n; i++) {
      unsigned char *p = alloc_either(size, typed);
      assert_non_null(p);
      size_t usable = tc_object_size(p);
      if (!all_zero(p, usable))
        fail_msg("size %zu (usable %zu, %s) round %d object %zu not zeroed",
                 size, usable, typed ? "typed" : "noscan", round, i);
      memset(p, 0xff, usable);
      now[i] = p;
    }
    /* addresses handed out again (sorted-free check: n is small) */
    if (round > 0)
      for (size_t i = 0; i < n && reused == 0; i++)
        for (size_t k = 0; k < n; k++)
          if (now[i] == prev[k]) {
            reused++;
            break;
          }
    void **t = prev;
    prev = now;
    now = t;
    tc_gc();
  }
  assert_true(reused > 0); /* the zeroing was tested on dirty memory */
  free(now);
  free(prev);
}

static void test_alloc_zeroed_after_gc_reuse(void **state) {
  (void)state;
  static const size_t sizes[] = {1,    8,    16,   24,   100,   512,  1024,
                                 1025, 1500, 4000, 8192, 16384, 32768};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    zero_rounds(sizes[i], true);
    zero_rounds(sizes[i], false);
  }
}

/* A rooted table where random entries are replaced: new objects land in
 * holes between survivors after heap-triggered cycles (lazy sweep), and
 * every one of them must be zero. */
#define TABLE 4096

static void *table[TABLE];

static void test_alloc_zeroed_in_holes_without_explicit_gc(void **state) {
  (void)state;
  memset(table, 0, sizeof table);
  assert_int_equal(tc_root_add(table, TABLE), TC_OK);
  tc_stats s0, s1;
  tc_read_stats(&s0);
  long n = small_scale() ? 200000 : 2000000;
  for (long i = 0; i < n; i++) {
    size_t size;
    uint64_t r = rng();
    if (r % 100 == 0)
      size = 1024 + (size_t)(r >> 32) % (32 * 1024);
    else
      size = 1 + (size_t)(r >> 32) % 512;
    bool typed = (r >> 20) & 1;
    unsigned char *p = alloc_either(size, typed);
    assert_non_null(p);
    size_t usable = tc_object_size(p);
    if (!all_zero(p, usable))
      fail_msg("allocation %ld of %zu bytes (%s) not zeroed", i, size,
               typed ? "typed" : "noscan");
    if (typed) /* keep the reference field NULL: 0xff is not a pointer */
      memset(p + sizeof(void *), 0xff, usable - sizeof(void *));
    else
      memset(p, 0xff, usable);
    tc_store(&table[(r >> 40) % TABLE], p);
  }
  tc_read_stats(&s1);
  assert_true(s1.cycles - s0.cycles >= 5);
  assert_int_equal(s1.forced_cycles, s0.forced_cycles);
  assert_int_equal(tc_root_remove(table), TC_OK);
  memset(table, 0, sizeof table);
}

/* ------------------------------------------------------------------ */
/* Size classes                                                         */

static size_t max_waste(size_t request) {
  size_t w = request / 8;
  return w > 7 ? w : 7;
}

static void check_size(size_t size, size_t *prev_usable) {
  void *p = tc_alloc_noscan(size);
  assert_non_null(p);
  size_t u = tc_object_size(p);
  if (u < size)
    fail_msg("request %zu: usable %zu is smaller", size, u);
  if (size <= 32768 && u > size + max_waste(size))
    fail_msg("request %zu: usable %zu wastes more than max(7, size/8)", size,
             u);
  if (size > 32768 && u >= size + 8192)
    fail_msg("request %zu (large): usable %zu wastes a page or more", size, u);
  if (u < *prev_usable)
    fail_msg("request %zu: usable %zu below the previous request's %zu", size,
             u, *prev_usable);
  *prev_usable = u;
  /* a typed object of the same size gets the same class */
  void *q = tc_alloc(&other_type, size);
  assert_non_null(q);
  if (tc_object_size(q) != u)
    fail_msg("request %zu: typed usable %zu, noscan %zu", size,
             tc_object_size(q), u);
  /* a usable size is a class of its own */
  void *r = tc_alloc_noscan(u);
  assert_non_null(r);
  if (tc_object_size(r) != u)
    fail_msg("request %zu: usable %zu maps to %zu", size, u,
             tc_object_size(r));
}

static void test_alloc_size_class_rounding(void **state) {
  (void)state;
  size_t prev = 0;
  bool sample = small_scale();
  for (size_t size = 1; size <= 40000; size++) {
    if (sample && size > 4096 && size % 61 != 0 && (size & (size - 1)) != 0 &&
        ((size - 1) & (size - 2)) != 0)
      continue;
    check_size(size, &prev);
  }
  /* size 0 gives a distinct, usable object */
  void *a = NULL, *b = NULL;
  TC_LOCALS(a);
  a = tc_alloc_noscan(0);
  b = tc_alloc_noscan(0);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  assert_true(tc_object_size(a) >= 1);
  void *c = tc_alloc(&other_type, 0);
  assert_non_null(c);
  assert_true(tc_object_size(c) >= 1);
  assert_ptr_equal(tc_object_type(c), &other_type);
}

/* ------------------------------------------------------------------ */
/* Large objects                                                        */

static void check_large(size_t size, bool typed) {
  tc_stats s0, s1, s2;
  unsigned char *p = NULL;
  TC_LOCALS(p);
  tc_gc();
  tc_read_stats(&s0);
  p = alloc_either(size, typed);
  assert_non_null(p);
  assert_true(tc_is_object(p));
  assert_true(tc_object_size(p) >= size);
  assert_true(tc_object_size(p) < size + 8192);
  assert_ptr_equal(tc_object_type(p), typed ? &obj_type : NULL);
  assert_true(all_zero(p, tc_object_size(p)));
  assert_int_equal((uintptr_t)p % 8192, 0);
  size_t off = typed ? sizeof(void *) : 0;
  memset(p + off, 0x5a, size - off);
  tc_gc();
  tc_read_stats(&s1);
  assert_true(tc_is_object(p));
  assert_true(s1.heap_inuse >= s0.heap_inuse + size);
  assert_true(s1.heap_live >= size);
  /* contents intact after the cycle */
  for (size_t i = off; i < size; i += 4093)
    assert_int_equal(p[i], 0x5a);
  assert_int_equal(p[size - 1], 0x5a);
  void *addr = p;
  p = NULL;
  tc_gc();
  tc_read_stats(&s2);
  assert_false(tc_is_object(addr));
  assert_true(s2.heap_inuse + size <= s1.heap_inuse);
  assert_int_equal(s2.heap_live, 0);
}

static void test_alloc_large_kept_and_freed(void **state) {
  (void)state;
  size_t big = (small_scale() ? 16u : 100u) << 20;
  check_large(40 * 1024, false);
  check_large(40 * 1024, true);
  check_large(1 << 20, false);
  check_large(1 << 20, true);
  check_large(big, false);
  check_large(big, true);
}

/* Large objects on dirty pages: a big minimum heap keeps freed pages
 * backed (not returned to the OS), so zeroing is the allocator's job. */
static void test_alloc_large_zeroed_on_dirty_pages(void **state) {
  (void)state;
  tc_config cfg = {.min_heap = (size_t)1 << 30};
  tc_test_restart(&cfg);
  size_t big = (small_scale() ? 16u : 100u) << 20;
  const size_t sizes[] = {40 * 1024, 1 << 20, big, 40 * 1024 + 1, 3 << 20};
  void *seen[5 * 3];
  size_t nseen = 0;
  bool reused = false;
  for (int round = 0; round < 3; round++)
    for (size_t k = 0; k < 5; k++) {
      size_t size = sizes[k];
      unsigned char *p = tc_alloc_noscan(size);
      assert_non_null(p);
      if (!all_zero(p, tc_object_size(p)))
        fail_msg("large object of %zu bytes in round %d not zeroed", size,
                 round);
      for (size_t i = 0; i < nseen; i++)
        reused |= seen[i] == p;
      seen[nseen++] = p;
      memset(p, 0xff, tc_object_size(p));
      tc_gc();
      tc_stats s;
      tc_read_stats(&s);
      assert_int_equal(s.heap_live, 0);
    }
  assert_true(reused);
  tc_stats s;
  tc_read_stats(&s);
  assert_true(s.heap_free > 0); /* the dirty pages were kept */
}

/* ------------------------------------------------------------------ */
/* Object queries                                                       */

static void test_alloc_object_type(void **state) {
  (void)state;
  enum { N = 5000 };
  static void *objs[N];
  memset(objs, 0, sizeof objs);
  assert_int_equal(tc_root_add(objs, N), TC_OK);
  for (int i = 0; i < N; i++) {
    size_t size = 16 + (size_t)(i % 7) * 40;
    void *p;
    switch (i % 3) {
    case 0: p = tc_alloc(&obj_type, size); break;
    case 1: p = tc_alloc(&other_type, size); break;
    default: p = tc_alloc_noscan(size); break;
    }
    assert_non_null(p);
    tc_store(&objs[i], p);
  }
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < N; i++) {
      tc_type *want = i % 3 == 0 ? &obj_type : i % 3 == 1 ? &other_type : NULL;
      assert_ptr_equal(tc_object_type(objs[i]), want);
    }
    tc_gc(); /* the types survive a cycle too */
  }
  void *big = tc_alloc(&other_type, 100000);
  assert_ptr_equal(tc_object_type(big), &other_type);
  assert_int_equal(tc_root_remove(objs), TC_OK);
}

static int a_static;

static void test_alloc_is_object(void **state) {
  (void)state;
  char *small = NULL, *large = NULL, *ns = NULL;
  TC_LOCALS(small, large, ns);
  small = tc_alloc(&obj_type, 48);
  /* the next slot of the run is not handed out yet: not an object */
  char *next = small + tc_object_size(small);
  assert_false(tc_is_object(next));
  void *s2 = tc_alloc(&obj_type, 48); /* garbage, but an object now */
  assert_true(tc_is_object(s2));
  if (s2 == next)
    assert_true(tc_is_object(next));
  ns = tc_alloc_noscan(200);
  large = tc_alloc(&obj_type, 50000);
  /* fresh objects, still in the cache's run */
  assert_true(tc_is_object(small));
  assert_true(tc_is_object(ns));
  assert_true(tc_is_object(large));
  for (int pass = 0; pass < 2; pass++) {
    assert_false(tc_is_object(small + 1));
    assert_false(tc_is_object(small + 8));
    assert_false(tc_is_object(small + 40));
    assert_false(tc_is_object(ns + 100));
    assert_false(tc_is_object(large + 8));
    assert_false(tc_is_object(large + 8192));
    assert_false(tc_is_object(large + 49999));
    int local;
    void *m = malloc(32);
    assert_false(tc_is_object(&local));
    assert_false(tc_is_object(m));
    assert_false(tc_is_object(&a_static));
    assert_false(tc_is_object(NULL));
    assert_false(tc_is_object((void *)(uintptr_t)-8));
    free(m);
    tc_gc(); /* and the same once the runs are flushed */
    assert_true(tc_is_object(small));
    assert_true(tc_is_object(ns));
    assert_true(tc_is_object(large));
  }
  void *addr_small = small, *addr_large = large, *addr_ns = ns;
  small = large = ns = NULL;
  tc_gc();
  assert_false(tc_is_object(addr_small));
  assert_false(tc_is_object(addr_large));
  assert_false(tc_is_object(addr_ns));
}

static void test_alloc_alignment(void **state) {
  (void)state;
  for (size_t size = 1; size <= 4096; size++) {
    for (int k = 0; k < 3; k++) {
      uintptr_t p = (uintptr_t)tc_alloc_noscan(size);
      uintptr_t q = (uintptr_t)tc_alloc(&other_type, size);
      assert_true(p != 0 && q != 0);
      if (p % 8 || q % 8)
        fail_msg("size %zu: %p / %p not 8-byte aligned", size, (void *)p,
                 (void *)q);
      if (size % 16 == 0 && (p % 16 || q % 16))
        fail_msg("size %zu: %p / %p not 16-byte aligned", size, (void *)p,
                 (void *)q);
    }
  }
  const size_t large[] = {32769, 40000, 65536, 100000};
  for (size_t i = 0; i < 4; i++) {
    uintptr_t p = (uintptr_t)tc_alloc_noscan(large[i]);
    assert_int_equal(p % 16, 0);
  }
}

int main(void) {
  /* the assertions on pacing assume the default growth percent */
  unsetenv("TRICOLOR_GC");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_alloc_zeroed_after_gc_reuse),
      T(test_alloc_zeroed_in_holes_without_explicit_gc),
      T(test_alloc_size_class_rounding),
      T(test_alloc_large_kept_and_freed),
      T(test_alloc_large_zeroed_on_dirty_pages),
      T(test_alloc_object_type),
      T(test_alloc_is_object),
      T(test_alloc_alignment),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
