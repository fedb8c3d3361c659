/*
 * sched/chan.c -- channels and select, with Go's semantics (Go 1.19
 * chan.go and select.go describe the algorithms; the code is ours).
 *
 * A channel is one heap object: a header and a ring of `cap` value slots.
 * Values are references to heap objects (traced through the ring by the
 * type's trace callback) or, with TC_CHAN_RAW, plain words (the object is
 * noscan and no barrier ever sees them).  A blocked coroutine waits in a
 * record (tc__sudog) on its own stack, queued on the channel's recvq or
 * sendq; the channel's lock guards everything but `cap` and `flags`,
 * which never change.
 *
 * Send (tc_chan_send), under the lock:
 *   1. closed: TC_ECLOSED.
 *   2. a receiver waits: hand the value straight to it (its record's
 *      elem), mark it done, unlock, ready it.  The buffer is empty then.
 *   3. room in the buffer: append the value.
 *   4. else queue a record holding the value on sendq and park; a receiver
 *      (or close) completes it.  Woken with success: sent; without: the
 *      channel was closed meanwhile.
 * Receive (tc_chan_recv), under the lock:
 *   1. a sender waits: unbuffered, take its value; buffered (so the buffer
 *      is full), take the head of the buffer and append the sender's value
 *      at the tail, which keeps FIFO order.  Mark it done, unlock, ready it.
 *   2. the buffer holds a value: take the head.
 *   3. closed (and drained): NULL, ok = false.
 *   4. else queue a record on recvq and park; a sender fills its elem, or
 *      close wakes it with success false (NULL, ok = false).
 * Close wakes every queued receiver (NULL, ok = false) and sender
 * (TC_ECLOSED): records are unlinked and completed under the lock, the Gs
 * readied after it is released.
 * Select (tc_select), Go's selectgo:
 *   1. Fill one record per case with a channel and pick a random poll order
 *      (inside-out Fisher-Yates on the M's xorshift); cases with a NULL
 *      channel never fire.
 *   2. Lock every distinct channel in ascending address order (sorted and
 *      deduplicated), so two selects can never deadlock on each other.
 *   3. Pass 1: in poll order, take the first case that can proceed now (the
 *      same tests as the steps above; a send case on a closed channel is
 *      taken and reports ok = false).  None and !block: unlock, return -1.
 *   4. Pass 2: queue every record (isselect set) and park; the callback
 *      unlocks the channels on g0.
 *   5. A waker that pops a select record must win the CAS of the G's
 *      selectdone from 0 to 1 (tc__waitq_pop) before completing it; losers
 *      drop the record.  So exactly one case fires, and g->param names it.
 *   6. Woken: lock all again, reset selectdone, unlink the other records
 *      (some may be gone already), unlock, report the winner.
 * The case array is the embedder's memory outside the heap (tricolor.h,
 * checked at TC_DEBUG >= 1): the received value and ok are written into it
 * with plain stores.  Rejected: storing through the barrier when the array
 * is a heap object.  That would also need the embedder's type to trace
 * chan and value (value is a plain word on a TC_CHAN_RAW channel, which a
 * traced slot must not hold) and the array kept reachable across the
 * park, for no gain: a C array on the stack does the job.
 *
 * Invariants (channel lock held; "waiter" excludes records of selects
 * already won elsewhere, which stay queued until their G unlinks them):
 *   - a waiter on recvq => the buffer is empty; a waiter on sendq => the
 *     buffer is full (always for cap 0): a waiter exists only while its
 *     operation cannot proceed.
 *   - closed => sendq is empty (close emptied it; no sender blocks on a
 *     closed channel), and recvq is empty.
 *   - ring slots outside [recvx, recvx + qcount) (mod cap) hold NULL, so
 *     the trace callback may visit every slot and a drained value is not
 *     kept alive.
 *   - a queued record is completed (elem, success, g->param written) only by
 *     the one waker that popped it (and won selectdone for a select).
 *
 * Garbage collection.  Every reference that lives across a park or a
 * safepoint sits in a root slot of the waiting G's root stack: each
 * operation pushes a root frame holding its record's `obj` (the channel,
 * kept alive while anybody waits on it) and, unless the channel is RAW, its
 * `elem` (the value being sent, or the value received once a sender filled
 * it in).  So the collector needs nothing from tc__sudog or g->waiting: a
 * parked G's values in flight are reached by its ordinary root-stack scan.
 * A value that moves between two coroutines' stacks (sender's record ->
 * receiver's record, or a sender's record -> the ring on behalf of the
 * receiver) is shaded first, in every barrier mode (tc_barrier(v, v): as
 * the old value of the slot it leaves and the new value of the one it
 * enters).  Root-stack slots are otherwise barrier-free because only their
 * owner writes them; here another G writes or drains them, so they get the
 * treatment of Go's sendDirect/recvDirect.  Ring slots are heap slots:
 * tc_store, and a drained slot is cleared with tc_store (the deletion
 * half of the barrier sees the value leave).
 *
 * Memory order.  The channel lock orders all queue, ring and record
 * accesses; tc__ready (a status CAS and a run-queue release) orders the
 * waker's writes to a record before its G resumes.  qcount and closed are
 * written with relaxed atomics under the lock because tc_chan_len reads
 * qcount without it; a ring slot and a record's elem are written with
 * relaxed atomics because the collector may read them concurrently.
 * selectdone is CASed by wakers of different channels, each under its own
 * lock; the select resets it with all of its channels locked.
 * The park callback of a select unlocks several channels on g0.  As soon
 * as the first is unlocked the G may be readied and resume on another M;
 * it then relocks in the same order, so it waits at the first lock g0
 * still holds.  g0 reads the lock list (on the G's stack, alive until the
 * select returns, and never written after the park) just before each
 * unlock, and nothing after the last one.
 *
 * Rejected:
 *   - a separate ring object referenced from the channel: an extra
 *     allocation and barrier per channel, for nothing (the header is small
 *     and the trace callback visits the ring in place).
 *   - having the collector trace records through g->waiting (waitlink,
 *     elemref): it covers only the parked window, not the safepoint at
 *     entry before the record is queued, and does not keep the channel
 *     alive; a root frame covers all three with the scan that already
 *     exists.  So records are never put on g->waiting.
 *   - heap-allocated records (Go's sudog cache): a coroutine's stack stays
 *     put while it is parked, and a select of n cases needs n records at
 *     once, on the stack (n <= SELECT_STACK_CASES) or in one malloc.
 *   - a lock-free fast path for full/empty non-blocking operations (Go's):
 *     only tc_select(..., false) is non-blocking here, and it needs the
 *     locks for its other cases anyway.
 */
