/*
 * test_api_misuse.c -- misuse of the public API is reported, not silently
 * absorbed (HACKING.md, "Checks"), and the runtime's lifecycle is repeatable.
 *
 * Death tests (tests/tc_test.h, tc_expect_death: a forked child must abort
 * with a "tricolor:" message containing the expected words):
 *   - tc_alloc / tc_alloc_noscan / tc_gc / TC_LOCALS from a thread that is
 *     not the mutator; tc_alloc before tc_init and after tc_shutdown;
 *   - a TC_LOCALS frame popped out of order (a longjmp skipped an inner
 *     scope, then the outer scope ends), the message naming both frames;
 *     a frame popped after the root stack was unwound past it; a bogus
 *     tc_roots_unwind mark;
 *   - allocation inside a trace callback, on the collecting thread and on
 *     a helper marking thread;
 *   - types with a misaligned offset, an offset outside the stride, an
 *     offset past 2 GiB (its end would wrap), offsets missing, offsets not
 *     ascending (tricolor.h requires it; the marker would skip a
 *     reference), a stride not a multiple of 8;
 *   - tc_handle_free twice, tc_handle_get of a freed handle, a handle made
 *     from an interior pointer; each handle call (new, get, set, free) on a
 *     handle kept past tc_shutdown (its block is freed by then);
 *   - the collector finding a reference that is not an object start in a
 *     local, a global root or a heap object (interior pointer), one just
 *     past the last object of a span, and one into freed pages;
 *   - tc_object_size / tc_object_type of a non-object.
 * Positive cases: tc_roots_unwind after a longjmp restores the root stack
 * (the skipped frames no longer keep anything alive), also when the stack
 * the abandoned frames occupied was reused before the unwind; 50 rounds of
 * tc_init / work / tc_shutdown leave no mappings, descriptors or memory
 * behind; tc_init twice is TC_EBUSY, a bad config TC_EINVAL; tc_strerror.
 * Messages are checked only where a debug level produces them (TC_DEBUG).
 */
#include "tc_test.h"

#include "heap/heap.h" /* white-box: span geometry for the tail pointer */

#include <pthread.h>
#include <tricolor.h>

typedef struct holder {
  void *ref;
  long value;
} holder;
static const uint32_t holder_offsets[] = {offsetof(holder, ref)};
static tc_type holder_type = {
    .name = "holder", .offsets = holder_offsets, .noffsets = 1};

/* ------------------------------------------------------------------ */
/* Wrong thread, wrong time                                            */

static void *thread_alloc(void *arg) {
  (void)arg;
  holder *h = tc_alloc(&holder_type, sizeof(holder));
  fprintf(stderr, "allocated %p\n", (void *)h);
  return NULL;
}
static void *thread_alloc_noscan(void *arg) {
  (void)arg;
  fprintf(stderr, "allocated %p\n", tc_alloc_noscan(16));
  return NULL;
}
static void *thread_gc(void *arg) {
  (void)arg;
  tc_gc();
  return NULL;
}
static void *thread_locals(void *arg) {
  (void)arg;
  void *x = NULL;
  TC_LOCALS(x);
  fprintf(stderr, "pushed a frame\n");
  return NULL;
}

static void run_in_thread(void *fn) {
  if (tc_init(NULL) != TC_OK)
    exit(3);
  /* warm the inline path: the type's fast_id is set, runs are filled */
  for (int i = 0; i < 10; i++)
    (void)tc_alloc(&holder_type, sizeof(holder));
  pthread_t t;
  pthread_create(&t, NULL, (void *(*)(void *))fn, NULL);
  pthread_join(t, NULL);
}

static void test_misuse_alloc_from_other_thread(void **state) {
  (void)state;
  tc_expect_death(run_in_thread, (void *)thread_alloc,
                  "tc_alloc called from a thread that is not a mutator");
  tc_expect_death(run_in_thread, (void *)thread_alloc_noscan,
                  "tc_alloc_noscan called from a thread that is not a mutator");
  tc_expect_death(run_in_thread, (void *)thread_gc,
                  "tc_gc called from a thread that is not a mutator");
  tc_expect_death(run_in_thread, (void *)thread_locals, "not a mutator");
}

