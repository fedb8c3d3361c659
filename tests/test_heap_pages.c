/*
 * test_heap_pages.c -- the page heap and the page map (heap/arena.c,
 * heap/pageheap.c), white-box.
 *
 * Checks that every page of every span maps to that span, that addresses
 * outside the heap map to nothing, that freed spans coalesce (no two free
 * spans of one set, backed or released, are ever adjacent), that the byte
 * accounting adds up, that scavenging returns pages to the OS and that
 * released pages read as zero, that a freed span does not merge with a
 * released neighbour but released spans merge, that allocation takes
 * backed pages before released ones and joins the two kinds before it
 * grows the heap, and that a heap limit makes
 * allocation fail cleanly.
 */
#include "tc_test.h"

#include "heap/heap.h"

static int setup(void **state) {
  (void)state;
  return tc__heap_init(0);
}

static int teardown(void **state) {
  (void)state;
  tc__heap_destroy();
  return 0;
}

static tc__span *alloc_pages(size_t n) {
  tc__lock_acquire(&tc__h.lock);
  tc__span *s = tc__pages_alloc(n, sizeof(tc__span));
  if (s)
    s->state = TC__SPAN_LARGE;
  tc__lock_release(&tc__h.lock);
  return s;
}

static void free_pages(tc__span *s) {
  tc__lock_acquire(&tc__h.lock);
  tc__pages_free(s);
  tc__lock_release(&tc__h.lock);
}

/* Bytes the page heap accounts for: in use + free (backed or released). */
static uint64_t accounted(void) {
  return tc__h.inuse + tc__h.free_dirty + tc__h.released;
}

/* Checks the coalescing invariant over every free list of both sets: a
 * free span's free neighbours belong to the other set (released against
 * dirty), and each of its pages maps to it. */
static void assert_no_adjacent_free_spans(void) {
  for (int set = 0; set < 2; set++)
    for (size_t i = 0; i < TC__FREE_LISTS; i++) {
      tc__spanlist *l = set ? &tc__h.free_released[i] : &tc__h.free[i];
      for (tc__span *f = l->first; f; f = f->next) {
        assert_int_equal(f->state, TC__SPAN_FREE);
        assert_int_equal(f->released, set);
        tc__span *after = tc__span_of(f->base + f->npages * TC__PAGE_SIZE);
        if (after && after->state == TC__SPAN_FREE)
          assert_int_not_equal(after->released, f->released);
        tc__span *before = tc__span_of(f->base - 1);
        if (before && before->state == TC__SPAN_FREE)
          assert_int_not_equal(before->released, f->released);
        for (size_t p = 0; p < f->npages; p++)
          assert_ptr_equal(tc__span_of(f->base + p * TC__PAGE_SIZE), f);
      }
    }
}

static void scavenge_all(void) {
  tc__lock_acquire(&tc__h.lock);
  tc__pages_scavenge(0);
  tc__lock_release(&tc__h.lock);
}

static void test_pages_map_covers_every_page(void **state) {
  (void)state;
  size_t sizes[] = {1, 2, 3, 17, 127, 128, 1000};
  tc__span *spans[7];
  for (int i = 0; i < 7; i++) {
    spans[i] = alloc_pages(sizes[i]);
    assert_non_null(spans[i]);
    assert_int_equal(spans[i]->npages, sizes[i]);
    assert_int_equal((uintptr_t)spans[i]->base % TC__PAGE_SIZE, 0);
  }
  for (int i = 0; i < 7; i++)
    for (size_t p = 0; p < sizes[i]; p++) {
      char *page = spans[i]->base + p * TC__PAGE_SIZE;
      assert_ptr_equal(tc__span_of(page), spans[i]);
      assert_ptr_equal(tc__span_of(page + TC__PAGE_SIZE - 1), spans[i]);
    }
  for (int i = 0; i < 7; i++)
    free_pages(spans[i]);
}

