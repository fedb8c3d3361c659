/*
 * test_collector_pacer.c -- the pacer's two pure functions (collector/
 * pacer.c), from tables, as Go tests its pacer in mgcpacer_test.go.
 *
 * White-box: includes collector/collector.h; needs no runtime (tc_init is
 * never called: the functions read nothing but their argument).
 *
 * Every expected value is worked out by hand from the rule in pacer.c's
 * design comment, written as the arithmetic that gives it:
 *   goal    = basis * (1 + percent/100) rounded down, >= min_heap; with a
 *             limit, <= limit - overhead but >= basis + 1 MiB; TC_GC_OFF:
 *             none (UINT64_MAX);
 *   trigger = basis + ratio * (goal - basis), or the goal (stw, no goal,
 *             no runway); a zero ratio starts at 7/8;
 *   ratio'  = ratio - 0.5 * err (err >= 0) or ratio - 0.1 * err (err < 0),
 *             err = (heap at termination - goal) / (goal - basis), clamped
 *             to [0.45, 0.90]; no goal or no runway: unchanged.
 * Ratios in the plan rows are 7/8, 3/4, 1/2 or 0.9 so that the trigger
 * needs no rounding argument beyond "truncated".
 *
 * What is tested:
 *   - plan: percent 100 (goal 2x basis), 0, 50, 300, INT_MAX, rounding
 *     down; TC_GC_OFF; the min_heap floor (and the first call, basis 0 and
 *     no ratio yet); the memory limit shrinking the goal, its basis + 1 MiB
 *     floor, overhead past the limit, the limit under min_heap and with
 *     TC_GC_OFF; stw triggering at the goal; a given ratio used as is;
 *     values where basis * percent would overflow 64 bits;
 *   - adjust: a cycle ending on, over and under its goal, both clamps,
 *     a heap ending below the basis, no goal, no runway, large values;
 *   - a negative control: each row with one expected field nudged (goal or
 *     trigger by one byte, the ratio by 0.001, the changed flag flipped)
 *     must be rejected by the same comparison the tables use.
 */
#include "tc_test.h"

#include "collector/collector.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define NONE UINT64_MAX

/* ---- tc__pacer_plan ---- */

typedef struct plan_row {
  const char *name;
  tc__pacer_plan_in in;
  uint64_t goal, trigger;
  double ratio;
} plan_row;

/* the inputs in table order: basis, gc_percent, min_heap, mem_limit,
 * overhead, trigger_ratio, stw */
#define IN(basis_, percent_, min_heap_, limit_, overhead_, ratio_, stw_)     \
  {                                                                          \
    .basis = (basis_), .gc_percent = (percent_), .min_heap = (min_heap_),    \
    .mem_limit = (limit_), .overhead = (overhead_),                          \
    .trigger_ratio = (ratio_), .stw = (stw_)                                 \
  }
#define M4 (4 * MiB) /* the default min_heap */
#define OFF TC_GC_OFF
#define B60 ((uint64_t)1 << 60)