static void alloc_before_init(void *arg) {
  (void)arg;
  fprintf(stderr, "allocated %p\n", tc_alloc(&holder_type, sizeof(holder)));
}
static void alloc_after_shutdown(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  (void)tc_alloc(&holder_type, sizeof(holder));
  tc_shutdown();
  fprintf(stderr, "allocated %p\n", tc_alloc(&holder_type, sizeof(holder)));
}
static void gc_before_init(void *arg) {
  (void)arg;
  tc_gc();
}

static void test_misuse_alloc_outside_runtime(void **state) {
  (void)state;
  tc_expect_death(alloc_before_init, NULL, "tc_alloc called before tc_init");
  tc_expect_death(alloc_after_shutdown, NULL, "tc_alloc called before tc_init");
  tc_expect_death(gc_before_init, NULL, "tc_gc called before tc_init");
}

/* ------------------------------------------------------------------ */
/* Root frames and longjmp                                             */

static jmp_buf jb;

/* Calls fn with a setjmp point in this frame; returns true if fn jumped
 * back.  (setjmp lives in its own function: GCC 12 -Wextra reports
 * tc_roots_save's inline local as "might be clobbered" when both share a
 * function.) */
static bool __attribute__((noinline)) call_catching(void (*fn)(int), int arg) {
  if (setjmp(jb) == 0) {
    fn(arg);
    return false;
  }
  return true;
}

static void __attribute__((noinline)) inner_jumps(int arg) {
  (void)arg;
  void *inner_local = NULL;
  TC_LOCALS(inner_local);
  inner_local = tc_alloc(&holder_type, sizeof(holder));
  longjmp(jb, 1); /* skips inner_local's frame pop */
}

static void pop_out_of_order(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  {
    void *outer_local = NULL;
    TC_LOCALS(outer_local);
    if (!call_catching(inner_jumps, 0))
      exit(7);
    /* the scope ends: outer_local's frame is popped, but the inner one is
     * still on top */
  }
  fprintf(stderr, "scope ended without a report\n");
}

static void test_misuse_frame_popped_out_of_order(void **state) {
  (void)state;
  tc_expect_death(pop_out_of_order, NULL, "popped out of order");
  /* the message names both frames */
  tc_expect_death(pop_out_of_order, NULL, "TC_LOCALS(outer_local)");
  tc_expect_death(pop_out_of_order, NULL, "the top frame is TC_LOCALS(inner_local)");
}

static void pop_after_unwind_past(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  tc_roots_mark empty = tc_roots_save();
  {
    void *x = NULL;
    TC_LOCALS(x);
    tc_roots_unwind(empty); /* unwinds past x's live frame */
  }
  fprintf(stderr, "scope ended without a report\n");
}

static void unwind_bogus_mark(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  static int not_a_frame;
  void *x = NULL;
  TC_LOCALS(x);
  tc_roots_unwind(&not_a_frame);
  fprintf(stderr, "unwound to a bogus mark\n");
}

static void test_misuse_unwind_errors(void **state) {
  (void)state;
  tc_expect_death(pop_after_unwind_past, NULL, "root stack is empty");
  tc_expect_death(unwind_bogus_mark, NULL, "is not on the root stack");
}

/* Positive: tc_roots_unwind after a longjmp. */
typedef struct counted {
  long id;
} counted;
static long fin_ids[8];
static void counted_finalize(void *obj) { fin_ids[((counted *)obj)->id]++; }
static tc_type counted_type = {.name = "counted",
                               .finalize = counted_finalize};

/* Registers a counted object at each of three nested frames, then
 * longjmps back over all of them. */
static void __attribute__((noinline)) jump_frame(int depth);
static void __attribute__((noinline)) jump_next(int depth) {
  if (depth <= 3)
    jump_frame(depth);
  else
    longjmp(jb, 1);
}
static void __attribute__((noinline)) jump_frame(int depth) {
  counted *c = NULL;
  TC_LOCALS(c);
  c = tc_alloc(&counted_type, sizeof(counted));
  c->id = depth;
  jump_next(depth + 1);
}

