/*
 * test_collector_profile.c -- the heap profile (collector/profile.c):
 * allocations attributed to their sites, exactly at rate 1 and within
 * sampling error at the default rate, in both views (in use, allocated).
 *
 * The program.  Two sites, site_a and site_b, allocate objects of the
 * same size class (64 B) interleaved, three of site_a's for one of
 * site_b's, so site_a allocates 3x the bytes of site_b from the same run
 * stream; each keeps every 4th object alive in a list, so the live bytes
 * are 3:1 too.  After a tc_gc() the profile is written as folded stacks
 * and each line is attributed to the site that is its leaf frame (the
 * sites are noinline and do work after the allocation, so the call into
 * the slow path is not a sibling call that would hide their frame).
 *
 * The check (check_share) and its bound.  At rate R a Poisson process
 * over the allocated bytes picks the samples; with T bytes allocated
 * there are about n = T / R of them and each belongs to site_a with
 * probability 3/4, so site_a's share of the (scaled) values is a binomial
 * proportion with standard deviation sqrt(0.75 * 0.25 / n).  The check
 * allows 4 standard deviations (a correct profile fails it with
 * probability below 1e-4; the sampler's seed is fixed, so a given build
 * samples the same objects every run anyway).  T is 128 MiB (n = 256
 * allocated, 64 in use: bounds of 0.108 and 0.217 around 0.75), a quarter
 * of it on slow builds (valgrind, sanitizers, qemu).  The absolute figure
 * is checked as well: site_a's scaled bytes against what it allocated,
 * within 4 / sqrt(n_a) (the Poisson count's relative deviation).  At
 * rate 1 every object is a sample: the counts must be exact.
 *
 * Negative control: the same check on the profile with the two site names
 * swapped (site_a's share becomes 1/4) must fail.
 *
 * Also: the pprof text format's shape (header with heap/<2*rate>, one
 * line per stack, the memory map), large objects at rate 1, rate 0
 * samples nothing, and TRICOLOR_DEBUG=memprofile=PATH writes the file on
 * SIGUSR2 and at tc_shutdown.  With TC_TEST_PPROF_OUT=FILE set the rate-1
 * program also writes its pprof profile there (tests/profile_pprof.sh
 * reads it with `go tool pprof`).
 */
#include "tc_test.h"

#include <math.h>

#define OBJ 64                      /* bytes per object: one size class */
#define MIB ((size_t)1 << 20)

typedef struct cell {
  struct cell *next;
  char pad[OBJ - sizeof(struct cell *)];
} cell;
static const uint32_t cell_offsets[] = {offsetof(cell, next)};
static tc_type cell_type = {
    .name = "cell", .offsets = cell_offsets, .noffsets = 1};

/* The two sites: allocate one object, keep every 4th in *list.  Never
 * inlined, the allocation is not their last call, and their bodies
 * differ (the tag) so the compiler cannot fold them into one. */
__attribute__((noinline, noclone)) static void
site_a(cell **list, unsigned *n) {
  cell *c = tc_alloc(&cell_type, sizeof(cell));
  c->pad[0] = 'a';
  if ((*n)++ % 4 == 0) {
    TC_STORE(c, next, *list);
    *list = c;
  }
}

__attribute__((noinline, noclone)) static void
site_b(cell **list, unsigned *n) {
  cell *c = tc_alloc(&cell_type, sizeof(cell));
  c->pad[0] = 'b';
  if ((*n)++ % 4 == 0) {
    TC_STORE(c, next, *list);
    *list = c;
  }
}

/* A large object (a span of its own) from a third site. */
__attribute__((noinline, noclone)) static void
*site_large(void **keep) {
  void *p = tc_alloc_noscan(40 * 1024);
  *keep = p;
  return p;
}

/* ------------------------------------------------------------ parsing */

typedef struct totals {
  double a, b, other; /* values of the lines whose leaf is site_a, site_b,
                         anything else */
} totals;

/* Sums the folded profile's values by leaf frame.  False if a line does
 * not parse. */
