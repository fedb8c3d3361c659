/*
 * barrier/barrier.c -- the write barrier's flag, policy and slow path.
 *
 * The inline path (tricolor/inline.h) stores directly while the barrier
 * flag is clear.  The flag is set (a) while a cycle marks concurrently with
 * the coroutines (phase MARK) and (b) in debug builds (TC_DEBUG >= 2) or
 * with TRICOLOR_DEBUG=checkstores=1, where every store is also validated: a
 * reference into the heap must be the start of an allocated object, so a
 * stale or interior pointer is reported at the store that wrote it
 * (debug builds skip the check for hybrid's inline appends while marking;
 * checkstores=1 does not).
 *
 * While marking, `*slot = new` (or tc_barrier(old, new)) shades, per the
 * cycle's mode (shade(p) = if p is white, make it grey; the table of
 * tc__barrier_policy in barrier/barrier.h):
 *   insertion  shade(new)            keeps the strong invariant for heap
 *                                    slots; stacks have no barrier, so the
 *                                    termination pause rescans them all.
 *   deletion   shade(old)            snapshot at the beginning: nothing
 *                                    reachable at mark start is lost; an
 *                                    object unlinked while marking floats
 *                                    until the next cycle.
 *   hybrid     shade(old), and shade(new) while the storing coroutine's
 *              root stack is grey (not yet scanned this cycle): Go's.
 *   none       nothing (test-only: the verifier must catch it).
 * The barrier records what the mode shades in its P's buffer (below:
 * wb_record; in hybrid the inline path appends itself, tc__wb_append in
 * tricolor/inline.h, while wblim allows).  Hybrid records the new
 * reference only while the running G's stack may be grey: each P's
 * wbmask is ~0 from every phase move until the world reports its running
 * G's stack black (scanned, by itself or the collector, before it ran,
 * or by itself at a safepoint: sched/gscan.c), then 0, and a store
 * records only the old half (one entry instead of two).  A stale ~0 only
 * shades more; 0 while the stack is grey would lose objects, and cannot
 * happen: a stack turns grey only at a phase move, which sets every mask
 * to ~0 with the world stopped.
 * A full buffer goes to the
 * shared pool as a packet of references the markers shade (collector/
 * workers.c); the rest is shaded into the P's grey buffer at switch-out,
 * syscall entry, the handshake and mark termination.  A thread without a
 * P (a G inside a system call) shades through the door of gcwork.c.
 * The mode is read relaxed: it changes only while the world is stopped.
 *
 * "Is my stack grey": a root stack is black once scanned in this cycle
 * (its colour equals the collector's black for the cycle, sched/gscan.c);
 * the world tells the colour of the calling coroutine's stack.
 *
 * The missing-barrier finder (TRICOLOR_DEBUG=wbcheck=1, collector/
 * wbcheck.c) keeps the flag set as the debug builds do and hears of every
 * store before it happens (note_store).
 */
#include "barrier/barrier.h"

uint32_t tc__barrier_on; /* read by every tc_store (tricolor/inline.h) */

/* Opens (fast) or closes each P's inline appends (tc__wb_append in
 * tricolor/inline.h: while wbp < wblim).  Every stack turns grey at a
 * phase move (a new cycle's colour), so every P records new references
 * until its running G's stack is black (tc__barrier_stack_black). */
static void arm_one(tc__mcache *c, void *arg) {
  tc__pgc *g = c->gc;
  if (g)
    tc__store_relaxed(&c->runs.wblim,
                      *(bool *)arg ? g->wb + TC__WBBUF - 1 : g->wb);
  tc__store_relaxed(&c->runs.wbmask, ~(uintptr_t)0);
}

void tc__barrier_stack_black(tc__mcache *c) {
  if (tc__load_relaxed(&c->runs.wbmask) == 0)
    return;
  if (c->gc)
    tc__wb_flush(c->gc); /* its pairs are counted as pairs (wb_stores) */
  tc__store_relaxed(&c->runs.wbmask, (uintptr_t)0);
}