#include "sched/proc.h"

#include <stdlib.h>

/* Cases whose records and tables tc_select keeps on the coroutine's stack:
 * about 100 bytes each, so 32 cases take 3.2 KiB of a 64 KiB stack.  More
 * cases take one malloc. */
#define SELECT_STACK_CASES 32

struct tc_chan {
  uint32_t lock;         /* tc__spin_lock word */
  uint32_t closed;       /* 0, or 1 once closed; set under lock */
  uint32_t flags;        /* TC_CHAN_RAW or 0; fixed */
  size_t cap;            /* ring slots; fixed */
  size_t qcount;         /* values in the ring, <= cap */
  size_t sendx;          /* next slot to fill, < cap (0 when cap == 0) */
  size_t recvx;          /* next slot to drain; qcount == (sendx - recvx) mod cap, or cap */
  tc__waitq recvq;       /* blocked receivers (records on their stacks) */
  tc__waitq sendq;       /* blocked senders */
  void *buf[];           /* cap slots */
};

/* ---------------------------------------------------------------- objects */

/* Visits the ring: every slot, since drained slots hold NULL.  Collector. */
static void chan_trace(void *obj, tc_visitor *v) {
  tc_chan *c = obj;
  for (size_t i = 0; i < c->cap; i++)
    tc_visit_slot(v, &c->buf[i]);
}

static tc_type chan_type = {.name = "tc_chan", .trace = chan_trace};

static inline bool chan_traced(const tc_chan *c) {
  return (c->flags & TC_CHAN_RAW) == 0;
}

