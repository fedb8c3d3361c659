/*
 * test_roots_kinds.c -- reachability from every kind of root.
 *
 * What is tested: an object survives tc_gc() exactly while some root
 * reaches it, and is reclaimed once none does, for each root kind:
 *   - TC_LOCALS locals: nested frames, reassigned locals, 16 locals in one
 *     frame, a helper that returns early from inside nested scopes;
 *   - global roots (tc_root_add / tc_root_remove): an array of n slots, the
 *     slot just past the range is not a root, removal makes the objects
 *     collectable, and the TC_EEXIST / TC_ENOENT / TC_EINVAL / TC_ESTATE
 *     codes;
 *   - handles: new / get / set / free, more handles than one block holds;
 *   - references found only by a type's trace callback (a tagged-pointer
 *     slot through tc_visit, a plain slot through tc_visit_slot), also
 *     for a heap large enough that helper marking threads trace too;
 *   - references at offsets repeated with `stride` (arrays of structs,
 *     small and large, including the last field of the last element);
 *   - the finalizer queue: an object waiting for its finalizer, and what it
 *     references, survive a cycle that runs while it is queued.
 * How it is observed: a "counted" type whose finalizer records which
 * object was finalized (so "freed" is proven by the finalizer having run,
 * and "kept" by it not having run), tc_is_object() on the old address after
 * the cycle, and heap_live == 0 in every teardown after everything is
 * dropped (nothing leaked).
 */
#include "tc_test.h"

#include <pthread.h>
#include <tricolor.h>

/* ------------------------------------------------------------------ */
/* A counted leaf: its finalizer records that it ran (by id).          */

#define MAX_IDS 4096
#define MAGIC 0x5eed5eed5eedL

typedef struct counted {
  long id;
  long magic;
} counted;

static int fin_count[MAX_IDS];
static long fin_total;
static long fin_bad_magic;

static void counted_finalize(void *obj) {
  counted *c = obj;
  if (c->magic != MAGIC || c->id < 0 || c->id >= MAX_IDS) {
    fin_bad_magic++;
    return;
  }
  fin_count[c->id]++;
  fin_total++;
}

static tc_type counted_type = {.name = "counted",
                               .finalize = counted_finalize};

