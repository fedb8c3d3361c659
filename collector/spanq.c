/*
 * collector/spanq.c -- the span queue of the span mark order
 * (TRICOLOR_DEBUG=markorder=span), an experiment after Go's Green Tea
 * collector (golang/go issue 73581): grey objects wait by span, not one
 * by one, and a span taken off the queue is scanned whole, in address
 * order, so the scan walks memory forward page by page instead of
 * hopping between objects in the order the graph lists them.
 *
 * Algorithm (tri-color invariant: collector/collector.h).
 *   1. Greying p in a small span s that holds references (mark_one,
 *      collector/mark.c): the marker that sets p's mark bit also sets its
 *      grey bit (s->grey_bits: marked, not yet scanned), then queues s
 *      if s->queued is 0, by a CAS 0 -> 1: the winner appends s to the
 *      FIFO.  Large objects (one per span), noscan spans and the verifier
 *      keep the object route (grey stacks and packets, collector/mark.c).
 *   2. A marker whose grey stack is empty takes the oldest span off the
 *      FIFO (drain, collector/mark.c) and, while s->queued stays 1,
 *      exchanges each grey word with 0 and scans the objects it held in
 *      address order, pass after pass until a pass finds no grey bit:
 *      objects the scan greys in s itself (a list whose nodes share a
 *      span) are taken in the next pass without touching the queue.
 *   3. Then it clears s->queued and reads the grey words again.  A bit
 *      set since its last pass belongs to a marker that saw queued = 1
 *      and left s to us: the scanner CASes queued 0 -> 1 again and goes
 *      back to step 2 (if the CAS fails, that marker queued s itself).
 *      markorderbug=1 skips step 3 and the repeated passes of step 2, the
 *      negative control (tests/test_collector_markorder.c).
 * Invariants.  An object's grey bit is set only by the marker that set
 * its mark bit, so it is scanned once.  A grey bit is set only in a span
 * that is queued or being scanned (from step 1 until step 3 clears
 * queued and finds no bit); so when the queue is empty and no marker is
 * inside a span scan, no object is grey in a span.  A span scan runs
 * inside one drain call: a world stop never finds one half done (Ps stop
 * between slices, assists at safepoints), so mark termination's test
 * "no grey stack entry, no packet" extends to "and no span queued"
 * (tc__pool_empty).  No span is freed while marking, so a queued span
 * stays valid; sweeping finds every grey bit clear and queued 0 (checked).
 * Memory order.  Step 1 (OR of the grey bit, load of queued) against
 * step 3 (store of queued = 0, load of the grey word) is a Dekker pair:
 * seq_cst on all four, so either the greying marker sees 0 and queues
 * s, or the scanner sees the bit (no fences: TSan does not model them).
 * The exchange in step 2 acquires the grey bit's OR, which follows the
 * greying marker's read of the reference: the scanner reads what the
 * greying marker's span lookup saw.  The queue's links and count change
 * under its lock; `n` is also read relaxed as a hint (tc__spanq_empty),
 * exact for termination because nobody queues while the world is
 * stopped and every drainer is accounted for (collector/cycle.c).
 * At 64 Ps: one lock, taken once per span queued and once per span
 * taken, where the object order takes pool.lock once per 256 objects.
 * A span is queued at most once at a time, and each take scans every
 * grey object it holds (up to 512 in an 8 KiB span of 16-byte objects),
 * so the lock traffic follows the number of spans greyed, not of objects;
 * with objects spread thinly over many spans (one grey object per span)
 * it is one lock hold per object and the lock is the hot spot, which is
 * why Go's spanQueue is per P with stealing.  That is the next step here
 * if span order ever wins on this machine's measurements (HACKING.md).
 * Measured (bench_binarytrees 16, Release, TRICOLOR_PROCS=1, hybrid,
 * under valgrind; instruction counts, not time): callgrind puts
 * 2.74 G instructions under tc__mark_drain_budget in object order (114
 * cycles) and 2.12 G in span order (116 cycles); cachegrind, both 112
 * cycles: D1 read misses in the scan 6.10 M (scan_entry + drain) against
 * 5.04 M (scan_entry + scan_span), LL misses equal (~167 K).  The
 * default stays object until a timed run on more cores says otherwise.
 * Rejected: a lock-free MPMC ring (a fixed capacity must be at least the
 * span count, or a full ring needs a fallback; the lock measured nothing
 * at 2 cores); scanning a taken span's objects through the grey stack
 * (the stack's LIFO would reorder them and re-queue the span for every
 * object its own scan greys).
 */
#include "collector/collector.h"

static struct {
  uint32_t lock;   /* tc__spin: the links and n */
  tc__span *head;  /* oldest queued span, taken first */
  tc__span *tail;  /* newest */
  size_t n;        /* spans on the queue (relaxed hint outside the lock) */
} q;

void tc__spanq_push(tc__span *s) {
  tc__spin_lock(&q.lock);
  TC__FIFO_APPEND(q.head, q.tail, s, s, qnext);
  tc__store_relaxed(&q.n, q.n + 1);
  tc__spin_unlock(&q.lock);
}

tc__span *tc__spanq_pop(void) {
  if (tc__load_relaxed(&q.n) == 0)
    return NULL;
  tc__spin_lock(&q.lock);
  tc__span *s;
  TC__FIFO_POP(q.head, q.tail, s, qnext);
  if (s)
    tc__store_relaxed(&q.n, q.n - 1);
  tc__spin_unlock(&q.lock);
  return s;
}

bool tc__spanq_empty(void) { return tc__load_relaxed(&q.n) == 0; }

void tc__spanq_discard(void) {
  tc__span *s;
  while ((s = tc__spanq_pop()) != NULL) {
    size_t words = tc__bitmap_words(s->nelems);
    for (size_t w = 0; w < words; w++)
      __atomic_store_n(&s->grey_bits[w], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&s->queued, 0u, __ATOMIC_SEQ_CST);
  }
}
