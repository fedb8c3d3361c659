/*
 * test_trace_events.c -- the event trace (collector/trace.c): tc_trace_start
 * and tc_trace_stop write Chrome Trace Event JSON that a viewer can load.
 *
 * What is tested:
 *   - a workload under tc_run on 2 Ps (coroutines that allocate, so cycles
 *     run, some forced by tc_gc in each barrier mode; that meet on an
 *     unbuffered channel; that sleep) traced from its first line to after
 *     a final tc_gc; the file is then checked by validate() below:
 *       (a) it is JSON (a strict parser: one value, nothing after it,
 *           RFC 8259 grammar) whose top level holds a traceEvents array of
 *           objects with ph, pid, tid, ts (and dur for "X");
 *       (b) per tid, every "B" has its "E" in LIFO order (same name if the
 *           E has one) and no two slices ("X" or a B/E pair) partially
 *           overlap: slices on one track nest;
 *     and then by the test itself:
 *       (c) every pause the stats recorded while the trace ran (pause_ns,
 *           pause_kind, pause_end_ns) is a pause event with the same
 *           length in ns (args.ns) and kind, at the same instant (one
 *           clock offset for all of them);
 *       (d) every coroutine the test made has a create, a block, an unblock
 *           instant and at least one run slice; the GC track has cycles and
 *           a concurrent mark; the tracks are named;
 *   - negative controls: the file with its last brace dropped, with an
 *     unmatched "B", with an "E" and no "B", with two partially
 *     overlapping slices, and with a pause's length changed, is rejected;
 *     a synthetic well-nested B/E trace is accepted;
 *   - the API's errors: NULL or empty path, a missing directory, a second
 *     start, a stop without a start; a trace without a runtime is valid
 *     and empty; tc_run's end stops a running trace and completes the file.
 *
 * Nothing asserts on time.  Sizes shrink on slow builds (scaled()).
 * TC_TEST_KEEP_TRACE=1 keeps the workload's trace file (its path is
 * printed) to open in ui.perfetto.dev or chrome://tracing.
 */
#include "tc_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tricolor.h>

#include "tc_sched_test.h" /* run(), EXPECT, scaled() */

/* ------------------------------------------------------------------ */
/* A strict JSON parser into a small tree                              */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
  int type;
  bool b;
  char *s;          /* J_STR: decoded; J_NUM: the literal */
  size_t n;         /* J_ARR, J_OBJ: entries */
  struct jv *items; /* entries (object values) */
  char **keys;      /* J_OBJ: keys */
} jv;

typedef struct jp {
  const char *p, *end;
  int depth;
  const char *err;
} jp;

