/*
 * collector/trace.c -- the event trace: tc_trace_start(path) and
 * tc_trace_stop() write what the collector and the scheduler do as Chrome
 * Trace Event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing
 * open as a timeline.
 *
 * What is recorded, on which track (pid 1, one "thread" per track):
 *   tid 1   "GC"     one complete event per cycle ("GC 7 (hybrid)"), inside
 *                    it "concurrent mark", inside that the background
 *                    marker's "mark" slices (split at its throttle sleeps);
 *                    background "sweep" runs between cycles.
 *   tid 2   "STW"    each pause, "pause: mark start" or "pause: mark
 *                    termination", with the start and length the stats
 *                    record (args: ns, kind, cycle, mode).
 *   tid 3   "sched"  create/block/unblock done by a thread without a P
 *                    (sysmon firing timers, the collector waking tc_gc).
 *   tid 100+i "P i"  each coroutine's run slice on P i ("G12", args: the
 *                    creation site and why the slice ended), assists
 *                    inside the slices, and instants "create G12",
 *                    "block G12" (args: the wait reason), "unblock G12".
 *
 * JSON shape, one event a line:
 *   {"traceEvents":[
 *   {"ph":"X","name":"G5","pid":1,"tid":100,"ts":123.456,"dur":7.250,...},
 *   {"ph":"i","s":"t","name":"block G5","pid":1,"tid":100,"ts":...,...},
 *   ...metadata: {"ph":"M","name":"thread_name","pid":1,"tid":100,
 *                 "args":{"name":"P0"}} ...
 *   ],"displayTimeUnit":"ns","otherData":{...}}
 *   ts and dur are microseconds with three decimals, i.e. exact
 *   nanoseconds of tc__nanotime (CLOCK_MONOTONIC): ts is absolute, so an
 *   event that began just before tc_trace_start (a pause) needs no negative
 *   time; the viewers show time from the first event.
 *
 * Design:
 *   1. Hooks.  Every hook site reads one global word, tc__tracing, with a
 *      relaxed load and branches (TC__TRACING(), predicted not taken); the
 *      functions here are cold and out of line.  Off, the cost is that
 *      load and branch: no lock, no clock read, no allocation.
 *   2. Only complete ("X") and instant ("i") events.  A slice is written
 *      once, when it ends, with its start and length, so a trace stopped in
 *      the middle of anything is still well nested: there is no "B" whose
 *      "E" could go missing.  Slices on one track nest by construction: a
 *      P's slices come from the one M holding it, one after the other,
 *      assists inside them; the GC track is written by the one thread that
 *      runs cycles.
 *   3. Buffer.  Each event is formatted into a stack buffer outside any
 *      lock, then appended under `lock` (a tc__spin, a leaf: nothing else
 *      is taken inside) to one 1 MiB buffer, which is written to the file
 *      when full (write(2) under the lock: tracing trades a little latency
 *      for bounded memory).  tc_trace_stop writes the rest, the metadata
 *      naming the tracks seen and the closing brackets, then closes the
 *      file.  A per-thread or per-P buffer would spare the lock; one global
 *      buffer is simpler and the lock is uncontended at the rates at which
 *      coroutines switch on a few Ps.
 *   4. Races.  A hook that saw tc__tracing set may reach the lock after
 *      tc_trace_stop closed the file: it finds `open` false under the lock
 *      and drops its event.  A slice whose start was taken before this
 *      trace began (an earlier trace's stale start) is dropped the same
 *      way: starts are checked against `t0` under the lock.  Pauses are the
 *      exception (written with their real start so their length matches
 *      the stats).  The runtime stops a running trace in tc_shutdown (so
 *      at the end of tc_run too), after every other thread is gone.
 */
#include "barrier/barrier.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRACE_BUF ((size_t)1 << 20) /* bytes buffered before a write(2) */
#define EVENT_MAX 768               /* longest formatted event, bytes */
#define TID_GC 1
#define TID_STW 2
#define TID_SCHED 3
#define TID_P0 100
#define MAX_NAMED_PS 1024           /* Ps whose track gets a name */

uint32_t tc__tracing;