static void test_misuse_roots_unwind_after_longjmp(void **state) {
  (void)state;
  memset(fin_ids, 0, sizeof fin_ids);
  assert_int_equal(tc_init(NULL), TC_OK);
  tc_roots_mark base = tc_roots_save();
  {
    counted *keep = NULL;
    counted *k = NULL;
    TC_LOCALS(k);
    k = tc_alloc(&counted_type, sizeof(counted));
    k->id = 0;
    keep = k;
    tc_roots_mark mark = tc_roots_save();
    assert_ptr_not_equal(mark, base);
    /* jump_frame pushes frames 1..3 and jumps back over them */
    assert_true(call_catching(jump_frame, 1));
    assert_ptr_not_equal(tc_roots_save(), mark); /* stale frames on top */
    tc_roots_unwind(mark);
    assert_ptr_equal(tc_roots_save(), mark);
    tc_gc();
    /* the skipped frames no longer root their objects; k still does */
    assert_int_equal(fin_ids[1] + fin_ids[2] + fin_ids[3], 3);
    assert_int_equal(fin_ids[0], 0);
    assert_ptr_equal(k, keep);
    /* a new frame pushes and pops normally after the unwind */
    {
      void *y = NULL;
      TC_LOCALS(y);
      y = tc_alloc_noscan(8);
      tc_gc();
      assert_true(tc_is_object(y));
    }
    assert_ptr_equal(tc_roots_save(), mark);
  } /* k's frame pops in order: no abort */
  assert_ptr_equal(tc_roots_save(), base);
  tc_gc();
  assert_int_equal(fin_ids[0], 1);
  tc_gc();
  tc_stats s;
  tc_read_stats(&s);
  assert_int_equal(s.heap_live, 0);
  tc_shutdown();
}

/* Runs fn(arg) in a forked child and asserts that it exits with status 0
 * (a crash or a tricolor abort fails the test with the child's fate). */
static void expect_child_ok(void (*fn)(void *), void *arg) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* cmocka's handlers would longjmp into its runner in the child */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      signal(sigs[i], SIG_DFL);
    alarm(tc_test_under_valgrind() ? 300 : 60);
    fn(arg);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFSIGNALED(status))
    fail_msg("the child was killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("the child exited with status %d", WEXITSTATUS(status));
}

/* Uses 16 KiB of stack, as an error handler that formats a message does:
 * it overwrites the frames a longjmp abandoned. */
static void __attribute__((noinline)) scribble_stack(void) {
  volatile unsigned char buf[16384];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = 0xa5;
}

/* The longjmp-based error handling tricolor.h describes: save a mark,
 * longjmp back from deep frames, do some work (here: use the stack), then
 * tc_roots_unwind(mark).  The abandoned frames are dead stack memory by
 * then, so unwinding must not read them. */
static void unwind_after_stack_reuse(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    _exit(3);
  memset(fin_ids, 0, sizeof fin_ids);
  {
    counted *k = NULL;
    TC_LOCALS(k);
    k = tc_alloc(&counted_type, sizeof(counted));
    tc_roots_mark mark = tc_roots_save();
    if (!call_catching(jump_frame, 1))
      _exit(4);
    scribble_stack();
    tc_roots_unwind(mark);
    if (tc_roots_save() != mark)
      _exit(5);
    tc_gc();
    if (fin_ids[1] + fin_ids[2] + fin_ids[3] != 3 || fin_ids[0] != 0)
      _exit(6);
  }
  tc_shutdown();
}

static void test_misuse_roots_unwind_after_stack_reuse(void **state) {
  (void)state;
  expect_child_ok(unwind_after_stack_reuse, NULL);
}

/* ------------------------------------------------------------------ */
/* Trace callbacks and type descriptors                                */

static void allocating_trace(void *obj, tc_visitor *v) {
  (void)obj;
  (void)v;
  (void)tc_alloc_noscan(16);
}
static tc_type allocating_type = {.name = "allocating",
                                  .trace = allocating_trace};

static void alloc_in_trace(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  void *x = NULL;
  TC_LOCALS(x);
  x = tc_alloc(&allocating_type, 32);
  tc_gc();
  fprintf(stderr, "cycle finished\n");
}

/* The same misuse when the callback runs on a helper marking thread
 * (collector/workers.c): the report must still name the trace callback,
 * not blame a "thread that is not a mutator" the embedder never made. */
static pthread_t child_main_thread;
static void helper_allocating_trace(void *obj, tc_visitor *v) {
  (void)obj;
  (void)v;
  if (!pthread_equal(pthread_self(), child_main_thread))
    (void)tc_alloc_noscan(16);
}
static tc_type helper_allocating_type = {.name = "helper-allocating",
                                         .trace = helper_allocating_trace};
