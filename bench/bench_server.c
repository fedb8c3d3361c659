/*
 * bench/bench_server.c -- request latency of a server-like program: many
 * coroutines, request-scoped garbage and a long-lived cache that keeps
 * changing.  tricolor only.
 *
 * What it stresses.  What a collector costs the requests of a server, not
 * only its pauses.  A dispatcher (the main coroutine) hands N requests
 * (default 200000) over an unbuffered channel to W worker coroutines
 * (default 1000), at most K of them in flight (default 32).  Each request
 * is about 1.9 KiB of garbage: the wire bytes (a noscan object of 224..415
 * bytes), a parsed request (6 header nodes, each with a noscan copy of its
 * slice of the body, and a noscan copy of the body) and a response (one
 * node per cache value and per header, plus a 256-byte noscan output).
 * The workers share a cache: a heap array of C slots (default 20000), each
 * holding an entry of 336 bytes (an entry object, a key node, 4 value nodes
 * and a 128-byte noscan payload), about 6.5 MiB live in all.  A request
 * whose key is not in its slot, or one in R (default 8) of the others,
 * builds a new entry and stores it over the old one, which becomes
 * garbage: the barrier sees overwrites of old values by every P, and most
 * of the W root stacks belong to parked workers.  With the defaults about
 * 360 MiB are allocated over a live heap of about 7 MiB: some sixty
 * cycles.  Where the work of a cycle lands, by mode (docs/barriers.md):
 *   hybrid     W stacks scanned concurrently, once each: short pauses;
 *              requests pay in assists and barrier slow paths;
 *   insertion  the termination pause rescans all W stacks;
 *   deletion   the mark-start pause snapshots all W stacks;
 *   stw        every cycle is one pause that marks the whole cache.
 * A pause delays every request in flight, so the tail of the request
 * latency shows pauses and assists as a client would see them.
 *
 * Method.
 *   1. Main starts the W workers, which park in a receive on the request
 *      channel, and fills the cache with the entries of keys 0..C-1; then
 *      it forgets the pauses so far (bench_pauses_reset: set-up is not
 *      measured).
 *   2. The serving phase is timed.  For each request main takes one of K
 *      units of a semaphore, reads the clock (the request's creation
 *      time), builds the wire bytes (an id, a key uniform over 5C/4 keys,
 *      a refresh flag true one time in R, a body of random bytes) and
 *      sends them.  A worker parses them into a request, looks up slot
 *      key mod C (slots below C/4 are shared by two keys, so about one
 *      lookup in five misses), replaces the entry on a miss or refresh,
 *      builds the response, checks the request and the response, records
 *      the latency (now minus the creation time) and gives the unit back.
 *      Main yields after each send (see "Yielding").  After the last
 *      request it closes the channel and waits for the workers.
 *   3. Checks.  Every entry read from the cache is checked against its key
 *      and version (key node, values, payload and its sum), and so is the
 *      whole cache at the end; every request and response is walked after
 *      the response is built (its objects must still hold what was written:
 *      an object reclaimed too early is reused and overwritten).  Each
 *      worker keeps the entry of its last request in a root until its next
 *      request (a session's affinity), parked meanwhile, and checks it
 *      then: an entry replaced in the cache in between lives on only
 *      through that root stack, the case the barrier's shading of the
 *      overwritten value is for.  Any damage fails the run (exit status
 *      1).
 * Figures: the RESULT line (backend.h) with bench=server, wall_ms the
 * serving phase, ops=N requests, mutators=W, and req_p50_us, req_p99_us,
 * req_p999_us, req_max_us: the request latency quantiles (nearest rank)
 * in microseconds.  Pauses reach few requests (those in flight, one or
 * two per P), so they show in p99.9 and max; p99 shows assists and
 * barrier slow paths.  On a machine with no spare core, max also holds
 * an OS time slice (4 ms on the 2-core test machine) whenever the kernel
 * preempts an M in the middle of a request: seen with TRICOLOR_GC=off
 * too, never with TRICOLOR_PROCS=1 there.
 *
 * Publishing an entry.  A worker builds an entry with plain and tc_store
 * writes, then makes it visible to the other Ps through the table.  A
 * reader must see the entry's fields, so the store is a release and the
 * lookup an acquire; tc_store stores relaxed (the collector needs no more),
 * which would leave the reader's plain reads racing with the writer's.  So
 * publish() runs the barrier with tc_barrier(old, new) and stores with a
 * release compare-and-swap, retrying (barrier included) when another P
 * stored first: every value overwritten goes through the barrier, which a
 * plain load-barrier-store sequence does not promise when two Ps store
 * into one slot at once.  No safepoint separates the barrier from the
 * store, so the cycle's phase cannot change in between.
 *
 * Yielding.  A send readies the receiving worker into the runnext slot of
 * main's P, where it inherits main's time slice, and pushes the worker
 * readied before it to the local queue.  Without the yield, main and the
 * worker it just readied hand the P to each other through runnext (a
 * release readies main there in turn) and the workers pushed aside wait
 * for sysmon's 10 ms preemption: with collection off, p99 latency was
 * 0.5 ms at K = 32 and 14 ms at K = 128, the scheduler's figure, not the
 * collector's.  The yield puts main behind the worker, so requests run in
 * the order they came, as when a network poller readies the goroutines
 * (Go's netpoller queues them, never into runnext); p99 drops to about
 * 10 us with collection off, whatever K.
 *
 * Alternatives rejected.  Open-loop arrivals (requests at a fixed rate
 * whatever the latency) would not hide the queueing a pause causes (a
 * closed loop stops issuing while stalled: coordinated omission), but they
 * need a timer with microsecond resolution, which tc_sleep does not
 * promise; the closed loop with K in flight keeps the run deterministic in
 * its work and its length.  No bound on requests in flight (the dispatcher
 * runs until all W workers are busy) would measure the W-deep run queue,
 * not the collector.  A worker per request (tc_go for each) would measure
 * coroutine creation.  A mutex around the cache would serialise the Ps
 * and time the lock.
 *
 * Usage: bench_server_tricolor [--workers W] [--requests N] [--cache C]
 *        [--replace R] [--seed S] [--inflight K]
 * Prints a summary line, then the RESULT line.
 */
