/*
 * test_sched_chan.c -- channels, select and the sync objects
 * (sched/chan.c, sched/sync.c, sched/waitq.c).
 *
 * What is tested:
 *   - unbuffered ping-pong: every value comes back, in order, on 1 and 2 Ps;
 *   - buffered producer/consumer with close: FIFO with one consumer, every
 *     value exactly once with several; the consumers end on (NULL, false);
 *   - close semantics: receivers drain the buffer, then get (NULL, false)
 *     every time; send on a closed channel and a second close return
 *     TC_ECLOSED; close wakes blocked receivers (NULL, false) and blocked
 *     senders (TC_ECLOSED); len and cap; close of NULL is TC_EINVAL;
 *     tc_strerror names TC_ECLOSED;
 *   - a traced channel keeps the references in its ring alive across
 *     collections and lets go of drained ones;
 *   - select: default (-1) when nothing is ready, the ready case otherwise,
 *     a NULL channel never fires, a send case, a closed channel's receive
 *     case (ok false) and send case (ok false); a blocking select woken by
 *     a later send on either channel; a blocking select's send case taken
 *     by a later receiver; selects racing on shared channels with plain
 *     senders (every value delivered exactly once);
 *   - select fairness: two always-ready channels, each chosen between 30%
 *     and 70% of 10000 times;
 *   - semaphore: of 10k tasks at most 100 hold a unit of a semaphore of
 *     100 at once, and 100 do at some point; tryacquire;
 *   - wait group of 1e5 coroutines, with several waiters; reuse;
 *   - mutex: a contended counter is exact and no two holders overlap;
 *     trylock;
 *   - once: the function runs exactly once, every caller returns after it
 *     finished, even when it blocks.
 *
 * Sizes shrink on slow builds (scaled(): /4..10 under the sanitizers, more
 * under valgrind; at most 4000 coroutines alive at once under
 * ThreadSanitizer, which dies beyond 8128 threads and fibers).  An
 * argument selects tests by name (cmocka filter, e.g. "test_select*").
 *
 * Expectations inside coroutines are recorded (EXPECT) and checked after
 * tc_run returns (cmocka's longjmp must not cross a coroutine switch).
 * Channels carry small integers as TC_CHAN_RAW words unless the test is
 * about references.
 */
#include "tc_sched_test.h" /* run(), EXPECT, scaled() */

#define W(x) ((void *)(uintptr_t)(x)) /* a raw word */
#define U(p) ((uintptr_t)(p))

/* ------------------------------------------------------------------ */
/* Ping-pong                                                           */

typedef struct pp_state {
  long n;
  tc_chan *ping, *pong; /* raw, kept in roots by main's TC_LOCALS */
  tc_waitgroup wg;
  long echoed;
} pp_state;

static void ponger(void *arg) {
  pp_state *s = arg;
  for (;;) {
    bool ok;
    void *v = tc_chan_recv(s->ping, &ok);
    if (!ok)
      break;
    EXPECT(tc_chan_send(s->pong, W(U(v) + 1)) == TC_OK);
    s->echoed++;
  }
  tc_waitgroup_done(&s->wg);
}

static void pp_main(void *arg) {
  pp_state *s = arg;
  tc_chan *ping = NULL, *pong = NULL;
  TC_LOCALS(ping, pong);
  ping = tc_chan_new(0, TC_CHAN_RAW);
  pong = tc_chan_new(0, TC_CHAN_RAW);
  s->ping = ping;
  s->pong = pong;
  tc_waitgroup_add(&s->wg, 1);
  EXPECT(tc_go(ponger, s) == TC_OK);
  for (long i = 0; i < s->n; i++) {
    EXPECT(tc_chan_send(ping, W(2 * i)) == TC_OK);
    bool ok = false;
    void *v = tc_chan_recv(pong, &ok);
    EXPECT(ok && U(v) == (uintptr_t)(2 * i + 1));
  }
  EXPECT(tc_chan_close(ping) == TC_OK);
  tc_waitgroup_wait(&s->wg);
}

static void test_chan_pingpong_unbuffered(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    pp_state s = {0};
    s.n = scaled(20000, 4);
    run(procs, pp_main, &s);
    assert_int_equal(s.echoed, s.n);
  }
}

/* ------------------------------------------------------------------ */
/* Producer / consumer with close                                      */

#define CONSUMERS 3