static counted *new_counted(long id) {
  counted *c = tc_alloc(&counted_type, sizeof(counted));
  assert_non_null(c);
  c->id = id;
  c->magic = MAGIC;
  return c;
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */

static int setup(void **state) {
  (void)state;
  memset(fin_count, 0, sizeof fin_count);
  fin_total = 0;
  fin_bad_magic = 0;
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_test_finish(10);
  assert_int_equal(fin_bad_magic, 0);
  return 0;
}

/* ------------------------------------------------------------------ */
/* TC_LOCALS                                                            */

static counted *inner_frame(long id_base, tc_roots_mark *seen_inside) {
  counted *x = NULL, *y = NULL;
  TC_LOCALS(x, y);
  *seen_inside = tc_roots_save();
  x = new_counted(id_base);
  y = new_counted(id_base + 1);
  tc_gc();
  /* both alive: reachable from this frame */
  assert_int_equal(fin_count[id_base], 0);
  assert_int_equal(fin_count[id_base + 1], 0);
  assert_int_equal(x->magic, MAGIC);
  return x; /* y dies with the frame; x is handed to the caller */
}

static void test_locals_nested_frames(void **state) {
  (void)state;
  counted *a = NULL, *b = NULL;
  TC_LOCALS(a);
  a = new_counted(1);
  tc_roots_mark outer = tc_roots_save();
  assert_ptr_not_equal(outer, tc_test_base_mark);
  {
    TC_LOCALS(b);
    tc_roots_mark inner;
    b = inner_frame(10, &inner);
    assert_ptr_not_equal(inner, tc_roots_save()); /* inner frame popped */
    tc_gc();
    /* a (outer frame) and b (this scope) alive; 11 lost its frame */
    assert_int_equal(fin_count[1], 0);
    assert_int_equal(fin_count[10], 0);
    assert_int_equal(fin_count[11], 1);
    assert_true(tc_is_object(a));
    assert_true(tc_is_object(b));
  }
  assert_ptr_equal(tc_roots_save(), outer); /* scope popped its frame */
  tc_gc();
  assert_int_equal(fin_count[10], 1); /* b's scope ended */
  assert_int_equal(fin_count[1], 0);
  a = NULL; /* reassigning a registered local drops the old value */
  tc_gc();
  assert_int_equal(fin_count[1], 1);
  assert_int_equal(fin_total, 3);
}

/* Returns early from two scopes deep; every frame must be popped. */
static long early_return_helper(int depth_to_leave, counted **out_ptr) {
  counted *p = NULL;
  TC_LOCALS(p);
  p = new_counted(20);
  for (int i = 0; i < 4; i++) {
    counted *q = NULL;
    TC_LOCALS(q);
    q = new_counted(21 + i);
    if (i == depth_to_leave) {
      counted *r = NULL;
      TC_LOCALS(r);
      r = new_counted(30);
      tc_gc(); /* everything registered so far is alive */
      for (int k = 0; k < i; k++)
        if (fin_count[21 + k] != 1)
          return -1; /* earlier loop iterations' q are dead */
      if (fin_count[20] || fin_count[21 + i] || fin_count[30])
        return -2;
      *out_ptr = p; /* the caller checks where p ends up */
      return 0;     /* leaves three frames at once */
    }
  }
  return -3;
}

static void test_locals_early_return_pops_frames(void **state) {
  (void)state;
  tc_roots_mark before = tc_roots_save();
  counted *stale = NULL; /* NOT a root: must not keep anything alive */
  assert_int_equal(early_return_helper(2, &stale), 0);
  assert_ptr_equal(tc_roots_save(), before);
  assert_true(tc_is_object(stale));
  tc_gc();
  /* finalized, and kept through this cycle for its finalizer ... */
  assert_true(tc_is_object(stale));
  assert_int_equal(fin_count[20], 1);
  tc_gc();
  /* ... then reclaimed by the next one */
  assert_false(tc_is_object(stale));
  assert_int_equal(fin_count[20], 1);
  assert_int_equal(fin_count[21], 1);
  assert_int_equal(fin_count[22], 1);
  assert_int_equal(fin_count[23], 1);
  assert_int_equal(fin_count[30], 1);
  assert_int_equal(fin_count[24], 0); /* never allocated */
  assert_int_equal(fin_total, 5);
}

static void test_locals_sixteen_in_one_frame(void **state) {
  (void)state;
  counted *l0 = NULL, *l1 = NULL, *l2 = NULL, *l3 = NULL, *l4 = NULL,
          *l5 = NULL, *l6 = NULL, *l7 = NULL, *l8 = NULL, *l9 = NULL,
          *l10 = NULL, *l11 = NULL, *l12 = NULL, *l13 = NULL, *l14 = NULL,
          *l15 = NULL;
  {
    TC_LOCALS(l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, l11, l12, l13,
              l14, l15);
    counted **all[16] = {&l0, &l1, &l2,  &l3,  &l4,  &l5,  &l6,  &l7,
                         &l8, &l9, &l10, &l11, &l12, &l13, &l14, &l15};
    for (int i = 0; i < 16; i++)
      *all[i] = new_counted(100 + i);
    for (int i = 0; i < 8; i++) /* garbage between, forcing cycles */
      assert_non_null(tc_alloc_noscan(1 << 20));
    tc_gc();
    for (int i = 0; i < 16; i++) {
      assert_int_equal(fin_count[100 + i], 0);
      assert_int_equal((*all[i])->id, 100 + i);
    }
    l15 = NULL; /* only the last registered local dropped */
    tc_gc();
    assert_int_equal(fin_count[115], 1);
    assert_int_equal(fin_total, 1);
  }
  tc_gc();
  assert_int_equal(fin_total, 16);
}

/* ------------------------------------------------------------------ */
/* Global roots                                                         */

#define NGLOBALS 8
static void *globals[NGLOBALS + 1]; /* [NGLOBALS] lies outside the range */

static void test_globals_array_keeps_and_remove_releases(void **state) {
  (void)state;
  memset(globals, 0, sizeof globals);
  assert_int_equal(tc_root_add(globals, NGLOBALS), TC_OK);
  for (int i = 0; i <= NGLOBALS; i++)
    tc_store(&globals[i], new_counted(200 + i));
  tc_gc();
  for (int i = 0; i < NGLOBALS; i++)
    assert_int_equal(fin_count[200 + i], 0);
  /* one past the registered range is not a root */
  assert_int_equal(fin_count[200 + NGLOBALS], 1);
  tc_store(&globals[NGLOBALS], NULL);

  /* clearing a slot drops just that object */
  tc_store(&globals[3], NULL);
  tc_gc();
  assert_int_equal(fin_count[203], 1);
  assert_int_equal(fin_total, 2);
  assert_int_equal(((counted *)globals[NGLOBALS - 1])->id, 200 + NGLOBALS - 1);

  /* unregistering makes every remaining one collectable */
  assert_int_equal(tc_root_remove(globals), TC_OK);
  tc_gc();
  for (int i = 0; i <= NGLOBALS; i++)
    assert_int_equal(fin_count[200 + i], 1);
  assert_int_equal(fin_total, NGLOBALS + 1);
  memset(globals, 0, sizeof globals);
}

static void *g_a, *g_b[3];

static void test_globals_error_codes(void **state) {
  (void)state;
  assert_int_equal(tc_root_add(NULL, 1), TC_EINVAL);
  assert_int_equal(tc_root_add(&g_a, 0), TC_EINVAL);
  assert_int_equal(tc_root_add(&g_a, 1), TC_OK);
  assert_int_equal(tc_root_add(&g_a, 1), TC_EEXIST);
  assert_int_equal(tc_root_add(&g_a, 4), TC_EEXIST);
  assert_int_equal(tc_root_add(g_b, 3), TC_OK);
  assert_int_equal(tc_root_remove(&g_b[1]), TC_ENOENT); /* not a range start */
  assert_int_equal(tc_root_remove(g_b), TC_OK);
  assert_int_equal(tc_root_remove(g_b), TC_ENOENT);
  assert_int_equal(tc_root_remove(&g_a), TC_OK);
  assert_int_equal(tc_root_remove(&g_a), TC_ENOENT);
  /* re-adding after removal works */
  assert_int_equal(tc_root_add(&g_a, 1), TC_OK);
  assert_int_equal(tc_root_remove(&g_a), TC_OK);
}

static void test_globals_before_init_is_estate(void **state) {
  (void)state;
  tc_shutdown();
  assert_int_equal(tc_root_add(&g_a, 1), TC_ESTATE);
  assert_int_equal(tc_init(NULL), TC_OK);
  tc_test_base_mark = tc_roots_save();
  /* and the registry did not keep the rejected range */
  assert_int_equal(tc_root_remove(&g_a), TC_ENOENT);
}

/* Many ranges: the registry grows past its first allocation. */
static void *many_slots[100];

static void test_globals_many_ranges(void **state) {
  (void)state;
  for (int i = 0; i < 100; i++)
    assert_int_equal(tc_root_add(&many_slots[i], 1), TC_OK);
  for (int i = 0; i < 100; i++)
    tc_store(&many_slots[i], new_counted(300 + i));
  tc_gc();
  assert_int_equal(fin_total, 0);
  for (int i = 0; i < 100; i += 2) /* remove every other range */
    assert_int_equal(tc_root_remove(&many_slots[i]), TC_OK);
  tc_gc();
  assert_int_equal(fin_total, 50);
  for (int i = 0; i < 100; i++)
    assert_int_equal(fin_count[300 + i], (i % 2 == 0) ? 1 : 0);
  for (int i = 1; i < 100; i += 2)
    assert_int_equal(tc_root_remove(&many_slots[i]), TC_OK);
  memset(many_slots, 0, sizeof many_slots);
}

/* tc_root_add is "any thread after tc_init". */
static void *thread_slot;
static void *add_root_thread(void *arg) {
  (void)arg;
  return (void *)(intptr_t)tc_root_add(&thread_slot, 1);
}

static void test_globals_add_from_other_thread(void **state) {
  (void)state;
  pthread_t t;
  void *rc;
  assert_int_equal(pthread_create(&t, NULL, add_root_thread, NULL), 0);
  assert_int_equal(pthread_join(t, &rc), 0);
  assert_int_equal((int)(intptr_t)rc, TC_OK);
  tc_store(&thread_slot, new_counted(5));
  tc_gc();
  assert_int_equal(fin_count[5], 0);
  assert_int_equal(tc_root_remove(&thread_slot), TC_OK);
  tc_gc();
  assert_int_equal(fin_count[5], 1);
  thread_slot = NULL;
}

/* ------------------------------------------------------------------ */
/* Handles                                                              */

static void test_handles_new_get_set_free(void **state) {
  (void)state;
  tc_handle *h = tc_handle_new(new_counted(40));
  assert_non_null(h);
  tc_handle *hn = tc_handle_new(NULL);
  assert_non_null(hn);
  assert_null(tc_handle_get(hn));
  tc_gc();
  assert_int_equal(fin_count[40], 0);
  assert_int_equal(((counted *)tc_handle_get(h))->id, 40);

  tc_handle_set(h, new_counted(41)); /* the old object loses its root */
  tc_handle_set(hn, tc_handle_get(h));
  tc_gc();
  assert_int_equal(fin_count[40], 1);
  assert_int_equal(fin_count[41], 0);
  assert_ptr_equal(tc_handle_get(hn), tc_handle_get(h));

  tc_handle_free(h); /* still held by hn */
  tc_gc();
  assert_int_equal(fin_count[41], 0);
  assert_int_equal(((counted *)tc_handle_get(hn))->id, 41);
  tc_handle_set(hn, NULL);
  tc_gc();
  assert_int_equal(fin_count[41], 1);
  tc_handle_free(hn);
  tc_handle_free(NULL); /* a no-op */
  assert_int_equal(fin_total, 2);
}

#define NHANDLES 1000 /* several blocks of 256 */

static void test_handles_many_blocks_and_reuse(void **state) {
  (void)state;
  static tc_handle *hs[NHANDLES];
  for (int i = 0; i < NHANDLES; i++) {
    hs[i] = tc_handle_new(new_counted(1000 + i));
    assert_non_null(hs[i]);
  }
  tc_gc();
  assert_int_equal(fin_total, 0);
  for (int i = 0; i < NHANDLES; i += 3) {
    tc_handle_free(hs[i]);
    hs[i] = NULL;
  }
  tc_gc();
  for (int i = 0; i < NHANDLES; i++) {
    assert_int_equal(fin_count[1000 + i], (i % 3 == 0) ? 1 : 0);
    if (hs[i])
      assert_int_equal(((counted *)tc_handle_get(hs[i]))->id, 1000 + i);
  }
  /* freed handles are reused, and a reused handle is a root again */
  for (int i = 0; i < NHANDLES; i += 3) {
    hs[i] = tc_handle_new(new_counted(2000 + i));
    assert_non_null(hs[i]);
  }
  tc_gc();
  for (int i = 0; i < NHANDLES; i += 3)
    assert_int_equal(fin_count[2000 + i], 0);
  long before = fin_total;
  for (int i = 0; i < NHANDLES; i++)
    tc_handle_free(hs[i]);
  tc_gc();
  assert_int_equal(fin_total - before, NHANDLES);
}

/* ------------------------------------------------------------------ */
/* Trace callbacks                                                      */

/* An interpreter-style value cell: `tagged` holds a pointer with the low
 * bit set, or a small integer (low bits 10); `plain` a plain pointer. */
typedef struct cell {
  uintptr_t tagged;
  void *plain;
  long n_traced;
} cell;

static long trace_calls;

static void cell_trace(void *obj, tc_visitor *v) {
  cell *c = obj;
  /* helper marking threads call trace callbacks too */
  __atomic_fetch_add(&trace_calls, 1, __ATOMIC_RELAXED);
  uintptr_t t = __atomic_load_n(&c->tagged, __ATOMIC_RELAXED);
  if ((t & 3) == 1)
    tc_visit(v, (void *)(t & ~(uintptr_t)3));
  tc_visit_slot(v, &c->plain);
}

/* offsets are ignored when trace is set: the offset says "plain" only */
static const uint32_t cell_offsets[] = {offsetof(cell, plain)};
static tc_type cell_type = {.name = "cell",
                            .offsets = cell_offsets,
                            .noffsets = 1,
                            .trace = cell_trace};

static void cell_set_tagged(cell *c, uintptr_t v) {
  uintptr_t old = c->tagged;
  tc_barrier((old & 3) == 1 ? (void *)(old & ~(uintptr_t)3) : NULL,
             (v & 3) == 1 ? (void *)(v & ~(uintptr_t)3) : NULL);
  __atomic_store_n(&c->tagged, v, __ATOMIC_RELAXED);
}

static void test_trace_tagged_and_slot(void **state) {
  (void)state;
  cell *c = NULL;
  counted *t = NULL, *p = NULL;
  TC_LOCALS(c);
  {
    TC_LOCALS(t, p);
    c = tc_alloc(&cell_type, sizeof(cell));
    assert_non_null(c);
    t = new_counted(50);
    p = new_counted(51);
    cell_set_tagged(c, (uintptr_t)t | 1);
    TC_STORE(c, plain, p);
  }
  trace_calls = 0;
  tc_gc();
  assert_true(trace_calls >= 1); /* the callback did the tracing */
  assert_int_equal(fin_count[50], 0);
  assert_int_equal(fin_count[51], 0);
  assert_int_equal(((counted *)(c->tagged & ~(uintptr_t)3))->id, 50);
  assert_int_equal(((counted *)tc_load(&c->plain))->id, 51);

  /* a small integer in the tagged slot: the old target is released */
  cell_set_tagged(c, (uintptr_t)(12345 << 2) | 2);
  tc_gc();
  assert_int_equal(fin_count[50], 1);
  assert_int_equal(fin_count[51], 0);

  TC_STORE(c, plain, NULL);
  tc_gc();
  assert_int_equal(fin_count[51], 1);
  assert_int_equal(fin_total, 2);
}

/* A trace callback over a variable-length object: a vector whose length
 * lives in the object. */
typedef struct vec {
  size_t len;
  void *items[];
} vec;

static void vec_trace(void *obj, tc_visitor *v) {
  vec *x = obj;
  for (size_t i = 0; i < x->len; i++)
    tc_visit_slot(v, &x->items[i]);
}
static tc_type vec_type = {.name = "vec", .trace = vec_trace};

static void test_trace_variable_length(void **state) {
  (void)state;
  const size_t n = 5000; /* > 32 KiB: a large object */
  vec *x = NULL;
  TC_LOCALS(x);
  x = tc_alloc(&vec_type, sizeof(vec) + n * sizeof(void *));
  assert_non_null(x);
  x->len = n;
  for (size_t i = 0; i < n; i++)
    tc_store(&x->items[i], i % 1000 == 999 ? (void *)new_counted((long)(i / 1000))
                                           : NULL);
  tc_gc();
  assert_int_equal(fin_total, 0);
  x->len = n - 1; /* the last item is no longer traced */
  tc_gc();
  assert_int_equal(fin_count[4], 1);
  assert_int_equal(fin_total, 1);
  x = NULL;
  tc_gc();
  assert_int_equal(fin_total, 5);
}

/* Many traced objects: enough for the helper marking threads to take
 * part, so trace callbacks and tc_visit run on several threads.  The bytes
 * marked are exact. */
#define NCELLS 20000

static void test_trace_many_objects_marked_exactly(void **state) {
  (void)state;
  vec *x = NULL;
  cell *c = NULL;
  void *leaf = NULL;
  TC_LOCALS(x, c, leaf);
  x = tc_alloc(&vec_type, sizeof(vec) + NCELLS * sizeof(void *));
  assert_non_null(x);
  x->len = NCELLS;
  size_t cell_size = 0, leaf_size = 0;
  for (size_t i = 0; i < NCELLS; i++) {
    c = tc_alloc(&cell_type, sizeof(cell));
    leaf = tc_alloc_noscan(32);
    assert_non_null(c);
    assert_non_null(leaf);
    cell_size = tc_object_size(c);
    leaf_size = tc_object_size(leaf);
    cell_set_tagged(c, (uintptr_t)leaf | 1);
    if (i % 2)
      TC_STORE(c, plain, tc_alloc_noscan(32)); /* a second leaf */
    tc_store(&x->items[i], c);
  }
  c = NULL;
  leaf = NULL;
  trace_calls = 0;
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  uint64_t expect = tc_object_size(x) + NCELLS * (cell_size + leaf_size) +
                    NCELLS / 2 * leaf_size;
  assert_int_equal(s.heap_marked, expect);
  assert_int_equal(s.heap_live, expect);
  assert_int_equal(trace_calls, NCELLS); /* each cell traced once */
  /* replace every tagged pointer by a small integer: those leaves go */
  for (size_t i = 0; i < NCELLS; i++)
    cell_set_tagged((cell *)x->items[i], (uintptr_t)(i << 2) | 2);
  tc_gc();
  tc_read_stats(&s);
  assert_int_equal(s.heap_marked, expect - NCELLS * leaf_size);
  x = NULL;
}

/* ------------------------------------------------------------------ */
/* Stride                                                               */

typedef struct entry {
  void *key;   /* offset 0 */
  long hash;   /* not a reference */
  void *value; /* offset 16 */
} entry;       /* 24 bytes */

static const uint32_t entry_offsets[] = {offsetof(entry, key),
                                         offsetof(entry, value)};
static tc_type entries_type = {.name = "entry[]",
                               .offsets = entry_offsets,
                               .noffsets = 2,
                               .stride = sizeof(entry)};

/* Fills an array of n entries with counted keys and values, ids from
 * id0: key i -> id0 + 2i, value i -> id0 + 2i + 1; hash holds a value
 * that would be a heap pointer if it were scanned. */
static entry *new_entries(size_t n, long id0) {
  entry *e = NULL;
  counted *tmp = NULL;
  TC_LOCALS(e, tmp);
  e = tc_alloc(&entries_type, n * sizeof(entry));
  assert_non_null(e);
  for (size_t i = 0; i < n; i++) {
    tmp = new_counted(id0 + 2 * (long)i);
    tc_store(&e[i].key, tmp);
    tmp = new_counted(id0 + 2 * (long)i + 1);
    tc_store(&e[i].value, tmp);
  }
  return e;
}

static void check_stride(size_t n, long id0) {
  entry *e = NULL;
  counted *bait = NULL;
  TC_LOCALS(e, bait);
  e = new_entries(n, id0);
  /* a counted object whose address sits in a non-reference field */
  bait = new_counted(id0 + 2 * (long)n);
  e[n / 2].hash = (long)(uintptr_t)bait;
  bait = NULL;
  tc_gc();
  assert_int_equal(fin_count[id0 + 2 * (long)n], 1); /* hash not scanned */
  for (size_t i = 0; i < 2 * n; i++)
    assert_int_equal(fin_count[id0 + (long)i], 0);
  /* drop the first key and the last value: exactly those two go */
  tc_store(&e[0].key, NULL);
  tc_store(&e[n - 1].value, NULL);
  tc_gc();
  assert_int_equal(fin_count[id0], 1);
  assert_int_equal(fin_count[id0 + 2 * (long)n - 1], 1);
  for (size_t i = 1; i + 1 < 2 * n; i++)
    assert_int_equal(fin_count[id0 + (long)i], 0);
  assert_int_equal(((counted *)e[n - 1].key)->id, id0 + 2 * (long)(n - 1));
  e = NULL;
  tc_gc();
  for (size_t i = 0; i < 2 * n + 1; i++)
    assert_int_equal(fin_count[id0 + (long)i], 1);
}

static void test_stride_small_exact_size(void **state) {
  (void)state;
  check_stride(4, 0); /* 96 bytes: a class of exactly that size */
}

static void test_stride_small_rounded_size(void **state) {
  (void)state;
  check_stride(100, 0); /* 2400 bytes in a larger class: tail is zero */
}

static void test_stride_large_object(void **state) {
  (void)state;
  check_stride(1500, 0); /* 36000 bytes: a large object */
}

/* ------------------------------------------------------------------ */
/* The finalizer queue is a root                                        */

typedef struct fobj {
  void *child;
  long id;
  long magic;
} fobj;

static const uint32_t fobj_offsets[] = {offsetof(fobj, child)};
static long fobj_order[8];
static int fobj_n;
static bool fobj_nested_gc_done;
static long fobj_errors;

static void fobj_finalize(void *obj) {
  fobj *f = obj;
  if (f->magic != MAGIC || !tc_is_object(f))
    fobj_errors++;
  if (fobj_n < 8)
    fobj_order[fobj_n] = f->id;
  fobj_n++;
  if (!fobj_nested_gc_done) {
    /* A cycle while this and the other queued objects wait: the queue
     * (a root) must keep them and their children alive. */
    fobj_nested_gc_done = true;
    tc_gc();
    if (!tc_is_object(f) || f->magic != MAGIC)
      fobj_errors += 100;
  }
  counted *c = f->child;
  if (c == NULL || !tc_is_object(c) || c->magic != MAGIC)
    fobj_errors += 1000;
}

static tc_type fobj_type = {.name = "fobj",
                            .offsets = fobj_offsets,
                            .noffsets = 1,
                            .finalize = fobj_finalize};

static void test_finalizer_queue_is_root(void **state) {
  (void)state;
  fobj_n = 0;
  fobj_errors = 0;
  fobj_nested_gc_done = false;
  {
    fobj *f = NULL;
    counted *c = NULL;
    TC_LOCALS(f, c);
    for (int i = 0; i < 3; i++) {
      c = new_counted(60 + i); /* a child only the fobj references */
      f = tc_alloc(&fobj_type, sizeof(fobj));
      assert_non_null(f);
      f->id = i;
      f->magic = MAGIC;
      TC_STORE(f, child, c);
    }
  }
  tc_gc(); /* queues all three; the first finalizer runs a nested cycle */
  assert_int_equal(fobj_n, 3);
  assert_int_equal(fobj_errors, 0);
  assert_true(fobj_nested_gc_done);
  /* the children were kept for the finalizers, they go in a later cycle */
  tc_gc();
  tc_gc();
  assert_int_equal(fin_count[60] + fin_count[61] + fin_count[62], 3);
}

int main(void) {
  /* the assertions on pacing assume the default growth percent */
  unsetenv("TRICOLOR_GC");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_locals_nested_frames),
      T(test_locals_early_return_pops_frames),
      T(test_locals_sixteen_in_one_frame),
      T(test_globals_array_keeps_and_remove_releases),
      T(test_globals_error_codes),
      T(test_globals_before_init_is_estate),
      T(test_globals_many_ranges),
      T(test_globals_add_from_other_thread),
      T(test_handles_new_get_set_free),
      T(test_handles_many_blocks_and_reuse),
      T(test_trace_tagged_and_slot),
      T(test_trace_variable_length),
      T(test_trace_many_objects_marked_exactly),
      T(test_stride_small_exact_size),
      T(test_stride_small_rounded_size),
      T(test_stride_large_object),
      T(test_finalizer_queue_is_root),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