static void jv_free(jv *v) {
  free(v->s);
  for (size_t i = 0; i < v->n; i++) {
    jv_free(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
}

static void ws(jp *j) {
  while (j->p < j->end &&
         (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static bool fail_at(jp *j, const char *why) {
  if (!j->err)
    j->err = why;
  return false;
}

static bool parse_value(jp *j, jv *out);

static bool parse_string(jp *j, char **out) {
  if (j->p >= j->end || *j->p != '"')
    return fail_at(j, "string expected");
  j->p++;
  size_t cap = 16, n = 0;
  char *s = malloc(cap);
  for (;;) {
    if (j->p >= j->end) {
      free(s);
      return fail_at(j, "unterminated string");
    }
    unsigned char c = (unsigned char)*j->p++;
    if (c == '"')
      break;
    if (c < 0x20) {
      free(s);
      return fail_at(j, "control character in string");
    }
    if (c == '\\') {
      if (j->p >= j->end) {
        free(s);
        return fail_at(j, "bad escape");
      }
      char e = *j->p++;
      switch (e) {
      case '"': case '\\': case '/': c = (unsigned char)e; break;
      case 'b': c = '\b'; break;
      case 'f': c = '\f'; break;
      case 'n': c = '\n'; break;
      case 'r': c = '\r'; break;
      case 't': c = '\t'; break;
      case 'u':
        for (int k = 0; k < 4; k++)
          if (j->p + k >= j->end || !strchr("0123456789abcdefABCDEF", j->p[k]) ||
              j->p[k] == '\0') {
            free(s);
            return fail_at(j, "bad \\u escape");
          }
        j->p += 4;
        c = '?'; /* the tests never need the code point */
        break;
      default:
        free(s);
        return fail_at(j, "bad escape");
      }
    }
    if (n + 2 > cap)
      s = realloc(s, cap *= 2);
    s[n++] = (char)c;
  }
  s[n] = '\0';
  *out = s;
  return true;
}

static bool digits(jp *j) {
  const char *start = j->p;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
    j->p++;
  return j->p > start;
}

static bool parse_number(jp *j, jv *out) {
  const char *start = j->p;
  if (j->p < j->end && *j->p == '-')
    j->p++;
  if (j->p < j->end && *j->p == '0')
    j->p++;
  else if (!digits(j))
    return fail_at(j, "bad number");
  if (j->p < j->end && *j->p == '.') {
    j->p++;
    if (!digits(j))
      return fail_at(j, "bad fraction");
  }
  if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
    j->p++;
    if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
      j->p++;
    if (!digits(j))
      return fail_at(j, "bad exponent");
  }
  out->type = J_NUM;
  out->s = strndup(start, (size_t)(j->p - start));
  return true;
}

static bool parse_container(jp *j, jv *out, bool obj) {
  j->p++; /* [ or { */
  if (++j->depth > 64)
    return fail_at(j, "nested too deep");
  out->type = obj ? J_OBJ : J_ARR;
  size_t cap = 0;
  ws(j);
  if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
    j->p++;
    j->depth--;
    return true;
  }
  for (;;) {
    if (out->n == cap) {
      cap = cap ? cap * 2 : 8;
      out->items = realloc(out->items, cap * sizeof *out->items);
      if (obj)
        out->keys = realloc(out->keys, cap * sizeof *out->keys);
    }
    jv *item = &out->items[out->n];
    memset(item, 0, sizeof *item);
    ws(j);
    if (obj) {
      out->keys[out->n] = NULL;
      if (!parse_string(j, &out->keys[out->n]))
        return false;
      out->n++; /* counted now so that jv_free frees the key */
      ws(j);
      if (j->p >= j->end || *j->p != ':')
        return fail_at(j, "':' expected");
      j->p++;
      if (!parse_value(j, item))
        return false;
    } else {
      out->n++;
      if (!parse_value(j, item))
        return false;
    }
    ws(j);
    if (j->p < j->end && *j->p == ',') {
      j->p++;
      continue;
    }
    if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
      j->p++;
      j->depth--;
      return true;
    }
    return fail_at(j, obj ? "',' or '}' expected" : "',' or ']' expected");
  }
}

static bool literal(jp *j, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
    return fail_at(j, "unexpected character");
  j->p += n;
  return true;
}

static bool parse_value(jp *j, jv *out) {
  ws(j);
  if (j->p >= j->end)
    return fail_at(j, "unexpected end");
  switch (*j->p) {
  case '{': return parse_container(j, out, true);
  case '[': return parse_container(j, out, false);
  case '"': out->type = J_STR; return parse_string(j, &out->s);
  case 't': out->type = J_BOOL; out->b = true; return literal(j, "true");
  case 'f': out->type = J_BOOL; return literal(j, "false");
  case 'n': out->type = J_NULL; return literal(j, "null");
  default: return parse_number(j, out);
  }
}

/* Parses a whole document; false (and *err) unless it is exactly one
 * JSON value with only whitespace around it. */
static bool json_parse(const char *text, size_t len, jv *out,
                       const char **err) {
  jp j = {text, text + len, 0, NULL};
  memset(out, 0, sizeof *out);
  bool ok = parse_value(&j, out);
  if (ok) {
    ws(&j);
    if (j.p != j.end)
      ok = fail_at(&j, "trailing characters");
  }
  if (!ok)
    jv_free(out);
  *err = j.err;
  return ok;
}

static const jv *jget(const jv *o, const char *key) {
  if (o == NULL || o->type != J_OBJ)
    return NULL;
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->keys[i], key) == 0)
      return &o->items[i];
  return NULL;
}

static const char *jstr(const jv *o, const char *key) {
  const jv *v = jget(o, key);
  return v && v->type == J_STR ? v->s : NULL;
}