void tc__barrier_phase(int phase) {
  uint32_t idle = (uint32_t)(TC_DEBUG >= 2 || tc__debug_settings.checkstores ||
                             tc__debug_settings.wbcheck);
  /* the inline appends: hybrid while marking, unless every store is to
   * be seen (checkstores, wbcheck).  Checked builds (TC_DEBUG >= 2) keep
   * them: their sanitizer and emulator runs must cover that path too, so
   * they validate every store but hybrid's while it marks. */
  bool fast = phase == TC__PHASE_MARK && !tc__debug_settings.checkstores &&
              !tc__debug_settings.wbcheck &&
              tc__barrier_mode() == TC_BARRIER_HYBRID;
  if (phase == TC__PHASE_MARK)
    tc__store_relaxed(&tc__barrier_on, 1u);
  else if (phase == TC__PHASE_OFF)
    tc__store_relaxed(&tc__barrier_on, idle);
  tc__gc_for_each_cache(arm_one, &fast);
}

unsigned tc__barrier_policy(int mode, bool stack_grey) {
  switch (mode) {
  case TC_BARRIER_INSERTION: return TC__SHADE_NEW;
  case TC_BARRIER_DELETION: return TC__SHADE_OLD;
  case TC_BARRIER_HYBRID:
    return TC__SHADE_OLD | (stack_grey ? TC__SHADE_NEW : 0u);
  default: return 0; /* TC__BARRIER_NONE; stw never marks concurrently */
  }
}

bool tc__barrier_stack_grey(void) {
  uint32_t colour;
  return tc__world_current_colour(&colour) && colour != tc__gc_stack_black();
}

static void check_ref(void *ref, const void *slot, const char *call) {
  if (ref && tc__span_of(ref) && !tc_is_object(ref))
    tc__fatal("%s(slot %p, %p): %p is not the start of a live tricolor "
              "object", call, slot, ref, ref);
}

static void shade(tc__marker *w, void *p) {
  if (w)
    tc__shade_into(w, p);
  else
    tc__shade_orphan(p); /* door held */
}

void tc__barrier_shade(tc__marker *w, void *old_ref, void *new_ref) {
  if (w)
    w->wb_slow++;
  int mode = tc__barrier_mode();
  /* the colour only matters to hybrid's new half: ask only then */
  bool grey = mode == TC_BARRIER_HYBRID && new_ref && tc__barrier_stack_grey();
  unsigned what = tc__barrier_policy(mode, grey);
  if (what & TC__SHADE_OLD)
    shade(w, old_ref);
  if (what & TC__SHADE_NEW)
    shade(w, new_ref);
}

/* Stores that recorded g's n entries: in hybrid two each while the mask
 * is ~0, one once it is 0 (a buffer holds one kind: it is emptied before
 * the mask drops, tc__barrier_stack_black), one in the others.  The
 * slow-store count is summed when a buffer empties. */
static uint64_t wb_stores(const tc__pgc *g, uint32_t n) {
  if (tc__barrier_mode() == TC_BARRIER_HYBRID &&
      tc__load_relaxed(&g->runs->wbmask))
    return n / 2;
  return n;
}

void tc__wb_flush(tc__pgc *g) {
  uint32_t n = (uint32_t)(g->runs->wbp - g->wb);
  if (n == 0)
    return;
  g->runs->wbp = g->wb;
  tc__marker *w = &g->w;
  w->wb_slow += wb_stores(g, n);
  w->wb_shaded += tc__mark_batch(w, g->wb, n);
  if (TC__UNLIKELY(w->n >= 2 * TC__PACKET))
    tc__pool_put(w, TC__PACKET); /* as tc__shade_into spills */
}

/* Records a store for its P's buffer (the common case while marking):
 * what the policy shades; hybrid's new half is ANDed with the P's mask,
 * which the world clears once the running G's stack is black (asking the
 * stack's colour here would cost more than the shade it saves; Go's
 * barrier records both halves always).  Flushed when full, at switch-out
 * and syscall entry, at the handshake's safepoint and by mark termination
 * (collector/gcwork.c, collector/world.c). */