#include "backend.h"


#if !defined(BACKEND_TRICOLOR)
#error "bench_server is tricolor only"
#endif

/* Shapes of the objects; sizes in bytes. */
#define HEADERS 6        /* header nodes per request: a small parsed tree */
#define BODY_MIN 192     /* request body, uniform in [BODY_MIN, BODY_MAX): */
#define BODY_MAX 384     /* a few hundred bytes, like a small HTTP request */
#define VALUES 4         /* value nodes per cache entry */
#define PAYLOAD 128      /* noscan payload per cache entry */
#define OUT_BYTES 256    /* noscan output per response */
#define KEY_SPAN_PCT 125 /* keys drawn = C * 125%: about 1 lookup in 5
                            misses (slots below C/4 hold one of two keys) */

/* A list node: request headers, entry keys and values, response items. */
typedef struct node {
  struct node *next;
  void *data;            /* noscan bytes or NULL */
  uint64_t a, b;         /* what the node stands for (see its maker) */
} node;

/* A cache entry; immutable once published. */
typedef struct entry {
  node *key;             /* a = key_id, b = version */
  node *values;          /* VALUES nodes: a = value_of(key, version, j),
                            b = j */
  uint8_t *payload;      /* PAYLOAD bytes: payload_byte(key, version, i) */
  uint64_t key_id;
  uint64_t version;      /* 0 for the pre-filled entries, else 1 + the
                            id of the request that built it */
  uint64_t sum;          /* sum of the payload bytes */
} entry;

/* The bytes of a request as they arrive: noscan. */
typedef struct wire {
  uint64_t id;           /* 0..N-1: index of its latency */
  uint64_t key;
  uint64_t created_ns;   /* bench_now_ns() when the dispatcher made it */
  uint32_t refresh;      /* 1: rebuild the entry even on a hit */
  uint32_t len;          /* bytes in body */
  uint8_t body[];
} wire;

/* A parsed request. */
typedef struct request {
  node *headers;         /* HEADERS nodes: data = a copy of body[a, a + b) */
  uint8_t *body;         /* a copy of the wire body, len bytes */
  uint64_t id, key;
  uint64_t len;
  uint64_t body_sum;     /* sum of the body bytes */
} request;

/* A response. */
typedef struct response {
  node *items;           /* VALUES + HEADERS nodes: see respond() */
  uint8_t *out;          /* OUT_BYTES bytes */
  uint64_t id;
  uint64_t nitems;
  uint64_t sum;          /* sum of the items' a and of the out bytes */
} response;

