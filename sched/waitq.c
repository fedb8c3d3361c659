/*
 * sched/waitq.c -- FIFO wait queues of waiter records (tc__sudog), shared
 * by channels (chan.c) and the sync objects (sync.c).
 *
 * A tc__waitq is two words in the object waited on ({first, last}, public
 * so that sync objects stay plain zero-initialised structs); the records
 * live on the waiting coroutines' stacks and are linked through their
 * next/prev fields.  The object's lock guards the queue and the links of
 * every record on it.
 *
 * Algorithm.
 *   1. push appends at the tail: O(1).
 *   2. pop removes the head.  A record that belongs to a select whose G was
 *      already won by another case (g->selectdone could not be CASed from 0
 *      to 1) is dropped and the next one tried: that G is about to wake up
 *      (or is awake) and will unlink its other records itself, but it may
 *      not have taken this queue's lock yet.  Winning the CAS is what
 *      entitles the caller to complete the record's operation and ready its
 *      G; records of plain operations (isselect false) are returned as is.
 *   3. remove unlinks a given record in O(1), or does nothing if the record
 *      is no longer queued (popped by a waker, or dropped by step 2).  A
 *      select calls it for each of its losing records.
 *
 * Invariants (queue lock held).
 *   - first == NULL iff last == NULL; first->prev == NULL, last->next ==
 *     NULL; the links are consistent in both directions.
 *   - A record that is not on a queue has next == prev == NULL (pop and
 *     remove clear them), and is not first of any queue.  So remove can tell
 *     "queued" (a link set, or first == s) from "already gone".
 *   - A record is on at most one queue.
 * Memory order: every access to the queue and its records is under the
 * object's lock, except selectdone, which several channels' wakers race on
 * (each under its own channel's lock): an acq_rel CAS, so exactly one of
 * them wins and the winner's writes to the record and to g->param are
 * ordered before the G's wake-up (which tc__ready orders anyway).
 *
 * Rejected: a singly linked queue (remove would be O(n), and a select over
 * a busy channel would pay it on every wake-up); skipping stale select
 * records in the callers (every channel path would repeat the CAS loop).
 */
#include "sched/sched.h"

/* Appends s to q.  Caller: holds q's object lock. */
void tc__waitq_push(tc__waitq *q, tc__sudog *s) {
  tc__sudog *last = q->last;
  s->next = NULL;
  s->prev = last;
  if (last)
    last->next = s;
  else
    q->first = s;
  q->last = s;
}

/* Unlinks and returns the head of q, or NULL when empty. */
static tc__sudog *unlink_first(tc__waitq *q) {
  tc__sudog *s = q->first;
  if (s == NULL)
    return NULL;
  tc__sudog *next = s->next;
  q->first = next;
  if (next)
    next->prev = NULL;
  else
    q->last = NULL;
  s->next = NULL;
  s->prev = NULL;
  return s;
}

/* Removes and returns the first record whose operation the caller may
 * complete, or NULL; drops the records of selects already won by another
 * case.  Caller: holds q's object lock. */
tc__sudog *tc__waitq_pop(tc__waitq *q) {
  for (;;) {
    tc__sudog *s = unlink_first(q);
    if (s == NULL)
      return NULL;
    if (!s->isselect)
      return s;
    uint32_t zero = 0;
    if (tc__cas_acq_rel(&s->g->selectdone, &zero, 1u))
      return s;
    /* Another case of that select won; its G unlinks the rest itself. */
  }
}

/* Unlinks s from q if it is still queued there.  Caller: holds q's object
 * lock; s was pushed on q (and may have been popped since). */
void tc__waitq_remove(tc__waitq *q, tc__sudog *s) {
  tc__sudog *prev = s->prev, *next = s->next;
  if (prev == NULL && next == NULL && q->first != s)
    return; /* popped or dropped already */
  if (prev)
    prev->next = next;
  else
    q->first = next;
  if (next)
    next->prev = prev;
  else
    q->last = prev;
  s->next = NULL;
  s->prev = NULL;
}