static struct {
  uint32_t lock;          /* tc__spin: everything below */
  bool open;              /* a trace is being written */
  int fd;
  char *buf;              /* TRACE_BUF bytes */
  size_t len;             /* bytes in buf */
  bool first;             /* no event written yet (no comma before it) */
  bool failed;            /* a write failed: the file is incomplete */
  uint64_t t0;            /* tc__nanotime at tc_trace_start */
  uint64_t events;        /* events written */
  uint64_t dropped;       /* events too long to format (never expected) */
  uint64_t pseen[MAX_NAMED_PS / 64]; /* P tracks used: bit i = P i */
  bool sched_seen;        /* the "sched" track was used */
} tr;

/* ---------------------------------------------------------------- output */

/* Writes buf[0, len) to the file; lock held. */
static void flush_locked(void) {
  size_t off = 0;
  while (off < tr.len && !tr.failed) {
    ssize_t n = write(tr.fd, tr.buf + off, tr.len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      tr.failed = true;
    else
      off += (size_t)n;
  }
  tr.len = 0;
}

/* Appends n bytes; lock held. */
static void put_locked(const char *s, size_t n) {
  if (tr.len + n > TRACE_BUF)
    flush_locked();
  memcpy(tr.buf + tr.len, s, n);
  tr.len += n;
}

/* Appends one formatted event (no separators); any thread.  start: the
 * event's begin time; early: keep it even if it began before the trace. */
static void emit(const char *ev, size_t n, uint64_t start, bool early,
                 int tid) {
  tc__spin_lock(&tr.lock);
  if (tr.open && (early || start >= tr.t0)) {
    if (!tr.first)
      put_locked(",\n", 2);
    tr.first = false;
    put_locked(ev, n);
    tr.events++;
    if (tid >= TID_P0 && tid < TID_P0 + MAX_NAMED_PS)
      tr.pseen[(tid - TID_P0) / 64] |= (uint64_t)1 << ((tid - TID_P0) % 64);
    else if (tid == TID_SCHED)
      tr.sched_seen = true;
  }
  tc__spin_unlock(&tr.lock);
}

/* A small formatter into a fixed buffer that never overflows. */
typedef struct sbuf {
  char b[EVENT_MAX];
  size_t n;
  bool over;
} sbuf;

TC_PRINTF(2, 3) static void sb_printf(sbuf *s, const char *fmt, ...) {
  if (s->over)
    return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(s->b + s->n, sizeof s->b - s->n, fmt, ap);
  va_end(ap);
  if (k < 0 || (size_t)k >= sizeof s->b - s->n)
    s->over = true;
  else
    s->n += (size_t)k;
}

/* Appends s as a JSON string (quotes, escapes; at most 200 bytes of s). */
static void sb_str(sbuf *s, const char *str) {
  if (str == NULL)
    str = "";
  sb_printf(s, "\"");
  for (size_t i = 0; str[i] && i < 200 && !s->over; i++) {
    unsigned char c = (unsigned char)str[i];
    if (c == '"' || c == '\\')
      sb_printf(s, "\\%c", c);
    else if (c < 0x20)
      sb_printf(s, "\\u%04x", c);
    else
      sb_printf(s, "%c", c);
  }
  sb_printf(s, "\"");
}

/* Appends "ts":..., microseconds with exact nanoseconds. */
static void sb_time(sbuf *s, const char *key, uint64_t ns) {
  sb_printf(s, ",\"%s\":%llu.%03u", key, (unsigned long long)(ns / 1000),
            (unsigned)(ns % 1000));
}

/* Starts an event: {"ph":ph,"name":...,"pid":1,"tid":tid,"ts":... */
static void sb_head(sbuf *s, const char *ph, int tid, uint64_t ts) {
  s->n = 0;
  s->over = false;
  sb_printf(s, "{\"ph\":\"%s\",\"pid\":1,\"tid\":%d", ph, tid);
  sb_time(s, "ts", ts);
}

static void sb_emit(sbuf *s, uint64_t start, bool early, int tid) {
  sb_printf(s, "}");
  if (s->over) {
    tc__spin_lock(&tr.lock);
    tr.dropped++;
    tc__spin_unlock(&tr.lock);
    return;
  }
  emit(s->b, s->n, start, early, tid);
}

/* The track of the calling thread: its P's, else "sched". */
static int current_tid(void) {
  int p = tc__world_current_p();
  return p >= 0 ? TID_P0 + p : TID_SCHED;
}

static const char *mode_name(int mode) {
  return mode == TC__BARRIER_NONE ? "none" : tc_barrier_name(mode);
}

/* ---------------------------------------------------------------- API */

int tc_trace_start(const char *path) {
  if (path == NULL || path[0] == '\0')
    return TC_EINVAL;
  char *buf = malloc(TRACE_BUF);
  if (buf == NULL)
    return TC_ENOMEM;
  tc__spin_lock(&tr.lock);
  if (tr.open) {
    tc__spin_unlock(&tr.lock);
    free(buf);
    return TC_EBUSY;
  }
  /* opened under the lock so that two starts cannot both open */
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    tc__spin_unlock(&tr.lock);
    free(buf);
    return e == ENOENT ? TC_ENOENT : e == ENOMEM ? TC_ENOMEM : TC_EINVAL;
  }
  tr.fd = fd;
  tr.buf = buf;
  tr.len = 0;
  tr.first = true;
  tr.failed = false;
  tr.events = tr.dropped = 0;
  memset(tr.pseen, 0, sizeof tr.pseen);
  tr.sched_seen = false;
  tr.t0 = tc__nanotime();
  static const char head[] = "{\"traceEvents\":[\n";
  put_locked(head, sizeof head - 1);
  tr.open = true;
  tc__store_release(&tc__tracing, 1u);
  tc__spin_unlock(&tr.lock);
  return TC_OK;
}