/* clang-format off */
static const plan_row plan_rows[] = {
  /*  name
   *     basis  percent  min_heap  limit  overhead  ratio  stw
   *     goal, trigger, ratio out */
  /* gc percent */
  {"percent 100: goal 2x basis",
   IN(100 * MiB, 100, M4, 0, 0, 0.875, false),
   200 * MiB, 100 * MiB + 100 * MiB / 8 * 7, 0.875}, /* 187.5 MiB */
  {"percent 50",
   IN(100 * MiB, 50, M4, 0, 0, 0.875, false),
   150 * MiB, 100 * MiB + 50 * MiB / 8 * 7, 0.875}, /* 143.75 MiB */
  {"percent 300",
   IN(10 * MiB, 300, M4, 0, 0, 0.875, false),
   40 * MiB, 10 * MiB + 30 * MiB / 8 * 7, 0.875}, /* 36.25 MiB */
  {"percent 0: no runway, trigger at the goal",
   IN(100 * MiB, 0, M4, 0, 0, 0.875, false),
   100 * MiB, 100 * MiB, 0.875},
  {"percent 50 rounds down: 101 * 1.5 = 151.5",
   IN(101, 50, 1, 0, 0, 0.875, false),
   151, 101 + 43 /* 50 * 7/8 = 43.75 */, 0.875},
  {"percent 150 rounds down: 199 * 2.5 = 497.5",
   IN(199, 150, 1, 0, 0, 0.875, false),
   497, 199 + 260 /* 298 * 7/8 = 260.75 */, 0.875},
  {"percent INT_MAX",
   IN(100, INT32_MAX, 1, 0, 0, 0.875, false),
   100 + 2147483647ull, /* 100 * (1 + (2^31 - 1)/100) */
   100 + 1879048191ull /* (2^31 - 1) * 7/8 = 1879048191.125 */, 0.875},
  {"TC_GC_OFF: no goal, no trigger",
   IN(100 * MiB, OFF, M4, 0, 0, 0.875, false),
   NONE, NONE, 0.875},

  /* the min_heap floor */
  {"min_heap floors a small goal (2 MiB -> 4 MiB)",
   IN(1 * MiB, 100, M4, 0, 0, 0.875, false),
   4 * MiB, 1 * MiB + 3 * MiB / 8 * 7, 0.875}, /* 3.625 MiB */
  {"first call: basis 0, no ratio yet (starts at 7/8)",
   IN(0, 100, M4, 0, 0, 0, false),
   4 * MiB, 4 * MiB / 8 * 7, 0.875},
  {"goal equal to min_heap",
   IN(32 * MiB, 100, 64 * MiB, 0, 0, 0.875, false),
   64 * MiB, 32 * MiB + 32 * MiB / 8 * 7, 0.875},
  {"min_heap below the goal: no effect",
   IN(100 * MiB, 100, 64 * MiB, 0, 0, 0.875, false),
   200 * MiB, 100 * MiB + 100 * MiB / 8 * 7, 0.875},

  /* the soft memory limit */
  {"limit - overhead (180 - 20) shrinks the goal 200 -> 160 MiB",
   IN(100 * MiB, 100, M4, 180 * MiB, 20 * MiB, 0.875, false),
   160 * MiB, 100 * MiB + 60 * MiB / 8 * 7, 0.875}, /* 152.5 MiB */
  {"limit far above the goal: no effect",
   IN(100 * MiB, 100, M4, 1 * GiB, 20 * MiB, 0.875, false),
   200 * MiB, 100 * MiB + 100 * MiB / 8 * 7, 0.875},
  {"limit - overhead = goal exactly",
   IN(100 * MiB, 100, M4, 210 * MiB, 10 * MiB, 0.875, false),
   200 * MiB, 100 * MiB + 100 * MiB / 8 * 7, 0.875},
  {"limit under the live heap: goal floored at basis + 1 MiB",
   IN(100 * MiB, 100, M4, 90 * MiB, 10 * MiB, 0.875, false),
   101 * MiB, 100 * MiB + 1 * MiB / 8 * 7, 0.875},
  {"overhead past the limit: goal floored at basis + 1 MiB",
   IN(10 * MiB, 100, M4, 50 * MiB, 60 * MiB, 0.875, false),
   11 * MiB, 10 * MiB + 1 * MiB / 8 * 7, 0.875},
  {"the limit wins over min_heap (3 MiB < 4 MiB)",
   IN(1 * MiB, 100, M4, 3 * MiB, 0, 0.875, false),
   3 * MiB, 1 * MiB + 2 * MiB / 8 * 7, 0.875}, /* 2.75 MiB */
  {"TC_GC_OFF with a limit: the limit sets the goal",
   IN(100 * MiB, OFF, M4, 300 * MiB, 50 * MiB, 0.875, false),
   250 * MiB, 100 * MiB + 150 * MiB / 8 * 7, 0.875}, /* 231.25 MiB */

  /* stop-the-world cycles trigger at the goal */
  {"stw: trigger = goal",
   IN(100 * MiB, 100, M4, 0, 0, 0.875, true),
   200 * MiB, 200 * MiB, 0.875},
  {"stw with the limit: trigger = the limit's goal",
   IN(100 * MiB, 100, M4, 180 * MiB, 20 * MiB, 0.875, true),
   160 * MiB, 160 * MiB, 0.875},
  {"stw at the min_heap floor",
   IN(0, 100, M4, 0, 0, 0.875, true),
   4 * MiB, 4 * MiB, 0.875},
  {"stw with TC_GC_OFF: no goal",
   IN(100 * MiB, OFF, M4, 0, 0, 0.875, true),
   NONE, NONE, 0.875},

  /* the ratio as given: plan does not clamp, adjust does */
  {"ratio 1/2",
   IN(100 * MiB, 100, M4, 0, 0, 0.5, false),
   200 * MiB, 150 * MiB, 0.5},
  {"ratio 3/4",
   IN(100 * MiB, 100, M4, 0, 0, 0.75, false),
   200 * MiB, 175 * MiB, 0.75},
  {"ratio 0.90 (the upper clamp)",
   IN(100 * MiB, 100, M4, 0, 0, 0.9, false),
   200 * MiB, 190 * MiB, 0.9},

  /* large values: basis * percent would overflow 64 bits */
  {"basis 2^60, percent 100: 2^61 (2^60 * 100 > 2^64)",
   IN(B60, 100, M4, 0, 0, 0.875, false),
   2 * B60, B60 + B60 / 8 * 7, 0.875},
  {"basis 2^50, percent 100000: 1001 * 2^50 (2^50 * 10^5 > 2^64)",
   IN(B60 >> 10, 100000, M4, 0, 0, 0.875, false),
   1001 * (B60 >> 10), 876 * (B60 >> 10) /* 1 + 1000 * 7/8 */, 0.875},
  {"limit 2^62, overhead 2^40, TC_GC_OFF, basis 2^40",
   IN(B60 >> 20, OFF, M4, 4 * B60, B60 >> 20, 0.875, false),
   4 * B60 - (B60 >> 20),
   /* 2^40 + 7/8 (2^62 - 2^41) = 7 * 2^59 - 3 * 2^38 */
   7 * (B60 >> 1) - 3 * (B60 >> 22), 0.875},
};
/* clang-format on */