/* A number of microseconds as exact nanoseconds (3 decimals kept). */
static bool us_to_ns(const jv *v, int64_t *ns) {
  if (v == NULL || v->type != J_NUM)
    return false;
  const char *s = v->s;
  if (strpbrk(s, "eE")) {
    *ns = (int64_t)(strtod(s, NULL) * 1000.0 + 0.5);
    return true;
  }
  bool neg = *s == '-';
  if (neg)
    s++;
  int64_t x = 0;
  while (*s >= '0' && *s <= '9')
    x = x * 10 + (*s++ - '0');
  x *= 1000;
  if (*s == '.') {
    s++;
    int64_t scale = 100;
    while (*s >= '0' && *s <= '9' && scale > 0) {
      x += (*s++ - '0') * scale;
      scale /= 10;
    }
  }
  *ns = neg ? -x : x;
  return true;
}

static bool jnum_u64(const jv *o, const char *key, uint64_t *out) {
  const jv *v = jget(o, key);
  if (v == NULL || v->type != J_NUM)
    return false;
  *out = strtoull(v->s, NULL, 10);
  return true;
}

/* ------------------------------------------------------------------ */
/* The validator: (a) the shape, (b) nesting per track                 */

typedef struct span {
  int64_t tid, start, end;
  size_t order; /* position in the file: ties keep outer-first order */
} span;

static int span_cmp(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->tid != y->tid)
    return x->tid < y->tid ? -1 : 1;
  if (x->start != y->start)
    return x->start < y->start ? -1 : 1;
  if (x->end != y->end)
    return x->end > y->end ? -1 : 1; /* the longer (outer) one first */
  return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct open_b {
  int64_t tid, ts;
  const char *name;
} open_b;