static void test_pages_outside_heap_is_not_ours(void **state) {
  (void)state;
  int local;
  void *m = malloc(64);
  assert_null(tc__span_of(NULL));
  assert_null(tc__span_of(&local));
  assert_null(tc__span_of(m));
  assert_null(tc__span_of((void *)&test_pages_outside_heap_is_not_ours));
  assert_null(tc__span_of((void *)(uintptr_t)0xffff800000001000ull));
  free(m);
}

static void test_pages_coalesce_in_any_order(void **state) {
  (void)state;
  enum { N = 64 };
  tc__span *s[N];
  for (int i = 0; i < N; i++) {
    s[i] = alloc_pages((size_t)(i % 5) + 1);
    assert_non_null(s[i]);
  }
  /* free the odd ones, then the even ones: every free must merge */
  for (int i = 1; i < N; i += 2)
    free_pages(s[i]);
  assert_no_adjacent_free_spans();
  for (int i = 0; i < N; i += 2)
    free_pages(s[i]);
  assert_no_adjacent_free_spans();
  assert_int_equal(tc__h.inuse, 0);
  assert_int_equal(accounted() + (uint64_t)(tc__h.grow_end - tc__h.grow_next),
                   tc__h.mapped);
}

static void test_pages_reuse_before_growing(void **state) {
  (void)state;
  tc__span *a = alloc_pages(10);
  assert_non_null(a);
  char *base = a->base;
  uint64_t mapped = tc__h.mapped;
  free_pages(a);
  tc__span *b = alloc_pages(4);
  assert_ptr_equal(b->base, base); /* first fit from the freed run */
  assert_int_equal(b->needzero, 1); /* dirty pages */
  assert_int_equal(tc__h.mapped, mapped);
  free_pages(b);
}

static void test_pages_scavenge_releases_and_zeroes(void **state) {
  (void)state;
  tc__span *a = alloc_pages(256); /* 2 MiB */
  assert_non_null(a);
  memset(a->base, 0x5a, 256 * TC__PAGE_SIZE);
  char *base = a->base;
  free_pages(a);
  uint64_t dirty = tc__h.free_dirty;
  assert_true(dirty >= 256 * TC__PAGE_SIZE);
  scavenge_all();
  assert_int_equal(tc__h.free_dirty, 0);
  assert_true(tc__h.released >= dirty);
  tc__span *b = alloc_pages(256);
  assert_ptr_equal(b->base, base);
  assert_int_equal(b->needzero, 0);
  for (size_t i = 0; i < 256 * TC__PAGE_SIZE; i += 512)
    assert_int_equal(b->base[i], 0);
  free_pages(b);
}

/* A freed span beside a released one stays apart from it, so the bytes
 * counted as backed are exactly the dirty pages (a merged span was once
 * counted dirty whole, and the scavenger released the same pages again
 * and again). */
static void test_pages_released_and_dirty_stay_apart(void **state) {
  (void)state;
  tc__span *a = alloc_pages(8), *b = alloc_pages(8), *guard = alloc_pages(1);
  assert_non_null(guard);
  char *a_base = a->base;
  assert_ptr_equal(b->base, a_base + 8 * TC__PAGE_SIZE);
  free_pages(a);
  scavenge_all();
  uint64_t released = tc__h.released;
  assert_int_equal(tc__h.free_dirty, 0);
  free_pages(b); /* dirty, beside released a */
  assert_int_equal(tc__h.free_dirty, 8 * TC__PAGE_SIZE);
  assert_int_equal(tc__h.released, released);
  assert_int_equal(tc__span_of(a_base + 8 * TC__PAGE_SIZE)->npages, 8);
  assert_no_adjacent_free_spans();
  free_pages(guard);
  assert_no_adjacent_free_spans();
}

/* Spans released one after the other merge: the released set coalesces
 * as the dirty one does. */