typedef struct pc_state {
  long n;
  int consumers;
  tc_chan *c;
  unsigned char *seen; /* [n] how often each value arrived */
  long in_order_errors;
  long count[CONSUMERS];
  tc_waitgroup wg;
} pc_state;

typedef struct pc_arg {
  pc_state *s;
  int me;
} pc_arg;

static void producer(void *arg) {
  pc_state *s = arg;
  for (long i = 1; i <= s->n; i++) {
    EXPECT(tc_chan_send(s->c, W(i)) == TC_OK);
    if ((i & 255) == 0)
      tc_yield();
  }
  EXPECT(tc_chan_close(s->c) == TC_OK);
  tc_waitgroup_done(&s->wg);
}

static void consumer(void *arg) {
  pc_arg *a = arg;
  pc_state *s = a->s;
  uintptr_t last = 0;
  for (;;) {
    bool ok = true;
    void *v = tc_chan_recv(s->c, &ok);
    if (!ok) {
      EXPECT(v == NULL);
      break;
    }
    EXPECT(U(v) >= 1 && U(v) <= (uintptr_t)s->n);
    if (U(v) <= last)
      s->in_order_errors++; /* FIFO, also per consumer */
    last = U(v);
    s->seen[U(v) - 1]++; /* one writer per value */
    s->count[a->me]++;
  }
  /* drained and closed: stays that way */
  bool ok = true;
  EXPECT(tc_chan_recv(s->c, &ok) == NULL && !ok);
  tc_waitgroup_done(&s->wg);
}