static const uint32_t array_offsets[] = {0};
static tc_type ref_array_type = {.name = "ref[]",
                                 .offsets = array_offsets,
                                 .noffsets = 1,
                                 .stride = sizeof(void *)};

static void alloc_in_trace_on_helper(void *arg) {
  (void)arg;
  child_main_thread = pthread_self();
  unsetenv("TRICOLOR_PROCS");
  tc_config cfg = {.procs = 2};
  if (tc_init(&cfg) != TC_OK)
    exit(3);
  void **a = NULL;
  TC_LOCALS(a);
  const size_t n = 200000; /* far more than marker 0 scans alone */
  a = tc_alloc(&ref_array_type, n * sizeof(void *));
  for (size_t i = 0; i < n; i++)
    tc_store(&a[i], tc_alloc(&helper_allocating_type, 16));
  /* Whether a helper gets work in a given cycle depends on when the OS
   * runs it; over many cycles one does. */
  for (int cycle = 0; cycle < 200; cycle++)
    tc_gc();
  fprintf(stderr, "200 cycles finished: no helper thread ran a trace "
                  "callback\n");
}

static void test_misuse_alloc_inside_trace_callback(void **state) {
  (void)state;
  tc_expect_death(alloc_in_trace, NULL, "trace callback");
}

static void test_misuse_alloc_inside_trace_callback_on_helper(void **state) {
  (void)state;
  tc_expect_death(alloc_in_trace_on_helper, NULL, "trace callback");
}

static const uint32_t misaligned_offsets[] = {0, 12};
static tc_type misaligned_type = {
    .name = "misaligned", .offsets = misaligned_offsets, .noffsets = 2};
static const uint32_t outside_offsets[] = {16};
static tc_type outside_stride_type = {.name = "outside",
                                      .offsets = outside_offsets,
                                      .noffsets = 1,
                                      .stride = 16};
static tc_type missing_offsets_type = {.name = "missing", .noffsets = 3};
/* "pointer-field offsets, ascending" (tricolor.h): the marker stops at the
 * first offset past the object's end, so with {16, 0} a 16-byte object's
 * reference at offset 0 is never scanned and its target is freed while
 * reachable. */
static const uint32_t descending_offsets[] = {16, 0};
static tc_type descending_type = {
    .name = "descending", .offsets = descending_offsets, .noffsets = 2};
/* A stride that is not a multiple of 8 repeats an aligned offset at
 * misaligned places: offset 0 with stride 12 puts a "pointer" at 12. */
static const uint32_t zero_offset[] = {0};
static tc_type stride12_type = {
    .name = "stride12", .offsets = zero_offset, .noffsets = 1, .stride = 12};

static const uint32_t huge_offset[] = {0xfffffff8u}; /* extent would wrap */
static tc_type huge_offset_type = {
    .name = "huge", .offsets = huge_offset, .noffsets = 1};

static void alloc_type(void *arg) {
  if (tc_init(NULL) != TC_OK)
    exit(3);
  (void)tc_alloc((tc_type *)arg, 64);
  fprintf(stderr, "allocated\n");
}

/* Allocates a 16-byte object of the descending type whose offset-0 field
 * is its only reference to a finalizable object, and collects. */
static long desc_child_finalized;
static void desc_child_finalize(void *obj) {
  (void)obj;
  desc_child_finalized++;
}
static tc_type desc_child_type = {.name = "child",
                                  .finalize = desc_child_finalize};
static void descending_loses_reference(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  void **r = NULL;
  TC_LOCALS(r);
  r = tc_alloc(&descending_type, 16);
  tc_store(&r[0], tc_alloc(&desc_child_type, 8));
  tc_gc();
  fprintf(stderr, "allocated; the child reachable from offset 0 was %s\n",
          desc_child_finalized ? "finalized (lost)" : "kept");
}

static void test_misuse_bad_type_descriptors(void **state) {
  (void)state;
  tc_expect_death(alloc_type, &misaligned_type,
                  "type 'misaligned': pointer offset 12 is not 8-byte aligned");
  tc_expect_death(alloc_type, &outside_stride_type,
                  "type 'outside': offset 16 lies outside stride 16");
  tc_expect_death(alloc_type, &missing_offsets_type,
                  "type 'missing': noffsets is 3 but offsets is NULL");
  tc_expect_death(alloc_type, &huge_offset_type,
                  "type 'huge': pointer offset 4294967288 is past 2 GiB");
}