/* Checks (a) and (b); on success *doc holds the parsed file (free it). */
static bool validate(const char *text, size_t len, jv *doc, char *why,
                     size_t whylen) {
  const char *err = NULL;
  if (!json_parse(text, len, doc, &err)) {
    snprintf(why, whylen, "not JSON: %s", err ? err : "?");
    return false;
  }
  const jv *evs = jget(doc, "traceEvents");
  if (evs == NULL || evs->type != J_ARR) {
    snprintf(why, whylen, "no traceEvents array");
    goto bad;
  }
  span *spans = calloc(evs->n + 1, sizeof *spans);
  open_b *stack = calloc(evs->n + 1, sizeof *stack);
  size_t ns = 0, nb = 0;
  bool ok = true;
  for (size_t i = 0; i < evs->n && ok; i++) {
    const jv *e = &evs->items[i];
    const char *ph = jstr(e, "ph");
    const jv *pid = jget(e, "pid"), *tid = jget(e, "tid");
    if (e->type != J_OBJ || ph == NULL || pid == NULL || pid->type != J_NUM) {
      snprintf(why, whylen, "event %zu: not an object with ph and pid", i);
      ok = false;
      break;
    }
    if (strcmp(ph, "M") == 0)
      continue;
    int64_t ts, dur;
    if (tid == NULL || tid->type != J_NUM || !us_to_ns(jget(e, "ts"), &ts)) {
      snprintf(why, whylen, "event %zu: no tid or ts", i);
      ok = false;
      break;
    }
    int64_t t = strtoll(tid->s, NULL, 10);
    if (strcmp(ph, "X") == 0) {
      if (!us_to_ns(jget(e, "dur"), &dur) || dur < 0) {
        snprintf(why, whylen, "event %zu: X without a valid dur", i);
        ok = false;
        break;
      }
      spans[ns++] = (span){t, ts, ts + dur, i};
    } else if (strcmp(ph, "B") == 0) {
      stack[nb++] = (open_b){t, ts, jstr(e, "name")};
    } else if (strcmp(ph, "E") == 0) {
      /* the innermost open B of this tid */
      size_t k = nb;
      while (k > 0 && stack[k - 1].tid != t)
        k--;
      const char *name = jstr(e, "name");
      if (k == 0) {
        snprintf(why, whylen, "event %zu: E without a B on tid %lld", i,
                 (long long)t);
        ok = false;
        break;
      }
      open_b b = stack[k - 1];
      if ((name && b.name && strcmp(name, b.name) != 0) || ts < b.ts) {
        snprintf(why, whylen, "event %zu: E does not close the last B on "
                 "tid %lld", i, (long long)t);
        ok = false;
        break;
      }
      memmove(&stack[k - 1], &stack[k], (nb - k) * sizeof *stack);
      nb--;
      spans[ns++] = (span){t, b.ts, ts, i};
    } else if (strcmp(ph, "i") != 0 && strcmp(ph, "I") != 0) {
      snprintf(why, whylen, "event %zu: unexpected ph \"%s\"", i, ph);
      ok = false;
      break;
    }
  }
  if (ok && nb > 0) {
    snprintf(why, whylen, "%zu B event(s) never closed (tid %lld)", nb,
             (long long)stack[0].tid);
    ok = false;
  }
  if (ok) {
    /* nesting: sorted by start (outer first), a stack of open spans */
    qsort(spans, ns, sizeof *spans, span_cmp);
    size_t depth = 0;
    span *open = calloc(ns + 1, sizeof *open);
    for (size_t i = 0; i < ns && ok; i++) {
      if (i > 0 && spans[i].tid != spans[i - 1].tid)
        depth = 0;
      while (depth > 0 && open[depth - 1].end <= spans[i].start)
        depth--;
      if (depth > 0 && spans[i].end > open[depth - 1].end) {
        snprintf(why, whylen, "tid %lld: slices overlap partially: "
                 "[%lld, %lld] and [%lld, %lld] ns", (long long)spans[i].tid,
                 (long long)open[depth - 1].start,
                 (long long)open[depth - 1].end, (long long)spans[i].start,
                 (long long)spans[i].end);
        ok = false;
      }
      open[depth++] = spans[i];
    }
    free(open);
  }
  free(spans);
  free(stack);
  if (ok)
    return true;
bad:
  jv_free(doc);
  return false;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* text with `ins` inserted right after the opening "[" of traceEvents. */
static char *insert_events(const char *text, const char *ins) {
  const char *at = strstr(text, "\"traceEvents\":[");
  assert_non_null(at);
  at += strlen("\"traceEvents\":[");
  size_t head = (size_t)(at - text);
  char *out = malloc(strlen(text) + strlen(ins) + 1);
  memcpy(out, text, head);
  strcpy(out + head, ins);
  strcat(out, text + head);
  return out;
}

static bool validates(const char *text) {
  jv doc;
  char why[256];
  bool ok = validate(text, strlen(text), &doc, why, sizeof why);
  if (ok)
    jv_free(&doc);
  return ok;
}

static void trace_path(char *buf, size_t n, const char *what) {
  snprintf(buf, n, "/tmp/tc_trace_%s_%d.json", what, (int)getpid());
}

/* ------------------------------------------------------------------ */
/* The workload                                                        */

typedef tc_test_node node; /* type tc_test_node_type */

#define WORKERS 6

static struct {
  char path[256];
  tc_chan *ch;               /* a global root */
  tc_waitgroup wg;
  long rounds;
  uint64_t ids[WORKERS];     /* the workers' coroutine ids */
  uint64_t p0, p1;           /* stats.pauses at trace start / end */
  tc_stats end;              /* stats at the end of the trace */
  int gcs;                   /* tc_gc calls made while tracing */
} w;

static void worker(void *arg) {
  long i = (long)(intptr_t)arg;
  w.ids[i] = tc_self();
  node *list = NULL;
  TC_LOCALS(list);
  static const tc_barrier_mode modes[] = {TC_BARRIER_HYBRID,
                                          TC_BARRIER_INSERTION,
                                          TC_BARRIER_DELETION, TC_BARRIER_STW};
  for (long r = 0; r < w.rounds; r++) {
    for (int k = 0; k < 2000; k++) {
      node *n = tc_alloc(&tc_test_node_type, sizeof(node));
      n->value = (uint64_t)k;
      TC_STORE(n, next, list);
      list = n;
    }
    if (r % 3 == 0)
      list = NULL;
    /* even workers send, odd ones receive: as many of each */
    if (i % 2 == 0)
      EXPECT(tc_chan_send(w.ch, (void *)(intptr_t)(r + 1)) == TC_OK);
    else
      EXPECT(tc_chan_recv(w.ch, NULL) != NULL);
    if (r % 4 == 0)
      tc_sleep(50000);
    if (i == 0 && r % 8 == 0) {
      tc_set_barrier(modes[(r / 8) % 4]);
      tc_gc();
      w.gcs++;
    }
  }
  tc_waitgroup_done(&w.wg);
}

static void traced_main(void *arg) {
  (void)arg;
  EXPECT(tc_trace_start(w.path) == TC_OK);
  EXPECT(tc_trace_start(w.path) == TC_EBUSY);
  tc_stats s;
  tc_read_stats(&s);
  w.p0 = s.pauses;
  w.ch = NULL;
  EXPECT(tc_root_add((void **)&w.ch, 1) == TC_OK);
  tc_store((void **)&w.ch, tc_chan_new(0, TC_CHAN_RAW));
  tc_waitgroup_add(&w.wg, WORKERS);
  for (long i = 0; i < WORKERS; i++)
    EXPECT(tc_go(worker, (void *)(intptr_t)i) == TC_OK);
  tc_waitgroup_wait(&w.wg);
  /* After this every cycle that recorded a pause has also written it:
   * nothing allocates any more, so no cycle is pending or running. */
  tc_gc();
  w.gcs++;
  tc_read_stats(&w.end);
  w.p1 = w.end.pauses;
  EXPECT(tc_trace_stop() == TC_OK);
  EXPECT(tc_trace_stop() == TC_ESTATE);
  tc_root_remove((void **)&w.ch);
}

/* Counts trace events whose name is exactly `name` (and ph). */
static size_t count_named(const jv *evs, const char *ph, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < evs->n; i++) {
    const char *p = jstr(&evs->items[i], "ph");
    const char *nm = jstr(&evs->items[i], "name");
    if (p && nm && strcmp(p, ph) == 0 && strcmp(nm, name) == 0)
      n++;
  }
  return n;
}

