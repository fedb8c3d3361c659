/*
 * collector/runtime.c -- runtime lifecycle (tc_init / tc_shutdown), the
 * per-thread context, settings from the environment and error strings.
 *
 * Lifecycle: tc_init maps the heap directory, reads TRICOLOR_GC and
 * TRICOLOR_DEBUG, and makes the calling thread the mutator by pointing its
 * context at the mutator's cache and root stack.  tc_shutdown runs queued
 * finalizers, unmaps every arena and metadata chunk and frees every
 * registry, so init/shutdown can repeat without leaking (tested under
 * valgrind).  The main thread's root stack is static: frames still on the
 * C stack at shutdown pop harmlessly afterwards.
 */
#include "barrier/barrier.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads that are not mutators see an empty cache (every run empty), so
 * the inline path always falls into the slow path, which reports misuse. */
static tc__mcache empty_cache; /* an mcache: its gcw (NULL) is read too */
__thread tc__ctx tc__ctx_tls = {&empty_cache.runs, NULL, NULL, 0};
tc__gcstate tc__gc;

static tc__rootstack main_roots; /* static: see the header comment */
static tc__mutator main_mutator;

tc__ctx *tc__ctx_current(void) { return &tc__ctx_tls; }

const char *tc_strerror(int err) {
  switch (err) {
  case TC_OK: return "success";
  case TC_EINVAL: return "invalid argument";
  case TC_ENOMEM: return "out of memory";
  case TC_EBUSY: return "already initialised or in use";
  case TC_ENOENT: return "no such root";
  case TC_EEXIST: return "root already registered";
  case TC_ESTATE: return "runtime not initialised or not a mutator";
  case TC_ECLOSED: return "channel closed";
  default: return "unknown error";
  }
}

/* ---- settings ---- */

/* Parses TRICOLOR_GC: "off" or a non-negative percent. */
static int parse_gc_percent(const char *s, int fallback) {
  if (s == NULL || *s == '\0')
    return fallback;
  if (!strcmp(s, "off"))
    return TC_GC_OFF;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < 0 || v > 1000000) {
    tc__warn("TRICOLOR_GC='%s' is not 'off' or a percent; using %d", s,
             fallback);
    return fallback;
  }
  return (int)v;
}

/* Parses TRICOLOR_MEMLIMIT: bytes with an optional B/KiB/MiB/GiB/TiB
 * suffix (Go's GOMEMLIMIT syntax); 0 if unset or malformed. */