_Static_assert(TC__WBBUF <= TC__PACKET, "a full buffer fits one packet");
static TC_NOINLINE TC_COLD void wb_full(tc__pgc *g) {
  /* to the markers as they are: the storing P pays only the appends */
  uint32_t n = (uint32_t)(g->runs->wbp - g->wb);
  if (!tc__pool_put_refs(g->wb, n)) {
    tc__wb_flush(g); /* no packet to be had: shade them here */
    return;
  }
  g->runs->wbp = g->wb;
  g->w.wb_slow += wb_stores(g, n);
}

static inline __attribute__((always_inline)) void
wb_record(tc__pgc *g, void *old_ref, void *new_ref) {
  if (TC__UNLIKELY(g->runs->wbp - g->wb > TC__WBBUF - 2))
    wb_full(g); /* room for two first (inline appends fill to the end) */
  uint32_t n = (uint32_t)(g->runs->wbp - g->wb);
  int mode = tc__barrier_mode();
  if (TC__LIKELY(mode == TC_BARRIER_HYBRID)) {
    uintptr_t mask = tc__load_relaxed(&g->runs->wbmask);
    g->wb[n] = old_ref;
    g->wb[n + 1] = (void *)((uintptr_t)new_ref & mask);
    n += 1 + (mask & 1); /* as tc__wb_append */
  } else if (mode == TC_BARRIER_INSERTION) {
    g->wb[n++] = new_ref;
  } else if (mode == TC_BARRIER_DELETION) {
    g->wb[n++] = old_ref;
  } else {
    return; /* TC__BARRIER_NONE; stw never marks concurrently */
  }
  g->runs->wbp = g->wb + n;
}

/* A thread without a P buffer (a G inside a system call) shades at once,
 * through the door (collector/gcwork.c). */
static TC_NOINLINE void shade_door(void *old_ref, void *new_ref) {
  tc__door_enter();
  tc__barrier_shade(NULL, old_ref, new_ref);
  tc__door_exit();
}

static TC_NOINLINE TC_NORETURN void not_mutator(const char *call) {
  tc__fatal("%s called from a thread that is not a mutator", call);
}

/* wbcheck: records the store (slot NULL: a tc_barrier) before it is
 * made, so a scan that sees the new value sees the record too. */
static inline void note_store(void **slot, void *old_ref, void *new_ref) {
  if (TC__UNLIKELY(tc__debug_settings.wbcheck))
    tc__wbcheck_note(slot, old_ref, new_ref);
}

/* The slow paths: the flag is on because a cycle marks, or to validate
 * stores (checked builds, checkstores=1), or for wbcheck. */
void tc__store_slow(void **slot, void *value) {
  tc__ctx *ctx = tc__ctx_get();
  if (TC__UNLIKELY(ctx->owner == NULL))
    not_mutator("tc_store");
  note_store(slot, NULL, value);
  if (TC_DEBUG >= 2 || TC__UNLIKELY(tc__debug_settings.checkstores))
    check_ref(value, slot, "tc_store");
  if (TC__LIKELY(tc__marking())) {
    void *old_ref = tc__load_relaxed(slot);
    tc__pgc *g = ((tc__mcache *)ctx->cache)->gc;
    if (TC__LIKELY(g != NULL))
      wb_record(g, old_ref, value);
    else
      shade_door(old_ref, value);
  }
  tc__store_relaxed(slot, value);
}

void tc__barrier_slow(void *old_ref, void *new_ref) {
  tc__ctx *ctx = tc__ctx_get();
  if (TC__UNLIKELY(ctx->owner == NULL))
    not_mutator("tc_barrier");
  note_store(NULL, old_ref, new_ref);
  if (TC_DEBUG >= 2 || TC__UNLIKELY(tc__debug_settings.checkstores))
    check_ref(new_ref, NULL, "tc_barrier");
  if (TC__LIKELY(tc__marking())) {
    tc__pgc *g = ((tc__mcache *)ctx->cache)->gc;
    if (TC__LIKELY(g != NULL))
      wb_record(g, old_ref, new_ref);
    else
      shade_door(old_ref, new_ref);
  }
}