/* Returns whether `got` is what `row` expects; names the row and the
 * field when not. */
static bool plan_matches(const plan_row *row, tc__pacer_plan_out got,
                         bool quiet) {
  bool ok = got.goal == row->goal && got.trigger == row->trigger &&
            got.trigger_ratio == row->ratio;
  if (!ok && !quiet)
    print_error("pacer plan row \"%s\": goal %llu (want %llu), trigger %llu "
                "(want %llu), ratio %.17g (want %.17g)\n",
                row->name, (unsigned long long)got.goal,
                (unsigned long long)row->goal,
                (unsigned long long)got.trigger,
                (unsigned long long)row->trigger, got.trigger_ratio,
                row->ratio);
  return ok;
}

/* Returns whether plan row i gives what it expects and keeps its trigger
 * at or under its goal; names the row when not. */
static bool plan_row_ok(size_t i) {
  const plan_row *row = &plan_rows[i];
  tc__pacer_plan_out got = tc__pacer_plan(row->in);
  bool ok = plan_matches(row, got, false);
  if (got.trigger > got.goal) { /* never, whatever the inputs */
    print_error("pacer plan row \"%s\": trigger past the goal\n", row->name);
    ok = false;
  }
  return ok;
}

/* Runs row_ok on rows 0 .. n-1, each whatever the rows before gave, and
 * fails the test if any row failed. */
static void check_table(size_t n, bool (*row_ok)(size_t i)) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++)
    if (!row_ok(i))
      bad++;
  assert_int_equal(bad, 0);
}

static void test_pacer_plan_table(void **state) {
  (void)state;
  check_table(sizeof plan_rows / sizeof plan_rows[0], plan_row_ok);
}

/* ---- tc__pacer_adjust ---- */

typedef struct adjust_row {
  const char *name;
  tc__pacer_adjust_in in;
  double ratio;
  bool changed;
} adjust_row;

/* the inputs in table order: basis, goal, heap at termination, ratio */
#define END(basis_, goal_, heap_, ratio_)                                    \
  {                                                                          \
    .basis = (basis_), .goal = (goal_), .heap_at_term = (heap_),             \
    .trigger_ratio = (ratio_)                                                \
  }

/* basis 100 MiB, goal 200 MiB: the runway is 100 MiB, so err = (heap -
 * 200 MiB) / 100 MiB */
