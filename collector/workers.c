/*
 * collector/workers.c -- marking threads and the exchange of grey work.
 *
 * The thread that collects is marker 0; procs - 1 helper threads sleep
 * until a cycle needs them.  They are the seed of the per-P background
 * mark workers of the concurrent collector.
 *
 * Algorithm.
 *   1. Marker 0 greys the roots into its own stack and starts draining
 *      alone.  Once it has scanned WAKE_AFTER objects it bumps the epoch and
 *      wakes the helpers, which start with empty stacks and so ask the pool
 *      for work.  A small heap is marked before any thread wakes.
 *   2. A marker draining its stack checks every 64 objects whether another
 *      marker is idle; if so it moves the oldest half of its stack (at most
 *      a packet of 256 entries) to the pool.  The oldest entries of a
 *      depth-first stack are the roots of the largest unexplored subgraphs,
 *      so one hand-off keeps the receiver busy for long.
 *   3. A marker whose stack is empty takes a packet from the pool, or waits.
 *      (markorder=span: spans on the span queue count as work too; a
 *      marker that scanned a span wakes an idle one while spans wait.)
 *      When every marker waits and the pool is empty, marking is complete
 *      (no marker holds grey objects, none can make more): the last one to
 *      go idle sets `done` and wakes the others.
 *   4. Marker 0 waits for the helpers to leave the epoch before the cycle
 *      goes on, so nothing marks during the sweep.
 *   5. Concurrent mark (phase MARK): the collector thread, assists and
 *      the Ps' barrier buffers exchange packets through the same pool
 *      (tc__pool_put/get) without epochs; a marker shares half its stack
 *      only when an assist found the pool empty (`hungry`), or when the
 *      pool is empty and a P is idle: it then wakes that P, whose
 *      scheduling loop marks (Go's idle worker, woken as enlistWorker
 *      does).  The helpers
 *      join in the mark-termination pause (tc__workers_mark), which
 *      drains whatever is left.  A P whose barrier buffer fills hands the
 *      recorded references over as a packet of their own (refs): the
 *      marker that takes it turns them into TC__GREY_REF entries, shaded
 *      when popped, so a store while marking costs its mutator only the
 *      append (barrier/barrier.c).  Unless markers are behind: with
 *      REFS_PER_PROC such packets per proc waiting, the P shades its
 *      buffer itself (memory stays bounded; the mutator pays, as with
 *      assists).
 * Concurrency: the pool lock guards the packet lists, the idle count, the
 * epoch and `done`; `nidle` is also read without the lock as a hint (a
 * stale read only delays or wastes one hand-off).  Handing a packet over
 * through the lock orders the grey entries it carries.
 */
#include "collector/collector.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Objects marker 0 scans alone before it wakes the helpers: small heaps
 * are marked faster than a thread wakes up (tens of microseconds). */
#define WAKE_AFTER 4096
/* Packets of barrier references the pool holds per proc at most (each
 * 256 references, 128 hybrid stores): beyond, markers are behind and a
 * P shades its full buffer itself. */
#define REFS_PER_PROC 32

typedef struct packet {
  struct packet *next;
  uint32_t n;
  bool refs;          /* r: references a barrier recorded, not yet shaded */
  union {
    tc__grey_entry e[TC__PACKET];
    void *r[TC__PACKET];
  };
} packet;

static struct {
  tc__lock lock;
  pthread_cond_t work;      /* a packet arrived, or marking is done */
  pthread_cond_t start;     /* a new epoch began, or quit */
  pthread_cond_t finished;  /* a helper left the epoch */
  packet *full;             /* packets waiting for a marker */
  packet *spare;            /* empty packets for reuse */
  struct chunk *chunks;     /* where packets come from (mmap'd) */
  unsigned nmarkers;        /* markers in a cycle, marker 0 included */
  unsigned nidle;           /* markers waiting for work */
  unsigned nrunning;        /* helpers still in the current epoch */
  uint64_t epoch;
  bool started;             /* the helpers were woken for this mark */
  uint64_t solo_from;       /* marker 0's scan count when the mark began */
  bool done;
  bool quit;
  uint32_t concurrent;      /* concurrent mark: share only when hungry */
  uint32_t hungry;          /* an assist or marker found the pool empty */
  tc__marker *pauser;       /* the marker of tc__workers_mark while it
                               runs: only it may start the helpers (a mark
                               worker on a P draining after an abandoned
                               cycle must not wake helpers nobody waits
                               for: they would block tc__workers_stop) */
  uint32_t nfull;           /* packets on `full` (relaxed hint) */
  uint32_t nrefs;           /* of them, barrier references (tc__pool_put_refs) */
  pthread_t *threads;
  tc__marker *markers;      /* the helpers' markers */
} pool = {.lock = TC__LOCK_INIT};

