/*
 * collector/alloc.c -- the allocation slow path and object queries.
 *
 * tc__alloc_slow runs when the inline path cannot serve a request: the run
 * of the class is empty, the size is above 1 KiB, the type is not yet
 * registered or has a finalizer, the thread is not a mutator, or its
 * context is asked to stop (preempt; tc_safepoint below answers it).
 *   1. Check the caller (mutator, not inside a trace callback).
 *   2. Register the type (first allocation) and pick the span class.
 *   3. If heap.live passed the trigger, start a cycle (under the scheduler:
 *      ask the collector thread; a bare mutator collects right here).
 *      While a cycle marks, what the refill hands out is charged to the
 *      P, which pays in mark work (an assist, collector/gcwork.c).
 *   4. Serve from the run, refilling it if empty; large objects get a span.
 *   5. Out of memory: one emergency cycle and a retry (Lua's rule), then the
 *      embedder's OOM hook, then NULL.
 *   6. Objects of types with a finalizer are recorded for finalization;
 *      finalizers queued by an earlier cycle run before the allocation.
 *   7. The heap profile (collector/profile.c) arms each refilled run: the
 *      run's end may be cut short at a sample point, where the inline path
 *      falls in here; the object at the cut is sampled, with its stack.
 */
#include "collector/collector.h"

#include <string.h>

extern __thread int tc__in_mark_work;

/* heap.live less the garbage the last mark found and the sweep has not
 * freed yet: what the trigger and the goal are compared with (otherwise
 * every cycle would trigger the next one at once; Go's
 * sweepDistMinTrigger serves the same end). */
static uint64_t live_after_sweep(void) {
  int64_t debt = tc__load_relaxed(&tc__h.sweep_debt);
  uint64_t live = tc__load_relaxed(&tc__h.live);
  if (debt > 0)
    live = live > (uint64_t)debt ? live - (uint64_t)debt : 0;
  return live;
}

void tc__maybe_collect(void) {
  if (tc__debug_settings.gcstress) {
    /* a whole cycle at every slow-path allocation; under the scheduler
     * the coroutine waits for it while the others run on */
    if (tc__world_scheduled())
      tc__gcthread_wait(tc__gcthread_request(TC__REASON_STRESS));
    else
      tc__collect(TC__REASON_STRESS);
    return;
  }
  if (tc__load_relaxed(&tc__gc.in_cycle) || tc__load_relaxed(&tc__gc.requested))
    return;
  uint64_t live = live_after_sweep();
  if (tc__gc.gc_percent != TC_GC_OFF &&
      live >= tc__load_relaxed(&tc__gc.trigger))
    tc__collect(TC__REASON_HEAP);
  else if (tc__gc.mem_limit && live >= tc__load_relaxed(&tc__gc.goal))
    tc__collect(TC__REASON_HEAP); /* gc off, but the memory limit binds */
}

/* True if the heap (live_after_sweep) is past the goal while a cycle is
 * asked for or running. */
static bool past_goal(void) {
  uint64_t goal = tc__load_relaxed(&tc__gc.goal);
  if (goal == UINT64_MAX ||
      !(tc__load_relaxed(&tc__gc.in_cycle) || tc__load_relaxed(&tc__gc.requested)))
    return false;
  return live_after_sweep() > goal;
}

/* One attempt at allocating; NULL when the heap is exhausted.  *charge
 * receives the bytes the heap handed out (a refilled run, a large object);
 * *sample is set when the heap profile samples the object (step 7). */
static inline __attribute__((always_inline)) void *
try_alloc(uint16_t id, size_t size, bool scan, uint64_t *charge,
                       bool *sample) {
  /* The cache of this thread's processor: re-read after every safepoint. */
  tc__mcache *c = (tc__mcache *)tc__ctx_get()->cache;
  if (size > TC__MAX_SMALL) {
    *charge = size;
    void *p = tc__large_alloc(size, id, scan);
    *sample = p && tc__profile_large(c, tc__span_of(p)->elem_size);
    return p;
  }
  unsigned cls = tc__size_to_class(size);
  unsigned sc = cls * 2 + (scan ? 0 : 1);
  tc__run *r = scan ? &c->runs.scan[cls] : &c->runs.noscan[cls];
  if (r->ptr == r->end) {
    if (tc__run_is_cut(r)) { /* at a sample point: this object is it */
      r->end = tc__run_limit(r);
      *sample = true;
    } else {
      if (!tc__cache_refill(c, sc))
        return NULL;
      *charge = (uint64_t)(r->end - r->ptr);
      *sample = tc__profile_arm(c, sc, r); /* the first object is it */
    }
  }
  char *p = r->ptr;
  r->ptr = p + tc__classes[cls].size;
  if (scan)
    *r->types++ = id;
  if (*sample && tc__profile_arm(c, sc, r)) /* the rest, drawn anew */
    r->end = r->ptr; /* the next object is a sample too: cut here */
  if (TC__UNLIKELY(tc__debug_settings.gcstress))
    tc__cache_drop(c, sc); /* every allocation takes this path */
  return p;
}

