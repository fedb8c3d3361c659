/*
 * test_heap_sizeclass.c -- the size-class table (heap/sizeclass.c) and the
 * copies of it the inline path uses (include/tricolor/inline.h).
 *
 * White-box: includes heap/heap.h.  Checks the table's documented rules
 * (rounding waste, span tail waste, objects per span), that
 * tc__size_to_class agrees with a linear search for every size, that the
 * inline tables agree with the library's, and that the divide-by-multiply
 * index is exact for every offset of every class.
 */
#include "tc_test.h"

#include "heap/heap.h"

/* Linear search: the smallest class whose size holds `size`. */
static unsigned class_by_search(size_t size) {
  for (unsigned c = 0; c < TC__NCLASSES; c++)
    if (tc__classes[c].size >= size)
      return c;
  return TC__NCLASSES;
}

static void test_sizeclass_table_is_ordered_and_aligned(void **state) {
  (void)state;
  assert_int_equal(tc__classes[0].size, 8);
  assert_int_equal(tc__classes[TC__NCLASSES - 1].size, TC__MAX_SMALL);
  for (unsigned c = 0; c < TC__NCLASSES; c++) {
    assert_int_equal(tc__classes[c].size % 8, 0);
    if (c > 0)
      assert_true(tc__classes[c].size > tc__classes[c - 1].size);
  }
}

static void test_sizeclass_rounding_waste_at_most_an_eighth(void **state) {
  (void)state;
  for (unsigned c = 1; c < TC__NCLASSES; c++) {
    uint32_t size = tc__classes[c].size, prev = tc__classes[c - 1].size;
    uint32_t worst = size - prev - 1; /* request prev + 1 */
    /* Either within one 8-byte granule, or at most 12.5% of the class. */
    if (worst > 7)
      assert_true(worst * 8 <= size);
  }
}

static void test_sizeclass_span_tail_and_counts(void **state) {
  (void)state;
  for (unsigned c = 0; c < TC__NCLASSES; c++) {
    const tc__sizeclass *k = &tc__classes[c];
    size_t span = k->pages * TC__PAGE_SIZE;
    assert_int_equal(k->objects, span / k->size);
    size_t tail = span - (size_t)k->objects * k->size;
    assert_true(tail * 8 <= span);
    assert_true(k->objects >= (k->size > 8192 ? 4u : 8u));
  }
}

static void test_sizeclass_lookup_matches_search(void **state) {
  (void)state;
  for (size_t size = 1; size <= TC__MAX_SMALL; size++) {
    unsigned c = tc__size_to_class(size);
    if (c != class_by_search(size))
      fail_msg("size %zu: class %u, expected %u", size, c,
               class_by_search(size));
  }
  assert_int_equal(tc__size_to_class(0), 0);
}

static void test_sizeclass_inline_tables_agree(void **state) {
  (void)state;
  for (unsigned c = 0; c < 40; c++)
    assert_int_equal(tc__small_class_size[c], tc__classes[c].size);
  assert_int_equal(tc__classes[39].size, TC__SMALL_INLINE_MAX);
  for (size_t size = 1; size <= TC__SMALL_INLINE_MAX; size++)
    assert_int_equal(tc__small_class[(size + 7) >> 3], class_by_search(size));
}

static void test_sizeclass_divmul_is_exact(void **state) {
  (void)state;
  for (unsigned c = 0; c < TC__NCLASSES; c++) {
    const tc__sizeclass *k = &tc__classes[c];
    uint64_t m = tc__class_divmul(c);
    size_t span = k->pages * TC__PAGE_SIZE;
    for (uint64_t off = 0; off <= span; off++)
      if (((off * m) >> 32) != off / k->size)
        fail_msg("class %u (size %u): offset %llu maps to %llu", c, k->size,
                 (unsigned long long)off,
                 (unsigned long long)((off * m) >> 32));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizeclass_table_is_ordered_and_aligned),
      cmocka_unit_test(test_sizeclass_rounding_waste_at_most_an_eighth),
      cmocka_unit_test(test_sizeclass_span_tail_and_counts),
      cmocka_unit_test(test_sizeclass_lookup_matches_search),
      cmocka_unit_test(test_sizeclass_inline_tables_agree),
      cmocka_unit_test(test_sizeclass_divmul_is_exact),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