/* Packets come from mmap'd chunks owned by the pool and unmapped by
 * tc__workers_stop, not from malloc: any thread may make a packet (the
 * collector thread, an M in an assist), and glibc would give each such
 * thread a malloc arena of its own that outlives the runtime. */
#define CHUNK_PACKETS 64
struct chunk {
  struct chunk *next;
  packet p[CHUNK_PACKETS];
};

/* Returns an empty packet, or NULL; lock held. */
static packet *packet_get(void) {
  if (pool.spare == NULL) {
    struct chunk *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (c == MAP_FAILED)
      return NULL;
    c->next = pool.chunks;
    pool.chunks = c;
    for (int i = CHUNK_PACKETS; i-- > 0;) {
      c->p[i].next = pool.spare;
      pool.spare = &c->p[i];
    }
  }
  packet *p = pool.spare;
  pool.spare = p->next;
  return p;
}

/* Moves a packet of the pool onto m's stack; lock held.  False if the
 * pool is empty. */
static bool take_packet(tc__marker *m) {
  packet *p = pool.full;
  if (p == NULL)
    return false;
  pool.full = p->next;
  tc__store_relaxed(&pool.nfull, pool.nfull - 1);
  while (m->cap - m->n < p->n)
    tc__marker_grow(m);
  if (p->refs) { /* shaded when popped (collector/mark.c), off the lock */
    pool.nrefs--;
    for (uint32_t i = 0; i < p->n; i++)
      if (p->r[i])
        m->grey[m->n++] = (tc__grey_entry){p->r[i], 0, TC__GREY_REF};
  } else {
    memcpy(m->grey + m->n, p->e, p->n * sizeof p->e[0]);
    m->n += p->n;
  }
  p->next = pool.spare;
  pool.spare = p;
  return true;
}

/* Takes a packet for m (or finds spans queued, which m's drain takes),
 * or learns that marking is complete; lock held. */
static bool take_work(tc__marker *m) {
  for (;;) {
    if (take_packet(m) || !tc__spanq_empty())
      return true;
    if (pool.done)
      return false;
    tc__store_relaxed(&pool.nidle, pool.nidle + 1);
    if (pool.nidle == pool.nmarkers) {
      pool.done = true;
      pthread_cond_broadcast(&pool.work);
      tc__store_relaxed(&pool.nidle, pool.nidle - 1);
      return false;
    }
    pthread_cond_wait(&pool.work, &pool.lock);
    tc__store_relaxed(&pool.nidle, pool.nidle - 1);
  }
}

/* Drains m and takes shared work until marking is complete. */
static void mark_loop(tc__marker *m) {
  for (;;) {
    tc__mark_drain(m);
    tc__lock_acquire(&pool.lock);
    bool more = take_work(m);
    tc__lock_release(&pool.lock);
    if (!more)
      return;
  }
}

/* Wakes the helpers for this cycle's mark; marker 0 switches to atomic
 * mark bits first, since from now on others mark too. */
static void start_helpers(tc__marker *m) {
  m->shared = true;
  tc__lock_acquire(&pool.lock);
  pool.started = true;
  pool.done = false;
  pool.nrunning = pool.nmarkers - 1;
  pool.epoch++;
  pthread_cond_broadcast(&pool.start);
  tc__lock_release(&pool.lock);
}

/* Copies entries [from, from + k) of m's stack to a packet on the pool;
 * lock held.  False if no packet could be had.  The caller closes the
 * gap (drop_bottom): once per hand-off, not once per packet, which made
 * handing a large stack over quadratic. */