tc_chan *tc_chan_new(size_t cap, unsigned flags) {
  TC_ASSERT((flags & ~TC_CHAN_RAW) == 0);
  if (cap > (SIZE_MAX - sizeof(tc_chan)) / sizeof(void *))
    return NULL;
  size_t size = sizeof(tc_chan) + cap * sizeof(void *);
  tc_chan *c = (flags & TC_CHAN_RAW) ? tc_alloc_noscan(size)
                                     : tc_alloc(&chan_type, size);
  if (c == NULL)
    return NULL;
  /* Zeroed: unlocked, open, empty.  Published by whatever hands c on. */
  c->flags = flags;
  c->cap = cap;
  return c;
}

size_t tc_chan_len(tc_chan *c) {
  return c ? tc__load_relaxed(&c->qcount) : 0;
}

size_t tc_chan_cap(tc_chan *c) { return c ? c->cap : 0; }

/* ---------------------------------------------------------------- values */

/* Shades v, which moves from one coroutine's stack to another's (or into
 * the ring on another's behalf): as the old value of the slot it leaves
 * and the new value of the one it enters, so every barrier mode greys it.
 * Caller: holds c's lock, before the source can drop v. */
static inline void shade_moved(const tc_chan *c, void *v) {
  if (v && chan_traced(c))
    tc_barrier(v, v);
}

static inline void slot_put(tc_chan *c, void **slot, void *v) {
  if (chan_traced(c))
    tc_store(slot, v);
  else
    tc__store_relaxed(slot, v);
}

/* Appends v to the ring; there is room.  Lock held. */
static void buf_put(tc_chan *c, void *v) {
  slot_put(c, &c->buf[c->sendx], v);
  if (++c->sendx == c->cap)
    c->sendx = 0;
  tc__store_relaxed(&c->qcount, c->qcount + 1);
}

/* Removes and returns the ring's head; it is not empty.  Lock held. */
static void *buf_take(tc_chan *c) {
  void **slot = &c->buf[c->recvx];
  void *v = tc_load(slot);
  slot_put(c, slot, NULL);
  if (++c->recvx == c->cap)
    c->recvx = 0;
  tc__store_relaxed(&c->qcount, c->qcount - 1);
  return v;
}

/* Completes blocked sender s (popped from sendq) for a receiver and
 * returns the value received: s's own value on an unbuffered channel,
 * else the ring's head, with s's value appended in its place (the ring is
 * full).  The caller unlocks, then readies s->g.  Lock held. */
static void *recv_from_sender(tc_chan *c, tc__sudog *s) {
  void *sv = s->elem;
  void *v = sv;
  shade_moved(c, sv);
  if (c->cap > 0) {
    void **slot = &c->buf[c->recvx];
    v = tc_load(slot);
    slot_put(c, slot, sv);
    if (++c->recvx == c->cap)
      c->recvx = 0;
    c->sendx = c->recvx;
  }
  s->success = true;
  s->g->param = s;
  return v;
}

/* Completes blocked receiver r (popped from recvq) with v.  The caller
 * unlocks, then readies r->g.  Lock held. */
static void send_to_receiver(tc_chan *c, tc__sudog *r, void *v) {
  shade_moved(c, v);
  tc__store_relaxed(&r->elem, v);
  r->success = true;
  r->g->param = r;
}

/* ---------------------------------------------------------------- timers */

bool tc__chan_offer(tc_chan *c, void *v) {
  TC_CHECK(!chan_traced(c));
  tc__spin_lock(&c->lock);
  if (c->closed) {
    tc__spin_unlock(&c->lock);
    return false;
  }
  tc__sudog *r = tc__waitq_pop(&c->recvq);
  if (r) {
    tc__g *rg = r->g;
    send_to_receiver(c, r, v);
    tc__spin_unlock(&c->lock);
    tc__ready(rg);
    return true;
  }
  bool room = c->qcount < c->cap;
  if (room)
    buf_put(c, v);
  tc__spin_unlock(&c->lock);
  return room;
}

void tc__chan_drain(tc_chan *c) {
  tc__spin_lock(&c->lock);
  while (c->qcount > 0)
    (void)buf_take(c);
  tc__spin_unlock(&c->lock);
}

/* ---------------------------------------------------------------- parking */

static void unlock_spin(void *lock) { tc__spin_unlock(lock); }

/* Parks the running G for good (a nil channel, an empty select). */
static TC_NORETURN void block_forever(const char *reason) {
  for (;;)
    tc__park(reason, NULL, NULL);
}