static const adjust_row adjust_rows[] = {
    {"ended on its goal: err 0, ratio stays",
     END(100 * MiB, 200 * MiB, 200 * MiB, 0.875), 0.875, true},
    {"ended 10 MiB over: err +0.1, ratio - 0.05",
     END(100 * MiB, 200 * MiB, 210 * MiB, 0.875), 0.825, true},
    {"ended 5 MiB over: err +0.05, ratio 0.5 - 0.025",
     END(100 * MiB, 200 * MiB, 205 * MiB, 0.5), 0.475, true},
    {"ended 50 MiB under: err -0.5, ratio + 0.05",
     END(100 * MiB, 200 * MiB, 150 * MiB, 0.7), 0.75, true},
    {"ended 20 MiB under: err -0.2, 0.85 + 0.02",
     END(100 * MiB, 200 * MiB, 180 * MiB, 0.85), 0.87, true},
    {"ended at the basis: err -1, 0.875 + 0.1 clamped to 0.90",
     END(100 * MiB, 200 * MiB, 100 * MiB, 0.875), 0.90, true},
    {"ended below the basis: err -1.5, 0.5 + 0.15",
     END(100 * MiB, 200 * MiB, 50 * MiB, 0.5), 0.65, true},
    {"ended a runway over: err +1, 0.875 - 0.5 clamped to 0.45",
     END(100 * MiB, 200 * MiB, 300 * MiB, 0.875), 0.45, true},
    {"ended ten runways over: err +10, clamped to 0.45",
     END(100 * MiB, 200 * MiB, 1200 * MiB, 0.875), 0.45, true},
    {"at the upper clamp and under again: stays 0.90",
     END(100 * MiB, 200 * MiB, 190 * MiB, 0.9), 0.90, true},
    {"at the lower clamp and over again: stays 0.45",
     END(100 * MiB, 200 * MiB, 201 * MiB, 0.45), 0.45, true},
    {"no goal (TC_GC_OFF): unchanged", END(100 * MiB, NONE, 300 * MiB, 0.6),
     0.6, false},
    {"no runway (goal = basis): unchanged",
     END(100 * MiB, 100 * MiB, 150 * MiB, 0.6), 0.6, false},
    {"goal below basis: unchanged", END(100 * MiB, 90 * MiB, 50 * MiB, 0.6),
     0.6, false},
    {"large: basis 2^60, goal 2^61, heap 2^61 + 2^57: err 1/8, - 1/16",
     END((uint64_t)1 << 60, (uint64_t)1 << 61,
         ((uint64_t)1 << 61) + ((uint64_t)1 << 57), 0.875),
     0.8125, true},
    {"large: runway 64 KiB on a 2^62 basis, 8 KiB under: err -1/8",
     END((uint64_t)1 << 62, ((uint64_t)1 << 62) + 64 * KiB,
         ((uint64_t)1 << 62) + 56 * KiB, 0.75),
     0.7625, true},
};

/* Ratios like 0.825 are not exact in binary: equal within 1e-12. */
static bool adjust_matches(const adjust_row *row, tc__pacer_adjust_out got,
                           bool quiet) {
  double d = got.trigger_ratio - row->ratio;
  bool ok = d < 1e-12 && d > -1e-12 && got.changed == row->changed;
  if (!ok && !quiet)
    print_error("pacer adjust row \"%s\": ratio %.17g (want %.17g), "
                "changed %d (want %d)\n",
                row->name, got.trigger_ratio, row->ratio, got.changed,
                row->changed);
  return ok;
}

/* Returns whether adjust row i gives what it expects and a changed ratio
 * stays inside the clamps; names the row when not. */
static bool adjust_row_ok(size_t i) {
  const adjust_row *row = &adjust_rows[i];
  tc__pacer_adjust_out got = tc__pacer_adjust(row->in);
  bool ok = adjust_matches(row, got, false);
  if (got.changed && (got.trigger_ratio < 0.45 || got.trigger_ratio > 0.90)) {
    print_error("pacer adjust row \"%s\": ratio outside [0.45, 0.90]\n",
                row->name);
    ok = false;
  }
  return ok;
}

static void test_pacer_adjust_table(void **state) {
  (void)state;
  check_table(sizeof adjust_rows / sizeof adjust_rows[0], adjust_row_ok);
}

/* ---- negative control: the comparison catches a wrong expectation ---- */

static void test_pacer_tables_reject_wrong_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof plan_rows / sizeof plan_rows[0]; i++) {
    tc__pacer_plan_out got = tc__pacer_plan(plan_rows[i].in);
    plan_row wrong = plan_rows[i];
    wrong.goal = plan_rows[i].goal - 1; /* NONE - 1 is a finite goal */
    assert_false(plan_matches(&wrong, got, true));
    wrong = plan_rows[i];
    wrong.trigger = plan_rows[i].trigger + 1; /* NONE + 1 wraps to 0 */
    assert_false(plan_matches(&wrong, got, true));
    wrong = plan_rows[i];
    wrong.ratio = plan_rows[i].ratio + 0.001;
    assert_false(plan_matches(&wrong, got, true));
  }
  for (size_t i = 0; i < sizeof adjust_rows / sizeof adjust_rows[0]; i++) {
    tc__pacer_adjust_out got = tc__pacer_adjust(adjust_rows[i].in);
    adjust_row wrong = adjust_rows[i];
    wrong.ratio = adjust_rows[i].ratio + 0.001;
    assert_false(adjust_matches(&wrong, got, true));
    wrong = adjust_rows[i];
    wrong.changed = !adjust_rows[i].changed;
    assert_false(adjust_matches(&wrong, got, true));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pacer_plan_table),
      cmocka_unit_test(test_pacer_adjust_table),
      cmocka_unit_test(test_pacer_tables_reject_wrong_rows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