static void pc_main(void *arg) {
  pc_state *s = arg;
  static pc_arg args[CONSUMERS];
  tc_chan *c = NULL;
  TC_LOCALS(c);
  c = tc_chan_new(16, TC_CHAN_RAW);
  EXPECT(tc_chan_cap(c) == 16);
  s->c = c;
  tc_waitgroup_add(&s->wg, 1 + s->consumers);
  for (int i = 0; i < s->consumers; i++) {
    args[i] = (pc_arg){s, i};
    EXPECT(tc_go(consumer, &args[i]) == TC_OK);
  }
  EXPECT(tc_go(producer, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
}

static void test_chan_buffered_producer_consumer(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    for (int consumers = 1; consumers <= CONSUMERS; consumers += 2) {
      pc_state s = {0};
      s.n = scaled(50000, 4);
      s.consumers = consumers;
      s.seen = calloc((size_t)s.n, 1);
      assert_non_null(s.seen);
      run(procs, pc_main, &s);
      for (long i = 0; i < s.n; i++)
        if (s.seen[i] != 1) {
          print_error("procs=%d consumers=%d: value %ld arrived %d times\n",
                      procs, consumers, i + 1, s.seen[i]);
          fail();
        }
      assert_int_equal(s.in_order_errors, 0);
      long total = 0;
      for (int i = 0; i < consumers; i++)
        total += s.count[i];
      assert_int_equal(total, s.n);
      free(s.seen);
    }
  }
}

/* ------------------------------------------------------------------ */
/* Close semantics                                                     */

typedef struct close_state {
  tc_chan *c;
  atomic_int woken_recv;  /* receivers woken by close with (NULL, false) */
  atomic_int woken_send;  /* senders woken with TC_ECLOSED */
  atomic_int blocked;     /* about to block */
  tc_waitgroup wg;
} close_state;

static void blocked_receiver(void *arg) {
  close_state *s = arg;
  atomic_fetch_add(&s->blocked, 1);
  bool ok = true;
  void *v = tc_chan_recv(s->c, &ok);
  if (v == NULL && !ok)
    atomic_fetch_add(&s->woken_recv, 1);
  tc_waitgroup_done(&s->wg);
}

static void blocked_sender(void *arg) {
  close_state *s = arg;
  atomic_fetch_add(&s->blocked, 1);
  if (tc_chan_send(s->c, W(7)) == TC_ECLOSED)
    atomic_fetch_add(&s->woken_send, 1);
  tc_waitgroup_done(&s->wg);
}

static void close_main(void *arg) {
  close_state *s = arg;
  tc_chan *c = NULL;
  TC_LOCALS(c);

  /* drain after close */
  c = tc_chan_new(4, TC_CHAN_RAW);
  EXPECT(tc_chan_len(c) == 0 && tc_chan_cap(c) == 4);
  for (int i = 1; i <= 3; i++)
    EXPECT(tc_chan_send(c, W(i)) == TC_OK);
  EXPECT(tc_chan_len(c) == 3);
  EXPECT(tc_chan_close(c) == TC_OK);
  EXPECT(tc_chan_send(c, W(9)) == TC_ECLOSED);
  EXPECT(tc_chan_close(c) == TC_ECLOSED);
  EXPECT(tc_chan_len(c) == 3);
  for (int i = 1; i <= 3; i++) {
    bool ok = false;
    EXPECT(U(tc_chan_recv(c, &ok)) == (uintptr_t)i && ok);
  }
  for (int k = 0; k < 3; k++) {
    bool ok = true;
    EXPECT(tc_chan_recv(c, &ok) == NULL && !ok);
  }
  EXPECT(tc_chan_recv(c, NULL) == NULL); /* ok may be NULL */
  EXPECT(tc_chan_len(c) == 0);
  EXPECT(tc_chan_close(NULL) == TC_EINVAL);
  EXPECT(tc_chan_len(NULL) == 0 && tc_chan_cap(NULL) == 0);

  /* close wakes blocked receivers */
  c = tc_chan_new(0, TC_CHAN_RAW);
  s->c = c;
  tc_waitgroup_add(&s->wg, 5);
  for (int i = 0; i < 5; i++)
    EXPECT(tc_go(blocked_receiver, s) == TC_OK);
  while (atomic_load(&s->blocked) < 5)
    tc_yield();
  for (int i = 0; i < 10; i++)
    tc_yield(); /* let them park */
  EXPECT(tc_chan_close(c) == TC_OK);
  tc_waitgroup_wait(&s->wg);
  EXPECT(atomic_load(&s->woken_recv) == 5);

  /* close wakes blocked senders (unbuffered and full buffered) */
  for (size_t cap = 0; cap <= 2; cap += 2) {
    atomic_store(&s->blocked, 0);
    atomic_store(&s->woken_send, 0);
    c = tc_chan_new(cap, TC_CHAN_RAW);
    s->c = c;
    for (size_t i = 0; i < cap; i++)
      EXPECT(tc_chan_send(c, W(1)) == TC_OK);
    tc_waitgroup_add(&s->wg, 4);
    for (int i = 0; i < 4; i++)
      EXPECT(tc_go(blocked_sender, s) == TC_OK);
    while (atomic_load(&s->blocked) < 4)
      tc_yield();
    for (int i = 0; i < 10; i++)
      tc_yield();
    EXPECT(tc_chan_close(c) == TC_OK);
    tc_waitgroup_wait(&s->wg);
    EXPECT(atomic_load(&s->woken_send) == 4);
    /* the buffered values are still there to drain */
    for (size_t i = 0; i < cap; i++) {
      bool ok = false;
      EXPECT(U(tc_chan_recv(c, &ok)) == 1 && ok);
    }
    bool ok = true;
    EXPECT(tc_chan_recv(c, &ok) == NULL && !ok);
  }
}

static void test_chan_close_semantics(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    close_state s = {0};
    run(procs, close_main, &s);
  }
}

/* TC_ECLOSED is a TC_* code like the others: tc_strerror names it
 * (tricolor.h: "tc_strerror() names it"). */
static void test_chan_strerror(void **state) {
  (void)state;
  const char *msg = tc_strerror(TC_ECLOSED);
  assert_non_null(msg);
  if (strstr(msg, "closed") == NULL) {
    print_error("tc_strerror(TC_ECLOSED) = \"%s\"\n", msg);
    fail();
  }
}

/* References survive in a traced channel; a drained slot does not keep
 * its value (chan.c invariant: slots outside the queue hold NULL). */
typedef struct box {
  long *payload; /* a noscan object holding v again */
  long v;
} box;
static const uint32_t box_offsets[] = {offsetof(box, payload)};
static atomic_long boxes_finalized;
static void box_finalize(void *obj) {
  (void)obj;
  atomic_fetch_add(&boxes_finalized, 1);
}
static tc_type box_type = {.name = "box",
                           .offsets = box_offsets,
                           .noffsets = 1,
                           .finalize = box_finalize};

