/*
 * test_collector_verify.c -- the mark verifier (collector/verify.c,
 * TRICOLOR_DEBUG=gccheckmark=1) as a negative control: a reference to
 * memory that holds no object must be reported, and a correct program
 * must pass.
 *
 * What is tested (hybrid mode, 1 P, each death case in a forked child):
 *   - a holder object refers (at offset 8) to a free slot of a live span:
 *     the object there was freed by an earlier cycle;
 *   - the same reference held in a root slot (a TC_LOCALS local);
 *   - a holder refers into a free span: a large object freed whole;
 *   - a holder refers past the last object of a live span (its tail);
 *   - the same program storing a reference to a live object instead:
 *     the cycle completes and was verified (stats.float_cycles);
 *   - with the heap profile sampling every object (memprofilerate=1), the
 *     report also says where the holder was allocated.
 * Each death case requires the verifier's own message, naming what the
 * reference points to and who holds it; an abort with another message
 * (the marker's checks, a sweep check) fails the test.
 *
 * How the marker is kept from seeing the reference (it checks free spans
 * and span tails itself, in every checked build, and aborts first): the
 * holder is allocated while the cycle marks concurrently, so it is black
 * at birth and never scanned by that mark, and the dangling reference is
 * written into it afterwards with a plain relaxed store (no barrier).
 * The verifier's traversal reaches the holder from main's root stack and
 * reads it.  The window: a helper coroutine calls tc_gc(), main polls
 * tc__phase (white-box) with tc_sleep until it is MARK, then allocates
 * the holder and stores without a safepoint in between; it checks after
 * the store that the same cycle still marks and that the holder's mark
 * bit is set, and retries with the next cycle if not (the mark delay,
 * TRICOLOR_DEBUG=gcmarkdelay, makes the first attempt succeed in
 * practice; nothing depends on how long anything takes).
 * The root case needs no window: main's stack is scanned while the phase
 * is MARK, where the marker does not check alloc bits, so the marker
 * marks the free slot and only an alloc-bit check can see it.
 *
 * Targets.  The victims have a size class of their own (3328 B, class 52:
 * 9 objects in 4 pages, a 2816-byte tail) that nothing else here
 * allocates, so a freed slot is not reissued; a second object keeps the
 * victim's span in use.  The free span is a 40 KiB object; the holder
 * class is allocated before it is freed, so no span taken while marking
 * splits its pages.  Each target is checked (white-box) just before the
 * store: a free slot is not an object, a free span is FREE.
 */
#include "tc_test.h"

#include "collector/collector.h" /* white-box: phase, cycles, spans, bits */

#include <stdatomic.h>

#define VICTIM_SIZE 3328           /* class 52: 9 objects, 2816-byte tail */
#define LARGE_SIZE (40 * 1024)     /* a large object: a span of its own */
#define ATTEMPTS 20                /* cycles main may miss the window in */

typedef struct holder {
  uint64_t magic;
  void *ref; /* offset 8: the report names it */
} holder;
static const uint32_t holder_offsets[] = {offsetof(holder, ref)};
static tc_type holder_type = {
    .name = "verify_holder", .offsets = holder_offsets, .noffsets = 1};

typedef enum target_kind {
  FREE_SLOT,  /* a slot of a live span whose object an earlier cycle freed */
  FREE_SPAN,  /* a span whose only object an earlier cycle freed */
  PAST_LAST,  /* the tail of a live span, past its last object */
  LIVE,       /* a live object (the positive control) */
} target_kind;

typedef struct scenario {
  target_kind kind;
  bool in_root;       /* held in a local instead of a black holder */
  const char *env;    /* more TRICOLOR_DEBUG settings, or NULL */
  uint64_t verified;  /* out (LIVE): cycles the verifier ran, first to last */
  bool stored;        /* out (LIVE): the reference was stored in a window */
} scenario;

static int phase(void) { return tc__load_acquire(&tc__phase); }
static uint64_t cycles_done(void) {
  return tc__load_acquire(&tc__gc.cycles_done);
}

/* Sets TRICOLOR_DEBUG for the next tc_run: the verifier, and a mark delay
 * that holds the window open (longer where the mutator is slower). */