/* Descriptors the registry accepts but the marker cannot honour. */
static void test_misuse_type_offsets_not_ascending(void **state) {
  (void)state;
  tc_expect_death(descending_loses_reference, NULL, "type 'descending'");
}

static void test_misuse_type_stride_not_multiple_of_8(void **state) {
  (void)state;
  tc_expect_death(alloc_type, &stride12_type, "type 'stride12'");
}

/* ------------------------------------------------------------------ */
/* Handles                                                             */

static void handle_free_twice(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  tc_handle *h = tc_handle_new(tc_alloc_noscan(8));
  tc_handle_free(h);
  tc_handle_free(h);
  fprintf(stderr, "freed twice without a report\n");
}

static void handle_get_freed(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  tc_handle *h = tc_handle_new(tc_alloc_noscan(8));
  tc_handle_free(h);
  fprintf(stderr, "got %p\n", tc_handle_get(h));
}

static void handle_interior(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  char *p = tc_alloc_noscan(64);
  tc_handle *h = tc_handle_new(p + 8);
  fprintf(stderr, "made %p\n", (void *)h);
}

/* Makes a handle, shuts down, then calls the handle function named by
 * arg on it: the block holding the handle was freed by tc_shutdown. */
static void handle_after_shutdown(void *arg) {
  const char *call = arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  tc_handle *h = tc_handle_new(tc_alloc_noscan(8));
  tc_shutdown();
  if (!strcmp(call, "tc_handle_new"))
    fprintf(stderr, "made %p\n", (void *)tc_handle_new(NULL));
  else if (!strcmp(call, "tc_handle_get"))
    fprintf(stderr, "got %p\n", tc_handle_get(h));
  else if (!strcmp(call, "tc_handle_set"))
    tc_handle_set(h, NULL);
  else
    tc_handle_free(h);
  fprintf(stderr, "%s after tc_shutdown returned\n", call);
}

static void test_misuse_handles_after_shutdown(void **state) {
  (void)state;
  tc_expect_death(handle_after_shutdown, "tc_handle_new",
                  "tc_handle_new called before tc_init (or after tc_shutdown)");
  tc_expect_death(handle_after_shutdown, "tc_handle_get",
                  "tc_handle_get called before tc_init (or after tc_shutdown)");
  tc_expect_death(handle_after_shutdown, "tc_handle_set",
                  "tc_handle_set called before tc_init (or after tc_shutdown)");
  tc_expect_death(handle_after_shutdown, "tc_handle_free",
                  "tc_handle_free called before tc_init (or after tc_shutdown)");
}

static void test_misuse_handles(void **state) {
  (void)state;
  tc_expect_death(handle_free_twice, NULL, "handle freed twice");
#if TC_DEBUG >= 1
  tc_expect_death(handle_get_freed, NULL, "handle was freed");
  tc_expect_death(handle_interior, NULL, "not the start of a tricolor object");
#else
  (void)handle_get_freed;
  (void)handle_interior;
  skip();
#endif
}

/* ------------------------------------------------------------------ */
/* Bad references found by the collector                               */

static void interior_in_local(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  char *p = NULL;
  TC_LOCALS(p);
  p = tc_alloc(&holder_type, sizeof(holder));
  p += 8; /* a local may hold anything: no barrier checks it */
  tc_gc();
  fprintf(stderr, "cycle finished\n");
}

static void *global_slot;
static void interior_in_global(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  if (tc_root_add(&global_slot, 1) != TC_OK)
    exit(4);
  char *p = tc_alloc_noscan(100);
  /* a store that bypasses tc_store (which would check it first) */
  __atomic_store_n(&global_slot, (void *)(p + 16), __ATOMIC_RELAXED);
  tc_gc();
  fprintf(stderr, "cycle finished\n");
}

static void interior_in_object(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  holder *h = NULL;
  TC_LOCALS(h);
  h = tc_alloc(&holder_type, sizeof(holder));
  char *big = tc_alloc_noscan(50000);
  __atomic_store_n(&h->ref, (void *)(big + 8192), __ATOMIC_RELAXED);
  tc_gc();
  fprintf(stderr, "cycle finished\n");
}

static void freed_pages_in_local(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  void *p = NULL;
  TC_LOCALS(p);
  void *big = tc_alloc_noscan(1 << 20);
  tc_gc(); /* big is garbage: its pages go back to the page heap */
  p = big;
  tc_gc();
  fprintf(stderr, "cycle finished\n");
}