static void refs_main(void *arg) {
  (void)arg;
  tc_chan *c = NULL;
  box *b = NULL;
  TC_LOCALS(c, b);
  c = tc_chan_new(8, 0);
  for (long i = 0; i < 8; i++) {
    b = tc_alloc(&box_type, sizeof(box));
    b->v = i;
    long *p = tc_alloc_noscan(sizeof(long)); /* b is rooted */
    *p = i;
    TC_STORE(b, payload, p);
    EXPECT(tc_chan_send(c, b) == TC_OK);
  }
  b = NULL;
  for (int i = 0; i < 2; i++)
    tc_gc();
  EXPECT(atomic_load(&boxes_finalized) == 0); /* the ring holds them */
  for (long i = 0; i < 8; i++) {
    b = tc_chan_recv(c, NULL);
    EXPECT(b != NULL && b->v == i && b->payload && *b->payload == i);
  }
  b = NULL;
  for (int i = 0; i < 4 && atomic_load(&boxes_finalized) < 8; i++)
    tc_gc();
  EXPECT(atomic_load(&boxes_finalized) == 8); /* drained slots let go */
}

static void test_chan_references_traced(void **state) {
  (void)state;
  atomic_store(&boxes_finalized, 0);
  run(1, refs_main, NULL);
}

/* ------------------------------------------------------------------ */
/* Select                                                              */

typedef struct sel_state {
  tc_chan *a, *b;
  atomic_int go_ahead;
  tc_waitgroup wg;
  int which; /* late_sender: 0 sends on a, 1 sends on b, 2 receives on a */
} sel_state;

static void late_sender(void *arg) {
  sel_state *s = arg;
  for (int i = 0; i < 5; i++)
    tc_yield(); /* the select parks first */
  if (s->which == 2) {
    bool ok = false;
    EXPECT(U(tc_chan_recv(s->a, &ok)) == 99 && ok);
  } else {
    EXPECT(tc_chan_send(s->which ? s->b : s->a, W(40 + s->which)) == TC_OK);
  }
  tc_waitgroup_done(&s->wg);
}

static void select_main(void *arg) {
  sel_state *s = arg;
  tc_chan *a = NULL, *b = NULL, *closed = NULL;
  TC_LOCALS(a, b, closed);
  a = tc_chan_new(1, TC_CHAN_RAW);
  b = tc_chan_new(0, TC_CHAN_RAW);
  closed = tc_chan_new(0, TC_CHAN_RAW);
  EXPECT(tc_chan_close(closed) == TC_OK);
  s->a = a;
  s->b = b;

  /* nothing ready: default */
  tc_select_case rc[3] = {{.chan = a, .dir = TC_SELECT_RECV},
                          {.chan = b, .dir = TC_SELECT_RECV},
                          {.chan = NULL, .dir = TC_SELECT_RECV}};
  EXPECT(tc_select(rc, 3, false) == -1);
  EXPECT(tc_select(NULL, 0, false) == -1);

  /* a ready receive */
  EXPECT(tc_chan_send(a, W(5)) == TC_OK);
  EXPECT(tc_select(rc, 3, false) == 0);
  EXPECT(U(rc[0].value) == 5 && rc[0].ok);
  EXPECT(tc_select(rc, 3, false) == -1);

  /* a send case with room in the buffer, beside a NULL channel */
  tc_select_case sc[2] = {{.chan = NULL, .dir = TC_SELECT_SEND},
                          {.chan = a, .dir = TC_SELECT_SEND, .value = W(6)}};
  EXPECT(tc_select(sc, 2, false) == 1 && sc[1].ok);
  EXPECT(tc_chan_len(a) == 1);
  EXPECT(tc_select(sc, 2, false) == -1); /* full now */
  EXPECT(U(tc_chan_recv(a, NULL)) == 6);

  /* closed channel: the receive case fires with ok = false, a send case
   * is chosen and reports ok = false */
  tc_select_case cc[2] = {{.chan = b, .dir = TC_SELECT_RECV},
                          {.chan = closed, .dir = TC_SELECT_RECV}};
  cc[1].ok = true;
  EXPECT(tc_select(cc, 2, true) == 1);
  EXPECT(cc[1].value == NULL && !cc[1].ok);
  tc_select_case cs[1] = {{.chan = closed, .dir = TC_SELECT_SEND,
                           .value = W(1)}};
  cs[0].ok = true;
  EXPECT(tc_select(cs, 1, true) == 0 && !cs[0].ok);

  /* blocking select, woken by a later send on either channel */
  for (int which = 0; which <= 1; which++) {
    s->which = which;
    tc_waitgroup_add(&s->wg, 1);
    EXPECT(tc_go(late_sender, s) == TC_OK);
    tc_select_case bc[2] = {{.chan = a, .dir = TC_SELECT_RECV},
                            {.chan = b, .dir = TC_SELECT_RECV}};
    int r = tc_select(bc, 2, true);
    EXPECT(r == which);
    if (r >= 0)
      EXPECT(U(bc[r].value) == (uintptr_t)(40 + which) && bc[r].ok);
    tc_waitgroup_wait(&s->wg);
    /* the losing case left nothing queued: the channels work as before */
    EXPECT(tc_select(bc, 2, false) == -1);
  }

  /* a blocking select whose send case waits on a full buffer: a later
   * receiver takes the head (99) and moves our 77 into the ring */
  EXPECT(tc_chan_send(a, W(99)) == TC_OK);
  s->which = 2;
  tc_waitgroup_add(&s->wg, 1);
  EXPECT(tc_go(late_sender, s) == TC_OK);
  tc_select_case bs[2] = {{.chan = a, .dir = TC_SELECT_SEND, .value = W(77)},
                          {.chan = b, .dir = TC_SELECT_RECV}};
  EXPECT(tc_select(bs, 2, true) == 0 && bs[0].ok);
  tc_waitgroup_wait(&s->wg);
  bool ok = false;
  EXPECT(U(tc_chan_recv(a, &ok)) == 77 && ok);
  EXPECT(tc_chan_len(a) == 0);
}