static bool sum_folded(const char *text, totals *t) {
  memset(t, 0, sizeof *t);
  const char *line = text;
  while (*line) {
    const char *end = strchr(line, '\n');
    if (end == NULL)
      return false; /* every line ends with a newline */
    const char *sp = end;
    while (sp > line && sp[-1] != ' ')
      sp--;
    if (sp == line)
      return false;
    char *stop;
    double v = strtod(sp, &stop);
    if (stop != end)
      return false;
    const char *leaf = sp - 1;
    while (leaf > line && leaf[-1] != ';')
      leaf--;
    size_t len = (size_t)(sp - 1 - leaf);
    if (len == 6 && !strncmp(leaf, "site_a", 6))
      t->a += v;
    else if (len == 6 && !strncmp(leaf, "site_b", 6))
      t->b += v;
    else
      t->other += v;
    line = end + 1;
  }
  return true;
}

/*
 * The check: site_a's share of site_a + site_b in the folded profile is
 * `share` within `bound`, and site_a's value is `expect_a` within a
 * relative `rel` (expect_a 0: not checked).  Returns false, saying why in
 * why[], if not.
 */
static bool check_share(const char *text, double share, double bound,
                        double expect_a, double rel, char *why,
                        size_t whylen) {
  totals t;
  if (!sum_folded(text, &t)) {
    snprintf(why, whylen, "the profile does not parse");
    return false;
  }
  if (t.a + t.b <= 0) {
    snprintf(why, whylen, "no sample at either site");
    return false;
  }
  double got = t.a / (t.a + t.b);
  if (fabs(got - share) > bound) {
    snprintf(why, whylen, "site_a's share %.3f is not %.3f +- %.3f", got,
             share, bound);
    return false;
  }
  if (expect_a > 0 && fabs(t.a / expect_a - 1) > rel) {
    snprintf(why, whylen, "site_a's value %.0f is not %.0f +- %.0f%%", t.a,
             expect_a, 100 * rel);
    return false;
  }
  snprintf(why, whylen, "site_a's share %.3f (%.3f +- %.3f)", got, share,
           bound);
  return true;
}

/* Returns text with every "site_a" and "site_b" exchanged (malloc'd). */
static char *swap_sites(const char *text) {
  char *s = strdup(text);
  assert_non_null(s);
  for (char *p = s; (p = strstr(p, "site_")) != NULL; p += 6)
    if (p[5] == 'a')
      p[5] = 'b';
    else if (p[5] == 'b')
      p[5] = 'a';
  return s;
}

/* Returns the profile in `format` as a string (malloc'd). */
static char *profile_text(int format) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(tc_heap_profile_write(f, format), TC_OK);
  fclose(f);
  return buf;
}

/* ------------------------------------------------------------ program */

typedef struct program {
  size_t bytes;        /* allocated by both sites together */
  unsigned na, nb;     /* objects allocated by each */
  unsigned kept_a, kept_b;
} program;

/* Runs the two sites over `bytes` bytes, 3:1, then collects; the kept
 * lists stay alive (in the caller's roots) until it returns. */
static void run_sites(program *p, cell **la, cell **lb) {
  size_t rounds = p->bytes / (4 * OBJ);
  for (size_t i = 0; i < rounds; i++) {
    site_a(la, &p->na);
    site_a(la, &p->na);
    site_a(la, &p->na);
    site_b(lb, &p->nb);
  }
  p->kept_a = (p->na + 3) / 4;
  p->kept_b = (p->nb + 3) / 4;
  tc_gc();
}

static size_t program_bytes(void) {
  return tc_test_slow_build() ? 32 * MIB : 128 * MIB;
}

static int setup(void **state) {
  (void)state;
  return tc_test_start(NULL);
}

static int teardown(void **state) {
  (void)state;
  tc_test_finish(8);
  tc_set_mem_profile_rate(TC_MEM_PROFILE_RATE_DEFAULT);
  return 0;
}

/* ------------------------------------------------------------ tests */