static const uint32_t node_refs[] = {offsetof(node, next),
                                     offsetof(node, data)};
static tc_type node_type = {.name = "node", .offsets = node_refs,
                            .noffsets = 2};
static const uint32_t entry_refs[] = {offsetof(entry, key),
                                      offsetof(entry, values),
                                      offsetof(entry, payload)};
static tc_type entry_type = {.name = "entry", .offsets = entry_refs,
                             .noffsets = 3};
static const uint32_t request_refs[] = {offsetof(request, headers),
                                        offsetof(request, body)};
static tc_type request_type = {.name = "request", .offsets = request_refs,
                               .noffsets = 2};
static const uint32_t response_refs[] = {offsetof(response, items),
                                         offsetof(response, out)};
static tc_type response_type = {.name = "response", .offsets = response_refs,
                                .noffsets = 2};
static const uint32_t array_refs[] = {0};
static tc_type array_type = {.name = "cache", .offsets = array_refs,
                             .noffsets = 1, .stride = sizeof(void *)};

typedef struct settings {
  long workers, requests, cache, replace, seed, inflight;
} settings;

/* Shared by main and the workers; lives on main's stack. */
typedef struct shared {
  const settings *cfg;
  void **table;            /* the cache: cfg->cache slots (main's root) */
  tc_chan *requests;       /* wire objects, closed after the last */
  tc_sema inflight;        /* units: requests that may be in flight */
  tc_waitgroup ready;      /* workers parked on the channel */
  tc_waitgroup finished;   /* workers that saw it closed */
  uint64_t *latency_ns;    /* malloc'd, [id] written by its worker */
  long errors;             /* atomic: damaged objects found */
  long hits, misses, refreshes; /* atomic, added by each worker at its end */
} shared;

/* ---- deterministic contents ---- */

/* Returns the next value of a splitmix64 sequence. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t mix(uint64_t key, uint64_t version, uint64_t j) {
  uint64_t s = key * 0x100000001b3u ^ version << 24 ^ j;
  return next_random(&s);
}

static uint64_t value_of(uint64_t key, uint64_t version, uint64_t j) {
  return mix(key, version, j + 1);
}

static uint8_t payload_byte(uint64_t h, size_t i) {
  return (uint8_t)((h >> (i & 7) * 8) + i);
}

static uint64_t byte_sum(const uint8_t *p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++)
    s += p[i];
  return s;
}

static void *new_obj(tc_type *type, size_t size) {
  return bench_check(tc_alloc(type, size), "tc_alloc");
}

static void *new_noscan(size_t size) {
  return bench_check(tc_alloc_noscan(size), "tc_alloc_noscan");
}

static node *new_node(uint64_t a, uint64_t b) {
  node *n = new_obj(&node_type, sizeof(node));
  n->a = a;
  n->b = b;
  return n;
}

/* ---- the cache ---- */

/* Returns a new entry for key, built by this coroutine.  Mutator. */
static entry *make_entry(uint64_t key, uint64_t version) {
  entry *e = NULL;
  node *n = NULL;
  TC_LOCALS(e, n);
  e = new_obj(&entry_type, sizeof(entry));
  e->key_id = key;
  e->version = version;
  n = new_node(key, version);
  TC_STORE(e, key, n);
  for (int j = VALUES - 1; j >= 0; j--) {
    n = new_node(value_of(key, version, (uint64_t)j), (uint64_t)j);
    TC_STORE(n, next, e->values);
    TC_STORE(e, values, n);
  }
  uint8_t *p = new_noscan(PAYLOAD);
  uint64_t h = mix(key, version, 0);
  for (size_t i = 0; i < PAYLOAD; i++)
    p[i] = payload_byte(h, i);
  e->sum = byte_sum(p, PAYLOAD);
  TC_STORE(e, payload, p);
  return e;
}