static void test_misuse_bad_reference_found_by_collector(void **state) {
  (void)state;
#if TC_DEBUG >= 1
  tc_expect_death(interior_in_local, NULL,
                  "is not the start of an object (interior pointer)");
  tc_expect_death(interior_in_local, NULL, "a root slot");
  tc_expect_death(interior_in_global, NULL, "interior pointer");
  tc_expect_death(interior_in_object, NULL, "interior pointer");
  tc_expect_death(interior_in_object, NULL, "an object of type holder");
  tc_expect_death(freed_pages_in_local, NULL, "points into free heap pages");
#else
  (void)interior_in_local;
  (void)interior_in_global;
  (void)interior_in_object;
  (void)freed_pages_in_local;
  skip();
#endif
}

/* A pointer to the slot index one past the last object of a small span:
 * it lies inside the span's pages (in the tail no object fits in) and is
 * a multiple of the object size from the span base, so it looks like an
 * object start.  It is not one, and must be reported like any other
 * non-object reference. */
static void tail_pointer_in_local(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  char *p = NULL;
  TC_LOCALS(p);
  p = tc_alloc(&holder_type, 24); /* class 24: 341 objects, 8-byte tail */
  tc__span *s = tc__span_of(p);
  char *tail = s->base + (size_t)s->nelems * s->elem_size;
  if (tail + s->elem_size <= s->base + s->npages * TC__PAGE_SIZE ||
      tail >= s->base + s->npages * TC__PAGE_SIZE) {
    fprintf(stderr, "span geometry changed: no tail slot to test\n");
    exit(5);
  }
  if (tc_is_object(tail)) {
    fprintf(stderr, "tc_is_object(tail) is true\n");
    exit(6);
  }
  p = tail;
  tc_gc();
  fprintf(stderr, "cycle finished: the tail pointer %p (slot %u of a span "
          "of %u objects) was accepted\n", (void *)tail, s->nelems, s->nelems);
}

static void test_misuse_span_tail_pointer(void **state) {
  (void)state;
#if TC_DEBUG >= 1
  tc_expect_death(tail_pointer_in_local, NULL, "tricolor: reference");
#else
  (void)tail_pointer_in_local;
  skip();
#endif
}

static void size_of_non_object(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  int local;
  fprintf(stderr, "size %zu\n", tc_object_size(&local));
}
static void type_of_interior(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    exit(3);
  char *p = tc_alloc(&holder_type, 64);
  fprintf(stderr, "type %p\n", (void *)tc_object_type(p + 8));
}

