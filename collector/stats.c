/*
 * collector/stats.c -- statistics and the gctrace line.
 *
 * Pauses go into a ring of the last TC_PAUSE_RING pauses and a histogram
 * of power-of-two buckets in nanoseconds (bucket b holds [2^b, 2^(b+1))).
 * Quantiles are exact while every pause is still in the ring, else the
 * upper bound of the histogram bucket that holds the quantile.
 *
 * gctrace=1 prints Go's line (mgc.go, gcMarkTermination) for every cycle,
 * then the barrier mode, what started the cycle, and the weak references
 * and ephemerons (cleared/live, and ephemerons resolved while marking),
 * for example
 *   gc 3 @0.021s 4%: 0.021+1.6+0.035 ms clock, 0.042+0.10/1.5/0+0.070 ms
 *   cpu, 8->9->3 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
 *   mode=hybrid trigger=explicit weak=2/10 ephemerons=1/4/3
 * clock: mark-start pause + concurrent mark + mark-termination pause;
 * cpu: pause x procs + assists / background marker / 0 (no idle workers)
 * + pause x procs.  The stw mode does all its work in one pause, reported
 * as mark termination.  MB figures: heap.live at the start and at mark
 * termination, then the marked bytes.  A lock guards the stats so any
 * thread may read them.
 */
#include "collector/collector.h"

#include <stdio.h>
#include <string.h>

static tc__lock stats_lock = TC__LOCK_INIT;
static tc_stats st;

void tc__stats_reset(void) {
  tc__lock_acquire(&stats_lock);
  memset(&st, 0, sizeof st);
  tc__lock_release(&stats_lock);
}

static unsigned bucket_of(uint64_t ns) {
  unsigned b = ns ? 63u - (unsigned)__builtin_clzll(ns) : 0;
  return b < TC_PAUSE_BUCKETS ? b : TC_PAUSE_BUCKETS - 1;
}

void tc__stats_record_pause(uint64_t start, uint64_t ns, int kind) {
  tc__lock_acquire(&stats_lock);
  st.pause_kind[st.pauses % TC_PAUSE_RING] = (uint8_t)kind;
  st.pause_end_ns[st.pauses % TC_PAUSE_RING] = start + ns;
  if (kind == 0 && ns > st.pause_start_max_ns)
    st.pause_start_max_ns = ns;
  if (kind == 1 && ns > st.pause_term_max_ns)
    st.pause_term_max_ns = ns;
  st.pause_ns[st.pauses % TC_PAUSE_RING] = ns;
  st.pauses++;
  st.pause_total_ns += ns;
  if (ns > st.pause_max_ns)
    st.pause_max_ns = ns;
  st.pause_hist[bucket_of(ns)]++;
  tc__lock_release(&stats_lock);
}

/* Formats ns as milliseconds the way Go's gctrace does: whole ms from
 * 10 ms up, else two significant digits with at most three decimals. */
static void fmt_ms(char *buf, size_t n, uint64_t ns) {
  if (ns >= 10000000) {
    snprintf(buf, n, "%llu", (unsigned long long)(ns / 1000000));
    return;
  }
  uint64_t x = ns / 1000; /* microseconds */
  if (x == 0) {
    snprintf(buf, n, "0");
    return;
  }
  int dec = 3;
  while (x >= 100) {
    x /= 10;
    dec--;
  }
  uint64_t scale = 1;
  for (int i = 0; i < dec; i++)
    scale *= 10;
  if (dec == 0)
    snprintf(buf, n, "%llu", (unsigned long long)x);
  else
    snprintf(buf, n, "%llu.%0*llu", (unsigned long long)(x / scale), dec,
             (unsigned long long)(x % scale));
}

static const char *reason_name(int reason) {
  switch (reason) {
  case TC__REASON_HEAP: return "heap";
  case TC__REASON_EXPLICIT: return "explicit";
  case TC__REASON_OOM: return "oom";
  case TC__REASON_TIME: return "time";
  default: return "stress";
  }
}