static size_t count_prefixed(const jv *evs, const char *ph, const char *pre) {
  size_t n = 0;
  for (size_t i = 0; i < evs->n; i++) {
    const char *p = jstr(&evs->items[i], "ph");
    const char *nm = jstr(&evs->items[i], "name");
    if (p && nm && strcmp(p, ph) == 0 && strncmp(nm, pre, strlen(pre)) == 0)
      n++;
  }
  return n;
}

static bool track_named(const jv *evs, const char *name) {
  for (size_t i = 0; i < evs->n; i++) {
    const jv *e = &evs->items[i];
    const char *p = jstr(e, "ph"), *nm = jstr(e, "name");
    if (p && nm && strcmp(p, "M") == 0 && strcmp(nm, "thread_name") == 0) {
      const char *v = jstr(jget(e, "args"), "name");
      if (v && strcmp(v, name) == 0)
        return true;
    }
  }
  return false;
}

/* (c): every pause in [p0, p1) of the stats is a pause event with the
 * same ns and kind; returns the first pause index missing, or -1. */
static long missing_pause(const jv *evs, const tc_stats *s, uint64_t p0,
                          uint64_t p1) {
  size_t n = evs->n;
  bool *used = calloc(n + 1, 1);
  uint64_t from = p1 - p0 > TC_PAUSE_RING ? p1 - TC_PAUSE_RING : p0;
  long missing = -1;
  bool have_origin = false;
  int64_t origin = 0; /* the stats' clock less the trace's, set by pause 0 */
  for (uint64_t k = from; k < p1 && missing < 0; k++) {
    uint64_t want = s->pause_ns[k % TC_PAUSE_RING];
    int kind = s->pause_kind[k % TC_PAUSE_RING];
    int64_t start = (int64_t)(s->pause_end_ns[k % TC_PAUSE_RING] - want);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
      const jv *e = &evs->items[i];
      const char *nm = jstr(e, "name"), *ph = jstr(e, "ph");
      uint64_t ns, kd;
      if (used[i] || !ph || strcmp(ph, "X") || !nm ||
          strncmp(nm, "pause: ", 7) != 0)
        continue;
      const jv *args = jget(e, "args");
      int64_t dur, ts;
      if (jnum_u64(args, "ns", &ns) && jnum_u64(args, "kind", &kd) &&
          ns == want && (int)kd == kind && us_to_ns(jget(e, "dur"), &dur) &&
          (uint64_t)dur == want && us_to_ns(jget(e, "ts"), &ts) &&
          (!have_origin || start - ts == origin) &&
          strcmp(nm, kind ? "pause: mark termination" : "pause: mark start") ==
              0) {
        /* pause_end_ns: the same instants as the trace, one clock apart */
        if (!have_origin)
          origin = start - ts;
        have_origin = true;
        used[i] = true;
        found = true;
      }
    }
    if (!found)
      missing = (long)k;
  }
  free(used);
  return missing;
}

