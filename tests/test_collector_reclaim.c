/*
 * test_collector_reclaim.c -- what the collector frees and what it keeps.
 *
 * What is tested:
 *   - unreachable objects are reclaimed (tc_is_object turns false, the
 *     bytes leave heap_live), reachable ones are kept;
 *   - cycles: a self-loop, A <-> B, and a long ring are reclaimed as soon as
 *     no root reaches them, and kept whole while one node is rooted;
 *   - a cycle of finalizable objects is never finalized (as in Go) until
 *     the embedder breaks it;
 *   - garbage is reclaimed by heap-triggered cycles alone (no tc_gc);
 *   - marking does not recurse: a 10-million-node linked list and trees of
 *     depth 1e6 (left- and right-leaning) are marked and kept, then
 *     collected, on a thread with a 256 KiB stack (the thread calls tc_init
 *     itself, so it is the mutator);
 *   - tc_alloc_noscan memory is never scanned: a pointer stored in it does
 *     not keep its target alive.
 * Reclamation is observed through heap_marked (exact bytes found live),
 * heap_live, tc_is_object on old addresses and finalizer counts; every
 * teardown checks heap_live == 0 once everything is dropped.
 *
 * TC_TEST_SCALE=small (the default under valgrind) shrinks the 10-million
 * list to 1 million and the trees to depth 1e5; TC_TEST_SCALE=full forces
 * the full sizes.
 */
#include "tc_test.h"

#include <pthread.h>
#include <tricolor.h>

static bool small_scale(void) {
  const char *s = getenv("TC_TEST_SCALE");
  if (s != NULL && *s != '\0')
    return strcmp(s, "small") == 0;
  return tc_test_under_valgrind();
}

#define MAGIC 0x5eed5eed5eedL

/* A counted leaf; its finalizer records that it ran. */
typedef struct counted {
  long id;
  long magic;
} counted;

static long fin_count[64];
static long fin_total;