/* Appends a thread_name and a thread_sort_index metadata event; lock held. */
static void meta_locked(int tid, const char *name) {
  char b[256];
  int n = snprintf(b, sizeof b,
                   "%s{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":1,"
                   "\"tid\":%d,\"args\":{\"name\":\"%s\"}},\n"
                   "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":1,"
                   "\"tid\":%d,\"args\":{\"sort_index\":%d}}",
                   tr.first ? "" : ",\n", tid, name, tid, tid);
  tr.first = false;
  put_locked(b, (size_t)n);
}

int tc_trace_stop(void) {
  tc__spin_lock(&tr.lock);
  if (!tr.open) {
    tc__spin_unlock(&tr.lock);
    return TC_ESTATE;
  }
  tc__store_relaxed(&tc__tracing, 0u);
  tr.open = false;
  char b[512];
  int n = snprintf(b, sizeof b,
                   "%s{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,"
                   "\"args\":{\"name\":\"tricolor\"}}",
                   tr.first ? "" : ",\n");
  tr.first = false;
  put_locked(b, (size_t)n);
  meta_locked(TID_GC, "GC");
  meta_locked(TID_STW, "STW");
  if (tr.sched_seen)
    meta_locked(TID_SCHED, "sched");
  for (int i = 0; i < MAX_NAMED_PS; i++)
    if (tr.pseen[i / 64] & ((uint64_t)1 << (i % 64))) {
      char name[16];
      snprintf(name, sizeof name, "P%d", i);
      meta_locked(TID_P0 + i, name);
    }
  n = snprintf(b, sizeof b,
               "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{\"producer\":"
               "\"tricolor\",\"events\":%llu,\"dropped\":%llu}}\n",
               (unsigned long long)tr.events,
               (unsigned long long)tr.dropped);
  put_locked(b, (size_t)n);
  flush_locked();
  bool failed = tr.failed;
  if (close(tr.fd) != 0)
    failed = true;
  tr.fd = -1;
  free(tr.buf);
  tr.buf = NULL;
  tc__spin_unlock(&tr.lock);
  return failed ? TC_EINVAL : TC_OK;
}

/* ---------------------------------------------------------------- collector */

void tc__trace_pause(uint64_t start, uint64_t ns, int kind, uint64_t cycle,
                     int mode) {
  sbuf s;
  sb_head(&s, "X", TID_STW, start);
  sb_time(&s, "dur", ns);
  sb_printf(&s, ",\"name\":\"%s\",\"cat\":\"gc\",\"args\":{\"ns\":%llu,"
                "\"kind\":%d,\"cycle\":%llu,\"mode\":\"%s\"}",
            kind == 0 ? "pause: mark start" : "pause: mark termination",
            (unsigned long long)ns, kind, (unsigned long long)cycle,
            mode_name(mode));
  sb_emit(&s, start, true, TID_STW);
}

/* Opens a slice on the GC track: through the "args" object's first key,
 * the cycle; false if there is nothing to draw. */