/* Pushes a root frame of n slots; popped at the end of the scope. */
#define ROOT_FRAME(name, slotv, count, what)                                 \
  static const tc__frame_site name##_site = {__FILE__, __LINE__, what};     \
  tc__frame name __attribute__((cleanup(tc__frame_pop))) = {                \
      .slots = (slotv), .n = (uint32_t)(count), .site = &name##_site};      \
  tc__frame_push(&name)

/* ---------------------------------------------------------------- send, recv */

int tc_chan_send(tc_chan *c, void *v) {
  tc__g *g = tc__needg("tc_chan_send");
  if (c == NULL)
    block_forever("chan send (nil chan)");
  tc__sudog s = {.g = g, .elem = v, .obj = c};
  void **slots[2] = {&s.obj, &s.elem};
  ROOT_FRAME(frame, slots, chan_traced(c) ? 2 : 1, "tc_chan_send: c, v");
  tc_safepoint();

  tc__spin_lock(&c->lock);
  if (c->closed) {
    tc__spin_unlock(&c->lock);
    return TC_ECLOSED;
  }
  tc__sudog *r = tc__waitq_pop(&c->recvq);
  if (r) {
    tc__g *rg = r->g;
    send_to_receiver(c, r, s.elem);
    tc__spin_unlock(&c->lock);
    tc__ready(rg);
    return TC_OK;
  }
  if (c->qcount < c->cap) {
    buf_put(c, s.elem);
    tc__spin_unlock(&c->lock);
    return TC_OK;
  }
  g->param = NULL;
  tc__waitq_push(&c->sendq, &s);
  tc__park("chan send", unlock_spin, &c->lock);
  TC_CHECK(g->param == &s);
  g->param = NULL;
  return s.success ? TC_OK : TC_ECLOSED;
}

void *tc_chan_recv(tc_chan *c, bool *ok) {
  tc__g *g = tc__needg("tc_chan_recv");
  if (c == NULL)
    block_forever("chan receive (nil chan)");
  tc__sudog s = {.g = g, .obj = c};
  void **slots[2] = {&s.obj, &s.elem};
  ROOT_FRAME(frame, slots, chan_traced(c) ? 2 : 1, "tc_chan_recv: c, value");
  tc_safepoint();

  void *v = NULL;
  bool got = true;
  tc__spin_lock(&c->lock);
  tc__sudog *w = tc__waitq_pop(&c->sendq);
  if (w) {
    tc__g *wg = w->g;
    v = recv_from_sender(c, w);
    tc__spin_unlock(&c->lock);
    tc__ready(wg);
  } else if (c->qcount > 0) {
    v = buf_take(c);
    tc__spin_unlock(&c->lock);
  } else if (c->closed) {
    tc__spin_unlock(&c->lock);
    got = false;
  } else {
    g->param = NULL;
    tc__waitq_push(&c->recvq, &s);
    tc__park("chan receive", unlock_spin, &c->lock);
    TC_CHECK(g->param == &s);
    g->param = NULL;
    got = s.success;
    v = s.elem; /* NULL when woken by close */
  }
  if (ok)
    *ok = got;
  return v;
}

int tc_chan_close(tc_chan *c) {
  if (c == NULL)
    return TC_EINVAL;
  tc__sudog *wake = NULL; /* completed records, linked through next */
  tc__spin_lock(&c->lock);
  if (c->closed) {
    tc__spin_unlock(&c->lock);
    return TC_ECLOSED;
  }
  tc__store_relaxed(&c->closed, 1u);
  tc__waitq *queues[2] = {&c->recvq, &c->sendq};
  for (int i = 0; i < 2; i++) {
    tc__sudog *s;
    while ((s = tc__waitq_pop(queues[i])) != NULL) {
      s->success = false; /* a receiver's elem stays NULL */
      s->g->param = s;
      s->next = wake;
      wake = s;
    }
  }
  tc__spin_unlock(&c->lock);
  /* Each record stays valid until its G is readied: read it first. */
  while (wake) {
    tc__sudog *next = wake->next;
    tc__ready(wake->g);
    wake = next;
  }
  return TC_OK;
}

/* ---------------------------------------------------------------- select */

/* Returns a random number in [0, n). */
static uint32_t fastrandn(uint32_t n) {
  return (uint32_t)(((uint64_t)tc__fastrand() * n) >> 32);
}

/* The channels of a select in lock order, shared with the park callback. */
typedef struct selock {
  tc_chan **chans;       /* distinct channels, ascending addresses */
  size_t n;
} selock;

static void sellock(const selock *l) {
  for (size_t i = 0; i < l->n; i++)
    tc__spin_lock(&l->chans[i]->lock);
}

static void selunlock(const selock *l) {
  for (size_t i = 0; i < l->n; i++)
    tc__spin_unlock(&l->chans[i]->lock);
}

/* Park callback of a select: unlocks its channels, on g0.  Once the first
 * is unlocked the G may run again (see Memory order above): read each
 * channel just before unlocking it, and nothing after the last. */
static void selunlock_parked(void *arg) {
  const selock *l = arg;
  tc_chan **chans = l->chans;
  size_t n = l->n;
  for (size_t i = 0; i < n; i++)
    tc__spin_unlock(&chans[i]->lock);
}

static void sift_down(tc_chan **a, size_t root, size_t n) {
  for (;;) {
    size_t child = 2 * root + 1;
    if (child >= n)
      return;
    if (child + 1 < n && (uintptr_t)a[child] < (uintptr_t)a[child + 1])
      child++;
    if ((uintptr_t)a[root] >= (uintptr_t)a[child])
      return;
    tc_chan *t = a[root];
    a[root] = a[child];
    a[child] = t;
    root = child;
  }
}

/* Sorts channels by address (heap sort: O(n log n), no allocation) and
 * drops duplicates; returns how many are left. */
static size_t sort_unique(tc_chan **a, size_t n) {
  for (size_t i = n / 2; i-- > 0;)
    sift_down(a, i, n);
  for (size_t end = n; end-- > 1;) {
    tc_chan *t = a[0];
    a[0] = a[end];
    a[end] = t;
    sift_down(a, 0, end);
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (m == 0 || a[i] != a[m - 1])
      a[m++] = a[i];
  return m;
}

/* Working memory of one select, n cases. */
typedef struct selmem {
  tc__sudog *sg;         /* [n] one record per case (unused for NULL chans) */
  void ***slots;         /* [2n] root slots: sg[i].obj, sg[i].elem */
  tc_chan **chans;       /* [n] lock order */
  uint32_t *order;       /* [n] poll order: case indices */
} selmem;

/* Tries pass 1 for case cs (step 3), channels locked.  Returns true, with
 * the channels unlocked and the case's results set, if it proceeded. */
static bool select_try(tc_select_case *cs, tc__sudog *s, const selock *l) {
  tc_chan *c = cs->chan;
  tc__sudog *w;
  if (cs->dir == TC_SELECT_RECV) {
    if ((w = tc__waitq_pop(&c->sendq)) != NULL) {
      tc__g *wg = w->g;
      cs->value = recv_from_sender(c, w);
      selunlock(l);
      tc__ready(wg);
    } else if (c->qcount > 0) {
      cs->value = buf_take(c);
      selunlock(l);
    } else if (c->closed) {
      selunlock(l);
      cs->value = NULL;
      cs->ok = false;
      return true;
    } else {
      return false;
    }
    cs->ok = true;
    return true;
  }
  if (c->closed) {
    selunlock(l);
    cs->ok = false;
    return true;
  }
  if ((w = tc__waitq_pop(&c->recvq)) != NULL) {
    tc__g *wg = w->g;
    send_to_receiver(c, w, s->elem);
    selunlock(l);
    tc__ready(wg);
  } else if (c->qcount < c->cap) {
    buf_put(c, s->elem);
    selunlock(l);
  } else {
    return false;
  }
  cs->ok = true;
  return true;
}

static int select_run(tc__g *g, tc_select_case *cases, size_t n, bool block,
                      const selmem *mem) {
  tc__sudog *sg = mem->sg;
  uint32_t *order = mem->order;
  size_t norder = 0, nslots = 0;

  /* 1. records, roots, poll order */
  for (size_t i = 0; i < n; i++) {
    tc_chan *c = cases[i].chan;
    if (c == NULL)
      continue;
    int dir = cases[i].dir;
    TC_ASSERT(dir == TC_SELECT_SEND || dir == TC_SELECT_RECV);
    sg[i] = (tc__sudog){.g = g, .caseidx = (int)i, .obj = c,
                        .elem = dir == TC_SELECT_SEND ? cases[i].value : NULL};
    mem->slots[nslots++] = &sg[i].obj;
    if (chan_traced(c))
      mem->slots[nslots++] = &sg[i].elem;
    uint32_t j = fastrandn((uint32_t)norder + 1);
    order[norder] = order[j];
    order[j] = (uint32_t)i;
    mem->chans[norder] = c;
    norder++;
  }
  ROOT_FRAME(frame, mem->slots, nslots, "tc_select: cases");
  tc_safepoint();
  if (norder == 0) {
    if (!block)
      return -1;
    block_forever("select");
  }

  /* 2. lock order */
  selock l = {mem->chans, sort_unique(mem->chans, norder)};
  sellock(&l);

  /* 3. pass 1 */
  for (size_t k = 0; k < norder; k++) {
    uint32_t i = order[k];
    if (select_try(&cases[i], &sg[i], &l))
      return (int)i;
  }
  if (!block) {
    selunlock(&l);
    return -1;
  }

  /* 4. pass 2 */
  for (size_t k = 0; k < norder; k++) {
    tc__sudog *s = &sg[order[k]];
    tc_chan *c = s->obj;
    s->isselect = true;
    tc__waitq_push(cases[s->caseidx].dir == TC_SELECT_SEND ? &c->sendq
                                                          : &c->recvq, s);
  }
  g->param = NULL;
  tc__park("select", selunlock_parked, &l);

  /* 6. woken by the case in g->param (5. is in tc__waitq_pop) */
  sellock(&l);
  tc__store_relaxed(&g->selectdone, 0u);
  tc__sudog *won = g->param;
  g->param = NULL;
  TC_CHECK(won >= sg && won < sg + n);
  for (size_t k = 0; k < norder; k++) {
    tc__sudog *s = &sg[order[k]];
    tc_chan *c = s->obj;
    if (s != won)
      tc__waitq_remove(cases[s->caseidx].dir == TC_SELECT_SEND ? &c->sendq
                                                              : &c->recvq, s);
    s->isselect = false;
  }
  selunlock(&l);
  tc_select_case *cs = &cases[won->caseidx];
  cs->ok = won->success;
  if (cs->dir == TC_SELECT_RECV)
    cs->value = won->elem; /* NULL when woken by close */
  return won->caseidx;
}

int tc_select(tc_select_case *cases, size_t n, bool block) {
  tc__g *g = tc__needg("tc_select");
  TC_ASSERT(n == 0 || cases != NULL);
  TC_ASSERT(n <= INT32_MAX);
  /* results are written with plain stores: no barrier (header comment) */
  if (TC_DEBUG >= 1 && n > 0 && tc__span_of(cases) != NULL)
    tc__fatal("tc_select(%p, %zu): the case array is in the tricolor heap; "
              "keep it on the stack or in malloc'd memory",
              (void *)cases, n);
  if (n == 0) {
    if (!block)
      return -1;
    block_forever("select (no cases)");
  }
  if (n <= SELECT_STACK_CASES) {
    tc__sudog sg[n];
    void **slots[2 * n];
    tc_chan *chans[n];
    uint32_t order[n];
    selmem mem = {sg, slots, chans, order};
    return select_run(g, cases, n, block, &mem);
  }
  size_t per = sizeof(tc__sudog) + 2 * sizeof(void **) + sizeof(tc_chan *) +
               sizeof(uint32_t);
  char *p = malloc(n * per);
  if (p == NULL)
    tc__fatal("out of memory for a select of %zu cases", n);
  selmem mem = {(tc__sudog *)(void *)p, (void ***)(void *)(p + n * sizeof(tc__sudog)),
                (tc_chan **)(void *)(p + n * (sizeof(tc__sudog) + 2 * sizeof(void **))),
                (uint32_t *)(void *)(p + n * (per - sizeof(uint32_t)))};
  int r = select_run(g, cases, n, block, &mem);
  free(p);
  return r;
}
