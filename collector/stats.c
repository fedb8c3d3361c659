/*
 * collector/stats.c -- statistics and the gctrace line.
 *
 * Pauses go into a ring of the last TC_PAUSE_RING pauses and a histogram
 * of power-of-two buckets in nanoseconds (bucket b holds [2^b, 2^(b+1))).
 * Quantiles are exact while every pause is still in the ring, else the
 * upper bound of the histogram bucket that holds the quantile.
 *
 * gctrace=1 prints Go's line (GO_REFERENCE.md section 1) for every cycle,
 * for example
 *   gc 3 @0.021s 4%: 0+0+1.2 ms clock, 0+0/0/0+1.2 ms cpu, 8->8->3 MB,
 *   6 MB goal, 0 MB stacks, 0 MB globals, 1 P (forced)
 * The stop-the-world collector does all its work in one pause, reported as
 * the mark-termination phase.  A lock guards the stats so any thread may
 * read them.
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

void tc__stats_record_pause(uint64_t ns) {
  st.pause_ns[st.pauses % TC_PAUSE_RING] = ns;
  st.pauses++;
  st.pause_total_ns += ns;
  if (ns > st.pause_max_ns)
    st.pause_max_ns = ns;
  st.pause_hist[bucket_of(ns)]++;
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
  default: return "stress";
  }
}

void tc__stats_cycle_done(int reason, uint64_t pause_ns, uint64_t cpu_ns,
                          uint64_t heap0, uint64_t heap1, uint64_t marked) {
  tc__lock_acquire(&stats_lock);
  st.cycles++;
  if (reason == TC__REASON_EXPLICIT)
    st.forced_cycles++;
  tc__stats_record_pause(pause_ns);
  st.gc_cpu_ns += cpu_ns;
  uint64_t n = st.cycles;
  tc__lock_release(&stats_lock);
  if (!tc__debug_settings.gctrace)
    return;
  uint64_t now = tc__nanotime();
  uint64_t since = now - tc__gc.start_ns;
  int pct = since ? (int)(st.gc_cpu_ns * 100 / since) : 0;
  char wall[32], cpu[32];
  fmt_ms(wall, sizeof wall, pause_ns);
  fmt_ms(cpu, sizeof cpu, cpu_ns);
  uint64_t start_ms = (now - pause_ns - tc__gc.start_ns) / 1000000;
  tc__print("gc %llu @%llu.%03llus %d%%: 0+0+%s ms clock, 0+0/0/0+%s ms cpu, "
            "%llu->%llu->%llu MB, %llu MB goal, 0 MB stacks, 0 MB globals, "
            "1 P%s mode=stw trigger=%s",
            (unsigned long long)n, (unsigned long long)(start_ms / 1000),
            (unsigned long long)(start_ms % 1000), pct, wall, cpu,
            (unsigned long long)(heap0 >> 20), (unsigned long long)(heap1 >> 20),
            (unsigned long long)(marked >> 20),
            (unsigned long long)(tc__gc.goal >> 20),
            reason == TC__REASON_EXPLICIT ? " (forced)" : "",
            reason_name(reason));
}

void tc_read_stats(tc_stats *s) {
  tc__lock_acquire(&stats_lock);
  *s = st;
  tc__lock_release(&stats_lock);
  s->heap_live = tc__load_relaxed(&tc__h.live);
  s->heap_marked = tc__gc.initialized ? tc__h.marked : 0;
  s->heap_goal = tc__gc.goal;
  s->heap_inuse = tc__load_relaxed(&tc__h.inuse);
  s->heap_free = tc__load_relaxed(&tc__h.free_dirty);
  s->heap_released = tc__load_relaxed(&tc__h.released);
  s->heap_mapped = tc__load_relaxed(&tc__h.mapped);
  s->meta_mapped = tc__meta_mapped();
  s->total_alloc = tc__load_relaxed(&tc__h.total_alloc);
  s->total_freed = tc__load_relaxed(&tc__h.total_freed);
  s->finalizers_run = tc__finalizers_ran();
  s->finalizers_queued = tc__finalizers_pending();
  uint64_t since = tc__gc.initialized ? tc__nanotime() - tc__gc.start_ns : 0;
  s->gc_cpu_fraction = since ? (double)s->gc_cpu_ns / (double)since : 0.0;
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