static void test_trace_workload(void **state) {
  (void)state;
  memset(&w, 0, sizeof w);
  trace_path(w.path, sizeof w.path, "workload");
  w.rounds = scaled(256, 8);
  run(2, traced_main, NULL);

  size_t len;
  char *text = slurp(w.path, &len);
  jv doc;
  char why[256];
  bool ok = validate(text, len, &doc, why, sizeof why);
  if (!ok)
    print_error("trace %s rejected: %s\n", w.path, why);
  assert_true(ok);
  const jv *evs = jget(&doc, "traceEvents");
  assert_true(jget(&doc, "displayTimeUnit") != NULL);

  /* (c) the pauses */
  assert_true(w.p1 > w.p0);
  long miss = missing_pause(evs, &w.end, w.p0, w.p1);
  if (miss >= 0)
    print_error("pause %ld (%llu ns) not in the trace\n", miss,
                (unsigned long long)w.end.pause_ns[miss % TC_PAUSE_RING]);
  assert_int_equal(miss, -1);

  /* (d) the coroutines */
  for (int i = 0; i < WORKERS; i++) {
    char name[64];
    assert_true(w.ids[i] > 1);
    snprintf(name, sizeof name, "create G%llu", (unsigned long long)w.ids[i]);
    assert_int_equal(count_named(evs, "i", name), 1);
    snprintf(name, sizeof name, "block G%llu", (unsigned long long)w.ids[i]);
    assert_true(count_named(evs, "i", name) >= 1);
    snprintf(name, sizeof name, "unblock G%llu", (unsigned long long)w.ids[i]);
    assert_true(count_named(evs, "i", name) >= 1);
    snprintf(name, sizeof name, "G%llu", (unsigned long long)w.ids[i]);
    assert_true(count_named(evs, "X", name) >= 1);
  }
  /* the collector's track: a cycle per tc_gc at least, concurrent marks */
  assert_true(count_prefixed(evs, "X", "GC ") >= (size_t)w.gcs);
  assert_true(count_named(evs, "X", "concurrent mark") >= 1);
  assert_true(track_named(evs, "GC"));
  assert_true(track_named(evs, "STW"));
  assert_true(track_named(evs, "P0"));

  /* negative controls: the checker can fail */
  char *bad = strdup(text);
  char *brace = strrchr(bad, '}');
  *brace = ' ';
  assert_false(validates(bad)); /* a closing brace dropped */
  free(bad);
  bad = insert_events(text, "{\"ph\":\"B\",\"pid\":1,\"tid\":100,"
                            "\"ts\":1.000,\"name\":\"open\"},\n");
  assert_false(validates(bad)); /* a B never closed */
  free(bad);
  bad = insert_events(text, "{\"ph\":\"E\",\"pid\":1,\"tid\":100,"
                            "\"ts\":1.000},\n");
  assert_false(validates(bad)); /* an E without a B */
  free(bad);
  bad = insert_events(text,
                      "{\"ph\":\"X\",\"pid\":1,\"tid\":100,\"ts\":10.000,"
                      "\"dur\":5.000,\"name\":\"a\"},\n"
                      "{\"ph\":\"X\",\"pid\":1,\"tid\":100,\"ts\":12.000,"
                      "\"dur\":5.000,\"name\":\"b\"},\n");
  assert_false(validates(bad)); /* two slices overlap partially */
  free(bad);
  /* a pause whose length differs by 1 ns is not matched */
  tc_stats off = w.end;
  uint64_t last = (w.p1 - 1) % TC_PAUSE_RING;
  off.pause_ns[last] += 1;
  assert_true(missing_pause(evs, &off, w.p0, w.p1) >= 0);
  /* nor one that ended 1 ns later than the trace says */
  off = w.end;
  off.pause_end_ns[last] += 1;
  assert_true(missing_pause(evs, &off, w.p0, w.p1) >= 0);

  jv_free(&doc);
  free(text);
  if (getenv("TC_TEST_KEEP_TRACE") == NULL) /* to open it in Perfetto */
    unlink(w.path);
  else
    print_message("trace kept: %s\n", w.path);
}