void tc__stats_cycle_done(const tc__cycle_report *r) {
  uint64_t procs = r->procs ? r->procs : 1;
  uint64_t cpu = (r->pause1_ns + r->pause2_ns) * procs + r->assist_ns + r->bg_ns;
  tc__lock_acquire(&stats_lock);
  st.cycles++;
  if (r->reason == TC__REASON_EXPLICIT)
    st.forced_cycles++;
  if (r->reason == TC__REASON_TIME)
    st.time_cycles++;
  st.gc_cpu_ns += cpu;
  st.pause_slots += r->pause_slots;
  st.pause_objects += r->pause_objects;
  st.last_pause_slots = r->pause_slots;
  st.last_mode = (uint32_t)r->mode;
  if (r->float_measured) {
    st.float_cycles++;
    st.float_bytes += r->float_bytes;
    st.last_float_bytes = r->float_bytes;
  }
  st.weak_cleared += r->weak.weak_cleared;
  st.ephemerons_cleared += r->weak.ephemerons_cleared;
  st.ephemerons_resolved += r->weak.ephemerons_resolved;
  st.last_weak = r->weak.weak;
  st.last_weak_cleared = r->weak.weak_cleared;
  st.last_ephemerons = r->weak.ephemerons;
  st.last_ephemerons_cleared = r->weak.ephemerons_cleared;
  st.last_ephemerons_resolved = r->weak.ephemerons_resolved;
  st.last_weak_ns = r->weak_ns;
  if (r->goal && r->goal != UINT64_MAX) {
    uint64_t pct = r->heap1 * 100 / r->goal;
    st.last_heap_over_goal_pct = pct;
    if (pct > st.heap_peak_over_goal_pct)
      st.heap_peak_over_goal_pct = pct;
  }
  uint64_t n = st.cycles;
  uint64_t total_cpu = st.gc_cpu_ns;
  tc__lock_release(&stats_lock);
  if (!tc__debug_settings.gctrace)
    return;
  uint64_t since = tc__nanotime() - tc__gc.start_ns;
  int pct = since ? (int)(total_cpu * 100 / (since * procs)) : 0;
  char c1[32], c2[32], c3[32], u1[32], u2[32], u3[32], u5[32];
  fmt_ms(c1, sizeof c1, r->pause1_ns);
  fmt_ms(c2, sizeof c2, r->mark_ns);
  fmt_ms(c3, sizeof c3, r->pause2_ns);
  fmt_ms(u1, sizeof u1, r->pause1_ns * procs);
  fmt_ms(u2, sizeof u2, r->assist_ns);
  fmt_ms(u3, sizeof u3, r->bg_ns);
  fmt_ms(u5, sizeof u5, r->pause2_ns * procs);
  uint64_t start_ms = (r->t_start - tc__gc.start_ns) / 1000000;
  tc__print("gc %llu @%llu.%03llus %d%%: %s+%s+%s ms clock, %s+%s/%s/0+%s ms "
            "cpu, %llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB "
            "globals, %u P%s mode=%s trigger=%s weak=%llu/%llu "
            "ephemerons=%llu/%llu/%llu",
            (unsigned long long)n, (unsigned long long)(start_ms / 1000),
            (unsigned long long)(start_ms % 1000), pct, c1, c2, c3, u1, u2,
            u3, u5, (unsigned long long)(r->heap0 >> 20),
            (unsigned long long)(r->heap1 >> 20),
            (unsigned long long)(r->marked >> 20),
            (unsigned long long)(r->goal == UINT64_MAX ? 0 : r->goal >> 20),
            (unsigned long long)(r->stack_bytes >> 20),
            (unsigned long long)(r->global_bytes >> 20), (unsigned)procs,
            r->reason == TC__REASON_EXPLICIT ? " (forced)" : "",
            tc_barrier_name((tc_barrier_mode)r->mode), reason_name(r->reason),
            (unsigned long long)r->weak.weak_cleared,
            (unsigned long long)r->weak.weak,
            (unsigned long long)r->weak.ephemerons_cleared,
            (unsigned long long)r->weak.ephemerons,
            (unsigned long long)r->weak.ephemerons_resolved);
}

void tc_read_stats(tc_stats *s) {
  tc__lock_acquire(&stats_lock);
  *s = st;
  tc__lock_release(&stats_lock);
  s->heap_live = tc__load_relaxed(&tc__h.live);
  s->heap_marked = tc__gc.initialized ? tc__load_relaxed(&tc__h.marked) : 0;
  s->heap_goal = tc__load_relaxed(&tc__gc.goal);
  /* the page heap's counters change under its lock (any P's refill) */
  tc__lock_acquire(&tc__h.lock);
  s->heap_inuse = tc__h.inuse;
  s->heap_free = tc__h.free_dirty;
  s->heap_released = tc__h.released;
  s->heap_mapped = tc__h.mapped;
  s->meta_mapped = tc__meta_mapped();
  tc__lock_release(&tc__h.lock);
  s->total_alloc = tc__load_relaxed(&tc__h.total_alloc);
  s->total_freed = tc__load_relaxed(&tc__h.total_freed);
  s->finalizers_run = tc__finalizers_ran();
  s->finalizers_queued = tc__finalizers_pending();
  s->barrier_slow = tc__load_relaxed(&tc__gcc.barrier_slow);
  s->barrier_shaded = tc__load_relaxed(&tc__gcc.barrier_shaded);
  s->assist_ns = tc__load_relaxed(&tc__gcc.assist_ns);
  s->bg_mark_ns = tc__load_relaxed(&tc__gcc.bg_mark_ns);
  s->restart_lag_max_ns = tc__world_restart_lag_max();
  s->restarts = tc__world_restart_lags(s->restart_lag_ns);
  uint64_t since = tc__gc.initialized ? tc__nanotime() - tc__gc.start_ns : 0;
  uint64_t procs = tc__gc.procs ? tc__gc.procs : 1;
  s->gc_cpu_fraction =
      since ? (double)s->gc_cpu_ns / ((double)since * (double)procs) : 0.0;
}

uint64_t tc_stats_pause_quantile(const tc_stats *s, double q) {
  if (s->pauses == 0)
    return 0;
  if (q < 0)
    q = 0;
  if (q > 1)
    q = 1;
  uint64_t rank = (uint64_t)(q * (double)(s->pauses - 1) + 0.5); /* 0-based */
  if (s->pauses <= TC_PAUSE_RING) {
    uint64_t v[TC_PAUSE_RING];
    size_t n = (size_t)s->pauses;
    memcpy(v, s->pause_ns, n * sizeof v[0]);
    for (size_t i = 1; i < n; i++) { /* insertion sort: n <= 256 */
      uint64_t x = v[i];
      size_t j = i;
      for (; j > 0 && v[j - 1] > x; j--)
        v[j] = v[j - 1];
      v[j] = x;
    }
    return v[rank];
  }
  uint64_t seen = 0;
  for (unsigned b = 0; b < TC_PAUSE_BUCKETS; b++) {
    seen += s->pause_hist[b];
    if (seen > rank) {
      uint64_t hi = b + 1 < 64 ? ((uint64_t)1 << (b + 1)) - 1 : UINT64_MAX;
      return hi < s->pause_max_ns ? hi : s->pause_max_ns;
    }
  }
  return s->pause_max_ns;
}