/* Tells whether e is the intact entry of a key that belongs in `slot`. */
static bool entry_is_intact(const entry *e, long slot, long slots) {
  if ((long)(e->key_id % (uint64_t)slots) != slot || e->key == NULL ||
      e->key->a != e->key_id || e->key->b != e->version ||
      e->payload == NULL)
    return false;
  uint64_t j = 0;
  for (const node *v = e->values; v != NULL; v = v->next, j++)
    if (j >= VALUES || v->b != j || v->a != value_of(e->key_id, e->version, j))
      return false;
  if (j != VALUES || byte_sum(e->payload, PAYLOAD) != e->sum)
    return false;
  uint64_t h = mix(e->key_id, e->version, 0);
  for (size_t i = 0; i < PAYLOAD; i += 37)
    if (e->payload[i] != payload_byte(h, i))
      return false;
  return true;
}

/* Returns the entry in *slot, or NULL; the acquire pairs with publish(). */
static entry *lookup(void **slot) {
  return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

/* Stores e into *slot: the barrier for each value overwritten, then a
 * release CAS (see "Publishing an entry").  Mutator. */
static void publish(void **slot, void *e) {
  void *old = __atomic_load_n(slot, __ATOMIC_RELAXED);
  do
    tc_barrier(old, e);
  while (!__atomic_compare_exchange_n(slot, &old, e, true, __ATOMIC_RELEASE,
                                      __ATOMIC_RELAXED));
}

/* ---- one request ---- */

/* Returns w parsed into a request.  Mutator; w is rooted by the caller. */
static request *parse(const wire *w) {
  request *rq = NULL;
  node *n = NULL;
  TC_LOCALS(rq, n);
  rq = new_obj(&request_type, sizeof(request));
  rq->id = w->id;
  rq->key = w->key;
  rq->len = w->len;
  uint8_t *body = new_noscan(w->len);
  memcpy(body, w->body, w->len);
  rq->body_sum = byte_sum(body, w->len);
  TC_STORE(rq, body, body);
  for (int k = HEADERS - 1; k >= 0; k--) {
    uint64_t a = (uint64_t)k * w->len / HEADERS;
    uint64_t b = (uint64_t)(k + 1) * w->len / HEADERS - a;
    n = new_node(a, b);
    uint8_t *data = new_noscan(b);
    memcpy(data, w->body + a, b);
    TC_STORE(n, data, data);
    TC_STORE(n, next, rq->headers);
    TC_STORE(rq, headers, n);
  }
  return rq;
}

/* Returns the response to rq from entry e.  Items: one per value of e
 * (a = value ^ body sum), then one per header (a = sum of its bytes, data =
 * the header's bytes, shared with the request).  Mutator; rq and e are
 * rooted by the caller. */
static response *respond(const request *rq, const entry *e) {
  response *rs = NULL;
  node *n = NULL, *v = NULL;
  TC_LOCALS(rs, n, v);
  rs = new_obj(&response_type, sizeof(response));
  rs->id = rq->id;
  uint64_t sum = 0, count = 0;
  for (v = e->values; v != NULL; v = v->next, count++) {
    n = new_node(v->a ^ rq->body_sum, v->b);
    sum += n->a;
    TC_STORE(n, next, rs->items);
    TC_STORE(rs, items, n);
  }
  for (v = rq->headers; v != NULL; v = v->next, count++) {
    n = new_node(byte_sum(v->data, v->b), v->a);
    sum += n->a;
    TC_STORE(n, data, v->data);
    TC_STORE(n, next, rs->items);
    TC_STORE(rs, items, n);
  }
  uint8_t *out = new_noscan(OUT_BYTES);
  for (size_t i = 0; i < OUT_BYTES; i++)
    out[i] = rq->body[i % rq->len] ^ e->payload[i % PAYLOAD];
  sum += byte_sum(out, OUT_BYTES);
  TC_STORE(rs, out, out);
  rs->nitems = count;
  rs->sum = sum;
  return rs;
}

/* Tells whether rq still matches w, and rs still adds up to its sum. */
static bool request_is_intact(const wire *w, const request *rq,
                              const response *rs) {
  if (rq->id != w->id || rq->len != w->len || rq->body == NULL ||
      memcmp(rq->body, w->body, w->len) != 0 ||
      byte_sum(rq->body, rq->len) != rq->body_sum)
    return false;
  int k = 0;
  for (const node *h = rq->headers; h != NULL; h = h->next, k++)
    if (k >= HEADERS || h->a != (uint64_t)k * w->len / HEADERS ||
        h->data == NULL || memcmp(h->data, w->body + h->a, h->b) != 0)
      return false;
  if (k != HEADERS || rs->id != w->id || rs->out == NULL)
    return false;
  uint64_t sum = 0, count = 0;
  for (const node *n = rs->items; n != NULL; n = n->next, count++)
    sum += n->a;
  sum += byte_sum(rs->out, OUT_BYTES);
  return count == VALUES + HEADERS && count == rs->nitems && sum == rs->sum;
}

typedef struct worker_stats {
  long hits, misses, refreshes, errors;
} worker_stats;

/* Serves one request: check the entry kept from the last one, parse, look
 * up (and maybe replace) the entry, respond, check, record the latency;
 * the entry is kept in *last (a root of the caller).  Worker coroutine. */
static void serve(shared *sh, wire *w, entry **last, worker_stats *st) {
  request *rq = NULL;
  response *rs = NULL;
  entry *e = NULL;
  TC_LOCALS(w, rq, rs, e);
  long slots = sh->cfg->cache;
  long slot = (long)(w->key % (uint64_t)slots);
  if (*last != NULL &&
      !entry_is_intact(*last, (long)((*last)->key_id % (uint64_t)slots),
                       slots))
    st->errors++;
  rq = parse(w);
  e = lookup(&sh->table[slot]);
  if (e != NULL && !entry_is_intact(e, slot, slots))
    st->errors++;
  bool hit = e != NULL && e->key_id == w->key;
  if (!hit || w->refresh) {
    e = make_entry(w->key, w->id + 1);
    publish(&sh->table[slot], e);
  }
  st->hits += hit;
  st->misses += !hit;
  st->refreshes += hit && w->refresh;
  rs = respond(rq, e);
  if (!request_is_intact(w, rq, rs))
    st->errors++;
  *last = e;
  sh->latency_ns[w->id] = bench_now_ns() - w->created_ns;
}

static void worker_main(void *arg) {
  shared *sh = arg;
  worker_stats st = {0};
  entry *last = NULL; /* the entry of the last request, kept until the next */
  TC_LOCALS(last);
  tc_waitgroup_done(&sh->ready);
  for (;;) {
    bool ok;
    wire *w = tc_chan_recv(sh->requests, &ok);
    if (!ok)
      break;
    serve(sh, w, &last, &st);
    tc_sema_release(&sh->inflight);
  }
  __atomic_add_fetch(&sh->hits, st.hits, __ATOMIC_RELAXED);
  __atomic_add_fetch(&sh->misses, st.misses, __ATOMIC_RELAXED);
  __atomic_add_fetch(&sh->refreshes, st.refreshes, __ATOMIC_RELAXED);
  __atomic_add_fetch(&sh->errors, st.errors, __ATOMIC_RELAXED);
  tc_waitgroup_done(&sh->finished);
}

/* ---- main: the dispatcher ---- */

/* Sends N requests, at most K in flight; returns when all are served. */
static void dispatch(shared *sh) {
  const settings *cfg = sh->cfg;
  uint64_t rng = (uint64_t)cfg->seed;
  uint64_t keys = (uint64_t)cfg->cache * KEY_SPAN_PCT / 100;
  wire *w = NULL;
  TC_LOCALS(w);
  for (long id = 0; id < cfg->requests; id++) {
    tc_sema_acquire(&sh->inflight);
    uint64_t created = bench_now_ns();
    uint32_t len = BODY_MIN + (uint32_t)(next_random(&rng) %
                                         (BODY_MAX - BODY_MIN));
    w = new_noscan(sizeof(wire) + len);
    w->id = (uint64_t)id;
    w->key = next_random(&rng) % keys;
    w->refresh = next_random(&rng) % (uint64_t)cfg->replace == 0;
    w->len = len;
    for (uint32_t i = 0; i < len; i += 8) {
      uint64_t r = next_random(&rng);
      memcpy(w->body + i, &r, len - i < 8 ? len - i : 8);
    }
    w->created_ns = created;
    tc_chan_send(sh->requests, w);
    tc_yield(); /* behind the worker it readied (see "Yielding") */
  }
  tc_chan_close(sh->requests);
  tc_waitgroup_wait(&sh->finished);
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s [--workers W] [--requests N] [--cache C] [--replace R] "
          "[--seed S] [--inflight K]\n",
          prog);
  return 2;
}