static void test_select_basics(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    sel_state s = {0};
    run(procs, select_main, &s);
  }
}

/* A blocking select's send case on an unbuffered channel. */
typedef struct selsend_state {
  tc_chan *u, *never;
  tc_waitgroup wg;
  uintptr_t got;
} selsend_state;

static void late_receiver(void *arg) {
  selsend_state *s = arg;
  for (int i = 0; i < 5; i++)
    tc_yield();
  bool ok = false;
  s->got = U(tc_chan_recv(s->u, &ok));
  EXPECT(ok);
  tc_waitgroup_done(&s->wg);
}

static void selsend_main(void *arg) {
  selsend_state *s = arg;
  tc_chan *u = NULL, *never = NULL;
  TC_LOCALS(u, never);
  u = tc_chan_new(0, TC_CHAN_RAW);
  never = tc_chan_new(0, TC_CHAN_RAW);
  s->u = u;
  s->never = never;
  tc_waitgroup_add(&s->wg, 1);
  EXPECT(tc_go(late_receiver, s) == TC_OK);
  tc_select_case c[2] = {{.chan = never, .dir = TC_SELECT_RECV},
                         {.chan = u, .dir = TC_SELECT_SEND, .value = W(123)}};
  EXPECT(tc_select(c, 2, true) == 1 && c[1].ok);
  tc_waitgroup_wait(&s->wg);
  EXPECT(s->got == 123);
  /* the receive record on `never` is gone: a send there finds nobody */
  tc_select_case d[1] = {{.chan = never, .dir = TC_SELECT_SEND,
                          .value = W(1)}};
  EXPECT(tc_select(d, 1, false) == -1);
}

static void test_select_blocking_send(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    selsend_state s = {0};
    run(procs, selsend_main, &s);
  }
}

/* Selects in a loop against plain senders on shared channels: every value
 * arrives exactly once (no case fires twice, none is lost). */
#define SR_SENDERS 4

typedef struct selrace_state {
  long per_sender;
  tc_chan *ch[2];
  unsigned char *seen; /* [SR_SENDERS * per_sender] */
  tc_waitgroup senders, selectors;
} selrace_state;

typedef struct selrace_arg {
  selrace_state *s;
  int me;
} selrace_arg;

static void sr_sender(void *arg) {
  selrace_arg *a = arg;
  selrace_state *s = a->s;
  for (long i = 0; i < s->per_sender; i++) {
    long v = a->me * s->per_sender + i + 1;
    EXPECT(tc_chan_send(s->ch[i & 1], W(v)) == TC_OK);
  }
  tc_waitgroup_done(&s->senders);
}