static bool put_locked(tc__marker *m, size_t from, uint32_t k) {
  packet *p = packet_get();
  if (p == NULL)
    return false; /* keep the work: marking stays correct, only slower */
  memcpy(p->e, m->grey + from, k * sizeof p->e[0]);
  p->n = k;
  p->refs = false;
  p->next = pool.full;
  pool.full = p;
  tc__store_relaxed(&pool.nfull, pool.nfull + 1);
  return true;
}

/* Drops the oldest k entries of m's stack (handed over). */
static void drop_bottom(tc__marker *m, size_t k) {
  memmove(m->grey, m->grey + k, (m->n - k) * sizeof m->grey[0]);
  m->n -= k;
}

void tc__pool_put(tc__marker *m, size_t k) {
  if (k == 0 || k > m->n)
    k = m->n;
  tc__lock_acquire(&pool.lock);
  size_t moved = 0;
  while (moved < k) {
    uint32_t n = (uint32_t)(k - moved < TC__PACKET ? k - moved : TC__PACKET);
    if (!put_locked(m, moved, n))
      break;
    moved += n;
  }
  drop_bottom(m, moved);
  pthread_cond_signal(&pool.work);
  tc__lock_release(&pool.lock);
}

bool tc__pool_put_refs(void *const *refs, uint32_t n) {
  tc__lock_acquire(&pool.lock);
  /* back-pressure: markers this far behind, the P shades its own (as
   * Go's barrier always does); the pool's memory stays bounded */
  packet *p = pool.nrefs < REFS_PER_PROC * tc__gc.procs ? packet_get() : NULL;
  if (p) {
    pool.nrefs++;
    memcpy(p->r, refs, n * sizeof p->r[0]);
    p->n = n;
    p->refs = true;
    p->next = pool.full;
    pool.full = p;
    tc__store_relaxed(&pool.nfull, pool.nfull + 1);
    pthread_cond_signal(&pool.work);
  }
  tc__lock_release(&pool.lock);
  return p != NULL; /* the collector thread wakes idle Ps for pooled work */
}

bool tc__pool_take(tc__marker *m) {
  if (tc__load_relaxed(&pool.nfull) == 0)
    return false;
  tc__lock_acquire(&pool.lock);
  bool got = take_packet(m);
  tc__lock_release(&pool.lock);
  return got;
}

bool tc__pool_get(tc__marker *m) {
  return tc__pool_take(m) || !tc__spanq_empty();
}

bool tc__pool_empty(void) {
  return tc__load_relaxed(&pool.nfull) == 0 && tc__spanq_empty();
}

void tc__pool_hungry(void) { tc__store_relaxed(&pool.hungry, 1u); }

bool tc__pool_is_hungry(void) { return tc__load_relaxed(&pool.hungry) != 0; }

void tc__pool_set_concurrent(bool on) {
  tc__store_relaxed(&pool.concurrent, (uint32_t)on);
  tc__store_relaxed(&pool.hungry, 0u);
}

void tc__workers_share(tc__marker *m) {
  if (tc__load_relaxed(&pool.concurrent)) {
    /* concurrent mark: a marker keeps its work unless someone asked, the
     * pool ran dry while a P sits idle (it is woken to mark what is
     * shared: Go's enlistWorker), or the pool ran dry while the marker
     * holds plenty (assists find work there) */
    if (m->n < 2)
      return;
    bool dry = tc__load_relaxed(&pool.nfull) == 0;
    bool idle = dry && tc__world_idle_procs() > 0;
    if (tc__load_relaxed(&pool.hungry) || idle ||
        (dry && m->n >= 4 * TC__PACKET)) {
      tc__store_relaxed(&pool.hungry, 0u);
      tc__pool_put(m, m->n / 2 < TC__PACKET ? m->n / 2 : TC__PACKET);
      if (idle)
        tc__world_wake_idle();
    }
    return;
  }
  if (!pool.started) {
    if (m == pool.pauser && pool.nmarkers > 1 &&
        m->scanned - pool.solo_from >= WAKE_AFTER)
      start_helpers(m);
    return;
  }
  if (tc__load_relaxed(&pool.nidle) == 0)
    return;
  if (m->n < 2) {
    if (!tc__spanq_empty()) { /* span order: an idle marker takes spans */
      tc__lock_acquire(&pool.lock);
      pthread_cond_signal(&pool.work);
      tc__lock_release(&pool.lock);
    }
    return;
  }
  uint32_t k = (uint32_t)(m->n / 2 < TC__PACKET ? m->n / 2 : TC__PACKET);
  tc__lock_acquire(&pool.lock);
  if (put_locked(m, 0, k)) {
    drop_bottom(m, k);
    pthread_cond_signal(&pool.work);
  }
  tc__lock_release(&pool.lock);
}