static uint64_t parse_memlimit(const char *s) {
  if (s == NULL || *s == '\0' || !strcmp(s, "off"))
    return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  static const struct { const char *suffix; int shift; } units[] = {
      {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (!errno && end != s && !strcmp(end, units[i].suffix))
      return (uint64_t)v << units[i].shift;
  tc__warn("TRICOLOR_MEMLIMIT='%s' is not a size like 512MiB; ignored", s);
  return 0;
}

/* Returns the number of marking threads: TRICOLOR_PROCS, else the
 * config, else the online CPUs; at most 256. */
static unsigned procs_setting(int configured) {
  long n = configured;
  const char *env = getenv("TRICOLOR_PROCS");
  if (env && *env) {
    char *end;
    long v = strtol(env, &end, 10);
    if (*end || v < 1)
      tc__warn("TRICOLOR_PROCS='%s' is not a positive number; ignored", env);
    else
      n = v;
  }
  if (n <= 0)
    n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1)
    n = 1;
  return n > 256 ? 256u : (unsigned)n;
}

int tc_init(const tc_config *cfg) {
  if (tc__gc.initialized)
    return TC_EBUSY;
  tc_config def = {0};
  if (cfg == NULL)
    cfg = &def;
  if (cfg->gc_percent < TC_GC_OFF || cfg->procs < 0 ||
      (int)cfg->barrier < TC_BARRIER_DEFAULT || cfg->barrier > TC_BARRIER_STW)
    return TC_EINVAL;
  memset(&tc__debug_settings, 0, sizeof tc__debug_settings);
  tc__debug_parse(&tc__debug_settings, getenv("TRICOLOR_DEBUG"));
  int rc = tc__heap_init(cfg->max_heap);
  if (rc)
    return rc;
  tc__profile_init();
  tc__wbcheck_init();
  memset(&tc__gc, 0, sizeof tc__gc);
  tc__gc.gc_percent = parse_gc_percent(
      getenv("TRICOLOR_GC"), cfg->gc_percent ? cfg->gc_percent : 100);
  tc__gc.min_heap = cfg->min_heap ? cfg->min_heap : ((uint64_t)4 << 20);
  tc__gc.on_oom = cfg->on_oom;
  tc__gc.start_ns = tc__nanotime();
  tc__marker_init(&tc__gc.marker);
  tc__marker_init(&tc__gc.orphan);
  tc__gc.orphan.shared = true;
  tc__gc.orphan_lock = (tc__lock)TC__LOCK_INIT;
  memset(&tc__gcc, 0, sizeof tc__gcc);
  tc__barrier_init((int)cfg->barrier);
  int64_t period_ms = tc__debug_settings.gcforceperiod
                          ? tc__debug_settings.gcforceperiod
                      : cfg->force_period_ms ? cfg->force_period_ms
                                             : 120000;
  tc__gc.force_period_ns = period_ms > 0 ? (uint64_t)period_ms * 1000000 : 0;
  tc__gc.mem_limit = cfg->mem_limit;
  const char *ml = getenv("TRICOLOR_MEMLIMIT");
  if (ml && *ml)
    tc__gc.mem_limit = parse_memlimit(ml);
  tc__gc.procs = tc__workers_start(procs_setting(cfg->procs));
  tc__stats_reset();
  tc__pacer_update(0);
  tc__gc.last_gc_ns = tc__gc.start_ns;

  memset(&main_mutator, 0, sizeof main_mutator);
  main_mutator.rs = &main_roots;
  tc__gc.main = &main_mutator;
  tc__gc.bare = &main_mutator;
  tc__ctx_tls.cache = &main_mutator.cache.runs;
  tc__ctx_tls.rs = &main_roots;
  tc__ctx_tls.owner = &main_mutator;
  tc__barrier_phase(TC__PHASE_OFF);
  tc__world_bare_open(&tc__ctx_tls); /* this thread holds the turn */
  tc__gc.initialized = true;
  return TC_OK;
}

/* Aborts unless called on the mutator thread of a live runtime. */
void tc__require_mutator(const char *call) {
  if (!tc__gc.initialized)
    tc__fatal("%s called before tc_init (or after tc_shutdown)", call);
  if (tc__ctx_get()->owner == NULL)
    tc__fatal("%s called from a thread that is not a mutator", call);
}

void tc_shutdown(void) {
  if (!tc__gc.initialized)
    return;
  tc__require_mutator("tc_shutdown");
  tc__world_bare_close(tc__ctx_get()); /* aborts while threads attached */
  tc_run_finalizers();
  /* a running event trace ends with the runtime (every other thread of
   * tc_run is gone by now): the file is complete JSON */
  if (TC__TRACING())
    tc_trace_stop();
  tc__profile_shutdown(); /* memprofile=PATH is written here */
  tc__wbcheck_shutdown();
  tc__gc.initialized = false;
  tc__store_relaxed(&tc__barrier_on, 0u); /* the runtime is gone */
  tc__ctx_tls.cache = &empty_cache.runs;
  tc__ctx_tls.owner = NULL;
  tc__ctx_tls.rs = &main_roots;
  /* ctx.rs keeps pointing at the static main root stack: frames still on
   * the C stack pop into it harmlessly. */
  tc__finalizers_destroy();
  tc__handles_destroy();
  tc__roots_destroy();
  tc__weak_destroy();
  tc__workers_stop();
  tc__marker_destroy(&tc__gc.marker);
  tc__marker_destroy(&tc__gc.orphan);
  tc__heap_destroy();
  memset(&main_mutator, 0, sizeof main_mutator);
  tc__gc.main = NULL;
}

int tc_set_gc_percent(int percent) {
  tc__require_mutator("tc_set_gc_percent");
  if (percent < TC_GC_OFF)
    percent = TC_GC_OFF;
  int old = tc__gc.gc_percent;
  tc__gc.gc_percent = percent;
  tc__pacer_update(tc__gc.goal_basis);
  return old;
}