/* Receives from both channels until both are closed and drained. */
static void sr_selector(void *arg) {
  selrace_state *s = arg;
  long total = SR_SENDERS * s->per_sender;
  tc_chan *ch[2] = {s->ch[0], s->ch[1]}; /* rooted by main, which waits */
  while (ch[0] || ch[1]) {
    tc_select_case c[2] = {{.chan = ch[0], .dir = TC_SELECT_RECV},
                           {.chan = ch[1], .dir = TC_SELECT_RECV}};
    int r = tc_select(c, 2, true);
    EXPECT(r == 0 || r == 1);
    if (r < 0)
      break;
    if (!c[r].ok) {
      EXPECT(c[r].value == NULL);
      ch[r] = NULL; /* closed and drained: a NULL case never fires */
      continue;
    }
    uintptr_t v = U(c[r].value);
    EXPECT(v >= 1 && v <= (uintptr_t)total);
    if (v >= 1 && v <= (uintptr_t)total)
      s->seen[v - 1]++; /* each value is received once */
  }
  tc_waitgroup_done(&s->selectors);
}

static void selrace_main(void *arg) {
  selrace_state *s = arg;
  static selrace_arg args[SR_SENDERS];
  tc_chan *c0 = NULL, *c1 = NULL;
  TC_LOCALS(c0, c1);
  c0 = tc_chan_new(0, TC_CHAN_RAW);
  c1 = tc_chan_new(3, TC_CHAN_RAW);
  s->ch[0] = c0;
  s->ch[1] = c1;
  tc_waitgroup_add(&s->senders, SR_SENDERS);
  tc_waitgroup_add(&s->selectors, 3);
  for (int i = 0; i < 3; i++)
    EXPECT(tc_go(sr_selector, s) == TC_OK);
  for (int i = 0; i < SR_SENDERS; i++) {
    args[i] = (selrace_arg){s, i};
    EXPECT(tc_go(sr_sender, &args[i]) == TC_OK);
  }
  tc_waitgroup_wait(&s->senders);
  EXPECT(tc_chan_close(c0) == TC_OK);
  EXPECT(tc_chan_close(c1) == TC_OK); /* values still buffered get drained */
  tc_waitgroup_wait(&s->selectors);
}

static void test_select_races_deliver_once(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    selrace_state s = {0};
    s.per_sender = scaled(5000, 4);
    s.seen = calloc((size_t)(SR_SENDERS * s.per_sender), 1);
    assert_non_null(s.seen);
    run(procs, selrace_main, &s);
    for (long i = 0; i < SR_SENDERS * s.per_sender; i++)
      if (s.seen[i] != 1) {
        print_error("procs=%d: value %ld received %d times\n", procs, i + 1,
                    s.seen[i]);
        fail();
      }
    free(s.seen);
  }
}

/* Fairness: both cases always ready. */
#define FAIR_N 10000

typedef struct fair_state {
  long hits[2];
  long hits_closed[2];
} fair_state;

static void fair_main(void *arg) {
  fair_state *s = arg;
  tc_chan *a = NULL, *b = NULL;
  TC_LOCALS(a, b);
  a = tc_chan_new(FAIR_N, TC_CHAN_RAW);
  b = tc_chan_new(FAIR_N, TC_CHAN_RAW);
  for (long i = 0; i < FAIR_N; i++) {
    EXPECT(tc_chan_send(a, W(1)) == TC_OK);
    EXPECT(tc_chan_send(b, W(2)) == TC_OK);
  }
  for (long i = 0; i < FAIR_N; i++) {
    tc_select_case c[2] = {{.chan = a, .dir = TC_SELECT_RECV},
                           {.chan = b, .dir = TC_SELECT_RECV}};
    int r = tc_select(c, 2, false);
    EXPECT(r == 0 || r == 1);
    if (r >= 0) {
      EXPECT(U(c[r].value) == (uintptr_t)(r + 1));
      s->hits[r]++;
    }
  }
  /* two closed channels: always ready too */
  EXPECT(tc_chan_close(a) == TC_OK);
  EXPECT(tc_chan_close(b) == TC_OK);
  while (tc_chan_len(a) > 0)
    (void)tc_chan_recv(a, NULL);
  while (tc_chan_len(b) > 0)
    (void)tc_chan_recv(b, NULL);
  for (long i = 0; i < FAIR_N; i++) {
    tc_select_case c[2] = {{.chan = a, .dir = TC_SELECT_RECV},
                           {.chan = b, .dir = TC_SELECT_RECV}};
    int r = tc_select(c, 2, true);
    EXPECT(r == 0 || r == 1);
    if (r >= 0)
      s->hits_closed[r]++;
  }
}