/* Parses argv into *c; false on a bad argument. */
static bool parse_args(int argc, char **argv, settings *c) {
  static const bench_opt opts[] = {
      {"--workers", offsetof(settings, workers), 1, 1000000},
      {"--requests", offsetof(settings, requests), 1, 1L << 32},
      {"--cache", offsetof(settings, cache), 1, 1L << 26},
      {"--replace", offsetof(settings, replace), 1, 1L << 30},
      {"--seed", offsetof(settings, seed), 0, 0x7fffffffffffffffL},
      {"--inflight", offsetof(settings, inflight), 1, 1000000},
  };
  return bench_parse_opts(argc, argv, opts, sizeof opts / sizeof opts[0], c);
}

static int bench_main(int argc, char **argv) {
  settings cfg = {.workers = 1000, .requests = 200000, .cache = 20000,
                  .replace = 8, .seed = 1, .inflight = 32};
  if (!parse_args(argc, argv, &cfg))
    return usage(argv[0]);

  shared sh = {.cfg = &cfg};
  TC_LOCALS(sh.table, sh.requests);
  sh.latency_ns = malloc((size_t)cfg.requests * sizeof sh.latency_ns[0]);
  sh.requests = tc_chan_new(0, 0);
  sh.table = tc_alloc(&array_type, (size_t)cfg.cache * sizeof(void *));
  if (sh.latency_ns == NULL || sh.requests == NULL || sh.table == NULL) {
    fprintf(stderr, "bench_server: out of memory\n");
    return 1;
  }
  tc_sema_init(&sh.inflight, cfg.inflight);

  /* 1. the workers, then the cache */
  tc_waitgroup_add(&sh.ready, cfg.workers);
  tc_waitgroup_add(&sh.finished, cfg.workers);
  for (long i = 0; i < cfg.workers; i++)
    if (tc_go(worker_main, &sh) != TC_OK) {
      fprintf(stderr, "bench_server: tc_go failed after %ld\n", i);
      return 1;
    }
  tc_waitgroup_wait(&sh.ready);
  for (long k = 0; k < cfg.cache; k++)
    publish(&sh.table[k], make_entry((uint64_t)k, 0));
  bench_pauses_reset();

  /* 2. the serving phase, timed */
  bench_set_mutators((int)cfg.workers);
  uint64_t start = bench_now_ns();
  dispatch(&sh);
  uint64_t wall = bench_now_ns() - start;
  bench_phase_end(); /* the checks below are not measured */

  /* 3. the whole cache, once more */
  for (long k = 0; k < cfg.cache; k++) {
    const entry *e = lookup(&sh.table[k]);
    if (e == NULL || !entry_is_intact(e, k, cfg.cache))
      sh.errors++;
    tc_safepoint(); /* no allocation here: let the collector in */
  }

  size_t n = (size_t)cfg.requests;
  uint64_t p50 = bench_quantile(sh.latency_ns, n, 0.50);
  uint64_t p99 = bench_quantile(sh.latency_ns, n, 0.99);
  uint64_t p999 = bench_quantile(sh.latency_ns, n, 0.999);
  uint64_t max = sh.latency_ns[n - 1]; /* sorted by bench_quantile */
  free(sh.latency_ns);
  printf("server: %ld workers, %ld requests (%ld in flight), cache %ld "
         "entries, refresh 1/%ld: %ld hits, %ld misses, %ld refreshes; "
         "latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us; "
         "damaged objects: %ld\n",
         cfg.workers, cfg.requests, cfg.inflight, cfg.cache, cfg.replace,
         sh.hits, sh.misses, sh.refreshes, (double)p50 / 1e3,
         (double)p99 / 1e3, (double)p999 / 1e3, (double)max / 1e3,
         sh.errors);
  if (sh.errors) {
    fprintf(stderr, "bench_server: %ld objects damaged: Failed\n", sh.errors);
    return 1;
  }
  bench_set_ops((uint64_t)cfg.requests, "requests");
  bench_note("req_p50_us", (double)p50 / 1e3);
  bench_note("req_p99_us", (double)p99 / 1e3);
  bench_note("req_p999_us", (double)p999 / 1e3);
  bench_note("req_max_us", (double)max / 1e3);
  bench_note("workers", (double)cfg.workers); /* tricolor-lab's title */
  bench_note("cache", (double)cfg.cache);
  bench_finish("server", wall);
  return 0;
}

int main(int argc, char **argv) { return bench_start(bench_main, argc, argv); }