static void verify_env(const char *extra) {
  long us = tc_test_under_valgrind()    ? 2000000
            : tc_test_under_sanitizer() ? 500000
                                        : 100000;
  char buf[160];
  snprintf(buf, sizeof buf, "gccheckmark=1,gcmarkdelay=%ld%s%s", us,
           extra ? "," : "", extra ? extra : "");
  setenv("TRICOLOR_DEBUG", buf, 1);
  unsetenv("TRICOLOR_GC");
  unsetenv("TRICOLOR_PROCS");
}

/* Prints why the child returned instead of dying (the test then fails). */
static void say(const char *what, const void *p) {
  fprintf(stderr, "test_collector_verify: %s (%p)\n", what, p);
}

/* Makes the target of kind k and returns its address; *keep holds what
 * keeps its span in use (a root of the caller). */
static void *make_target(target_kind k, void **keep) {
  void *victim = NULL;
  TC_LOCALS(victim);
  switch (k) {
  case FREE_SLOT: {
    victim = tc_alloc_noscan(VICTIM_SIZE);
    *keep = tc_alloc_noscan(VICTIM_SIZE); /* same run, same span */
    uintptr_t v = (uintptr_t)victim;
    victim = NULL;
    tc_gc(); /* frees the victim and sweeps its span */
    if (tc__span_of((void *)v) != tc__span_of(*keep)) {
      say("victim and keeper in different spans", (void *)v);
      return NULL;
    }
    return (void *)v;
  }
  case FREE_SPAN: {
    victim = tc_alloc_noscan(LARGE_SIZE);
    uintptr_t v = (uintptr_t)victim;
    victim = NULL;
    tc_gc(); /* frees the span */
    return (void *)v;
  }
  case PAST_LAST: {
    *keep = tc_alloc_noscan(VICTIM_SIZE);
    tc__span *s = tc__span_of(*keep);
    return s->base + (size_t)s->nelems * s->elem_size; /* inside the span */
  }
  case LIVE:
    *keep = tc_alloc_noscan(VICTIM_SIZE);
    return *keep;
  }
  return NULL;
}

/* Returns false (after saying why) unless p is still the kind of target
 * the scenario wants; world running, no cycle touches it meanwhile. */
static bool target_holds(target_kind k, void *p) {
  tc__span *s = tc__span_of(p);
  switch (k) {
  case FREE_SLOT:
    if (s == NULL || s->state != TC__SPAN_SMALL || tc_is_object(p)) {
      say("the freed slot was reissued or its span freed", p);
      return false;
    }
    return true;
  case FREE_SPAN:
    if (s == NULL || s->state != TC__SPAN_FREE) {
      say("the freed span's pages were reused", p);
      return false;
    }
    return true;
  case PAST_LAST:
    if (s == NULL || s->state != TC__SPAN_SMALL ||
        tc__span_index(s, p) < s->nelems) {
      say("not past the last object of a live span", p);
      return false;
    }
    return true;
  case LIVE:
    return tc_is_object(p);
  }
  return false;
}

/* A cycle asked for by a helper coroutine; `done` once tc_gc returned. */
typedef struct bg_cycle {
  atomic_bool done;
} bg_cycle;

static void bg_gc(void *arg) {
  bg_cycle *b = arg;
  tc_gc();
  atomic_store(&b->done, true);
}

/* Waits (parking) until the helper's cycle is over. */
static void bg_wait(bg_cycle *b) {
  while (!atomic_load(&b->done))
    tc_sleep(1000000);
}

/* Stores the target into a holder allocated black while the cycle marks;
 * retries with the next cycle if main missed the window.  Returns after
 * the cycle of the store ended (the verifier ran in it), or false. */
static bool store_in_black_holder(void *target, holder **slot) {
  for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
    bg_cycle b = {false};
    if (tc_go(bg_gc, &b) != TC_OK)
      return false;
    while (phase() != TC__PHASE_MARK && !atomic_load(&b.done))
      tc_sleep(20000);
    uint64_t cycle = cycles_done();
    if (phase() == TC__PHASE_MARK) {
      /* no safepoint from here to the store but the allocation's own */
      holder *a = tc_alloc(&holder_type, sizeof(holder));
      *slot = a;
      a->magic = 0x6ccec4ull;
      tc__store_relaxed(&a->ref, target); /* plain: no barrier */
      tc__span *s = tc__span_of(a);
      uint32_t i = tc__span_index(s, a);
      bool black = (tc__load_relaxed(&s->mark_bits[i >> 6]) >> (i & 63)) & 1;
      if (phase() == TC__PHASE_MARK && cycles_done() == cycle && black) {
        bg_wait(&b); /* the verifier reads *slot in this cycle */
        return true;
      }
      tc__store_relaxed(&a->ref, (void *)NULL);
    }
    bg_wait(&b);
  }
  say("never stored while a cycle marked", NULL);
  return false;
}