static void counted_finalize(void *obj) {
  counted *c = obj;
  if (c->magic == MAGIC && c->id >= 0 && c->id < 64)
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

/* A node with two references and no finalizer. */
typedef struct node {
  struct node *a;
  void *b;
  long value;
} node; /* 24 bytes: class 24 */

static const uint32_t node_offsets[] = {offsetof(node, a), offsetof(node, b)};
static tc_type node_type = {
    .name = "node", .offsets = node_offsets, .noffsets = 2};

static node *new_node(long value) {
  node *n = tc_alloc(&node_type, sizeof(node));
  assert_non_null(n);
  n->value = value;
  return n;
}

/* ------------------------------------------------------------------ */

static int setup(void **state) {
  (void)state;
  memset(fin_count, 0, sizeof fin_count);
  fin_total = 0;
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_test_finish(10);
  return 0;
}

static uint64_t live_bytes(void) {
  tc_stats s;
  tc_read_stats(&s);
  return s.heap_live;
}

static uint64_t marked_bytes(void) {
  tc_stats s;
  tc_read_stats(&s);
  return s.heap_marked;
}

/* ------------------------------------------------------------------ */

#define NGARBAGE 20000

static void test_reclaim_unreachable_objects(void **state) {
  (void)state;
  void **addr = malloc(NGARBAGE * sizeof(void *)); /* not roots */
  assert_non_null(addr);
  node *keep = NULL, *head = NULL, *n = NULL;
  TC_LOCALS(keep, head, n);
  /* built as a rooted chain, so no cycle during construction can free
   * (and hand out again) an address recorded in addr */
  for (long i = 0; i < NGARBAGE; i++) {
    n = new_node(i);
    TC_STORE(n, a, head);
    head = n;
    addr[i] = n;
    if (i == NGARBAGE / 2)
      keep = n;
  }
  n = NULL;
  for (long i = 0; i < 100; i++) /* noscan garbage, small and large */
    assert_non_null(tc_alloc_noscan(i % 10 == 0 ? 40000 : 100));
  TC_STORE(keep, a, NULL); /* keep references nothing ... */
  head = NULL;             /* ... and nothing but a local references keep */
  tc_gc();
  size_t alive = 0;
  for (long i = 0; i < NGARBAGE; i++)
    alive += tc_is_object(addr[i]);
  assert_int_equal(alive, 1);
  assert_true(tc_is_object(keep));
  assert_int_equal(keep->value, NGARBAGE / 2);
  assert_int_equal(live_bytes(), tc_object_size(keep));
  assert_int_equal(marked_bytes(), tc_object_size(keep));
  keep = NULL;
  tc_gc();
  assert_false(tc_is_object(addr[NGARBAGE / 2]));
  assert_int_equal(live_bytes(), 0);
  free(addr);
}

static void test_reclaim_self_cycle(void **state) {
  (void)state;
  node *n = NULL;
  TC_LOCALS(n);
  n = new_node(1);
  TC_STORE(n, a, n);
  TC_STORE(n, b, new_counted(1));
  void *old = n;
  tc_gc();
  assert_true(tc_is_object(old));
  assert_int_equal(fin_count[1], 0);
  n = NULL;
  tc_gc();
  assert_false(tc_is_object(old));
  assert_int_equal(fin_count[1], 1);
}

static void test_reclaim_two_node_cycle(void **state) {
  (void)state;
  node *a = NULL, *b = NULL;
  TC_LOCALS(a, b);
  a = new_node(1);
  b = new_node(2);
  TC_STORE(a, a, b);
  TC_STORE(b, a, a);
  TC_STORE(a, b, new_counted(1));
  TC_STORE(b, b, new_counted(2));
  void *pa = a, *pb = b;
  b = NULL; /* reachable only through a */
  tc_gc();
  assert_true(tc_is_object(pa));
  assert_true(tc_is_object(pb));
  assert_int_equal(fin_total, 0);
  assert_int_equal(((node *)pb)->a, pa);
  a = NULL;
  tc_gc();
  assert_false(tc_is_object(pa));
  assert_false(tc_is_object(pb));
  assert_int_equal(fin_count[1], 1);
  assert_int_equal(fin_count[2], 1);
}

#define RING 100000

static void test_reclaim_long_ring(void **state) {
  (void)state;
  node *first = NULL, *prev = NULL, *n = NULL;
  TC_LOCALS(first, prev, n);
  first = prev = new_node(0);
  for (long i = 1; i < RING; i++) {
    n = new_node(i);
    TC_STORE(prev, a, n);
    prev = n;
  }
  TC_STORE(prev, a, first); /* close the ring */
  n = NULL;
  void *mid = NULL;
  node *p = first;
  for (long i = 0; i < RING / 2; i++)
    p = p->a;
  mid = p;
  /* keep the ring through one node in its middle only */
  prev = mid;
  first = NULL;
  tc_gc();
  assert_int_equal(marked_bytes(), (uint64_t)RING * tc_object_size(mid));
  long count = 0, sum = 0;
  p = prev;
  do {
    count++;
    sum += p->value;
    p = p->a;
  } while (p != prev);
  assert_int_equal(count, RING);
  assert_int_equal(sum, (long)RING * (RING - 1) / 2);
  prev = NULL;
  tc_gc();
  assert_false(tc_is_object(mid));
  assert_int_equal(marked_bytes(), 0);
  assert_int_equal(live_bytes(), 0);
}

/* Finalizable objects in a cycle are never finalized (collector/
 * finalizer.c rule 2, as in Go): each keeps the other's referent alive. */
typedef struct fnode {
  struct fnode *other;
  long id;
  long magic;
} fnode;
static const uint32_t fnode_offsets[] = {offsetof(fnode, other)};
static long fnode_fin[2];
static void fnode_finalize(void *obj) { fnode_fin[((fnode *)obj)->id]++; }
static tc_type fnode_type = {.name = "fnode",
                             .offsets = fnode_offsets,
                             .noffsets = 1,
                             .finalize = fnode_finalize};

static void test_reclaim_finalizable_cycle_is_never_finalized(void **state) {
  (void)state;
  fnode_fin[0] = fnode_fin[1] = 0;
  fnode *x = NULL, *y = NULL;
  {
    TC_LOCALS(x, y);
    x = tc_alloc(&fnode_type, sizeof(fnode));
    y = tc_alloc(&fnode_type, sizeof(fnode));
    assert_non_null(x);
    assert_non_null(y);
    x->id = 0;
    y->id = 1;
    TC_STORE(x, other, y);
    TC_STORE(y, other, x);
  }
  for (int i = 0; i < 3; i++)
    tc_gc();
  assert_int_equal(fnode_fin[0] + fnode_fin[1], 0);
  assert_true(tc_is_object(x));
  assert_true(tc_is_object(y));
  /* The embedder breaks the cycle (x and y are still allocated): then x
   * is finalized first, y in the next cycle. */
  tc_store((void **)&y->other, NULL);
  tc_gc();
  assert_int_equal(fnode_fin[1], 0);
  assert_int_equal(fnode_fin[0], 1);
  tc_gc();
  assert_int_equal(fnode_fin[1], 1);
}

/* Garbage is reclaimed by cycles the heap triggers itself. */
static void test_reclaim_by_heap_triggered_cycles(void **state) {
  (void)state;
  node *keep = NULL, *n = NULL;
  TC_LOCALS(keep, n);
  keep = new_node(7);
  tc_stats s0, s;
  tc_read_stats(&s0);
  const size_t total = (small_scale() ? 64u : 256u) << 20;
  uint64_t max_inuse = 0;
  for (size_t done = 0; done < total; done += 24) {
    n = new_node((long)done);
    TC_STORE(n, a, keep); /* garbage that points into live data */
    if ((done / 24) % 4096 == 0) {
      tc_read_stats(&s);
      if (s.heap_inuse > max_inuse)
        max_inuse = s.heap_inuse;
    }
  }
  tc_read_stats(&s);
  assert_int_equal(s.forced_cycles, s0.forced_cycles);
  assert_true(s.cycles - s0.cycles >= 10);
  /* the live heap is tiny: the 4 MiB minimum goal bounds the heap */
  assert_true(max_inuse <= ((uint64_t)12 << 20));
  assert_true(s.total_freed - s0.total_freed >= total - ((uint64_t)12 << 20));
  assert_int_equal(keep->value, 7);
}

/* tc_alloc_noscan memory is never scanned. */
static void test_reclaim_noscan_not_scanned(void **state) {
  (void)state;
  void **blob = NULL;
  counted *c = NULL;
  TC_LOCALS(blob, c);
  blob = tc_alloc_noscan(8 * sizeof(void *));
  assert_non_null(blob);
  assert_null(tc_object_type(blob));
  c = new_counted(3);
  for (int i = 0; i < 8; i++)
    blob[i] = c; /* looks like a reference, is data */
  void *addr = c;
  c = NULL;
  tc_gc();
  assert_int_equal(fin_count[3], 1);
  tc_gc();
  assert_false(tc_is_object(addr));
  assert_true(tc_is_object(blob));
  assert_ptr_equal(blob[7], addr); /* the data itself is untouched */

  /* a large noscan block behaves the same */
  blob = tc_alloc_noscan(64 * 1024);
  assert_non_null(blob);
  c = new_counted(4);
  blob[0] = c;
  blob[8191] = c;
  c = NULL;
  tc_gc();
  assert_int_equal(fin_count[4], 1);
  blob = NULL;
}

/* ------------------------------------------------------------------ */
/* Big structures on a small C stack                                   */

#define SMALL_STACK (256 * 1024)

typedef struct big_result {
  int init_rc;
  long count_before, count_after;
  long sum;
  uint64_t marked_kept;     /* heap_marked with the structure rooted */
  uint64_t expect_marked;
  uint64_t marked_dropped;  /* after dropping it */
  uint64_t live_dropped;
  uint64_t cycles;
} big_result;

typedef struct lnode {
  struct lnode *next;
  long value;
} lnode; /* 16 bytes: class 16 */
static const uint32_t lnode_offsets[] = {offsetof(lnode, next)};
static tc_type lnode_type = {
    .name = "lnode", .offsets = lnode_offsets, .noffsets = 1};

static long list_len;

static void *list_thread(void *arg) {
  big_result *r = arg;
  r->init_rc = tc_init(NULL);
  if (r->init_rc != TC_OK)
    return NULL;
  {
    lnode *head = NULL, *n = NULL;
    TC_LOCALS(head, n);
    for (long i = 0; i < list_len; i++) {
      n = tc_alloc(&lnode_type, sizeof(lnode));
      if (n == NULL)
        break;
      n->value = i;
      TC_STORE(n, next, head);
      head = n;
    }
    n = NULL;
    tc_gc();
    tc_stats s;
    tc_read_stats(&s);
    r->marked_kept = s.heap_marked;
    r->expect_marked = (uint64_t)list_len * tc_object_size(head);
    for (lnode *p = head; p; p = tc_load((void *const *)&p->next)) {
      r->count_before++;
      r->sum += p->value;
    }
    head = NULL;
    tc_gc();
    tc_read_stats(&s);
    r->marked_dropped = s.heap_marked;
    r->live_dropped = s.heap_live;
    r->cycles = s.cycles;
  }
  tc_shutdown();
  return NULL;
}

static void run_small_stack(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_t t;
  assert_int_equal(pthread_attr_init(&attr), 0);
  assert_int_equal(pthread_attr_setstacksize(&attr, SMALL_STACK), 0);
  assert_int_equal(pthread_create(&t, &attr, fn, arg), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  pthread_attr_destroy(&attr);
}

static void test_reclaim_long_list_small_stack(void **state) {
  (void)state;
  list_len = small_scale() ? 1000000 : 10000000;
  big_result r;
  memset(&r, 0, sizeof r);
  run_small_stack(list_thread, &r);
  assert_int_equal(r.init_rc, TC_OK);
  assert_int_equal(r.count_before, list_len);
  assert_int_equal(r.sum, list_len * (list_len - 1) / 2);
  assert_int_equal(r.marked_kept, r.expect_marked);
  assert_int_equal(r.expect_marked, (uint64_t)list_len * 16);
  assert_int_equal(r.marked_dropped, 0);
  assert_int_equal(r.live_dropped, 0);
  assert_true(r.cycles >= 3); /* heap-triggered cycles marked it too */
}

static long tree_depth;
static bool tree_right_leaning;

/* Builds a tree of depth tree_depth whose spine runs down the left (or
 * right) child; the other child of each spine node is a leaf. */
static void *tree_thread(void *arg) {
  big_result *r = arg;
  r->init_rc = tc_init(NULL);
  if (r->init_rc != TC_OK)
    return NULL;
  {
    node *root = NULL, *n = NULL, *leaf = NULL;
    TC_LOCALS(root, n, leaf);
    for (long i = 0; i < tree_depth; i++) {
      n = tc_alloc(&node_type, sizeof(node));
      leaf = tc_alloc(&node_type, sizeof(node));
      if (n == NULL || leaf == NULL)
        break;
      n->value = i;
      leaf->value = -1;
      if (tree_right_leaning) {
        TC_STORE(n, b, root);
        TC_STORE(n, a, leaf);
      } else {
        TC_STORE(n, a, root);
        TC_STORE(n, b, leaf);
      }
      root = n;
    }
    n = leaf = NULL;
    tc_gc();
    tc_stats s;
    tc_read_stats(&s);
    r->marked_kept = s.heap_marked;
    r->expect_marked = (uint64_t)tree_depth * 2 * tc_object_size(root);
    for (node *p = root; p;) {
      node *other = tree_right_leaning ? p->a : p->b;
      if (other && other->value == -1)
        r->count_before++;
      r->sum += p->value;
      p = tree_right_leaning ? p->b : p->a;
    }
    root = NULL;
    tc_gc();
    tc_read_stats(&s);
    r->marked_dropped = s.heap_marked;
    r->live_dropped = s.heap_live;
    r->cycles = s.cycles;
  }
  tc_shutdown();
  return NULL;
}

static void check_tree(bool right) {
  tree_depth = small_scale() ? 100000 : 1000000;
  tree_right_leaning = right;
  big_result r;
  memset(&r, 0, sizeof r);
  run_small_stack(tree_thread, &r);
  assert_int_equal(r.init_rc, TC_OK);
  assert_int_equal(r.count_before, tree_depth);
  assert_int_equal(r.sum, tree_depth * (tree_depth - 1) / 2);
  assert_int_equal(r.marked_kept, r.expect_marked);
  assert_int_equal(r.expect_marked, (uint64_t)tree_depth * 2 * 24);
  assert_int_equal(r.marked_dropped, 0);
  assert_int_equal(r.live_dropped, 0);
}

static void test_reclaim_deep_left_tree_small_stack(void **state) {
  (void)state;
  check_tree(false);
}

static void test_reclaim_deep_right_tree_small_stack(void **state) {
  (void)state;
  check_tree(true);
}

int main(void) {
  /* the assertions on pacing assume the default growth percent */
  unsetenv("TRICOLOR_GC");
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_reclaim_unreachable_objects),
      T(test_reclaim_self_cycle),
      T(test_reclaim_two_node_cycle),
      T(test_reclaim_long_ring),
      T(test_reclaim_finalizable_cycle_is_never_finalized),
      T(test_reclaim_by_heap_triggered_cycles),
      T(test_reclaim_noscan_not_scanned),
      /* these start the runtime on their own small-stack thread */
      cmocka_unit_test(test_reclaim_long_list_small_stack),
      cmocka_unit_test(test_reclaim_deep_left_tree_small_stack),
      cmocka_unit_test(test_reclaim_deep_right_tree_small_stack),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
