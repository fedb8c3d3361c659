/*
 * sched/sync.c -- coroutine synchronisation: mutex, wait group, once and
 * counting semaphore.  Each is a plain zero-initialisable struct (public
 * layout in tricolor.h) that may live in a global, in malloc'd memory or on
 * a coroutine's stack; none is a heap object and none holds a reference,
 * so the collector never looks at them.
 *
 * Every object pairs a state word, changed with atomics on the fast path,
 * with a tc__spin_lock word guarding a FIFO wait queue (waitq.c) of records
 * on the waiters' stacks.  A waiter queues itself under the lock and parks
 * with tc__park, which releases the lock on g0 once the G is switched out;
 * a waker pops it under the lock, releases the lock, then readies it.
 *
 * Mutex (state: 0 free, LOCKED, LOCKED | WAITERS).
 *   1. lock: CAS 0 -> LOCKED.  Else take the queue lock and loop: free ->
 *      CAS to LOCKED and return; locked -> make sure WAITERS is set (CAS),
 *      then queue and park.  Woken, the caller owns the mutex.
 *   2. unlock: CAS LOCKED -> 0.  If WAITERS is set, take the queue lock,
 *      pop the first waiter and hand the mutex over: state stays LOCKED
 *      (WAITERS cleared if the queue is now empty), the waiter is readied.
 *   3. trylock: CAS 0 -> LOCKED.
 *   Handing over in FIFO order means no waiter starves and a stream of
 *   fast-path lockers cannot barge past the queue while WAITERS is set
 *   (state is never 0 then).  The price is a lock convoy under heavy
 *   contention (each hand-over waits for the waiter to be scheduled);
 *   Go's normal mode lets a running G barge, its starvation mode is ours.
 * Wait group (count).
 *   add: atomic add; below zero aborts; reaching zero takes the lock and
 *   wakes every waiter.  wait: count zero (acquire) -> return; else under
 *   the lock re-check and queue.  A waiter that queued before the count
 *   reached zero is seen by the adder, which takes the lock after its add;
 *   one that takes the lock after the adder sees the zero.
 * Once (done, mu): done (acquire) -> return; else lock mu, call fn if done
 *   is still clear, set done (release), unlock.
 * Semaphore (count >= 0).
 *   acquire: CAS count -> count - 1 while positive; else under the lock
 *   re-check, then queue and park.  release, under the lock: pop a waiter
 *   and hand it the unit directly, or count + 1.  So a queued waiter means
 *   count == 0, and fast-path acquirers cannot overtake the queue.
 *
 * Invariants (object lock held): a record is queued only while its G is
 * parked (or about to be: the lock is released after the switch); mutex:
 * WAITERS set <=> queue non-empty, and WAITERS implies LOCKED; semaphore:
 * queue non-empty => count == 0.
 * Memory order: state words and counts are read and written with atomics;
 * the lock-free transitions that transfer ownership are acq_rel CASes (or
 * an acq_rel add for the wait group), so a releaser's writes happen before
 * the next owner's.  Hand-overs go through the object lock and tc__ready
 * (status CAS, run-queue release), which order the releaser's writes
 * before the woken G runs.  Queues and records only change under the lock.
 *
 * Rejected: Go's semaphore table (semaRoot treap keyed by address): it lets
 * the sync structs be a single word, but ours carry their queue inline and
 * need no global table or hashing; spinning before parking (Go's mutex
 * spins a few rounds when other Ps are running): with coroutines parking
 * costs two context switches, and the scheduler's spinning Ms already hide
 * the wake-up latency.
 */
#include "sched/sched.h"

static void unlock_spin(void *lock) { tc__spin_unlock(lock); }

/* Parks g, the running G, on q until a waker pops it; the object lock is
 * held and released by the park. */
static void wait_on(tc__g *g, tc__waitq *q, uint32_t *lock, void *obj,
                    const char *reason) {
  tc__sudog s = {.g = g, .obj = obj};
  g->param = NULL;
  tc__waitq_push(q, &s);
  tc__park(reason, unlock_spin, lock);
  TC_CHECK(g->param == &s);
  g->param = NULL;
}

/* Pops the first waiter of q and marks it woken; returns its G or NULL.
 * Object lock held; the caller readies the G after unlocking. */
static tc__g *wake_one(tc__waitq *q) {
  tc__sudog *s = tc__waitq_pop(q);
  if (s == NULL)
    return NULL;
  tc__g *g = s->g;
  s->success = true;
  g->param = s;
  return g;
}

/* ---------------------------------------------------------------- mutex */

enum { MUTEX_LOCKED = 1u, MUTEX_WAITERS = 2u };

bool tc_mutex_trylock(tc_mutex *mu) {
  uint32_t s = 0;
  return tc__cas_acq_rel(&mu->state, &s, (uint32_t)MUTEX_LOCKED);
}