void *tc__alloc_slow(tc_type *type, size_t size) {
  if (tc__in_mark_work || tc__load_relaxed(&tc__phase) == TC__PHASE_MARKTERM)
    tc__fatal("%s while the collector is marking (inside a trace "
              "callback?)", type ? "tc_alloc" : "tc_alloc_noscan");
  tc__require_mutator(type ? "tc_alloc" : "tc_alloc_noscan");
  if (TC__UNLIKELY(tc__ctx_get()->cache == tc__world_no_cache()))
    tc__fatal("%s between tc_syscall_enter and tc_syscall_exit",
              type ? "tc_alloc" : "tc_alloc_noscan");
  tc_safepoint(); /* stop here if the world is stopping */
  uint16_t id = 0;
  bool scan = false;
  if (type) {
    id = (uint16_t)tc__type_register(type);
    scan = true; /* typed objects keep their type id, even without refs */
  }
  if (size == 0)
    size = 1;
  tc__maybe_collect();
  /* Finalizers queued by a cycle run here, before the new object exists:
   * every pointer the caller holds is in a root (tc_alloc is a safepoint),
   * so a finalizer that allocates and collects cannot lose anything. */
  if (tc__finalizers_pending())
    tc_run_finalizers();
  uint64_t charge = 0;
  bool sample = false;
  void *p = try_alloc(id, size, scan, &charge, &sample);
  if (p == NULL) {
    tc__collect(TC__REASON_OOM);
    tc__sweep_finish();
    p = try_alloc(id, size, scan, &charge, &sample);
  }
  if (p == NULL) {
    if (tc__gc.on_oom)
      tc__gc.on_oom(size);
    return NULL;
  }
  if (sample) /* before any safepoint: the sweep must not free it first */
    tc__profile_record(p, tc__span_of(p)->elem_size);
  if (type && type->finalize &&
      !tc__finalizer_register(p, tc__span_of(p)))
    tc__fatal("out of memory recording a finalizer for a '%s' object",
              type->name ? type->name : "?");
  if (charge && tc__marking()) {
    /* pay for the allocation in mark work; p is not in a root yet, but it
     * is black (allocated while marking) and no cycle ends during an
     * assist, so it cannot be freed meanwhile */
    tc__assist_charge((tc__mcache *)tc__ctx_get()->cache, charge);
  }
  if (charge && tc__world_scheduled() && past_goal()) {
    /* Past the goal with a cycle asked for or marking: wait
     * for it to end rather than outrun it (Go parks such an assist).  The
     * collector thread competes with the Ms for the CPUs; parked
     * allocators give it the CPU.  p is in a root meanwhile. */
    TC_LOCALS(p);
    tc__gcthread_wait(tc__gcthread_current());
  }
  return p;
}

/* Returns the span of an allocated object start, or NULL. */
static tc__span *object_span(const void *p) {
  tc__span *s = tc__span_of(p);
  if (s == NULL || s->state == TC__SPAN_FREE)
    return NULL;
  uint32_t i = tc__span_index(s, p);
  if (tc__span_obj(s, i) != (const char *)p || i >= s->nelems)
    return NULL;
  return s;
}

bool tc_is_object(const void *p) {
  tc__require_mutator("tc_is_object");
  tc__lock_acquire(&tc__h.lock); /* sweepers rewrite the bitmaps */
  bool yes = false;
  tc__span *s = object_span(p);
  if (s) {
    uint32_t i = tc__span_index(s, p);
    yes = tc__bit_get(s->alloc_bits, i); /* as of the last sweep/release */
    if (!yes && s->cached && i >= s->run_start && i < s->freeindex) {
      /* In a run a cache bumps through.  Our own cache's run pointer says
       * exactly; another processor's we may not read (its owner writes it
       * without a lock), and such a slot is allocated or reserved, never
       * freed memory, so it counts. */
      const tc__cache *mine = tc__ctx_get()->cache;
      const tc__run *r = s->run;
      bool own = r && (const char *)r >= (const char *)mine &&
                 (const char *)r < (const char *)(mine + 1);
      yes = own ? (const char *)p < r->ptr : true;
    }
  }
  tc__lock_release(&tc__h.lock);
  return yes;
}

size_t tc_object_size(const void *obj) {
  tc__require_mutator("tc_object_size");
  tc__span *s = object_span(obj);
  if (s == NULL)
    tc__fatal("tc_object_size(%p): not a tricolor object", obj);
  return s->elem_size;
}

tc_type *tc_object_type(const void *obj) {
  tc__require_mutator("tc_object_type");
  tc__span *s = object_span(obj);
  if (s == NULL)
    tc__fatal("tc_object_type(%p): not a tricolor object", obj);
  if (s->types == NULL)
    return NULL;
  return tc__type_get(s->types[tc__span_index(s, obj)]);
}