static void test_misuse_object_queries(void **state) {
  (void)state;
  tc_expect_death(size_of_non_object, NULL, "not a tricolor object");
  tc_expect_death(type_of_interior, NULL, "tc_object_type");
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

static void *life_roots[4];

static void one_life(int round) {
  assert_int_equal(tc_init(NULL), TC_OK);
  assert_int_equal(tc_root_add(life_roots, 4), TC_OK);
  holder *h = NULL;
  TC_LOCALS(h);
  h = tc_alloc(&holder_type, sizeof(holder));
  h->value = round;
  tc_store(&life_roots[0], h);
  tc_handle *hd = tc_handle_new(tc_alloc_noscan(200000)); /* large */
  for (int i = 0; i < 20000; i++) {
    holder *g = tc_alloc(&holder_type, 16 + (size_t)(i % 50) * 8);
    TC_STORE(g, ref, h);
  }
  counted *c = tc_alloc(&counted_type, sizeof(counted));
  c->id = 7;
  tc_gc();
  assert_ptr_equal(tc_object_type(h), &holder_type);
  assert_int_equal(((holder *)life_roots[0])->value, round);
  assert_true(tc_is_object(tc_handle_get(hd)));
  /* leave a handle, a root and a local live at shutdown: dropped */
  tc_shutdown();
  h = NULL;
  memset(life_roots, 0, sizeof life_roots);
}

static void test_lifecycle_init_shutdown_50_times(void **state) {
  (void)state;
  memset(fin_ids, 0, sizeof fin_ids);
  one_life(-1); /* warm up: stdio buffers, thread-locals */
  int maps0 = tc_test_count_lines("/proc/self/maps");
  int fds0 = tc_test_count_entries("/proc/self/fd");
  long rss0 = tc_test_rss_kib();
  for (int round = 0; round < 50; round++)
    one_life(round);
  /* the sanitizer's and valgrind's own allocators map memory as they go;
   * there, leaks are theirs to report (mappings excepted) */
  if (!tc_test_under_sanitizer() && !tc_test_under_valgrind())
    assert_int_equal(tc_test_count_lines("/proc/self/maps"), maps0);
  assert_int_equal(tc_test_count_entries("/proc/self/fd"), fds0);
  assert_int_equal(fin_ids[7], 51); /* one finalizer per life */
  long rss1 = tc_test_rss_kib();
  if (!tc_test_under_valgrind() && rss0 > 0 && rss1 > 0)
    assert_true(rss1 < rss0 + 8 * 1024); /* no per-life growth */
  /* and a runtime still works after all that */
  assert_int_equal(tc_init(NULL), TC_OK);
  assert_non_null(tc_alloc(&holder_type, sizeof(holder)));
  tc_shutdown();
}

static void test_lifecycle_init_codes(void **state) {
  (void)state;
  tc_shutdown(); /* not initialised: a no-op */
  tc_config bad = {.gc_percent = -2};
  assert_int_equal(tc_init(&bad), TC_EINVAL);
  assert_int_equal(tc_init(NULL), TC_OK);
  assert_int_equal(tc_init(NULL), TC_EBUSY);
  tc_config cfg = {.gc_percent = 50};
  assert_int_equal(tc_init(&cfg), TC_EBUSY);
  assert_non_null(tc_alloc_noscan(10)); /* the first runtime still works */
  tc_shutdown();
  tc_shutdown(); /* twice: a no-op */
  assert_int_equal(tc_init(&cfg), TC_OK);
  tc_shutdown();
}

static void test_lifecycle_strerror(void **state) {
  (void)state;
  const int codes[] = {TC_OK,     TC_EINVAL, TC_ENOMEM, TC_EBUSY,
                       TC_ENOENT, TC_EEXIST, TC_ESTATE};
  const char *s[7];
  for (int i = 0; i < 7; i++) {
    s[i] = tc_strerror(codes[i]);
    assert_non_null(s[i]);
    assert_true(strlen(s[i]) > 3);
    for (int k = 0; k < i; k++)
      assert_string_not_equal(s[i], s[k]);
  }
  assert_non_null(strstr(tc_strerror(TC_EINVAL), "invalid"));
  assert_non_null(strstr(tc_strerror(TC_ENOMEM), "memory"));
  assert_non_null(strstr(tc_strerror(TC_ENOENT), "root"));
  assert_non_null(strstr(tc_strerror(TC_EEXIST), "registered"));
  assert_non_null(strstr(tc_strerror(TC_ESTATE), "not"));
  const char *unknown = tc_strerror(-12345);
  assert_non_null(unknown);
  for (int i = 0; i < 7; i++)
    assert_string_not_equal(unknown, s[i]);
  assert_string_equal(tc_strerror(12345), unknown);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_misuse_alloc_from_other_thread),
      cmocka_unit_test(test_misuse_alloc_outside_runtime),
      cmocka_unit_test(test_misuse_frame_popped_out_of_order),
      cmocka_unit_test(test_misuse_unwind_errors),
      cmocka_unit_test(test_misuse_roots_unwind_after_longjmp),
      cmocka_unit_test(test_misuse_roots_unwind_after_stack_reuse),
      cmocka_unit_test(test_misuse_alloc_inside_trace_callback),
      cmocka_unit_test(test_misuse_alloc_inside_trace_callback_on_helper),
      cmocka_unit_test(test_misuse_bad_type_descriptors),
      cmocka_unit_test(test_misuse_type_offsets_not_ascending),
      cmocka_unit_test(test_misuse_type_stride_not_multiple_of_8),
      cmocka_unit_test(test_misuse_handles),
      cmocka_unit_test(test_misuse_handles_after_shutdown),
      cmocka_unit_test(test_misuse_bad_reference_found_by_collector),
      cmocka_unit_test(test_misuse_span_tail_pointer),
      cmocka_unit_test(test_misuse_object_queries),
      cmocka_unit_test(test_lifecycle_init_shutdown_50_times),
      cmocka_unit_test(test_lifecycle_init_codes),
      cmocka_unit_test(test_lifecycle_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