static void verify_main(void *arg) {
  scenario *sc = arg;
  holder *a = NULL, *warm = NULL;
  void *keep = NULL, *dangling = NULL;
  TC_LOCALS(a, warm, keep, dangling);
  /* the holder class gets a span with free slots before anything is
   * freed: the black holder comes from it, not from freed pages */
  warm = tc_alloc(&holder_type, sizeof(holder));
  void *target = make_target(sc->kind, &keep);
  if (!target_holds(sc->kind, target))
    return;
  tc_stats s0, s1;
  tc_read_stats(&s0);
  if (sc->in_root) {
    dangling = target; /* a local: no barrier by design */
    tc_gc();           /* the verifier reads the local in this cycle */
    sc->stored = true;
  } else {
    sc->stored = store_in_black_holder(target, &a);
  }
  tc_read_stats(&s1);
  sc->verified = s1.float_cycles - s0.float_cycles;
  if (sc->kind != LIVE)
    say("the verifier let the reference pass", target);
  dangling = NULL;
}

/* Runs verify_main under tc_run (in a death test's child, or in-process
 * for the positive control). */
static void run_scenario(void *arg) {
  verify_env(((scenario *)arg)->env);
  tc_config cfg = {.procs = 1, .barrier = TC_BARRIER_HYBRID};
  if (tc_run(&cfg, verify_main, arg) != TC_OK)
    say("tc_run failed", NULL);
}

static void test_verify_free_slot_in_object(void **state) {
  (void)state;
  scenario sc = {.kind = FREE_SLOT};
  tc_expect_death(run_scenario, &sc,
                  "is a free slot (freed object?) at the end of the hybrid "
                  "mark; referenced from object ");
}

/* The profile knows where the holder was allocated: the report says. */
static void test_verify_names_the_referrer_site(void **state) {
  (void)state;
  scenario sc = {.kind = FREE_SLOT, .env = "memprofilerate=1"};
  tc_expect_death(run_scenario, &sc, "; the referrer at ");
  tc_expect_death(run_scenario, &sc, "verify_main+0x");
}

static void test_verify_free_slot_in_root(void **state) {
  (void)state;
  scenario sc = {.kind = FREE_SLOT, .in_root = true};
  tc_expect_death(run_scenario, &sc,
                  "is a free slot (freed object?) at the end of the hybrid "
                  "mark; referenced from root slot ");
}

static void test_verify_free_span(void **state) {
  (void)state;
  scenario sc = {.kind = FREE_SPAN};
  tc_expect_death(run_scenario, &sc,
                  "points into a free span (freed object?) at the end of the "
                  "hybrid mark; referenced from object ");
}

static void test_verify_past_last_object(void **state) {
  (void)state;
  scenario sc = {.kind = PAST_LAST};
  tc_expect_death(run_scenario, &sc,
                  "points past the last object of its span at the end of the "
                  "hybrid mark; referenced from object ");
}

/* The positive control, in this process, after the death tests. */
static void test_verify_live_reference_passes(void **state) {
  (void)state;
  scenario sc = {.kind = LIVE};
  run_scenario(&sc);
  unsetenv("TRICOLOR_DEBUG");
  print_message("live reference: stored in the window %d, cycles verified "
                "%llu\n",
                sc.stored, (unsigned long long)sc.verified);
  assert_true(sc.stored);
  assert_true(sc.verified >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_verify_free_slot_in_object),
      cmocka_unit_test(test_verify_names_the_referrer_site),
      cmocka_unit_test(test_verify_free_slot_in_root),
      cmocka_unit_test(test_verify_free_span),
      cmocka_unit_test(test_verify_past_last_object),
      cmocka_unit_test(test_verify_live_reference_passes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