/* The validator accepts nested B/E pairs and rejects crossed ones. */
static void test_trace_validator_nesting(void **state) {
  (void)state;
  const char *good =
      "{\"traceEvents\":["
      "{\"ph\":\"B\",\"pid\":1,\"tid\":7,\"ts\":1,\"name\":\"a\"},"
      "{\"ph\":\"B\",\"pid\":1,\"tid\":7,\"ts\":2,\"name\":\"b\"},"
      "{\"ph\":\"X\",\"pid\":1,\"tid\":7,\"ts\":2.5,\"dur\":0.5,\"name\":\"c\"},"
      "{\"ph\":\"B\",\"pid\":1,\"tid\":8,\"ts\":2,\"name\":\"x\"},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":7,\"ts\":3,\"name\":\"b\"},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":7,\"ts\":4},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":8,\"ts\":9},"
      "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":7,\"ts\":9,\"name\":\"i\"}"
      "],\"displayTimeUnit\":\"ns\"}";
  assert_true(validates(good));
  const char *crossed =
      "{\"traceEvents\":["
      "{\"ph\":\"B\",\"pid\":1,\"tid\":7,\"ts\":1,\"name\":\"a\"},"
      "{\"ph\":\"B\",\"pid\":1,\"tid\":7,\"ts\":2,\"name\":\"b\"},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":7,\"ts\":3,\"name\":\"a\"},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":7,\"ts\":4,\"name\":\"b\"}]}";
  assert_false(validates(crossed));
  const char *outside =
      "{\"traceEvents\":["
      "{\"ph\":\"B\",\"pid\":1,\"tid\":7,\"ts\":1,\"name\":\"a\"},"
      "{\"ph\":\"X\",\"pid\":1,\"tid\":7,\"ts\":2,\"dur\":5,\"name\":\"c\"},"
      "{\"ph\":\"E\",\"pid\":1,\"tid\":7,\"ts\":4,\"name\":\"a\"}]}";
  assert_false(validates(outside));
  /* JSON errors */
  assert_false(validates("{\"traceEvents\":[],}"));
  assert_false(validates("{\"traceEvents\":[01]}"));
  assert_false(validates("{\"traceEvents\":[]} x"));
  assert_false(validates("{\"traceEvents\":[\"a\tb\"]}"));
  assert_false(validates("{\"traceEvents\":{}}"));
  assert_true(validates(" {\"traceEvents\":[], \"x\":[true,false,null,-1.5e3,"
                        "\"\\u00e9\\n\"]} "));
}

static void test_trace_api_errors(void **state) {
  (void)state;
  char path[256];
  trace_path(path, sizeof path, "api");
  assert_int_equal(tc_trace_stop(), TC_ESTATE);
  assert_int_equal(tc_trace_start(NULL), TC_EINVAL);
  assert_int_equal(tc_trace_start(""), TC_EINVAL);
  assert_int_equal(tc_trace_start("/nonexistent-dir-tricolor/x.json"),
                   TC_ENOENT);
  assert_int_equal(tc_trace_start("/"), TC_EINVAL); /* a directory */
  /* without a runtime: an empty, valid trace */
  assert_int_equal(tc_trace_start(path), TC_OK);
  assert_int_equal(tc_trace_start(path), TC_EBUSY);
  assert_int_equal(tc_trace_stop(), TC_OK);
  assert_int_equal(tc_trace_stop(), TC_ESTATE);
  size_t len;
  char *text = slurp(path, &len);
  assert_true(validates(text));
  free(text);
  unlink(path);
}

static void traced_to_end_main(void *arg) {
  const char *path = arg;
  EXPECT(tc_trace_start(path) == TC_OK);
  for (int i = 0; i < 3; i++)
    tc_yield();
  tc_gc();
  /* returns with the trace running: tc_run's end stops it */
}

static void test_trace_stopped_by_tc_run(void **state) {
  (void)state;
  char path[256];
  trace_path(path, sizeof path, "end");
  run(2, traced_to_end_main, path);
  assert_int_equal(tc_trace_stop(), TC_ESTATE);
  size_t len;
  char *text = slurp(path, &len);
  assert_true(validates(text));
  assert_non_null(strstr(text, "\"pause: mark"));
  free(text);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_trace_validator_nesting),
      cmocka_unit_test(test_trace_api_errors),
      cmocka_unit_test(test_trace_stopped_by_tc_run),
      cmocka_unit_test(test_trace_workload),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