static void test_select_fairness(void **state) {
  (void)state;
  fair_state s = {0};
  run(1, fair_main, &s);
  print_message("select fairness: %ld/%ld (buffered), %ld/%ld (closed)\n",
                s.hits[0], s.hits[1], s.hits_closed[0], s.hits_closed[1]);
  for (int i = 0; i < 2; i++) {
    assert_in_range(s.hits[i], FAIR_N * 3 / 10, FAIR_N * 7 / 10);
    assert_in_range(s.hits_closed[i], FAIR_N * 3 / 10, FAIR_N * 7 / 10);
  }
}

/* ------------------------------------------------------------------ */
/* Semaphore                                                           */

#define SEMA_UNITS 100

typedef struct sema_state {
  long tasks;
  tc_sema sema;
  atomic_long holding;
  atomic_long max_holding;
  atomic_long done;
  tc_waitgroup wg;
} sema_state;

static void sema_task(void *arg) {
  sema_state *s = arg;
  tc_sema_acquire(&s->sema);
  long now = atomic_fetch_add(&s->holding, 1) + 1;
  long max = atomic_load(&s->max_holding);
  while (now > max && !atomic_compare_exchange_weak(&s->max_holding, &max, now)) {
  }
  for (int i = 0; i < 3; i++)
    tc_yield(); /* hold the unit across switches */
  atomic_fetch_sub(&s->holding, 1);
  tc_sema_release(&s->sema);
  atomic_fetch_add(&s->done, 1);
  tc_waitgroup_done(&s->wg);
}

static void sema_main(void *arg) {
  sema_state *s = arg;
  tc_sema_init(&s->sema, SEMA_UNITS);
  tc_waitgroup_add(&s->wg, s->tasks);
  for (long i = 0; i < s->tasks; i++)
    EXPECT(tc_go(sema_task, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
  /* every unit came back */
  long units = 0;
  while (tc_sema_tryacquire(&s->sema))
    units++;
  EXPECT(units == SEMA_UNITS);
  EXPECT(!tc_sema_tryacquire(&s->sema));
  tc_sema_release(&s->sema);
  EXPECT(tc_sema_tryacquire(&s->sema));
}

static void test_sema_limits_concurrency(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    sema_state s = {0};
    s.tasks = scaled_gs(10000, 2);
    run(procs, sema_main, &s);
    assert_int_equal(atomic_load(&s.done), s.tasks);
    assert_int_equal(atomic_load(&s.max_holding), SEMA_UNITS);
  }
}

/* ------------------------------------------------------------------ */
/* Wait group                                                          */

typedef struct wg_state {
  long n;
  tc_waitgroup wg;     /* the workers */
  tc_waitgroup waiters; /* the extra waiters */
  atomic_long done;
  atomic_long waiters_saw_all;
} wg_state;

static void wg_worker(void *arg) {
  wg_state *s = arg;
  atomic_fetch_add(&s->done, 1);
  tc_waitgroup_done(&s->wg);
}

static void wg_waiter(void *arg) {
  wg_state *s = arg;
  tc_waitgroup_wait(&s->wg);
  if (atomic_load(&s->done) == s->n)
    atomic_fetch_add(&s->waiters_saw_all, 1);
  tc_waitgroup_done(&s->waiters);
}

static void wg_main(void *arg) {
  wg_state *s = arg;
  for (int round = 0; round < 2; round++) { /* a group is reusable */
    atomic_store(&s->done, 0);
    atomic_store(&s->waiters_saw_all, 0);
    tc_waitgroup_add(&s->wg, s->n);
    tc_waitgroup_add(&s->waiters, 4);
    for (int i = 0; i < 4; i++)
      EXPECT(tc_go(wg_waiter, s) == TC_OK);
    for (long i = 0; i < s->n; i++)
      EXPECT(tc_go(wg_worker, s) == TC_OK);
    tc_waitgroup_wait(&s->wg);
    EXPECT(atomic_load(&s->done) == s->n);
    tc_waitgroup_wait(&s->waiters);
    EXPECT(atomic_load(&s->waiters_saw_all) == 4);
  }
  /* wait on a zero group returns at once */
  tc_waitgroup zero = {0};
  tc_waitgroup_wait(&zero);
}

static void test_waitgroup_100k(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    wg_state s = {0};
    s.n = scaled_gs(100000, 10);
    run(procs, wg_main, &s);
  }
}