static void test_pages_released_neighbours_merge(void **state) {
  (void)state;
  tc__span *a = alloc_pages(4), *b = alloc_pages(4), *guard = alloc_pages(1);
  assert_non_null(guard);
  char *a_base = a->base;
  free_pages(a);
  scavenge_all();
  free_pages(b); /* dirty, apart from released a */
  scavenge_all(); /* released too: one span of 8 */
  assert_int_equal(tc__span_of(a_base)->npages, 8);
  assert_int_equal(tc__span_of(a_base)->released, 1);
  assert_no_adjacent_free_spans();
  free_pages(guard);
}

/* A request that neither a dirty span nor its released neighbour serves
 * alone, but the two together do, takes them (as one dirty span: zeroed)
 * rather than growing the heap. */
static void test_pages_dirty_and_released_join_before_growing(void **state) {
  (void)state;
  tc__span *a = alloc_pages(6), *b = alloc_pages(6), *guard = alloc_pages(1);
  assert_non_null(guard);
  char *a_base = a->base;
  memset(b->base, 0x5a, 6 * TC__PAGE_SIZE);
  free_pages(a);
  scavenge_all(); /* a released */
  free_pages(b);  /* b dirty, apart from a */
  uint64_t mapped = tc__h.mapped;
  char *window = tc__h.grow_next;
  tc__span *c = alloc_pages(10);
  assert_ptr_equal(c->base, a_base);
  assert_int_equal(c->needzero, 1);
  assert_int_equal(tc__h.mapped, mapped);
  assert_ptr_equal(tc__h.grow_next, window);
  assert_int_equal(accounted() + (uint64_t)(tc__h.grow_end - tc__h.grow_next),
                   tc__h.mapped);
  assert_no_adjacent_free_spans();
  free_pages(c);
  free_pages(guard);
  assert_no_adjacent_free_spans();
}

/* Allocation takes backed pages before released ones, even from a larger
 * span: a released page costs a fault and the kernel's zeroing again. */
static void test_pages_dirty_before_released(void **state) {
  (void)state;
  tc__span *small = alloc_pages(4), *g1 = alloc_pages(1);
  tc__span *large = alloc_pages(10), *g2 = alloc_pages(1);
  assert_non_null(g2);
  char *large_base = large->base;
  free_pages(small);
  scavenge_all(); /* the 4 pages are released: an exact fit, but cold */
  free_pages(large); /* 10 dirty pages */
  tc__span *c = alloc_pages(4);
  assert_ptr_equal(c->base, large_base);
  assert_int_equal(c->needzero, 1);
  free_pages(c);
  free_pages(g1);
  free_pages(g2);
}

static void test_pages_limit_fails_cleanly(void **state) {
  (void)state;
  tc__heap_destroy();
  assert_int_equal(tc__heap_init(1 << 20), TC_OK); /* 1 MiB limit */
  tc__span *a = alloc_pages(100);                  /* 800 KiB */
  assert_non_null(a);
  assert_null(alloc_pages(100));
  free_pages(a);
  assert_non_null(a = alloc_pages(100));
  free_pages(a);
}

static void test_pages_spans_larger_than_an_arena(void **state) {
  (void)state;
  size_t n = TC__ARENA_PAGES + TC__ARENA_PAGES / 2; /* 96 MiB */
  tc__span *a = alloc_pages(n);
  assert_non_null(a);
  assert_ptr_equal(tc__span_of(a->base + (n - 1) * TC__PAGE_SIZE), a);
  free_pages(a);
  assert_no_adjacent_free_spans();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_pages_map_covers_every_page, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_outside_heap_is_not_ours, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_coalesce_in_any_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_reuse_before_growing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_scavenge_releases_and_zeroes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_released_and_dirty_stay_apart, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_released_neighbours_merge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_dirty_before_released, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_dirty_and_released_join_before_growing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_limit_fails_cleanly, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pages_spans_larger_than_an_arena, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