/* Rate 1: every object is sampled; the counts are exact. */
static void test_profile_rate1_exact(void **state) {
  (void)state;
  tc_set_mem_profile_rate(1);
  cell *la = NULL, *lb = NULL;
  void *big = NULL;
  TC_LOCALS(la, lb, big);
  program p = {.bytes = 4 * MIB};
  run_sites(&p, &la, &lb);
  for (int i = 0; i < 3; i++)
    site_large(&big); /* two of them garbage by the next tc_gc */
  tc_gc();

  char *al = profile_text(TC_HEAP_PROFILE_ALLOC_OBJECTS);
  char *in = profile_text(TC_HEAP_PROFILE_INUSE_OBJECTS);
  char *inb = profile_text(TC_HEAP_PROFILE_INUSE_BYTES);
  totals t;
  assert_true(sum_folded(al, &t));
  assert_int_equal((uint64_t)t.a, p.na);
  assert_int_equal((uint64_t)t.b, p.nb);
  assert_int_equal(p.na, 3 * p.nb);
  assert_true(strstr(al, "site_large 3\n") != NULL);
  assert_true(sum_folded(in, &t));
  assert_int_equal((uint64_t)t.a, p.kept_a);
  assert_int_equal((uint64_t)t.b, p.kept_b);
  assert_true(strstr(in, "site_large 1\n") != NULL);
  assert_true(sum_folded(inb, &t));
  assert_int_equal((uint64_t)t.a, (uint64_t)p.kept_a * OBJ);
  assert_int_equal((uint64_t)t.b, (uint64_t)p.kept_b * OBJ);
  assert_true(strstr(inb, "site_large 40960\n") != NULL);

  const char *out = getenv("TC_TEST_PPROF_OUT");
  if (out && *out) {
    FILE *f = fopen(out, "w");
    assert_non_null(f);
    assert_int_equal(tc_heap_profile_write(f, TC_HEAP_PROFILE_PPROF), TC_OK);
    fclose(f);
  }
  free(al);
  free(in);
  free(inb);
}

/* The default rate: each site within sampling error, in both views; the
 * swapped profile fails the same check (negative control). */
static void test_profile_default_rate_within_error(void **state) {
  (void)state;
  assert_int_equal(tc_get_mem_profile_rate(), TC_MEM_PROFILE_RATE_DEFAULT);
  cell *la = NULL, *lb = NULL;
  TC_LOCALS(la, lb);
  program p = {.bytes = program_bytes()};
  run_sites(&p, &la, &lb);

  double rate = TC_MEM_PROFILE_RATE_DEFAULT;
  double n_alloc = (double)p.bytes / rate;  /* expected samples */
  double n_inuse = n_alloc / 4;             /* a quarter is kept */
  double bound_alloc = 4 * sqrt(0.75 * 0.25 / n_alloc);
  double bound_inuse = 4 * sqrt(0.75 * 0.25 / n_inuse);
  double a_bytes = (double)p.na * OBJ, a_kept = (double)p.kept_a * OBJ;

  char why[160];
  char *al = profile_text(TC_HEAP_PROFILE_ALLOC_BYTES);
  char *in = profile_text(TC_HEAP_PROFILE_INUSE_BYTES);
  bool ok = check_share(al, 0.75, bound_alloc, a_bytes,
                        4 / sqrt(0.75 * n_alloc), why, sizeof why);
  print_message("alloc_space: %s\n", why);
  assert_true(ok);
  ok = check_share(in, 0.75, bound_inuse, a_kept, 4 / sqrt(0.75 * n_inuse),
                   why, sizeof why);
  print_message("inuse_space: %s\n", why);
  assert_true(ok);

  /* negative control: the sites swapped must fail the very same check */
  char *sal = swap_sites(al), *sin = swap_sites(in);
  assert_false(check_share(sal, 0.75, bound_alloc, 0, 0, why, sizeof why));
  print_message("swapped alloc_space fails: %s\n", why);
  assert_false(check_share(sin, 0.75, bound_inuse, 0, 0, why, sizeof why));
  print_message("swapped inuse_space fails: %s\n", why);
  free(al);
  free(in);
  free(sal);
  free(sin);
}