static void *helper_main(void *arg) {
  tc__marker *m = arg;
  tc__thread_name("tricolor-mark");
  uint64_t seen = 0;
  tc__lock_acquire(&pool.lock);
  for (;;) {
    while (pool.epoch == seen && !pool.quit)
      pthread_cond_wait(&pool.start, &pool.lock);
    if (pool.quit)
      break;
    seen = pool.epoch;
    tc__lock_release(&pool.lock);
    mark_loop(m);
    tc__lock_acquire(&pool.lock);
    if (--pool.nrunning == 0)
      pthread_cond_signal(&pool.finished);
  }
  tc__lock_release(&pool.lock);
  return NULL;
}

unsigned tc__workers_start(unsigned n) {
  pthread_cond_init(&pool.work, NULL);
  pthread_cond_init(&pool.start, NULL);
  pthread_cond_init(&pool.finished, NULL);
  pool.full = pool.spare = NULL;
  pool.chunks = NULL;
  pool.nfull = pool.nrefs = pool.concurrent = pool.hungry = 0;
  pool.nidle = pool.nrunning = 0;
  pool.epoch = 0;
  pool.done = pool.quit = false;
  pool.nmarkers = 1;
  if (n <= 1)
    return 1;
  pool.threads = calloc(n - 1, sizeof *pool.threads);
  pool.markers = calloc(n - 1, sizeof *pool.markers);
  if (pool.threads == NULL || pool.markers == NULL)
    return 1;
  for (unsigned i = 0; i < n - 1; i++) {
    tc__marker_init(&pool.markers[i]);
    pool.markers[i].shared = true;
    if (pthread_create(&pool.threads[i], NULL, helper_main, &pool.markers[i])) {
      tc__marker_destroy(&pool.markers[i]);
      break; /* run with the helpers we have */
    }
    pool.nmarkers++;
  }
  return pool.nmarkers;
}

void tc__workers_stop(void) {
  tc__lock_acquire(&pool.lock);
  pool.quit = true;
  pthread_cond_broadcast(&pool.start);
  tc__lock_release(&pool.lock);
  for (unsigned i = 0; i + 1 < pool.nmarkers; i++) {
    pthread_join(pool.threads[i], NULL);
    tc__marker_destroy(&pool.markers[i]);
  }
  free(pool.threads);
  free(pool.markers);
  pool.threads = NULL;
  pool.markers = NULL;
  while (pool.chunks) {
    struct chunk *c = pool.chunks;
    pool.chunks = c->next;
    munmap(c, sizeof *c);
  }
  pool.spare = NULL;
  pthread_cond_destroy(&pool.work);
  pthread_cond_destroy(&pool.start);
  pthread_cond_destroy(&pool.finished);
  pool.nmarkers = 1;
}

uint64_t tc__workers_mark(tc__marker *m) {
  m->shared = false;
  pool.started = false;
  pool.solo_from = m->scanned;
  pool.pauser = m;
  tc__mark_drain(m); /* may start the helpers (tc__workers_share) */
  pool.pauser = NULL;
  if (!pool.started)
    return 0;
  mark_loop(m);
  tc__lock_acquire(&pool.lock);
  while (pool.nrunning > 0)
    pthread_cond_wait(&pool.finished, &pool.lock);
  TC_CHECK(pool.full == NULL && tc__spanq_empty());
  tc__lock_release(&pool.lock);
  uint64_t marked = 0;
  for (unsigned i = 0; i + 1 < pool.nmarkers; i++) {
    marked += pool.markers[i].marked;
    pool.markers[i].marked = 0;
  }
  return marked;
}