/* ------------------------------------------------------------------ */
/* Mutex                                                               */

#define MU_GS 8

typedef struct mu_state {
  long iters;
  tc_mutex mu;
  long counter;          /* guarded by mu, plain on purpose */
  atomic_int inside;     /* holders at this moment */
  atomic_int overlaps;
  atomic_long trylock_ok;
  tc_waitgroup wg;
} mu_state;

static void mu_worker(void *arg) {
  mu_state *s = arg;
  for (long i = 0; i < s->iters; i++) {
    bool tried = (i % 7) == 0 && tc_mutex_trylock(&s->mu);
    if (tried)
      atomic_fetch_add(&s->trylock_ok, 1);
    else
      tc_mutex_lock(&s->mu);
    if (atomic_fetch_add(&s->inside, 1) != 0)
      atomic_fetch_add(&s->overlaps, 1);
    long c = s->counter;
    if ((i & 15) == 0)
      tc_yield(); /* a switch inside the critical section */
    s->counter = c + 1;
    atomic_fetch_sub(&s->inside, 1);
    tc_mutex_unlock(&s->mu);
  }
  tc_waitgroup_done(&s->wg);
}

static void mu_main(void *arg) {
  mu_state *s = arg;
  tc_waitgroup_add(&s->wg, MU_GS);
  for (int i = 0; i < MU_GS; i++)
    EXPECT(tc_go(mu_worker, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
  /* free again */
  EXPECT(tc_mutex_trylock(&s->mu));
  EXPECT(!tc_mutex_trylock(&s->mu));
  tc_mutex_unlock(&s->mu);
}

static void test_mutex_counter(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    mu_state s = {0};
    s.iters = scaled(20000, 4);
    run(procs, mu_main, &s);
    assert_int_equal(s.counter, MU_GS * s.iters);
    assert_int_equal(atomic_load(&s.overlaps), 0);
  }
}

/* ------------------------------------------------------------------ */
/* Once                                                                */

#define ONCE_GS 100

typedef struct once_state {
  tc_once once;
  atomic_int calls;
  atomic_int value;        /* set by the once function, after blocking */
  atomic_int saw_value;    /* callers that saw it set on return */
  tc_waitgroup wg;
} once_state;

static void once_fn(void *arg) {
  once_state *s = arg;
  atomic_fetch_add(&s->calls, 1);
  for (int i = 0; i < 10; i++)
    tc_yield(); /* the others pile up meanwhile */
  atomic_store(&s->value, 42);
}

static void once_caller(void *arg) {
  once_state *s = arg;
  tc_once_do(&s->once, once_fn, s);
  if (atomic_load(&s->value) == 42)
    atomic_fetch_add(&s->saw_value, 1);
  tc_waitgroup_done(&s->wg);
}

static void once_main(void *arg) {
  once_state *s = arg;
  tc_waitgroup_add(&s->wg, ONCE_GS);
  for (int i = 0; i < ONCE_GS; i++)
    EXPECT(tc_go(once_caller, s) == TC_OK);
  tc_waitgroup_wait(&s->wg);
  tc_once_do(&s->once, once_fn, s); /* done: not called again */
}

static void test_once(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++) {
    once_state s = {0};
    run(procs, once_main, &s);
    assert_int_equal(atomic_load(&s.calls), 1);
    assert_int_equal(atomic_load(&s.saw_value), ONCE_GS);
  }
}

int main(int argc, char **argv) {
  if (argc > 1)
    cmocka_set_test_filter(argv[1]); /* e.g. "test_sleep*" */
  unsetenv("TRICOLOR_PROCS");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chan_pingpong_unbuffered),
      cmocka_unit_test(test_chan_buffered_producer_consumer),
      cmocka_unit_test(test_chan_close_semantics),
      cmocka_unit_test(test_chan_strerror),
      cmocka_unit_test(test_chan_references_traced),
      cmocka_unit_test(test_select_basics),
      cmocka_unit_test(test_select_blocking_send),
      cmocka_unit_test(test_select_races_deliver_once),
      cmocka_unit_test(test_select_fairness),
      cmocka_unit_test(test_sema_limits_concurrency),
      cmocka_unit_test(test_waitgroup_100k),
      cmocka_unit_test(test_mutex_counter),
      cmocka_unit_test(test_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