static bool gc_slice_head(sbuf *s, const char *name, uint64_t start,
                          uint64_t end, uint64_t cycle) {
  if (start == 0 || end < start)
    return false;
  sb_head(s, "X", TID_GC, start);
  sb_time(s, "dur", end - start);
  sb_printf(s, ",\"name\":");
  sb_str(s, name);
  sb_printf(s, ",\"cat\":\"gc\",\"args\":{\"cycle\":%llu",
            (unsigned long long)cycle);
  return true;
}

void tc__trace_gc(const char *name, uint64_t start, uint64_t end,
                  uint64_t cycle) {
  sbuf s;
  if (!gc_slice_head(&s, name, start, end, cycle))
    return;
  sb_printf(&s, "}");
  sb_emit(&s, start, false, TID_GC);
}

void tc__trace_cycle(const char *name, uint64_t start, uint64_t end,
                     uint64_t cycle, const tc__weakstats *w) {
  sbuf s;
  if (!gc_slice_head(&s, name, start, end, cycle))
    return;
  sb_printf(&s, ",\"weak\":%llu,\"weak_cleared\":%llu,\"ephemerons\":%llu,"
                "\"ephemerons_cleared\":%llu,\"ephemerons_resolved\":%llu}",
            (unsigned long long)w->weak, (unsigned long long)w->weak_cleared,
            (unsigned long long)w->ephemerons,
            (unsigned long long)w->ephemerons_cleared,
            (unsigned long long)w->ephemerons_resolved);
  sb_emit(&s, start, false, TID_GC);
}

void tc__trace_mark_worker(uint64_t start, uint64_t end, uint64_t work,
                           bool idle) {
  int tid = current_tid();
  sbuf s;
  sb_head(&s, "X", tid, start);
  sb_time(&s, "dur", end - start);
  sb_printf(&s, ",\"name\":\"%s\",\"cat\":\"gc\",\"args\":{\"work\":%llu}",
            idle ? "mark (idle P)" : "mark (worker)",
            (unsigned long long)work);
  sb_emit(&s, start, false, tid);
}

void tc__trace_assist(uint64_t start, uint64_t end, uint64_t work) {
  int tid = current_tid();
  sbuf s;
  sb_head(&s, "X", tid, start);
  sb_time(&s, "dur", end - start);
  sb_printf(&s, ",\"name\":\"assist\",\"cat\":\"gc\",\"args\":{\"work\":%llu}",
            (unsigned long long)work);
  sb_emit(&s, start, false, tid);
}

/* ---------------------------------------------------------------- scheduler */

void tc__trace_slice(int pid, uint64_t gid, const char *func,
                     const char *file, int line, uint64_t start,
                     const char *why) {
  uint64_t end = tc__nanotime();
  int tid = TID_P0 + pid;
  sbuf s;
  sb_head(&s, "X", tid, start);
  sb_time(&s, "dur", end - start);
  sb_printf(&s, ",\"name\":\"G%llu\",\"cat\":\"g\",\"args\":{\"g\":%llu,"
                "\"end\":\"%s\",\"go_func\":",
            (unsigned long long)gid, (unsigned long long)gid, why);
  sb_str(&s, func);
  sb_printf(&s, ",\"go_at\":");
  sb_str(&s, file);
  sb_printf(&s, ",\"go_line\":%d}", line);
  sb_emit(&s, start, false, tid);
}

/* An instant event about G gid on the caller's track. */
static void g_instant(const char *what, uint64_t gid, const char *key,
                      const char *val) {
  int tid = current_tid();
  uint64_t now = tc__nanotime();
  sbuf s;
  sb_head(&s, "i", tid, now);
  sb_printf(&s, ",\"s\":\"t\",\"name\":\"%s G%llu\",\"cat\":\"g\","
                "\"args\":{\"g\":%llu",
            what, (unsigned long long)gid, (unsigned long long)gid);
  if (key) {
    sb_printf(&s, ",\"%s\":", key);
    sb_str(&s, val);
  }
  sb_printf(&s, "}");
  sb_emit(&s, now, false, tid);
}

void tc__trace_gcreate(uint64_t gid, const char *func) {
  g_instant("create", gid, "go_func", func);
}

void tc__trace_gblock(uint64_t gid, const char *reason) {
  g_instant("block", gid, "reason", reason);
}

void tc__trace_gunblock(uint64_t gid) {
  g_instant("unblock", gid, NULL, NULL);
}