static TC_NOINLINE void mutex_lock_slow(tc_mutex *mu) {
  tc__g *g = tc__needg("tc_mutex_lock");
  tc_safepoint();
  tc__spin_lock(&mu->lock);
  uint32_t s = tc__load_relaxed(&mu->state);
  for (;;) {
    if ((s & MUTEX_LOCKED) == 0) {
      if (tc__cas_acq_rel(&mu->state, &s, s | MUTEX_LOCKED)) {
        tc__spin_unlock(&mu->lock);
        return;
      }
      continue;
    }
    if (s & MUTEX_WAITERS)
      break;
    if (tc__cas_acq_rel(&mu->state, &s, s | MUTEX_WAITERS))
      break;
  }
  /* Woken by unlock, which handed the mutex over. */
  wait_on(g, &mu->waiters, &mu->lock, mu, "sync.Mutex.Lock");
}

void tc_mutex_lock(tc_mutex *mu) {
  if (tc_mutex_trylock(mu))
    return;
  mutex_lock_slow(mu);
}

static TC_NOINLINE void mutex_unlock_slow(tc_mutex *mu) {
  tc__spin_lock(&mu->lock);
  tc__g *g = wake_one(&mu->waiters);
  if (g == NULL)
    tc__fatal("sync: mutex %p has WAITERS set but no waiter", (void *)mu);
  if (mu->waiters.first == NULL)
    tc__store_release(&mu->state, (uint32_t)MUTEX_LOCKED); /* owned by g */
  tc__spin_unlock(&mu->lock);
  tc__ready(g);
}

void tc_mutex_unlock(tc_mutex *mu) {
  uint32_t s = MUTEX_LOCKED;
  if (tc__cas_acq_rel(&mu->state, &s, 0u))
    return;
  if ((s & MUTEX_LOCKED) == 0)
    tc__fatal("sync: unlock of unlocked mutex %p", (void *)mu);
  mutex_unlock_slow(mu); /* WAITERS set: only this owner clears it */
}

/* ---------------------------------------------------------------- wait group */

void tc_waitgroup_add(tc_waitgroup *wg, int64_t delta) {
  int64_t n = __atomic_add_fetch(&wg->count, delta, __ATOMIC_ACQ_REL);
  if (n < 0)
    tc__fatal("sync: negative WaitGroup counter (%lld after adding %lld "
              "to wait group %p)", (long long)n, (long long)delta,
              (void *)wg);
  if (n > 0 || delta == 0)
    return;
  tc__sudog *wake = NULL; /* woken records, linked through next */
  tc__spin_lock(&wg->lock);
  tc__sudog *s;
  while ((s = tc__waitq_pop(&wg->waiters)) != NULL) {
    s->success = true;
    s->g->param = s;
    s->next = wake;
    wake = s;
  }
  tc__spin_unlock(&wg->lock);
  while (wake) { /* a record is valid until its G is readied */
    tc__sudog *next = wake->next;
    tc__ready(wake->g);
    wake = next;
  }
}

void tc_waitgroup_done(tc_waitgroup *wg) { tc_waitgroup_add(wg, -1); }

void tc_waitgroup_wait(tc_waitgroup *wg) {
  if (tc__load_acquire(&wg->count) == 0)
    return;
  tc__g *g = tc__needg("tc_waitgroup_wait");
  tc_safepoint();
  tc__spin_lock(&wg->lock);
  if (tc__load_acquire(&wg->count) == 0) {
    tc__spin_unlock(&wg->lock);
    return;
  }
  wait_on(g, &wg->waiters, &wg->lock, wg, "sync.WaitGroup.Wait");
}

/* ---------------------------------------------------------------- once */

void tc_once_do(tc_once *o, tc_fn fn, void *arg) {
  if (tc__load_acquire(&o->done))
    return;
  tc_mutex_lock(&o->mu);
  if (tc__load_relaxed(&o->done) == 0) {
    fn(arg);
    tc__store_release(&o->done, 1u);
  }
  tc_mutex_unlock(&o->mu);
}

/* ---------------------------------------------------------------- semaphore */

void tc_sema_init(tc_sema *s, int64_t count) {
  TC_ASSERT(count >= 0);
  tc__store_relaxed(&s->count, count);
  s->lock = 0;
  s->waiters.first = s->waiters.last = NULL;
}

bool tc_sema_tryacquire(tc_sema *s) {
  int64_t n = tc__load_relaxed(&s->count);
  while (n > 0)
    if (tc__cas_acq_rel(&s->count, &n, n - 1))
      return true;
  return false;
}

void tc_sema_acquire(tc_sema *s) {
  if (tc_sema_tryacquire(s))
    return;
  tc__g *g = tc__needg("tc_sema_acquire");
  tc_safepoint();
  tc__spin_lock(&s->lock);
  if (tc_sema_tryacquire(s)) {
    tc__spin_unlock(&s->lock);
    return;
  }
  wait_on(g, &s->waiters, &s->lock, s, "semacquire"); /* handed a unit */
}

void tc_sema_release(tc_sema *s) {
  tc__spin_lock(&s->lock);
  tc__g *g = wake_one(&s->waiters);
  if (g == NULL)
    __atomic_add_fetch(&s->count, 1, __ATOMIC_ACQ_REL);
  tc__spin_unlock(&s->lock);
  if (g)
    tc__ready(g);
}