/* The pprof text: header, one line per stack with raw counts, the map. */
static void test_profile_pprof_format(void **state) {
  (void)state;
  tc_set_mem_profile_rate(1);
  cell *la = NULL, *lb = NULL;
  TC_LOCALS(la, lb);
  program p = {.bytes = 1 * MIB};
  run_sites(&p, &la, &lb);
  char *text = profile_text(TC_HEAP_PROFILE_PPROF);
  unsigned long long in_n, in_b, al_n, al_b, period;
  assert_int_equal(sscanf(text, "heap profile: %llu: %llu [%llu: %llu] @ "
                                "heap/%llu\n",
                          &in_n, &in_b, &al_n, &al_b, &period),
                   5);
  assert_int_equal(period, 2); /* 2 * rate, as Go writes it */
  assert_int_equal(al_n, p.na + p.nb);
  assert_int_equal(al_b, (uint64_t)(p.na + p.nb) * OBJ);
  assert_int_equal(in_n, p.kept_a + p.kept_b);
  /* every record line: "N: B [N: B] @ 0x... 0x..." */
  char *maps = strstr(text, "\nMAPPED_LIBRARIES:\n");
  assert_non_null(maps);
  unsigned records = 0;
  for (char *l = strchr(text, '\n') + 1; l < maps; l = strchr(l, '\n') + 1) {
    unsigned long long a, b, c, d;
    int used = 0;
    assert_int_equal(sscanf(l, "%llu: %llu [%llu: %llu] @%n", &a, &b, &c,
                            &d, &used),
                     4);
    assert_true(strncmp(l + used, " 0x", 3) == 0);
    records++;
  }
  assert_true(records >= 2);
  assert_non_null(strstr(maps, "r-xp")); /* /proc/self/maps follows */
  free(text);
}

/* Rate 0: nothing is sampled. */
static void test_profile_off_samples_nothing(void **state) {
  (void)state;
  tc_set_mem_profile_rate(0);
  cell *la = NULL, *lb = NULL;
  TC_LOCALS(la, lb);
  program p = {.bytes = 8 * MIB};
  run_sites(&p, &la, &lb);
  char *text = profile_text(TC_HEAP_PROFILE_ALLOC_OBJECTS);
  totals t;
  assert_true(sum_folded(text, &t));
  assert_true(t.a == 0 && t.b == 0);
  free(text);
}

/* memprofile=PATH: written on SIGUSR2 and at tc_shutdown. */
static void test_profile_memprofile_setting(void **state) {
  (void)state;
  char path[64];
  snprintf(path, sizeof path, "/tmp/tc_profile_%d.folded", (int)getpid());
  unlink(path);
  char env[128];
  snprintf(env, sizeof env, "memprofile=%s,memprofilerate=1", path);
  tc_test_debug_env(env);
  tc_test_restart(NULL);
  tc_test_debug_env(NULL);
  assert_int_equal(tc_get_mem_profile_rate(), 1);
  cell *la = NULL, *lb = NULL;
  TC_LOCALS(la, lb);
  program p = {.bytes = 1 * MIB};
  run_sites(&p, &la, &lb);
  /* SIGUSR2: the writer thread writes the file; wait for it */
  assert_int_equal(raise(SIGUSR2), 0);
  FILE *f = NULL;
  for (int i = 0; i < 2000 && f == NULL; i++) {
    f = fopen(path, "r");
    if (f == NULL)
      usleep(5000);
  }
  assert_non_null(f);
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  assert_non_null(strstr(buf, "site_a "));
  unlink(path);
  la = lb = NULL;
  /* tc_shutdown writes it again (the fixture's teardown restarts) */
  tc_test_restart(NULL);
  f = fopen(path, "r");
  assert_non_null(f);
  fclose(f);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_profile_rate1_exact, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_profile_default_rate_within_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_profile_pprof_format, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_profile_off_samples_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_profile_memprofile_setting, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
