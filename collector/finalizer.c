/*
 * collector/finalizer.c -- finalizers.
 *
 * Rules (as in Go):
 *   1. An object of a type with a finalizer gets a bit in its span's
 *      fin_bits when allocated; the span joins heap.fin_spans.
 *   2. While marking roots, everything a finalizable object references is
 *      marked (its children, not the object itself).  So when X and Y are
 *      both finalizable and X references Y, Y stays reachable until X's
 *      finalizer has run: finalizers run in dependency order.  A cycle of
 *      finalizable objects is never finalized (documented, as in Go).
 *   3. After marking, each finalizable object left white is queued, marked
 *      (its children already are) and loses its fin bit.  It therefore
 *      survives this cycle's sweep.
 *   4. Queued finalizers run later on the mutator, outside any pause: after
 *      tc_gc() finishes its sweep, before an allocation that started a
 *      cycle, or from tc_run_finalizers().  The object stays in the queue
 *      (a root) until its finalizer returns, so a cycle started inside the
 *      finalizer cannot free it.
 *   5. Resurrection: if the finalizer stores the object where a root
 *      reaches it, it lives on without a finalizer; otherwise the next
 *      cycle frees it.
 */
#include "collector/collector.h"

#include <stdlib.h>
#include <string.h>

static void **queue;          /* objects whose finalizer is due */
static size_t qhead, qtail, qcap;
static uint32_t qlock;        /* tc__spin: queue indexes (pushes happen
                                 with the world stopped, pops on mutators) */
static uint32_t running;      /* one runner at a time (CAS 0 -> 1) */
static uint64_t ran;

static size_t fin_bytes(const tc__span *s) {
  return tc__bitmap_words(s->nelems) * sizeof(uint64_t);
}

bool tc__finalizer_register(void *obj, tc__span *s) {
  tc__lock_acquire(&tc__h.lock);
  if (s->fin_bits == NULL) {
    s->fin_bits = tc__meta_alloc(fin_bytes(s));
    if (s->fin_bits == NULL) {
      tc__lock_release(&tc__h.lock);
      return false;
    }
  }
  if (!s->has_fin) {
    s->has_fin = 1;
    s->fin_next = tc__h.fin_spans;
    tc__h.fin_spans = s;
  }
  tc__bit_set(s->fin_bits, tc__span_index(s, obj));
  tc__lock_release(&tc__h.lock);
  return true;
}

void tc__finalizers_scan_queue(tc__marker *m) {
  for (size_t i = qhead; i < qtail; i++)
    tc__mark_ref(m, queue[i], &queue[i]);
  /* rule 2: keep what finalizable objects reference */
  for (tc__span *s = tc__h.fin_spans; s; s = s->fin_next) {
    size_t words = tc__bitmap_words(s->nelems);
    for (size_t w = 0; w < words; w++)
      for (uint64_t b = s->fin_bits[w]; b; b &= b - 1)
        tc__mark_scan_object(
            m, tc__span_obj(s, (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b))));
  }
}

static void queue_push(void *obj) {
  if (qtail == qcap) {
    if (qhead > 0) {
      memmove(queue, queue + qhead, (qtail - qhead) * sizeof(void *));
      tc__store_relaxed(&qtail, qtail - qhead);
      tc__store_relaxed(&qhead, (size_t)0);
    } else {
      size_t cap = qcap ? qcap * 2 : 64;
      void **q = realloc(queue, cap * sizeof(void *));
      if (q == NULL)
        tc__fatal("out of memory growing the finalizer queue");
      queue = q;
      qcap = cap;
    }
  }
  queue[qtail] = obj;
  tc__store_relaxed(&qtail, qtail + 1);
}

void tc__finalizers_collect(void) {
  tc__spin_lock(&qlock);
  tc__span **link = &tc__h.fin_spans;
  while (*link) {
    tc__span *s = *link;
    size_t words = tc__bitmap_words(s->nelems);
    bool left = false;
    for (size_t w = 0; w < words; w++) {
      uint64_t due = s->fin_bits[w] & ~s->mark_bits[w];
      for (uint64_t b = due; b; b &= b - 1) {
        uint32_t i = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
        queue_push(tc__span_obj(s, i));
      }
      s->mark_bits[w] |= due; /* resurrect until the finalizer has run */
      tc__add_relaxed(&tc__h.marked,
                      (uint64_t)__builtin_popcountll(due) * s->elem_size);
      s->fin_bits[w] &= ~due;
      left |= s->fin_bits[w] != 0;
    }
    if (left) {
      link = &s->fin_next;
    } else {
      *link = s->fin_next;
      s->fin_next = NULL;
      s->has_fin = 0;
      tc__meta_free(s->fin_bits, fin_bytes(s));
      s->fin_bits = NULL;
    }
  }
  tc__spin_unlock(&qlock);
}

size_t tc_run_finalizers(void) {
  tc__require_mutator("tc_run_finalizers");
  uint32_t idle = 0;
  if (!tc__cas_acq_rel(&running, &idle, 1u))
    return 0; /* a finalizer called us, or another coroutine runs them */
  size_t n = 0;
  for (;;) {
    tc__spin_lock(&qlock);
    if (qhead == qtail) {
      tc__store_relaxed(&qhead, (size_t)0);
      tc__store_relaxed(&qtail, (size_t)0);
      tc__spin_unlock(&qlock);
      break;
    }
    void *obj = queue[qhead];
    tc__spin_unlock(&qlock);
    tc__span *s = tc__span_of(obj);
    tc_type *t = tc__type_get(s->types[tc__span_index(s, obj)]);
    t->finalize(obj); /* obj stays queued (a root) during the call */
    tc__spin_lock(&qlock);
    tc__store_relaxed(&qhead, qhead + 1); /* a cycle inside may have
                                             compacted: qhead is still ours */
    tc__spin_unlock(&qlock);
    n++;
    tc__add_relaxed(&ran, 1);
  }
  tc__store_release(&running, 0u);
  return n;
}

/* A hint read without the lock (the allocation slow path asks often). */
size_t tc__finalizers_pending(void) {
  return tc__load_relaxed(&qtail) - tc__load_relaxed(&qhead);
}
uint64_t tc__finalizers_ran(void) { return tc__load_relaxed(&ran); }

void tc__finalizers_destroy(void) {
  free(queue);
  queue = NULL;
  qhead = qtail = qcap = 0;
  ran = 0;
  running = 0;
}
