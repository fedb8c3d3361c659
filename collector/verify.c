/*
 * collector/verify.c -- the mark verifier (TRICOLOR_DEBUG=gccheckmark=1).
 *
 * In the mark-termination pause, after the mark is complete and the
 * finalizers are queued, the heap is traversed again from every root (root
 * stacks of all Gs, globals, handles, the finalizer queue and the children
 * of finalizable objects), stop-the-world, with a separate visited set.
 * Every reference reached must name an allocated object, and that object
 * must carry this cycle's mark bit.  Either failure is a lost object: a
 * reachable object left white by the concurrent mark (the sweep would
 * free it), or a reference into memory that holds no object -- a free
 * span, a free slot of a live span, or a span's tail past its last
 * object -- which is what the program sees after a sweep freed something
 * still reachable, or after it kept a dangling pointer.  The report names
 * the address, what it is (unmarked object and its type, free span, free
 * slot, past the last object), and who refers to it (a root slot, or an
 * object, its type and the slot's offset), then aborts.
 *
 * What "allocated" means here.  A slot is allocated iff its alloc bit is
 * set; that holds at this point, and only here, because:
 *   1. every in-use span is swept for the previous cycle: tc__sweep_finish
 *      ran in the mark-start pause (collector/cycle.c), spans made since
 *      are born swept, and this cycle's tc__sweep_start comes after the
 *      verifier.  An unswept span's alloc bits would still count objects
 *      the previous mark left white (the lazy sweep frees them only when
 *      it reaches the span, heap/sweep.c), so a reference to one of those
 *      would pass; such a span here is a collector bug, reported as one.
 *   2. no cache holds a run: the caches were flushed in this pause (world
 *      stopped, no allocation in MARKTERM), so every slot bumped out of a
 *      run is in alloc_bits, and the unused tail of a black run is free
 *      and unmarked again (heap/cache.c).  A slot freed by the last sweep
 *      and handed out again in a black run counts as allocated only if an
 *      object was really allocated in it.
 * The mark bit alone is no proof of allocation: the marker sets it on a
 * free slot a dangling reference names (it checks alloc bits only in
 * TC_DEBUG >= 2 builds and never while marking concurrently), and the
 * sweep would then turn that slot into an "object".  So the free checks
 * come first, on every reference (a large span's bit 0 is set while the
 * span is in use, so it needs no case of its own).
 *
 * The report adds where the unmarked object and its referrer were
 * allocated when the heap profile sampled them (always with wbcheck=1,
 * which samples every object; collector/profile.c).
 *
 * The traversal reuses the marker (collector/mark.c): with `verify` set,
 * mark_one hands each reference here instead of touching mark bits.  The
 * visited set is an open-addressing hash of object addresses, grown at
 * half load.  O(live heap) time and memory, debug only.
 *
 * Floating garbage.  The traversal also sums the sizes of the objects it
 * reaches: everything marked survives the sweep, so marked minus reached
 * is what the cycle keeps although no root reaches it (objects unlinked or
 * allocated black while marking).  cycle.c records it in tc_stats
 * (float_bytes); tricolor-lab reports it per mode.
 */
#include "barrier/barrier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
  uintptr_t *slots;
  size_t cap, n;
  uint64_t checked;
  uint64_t bytes; /* of the objects reached */
} seen;

static size_t hash(uintptr_t a) {
  a >>= 3;
  a *= 0x9e3779b97f4a7c15ull;
  return (size_t)(a ^ (a >> 29));
}

static bool insert(uintptr_t a);

static void grow(void) {
  uintptr_t *old = seen.slots;
  size_t oldcap = seen.cap;
  seen.cap = oldcap ? oldcap * 2 : 1 << 16;
  seen.slots = calloc(seen.cap, sizeof *seen.slots);
  if (seen.slots == NULL)
    tc__fatal("gccheckmark: out of memory for the visited set");
  seen.n = 0;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i])
      insert(old[i]);
  free(old);
}

/* Adds a; false if it was there already. */
static bool insert(uintptr_t a) {
  if (2 * (seen.n + 1) > seen.cap)
    grow();
  size_t mask = seen.cap - 1;
  for (size_t i = hash(a) & mask;; i = (i + 1) & mask) {
    if (seen.slots[i] == a)
      return false;
    if (seen.slots[i] == 0) {
      seen.slots[i] = a;
      seen.n++;
      return true;
    }
  }
}

static const char *type_name_of(const void *obj) {
  tc__span *s = tc__span_of(obj);
  if (s == NULL || s->state == TC__SPAN_FREE)
    return NULL;
  if (s->types == NULL)
    return "noscan";
  tc_type *t = tc__type_get(s->types[tc__span_index(s, obj)]);
  return t && t->name ? t->name : "?";
}

/* Formats who holds ref: "object %p (type T) at offset N", or "root slot
 * %p" when from is not a heap object. */
static void describe_referrer(char *buf, size_t n, const void *ref,
                              const void *from) {
  const char *fname = from ? type_name_of(from) : NULL;
  if (fname == NULL) {
    snprintf(buf, n, "root slot %p", from);
    return;
  }
  /* find the slot of the referrer that holds ref */
  tc__span *fs = tc__span_of(from);
  long off = -1;
  for (size_t o = 0; o + sizeof(void *) <= fs->elem_size; o += sizeof(void *))
    if (tc__load_relaxed((void **)((char *)from + o)) == ref) {
      off = (long)o;
      break;
    }
  snprintf(buf, n, "object %p (type %s) at offset %ld", from, fname, off);
}

/* Formats "; the object was allocated at A; the referrer at B" for what
 * the heap profile knows of obj and of the heap object `from`, or "". */
static void describe_sites(char *buf, size_t n, const void *obj,
                           const void *from) {
  char a[320], b[320];
  bool ka = obj && tc__profile_site(obj, a, sizeof a, 4);
  bool kb = from && type_name_of(from) &&
            tc__profile_site(from, b, sizeof b, 4);
  snprintf(buf, n, "%s%s%s%s", ka ? "; the object was allocated at " : "",
           ka ? a : "", kb ? "; the referrer at " : "", kb ? b : "");
}

static const char *mode_name(void) {
  return tc_barrier_name((tc_barrier_mode)tc__barrier_mode());
}

/* Reports obj, reached through ref, as not marked. */
static TC_NORETURN void report_unmarked(void *obj, const void *ref,
                                        const void *from) {
  char who[160], sites[720];
  describe_referrer(who, sizeof who, ref, from);
  describe_sites(sites, sizeof sites, obj, from);
  const char *tname = type_name_of(obj);
  tc__fatal("gccheckmark: reachable object %p (type %s) was not marked by "
            "the %s mark; referenced from %s%s",
            obj, tname ? tname : "?", mode_name(), who, sites);
}

/* Reports ref as naming no allocated object; `what` says what it names. */
enum { FREE_SPAN, FREE_SLOT, PAST_LAST };
static TC_NORETURN void report_free(int what, const void *ref, void *obj,
                                    const void *from) {
  char who[160], sites[720];
  describe_referrer(who, sizeof who, ref, from);
  describe_sites(sites, sizeof sites, NULL, from); /* obj is no object */
  if (what == FREE_SLOT)
    tc__fatal("gccheckmark: reachable object %p is a free slot (freed "
              "object?) at the end of the %s mark; referenced from %s%s",
              obj, mode_name(), who, sites);
  tc__fatal("gccheckmark: reachable reference %p points %s at the end of "
            "the %s mark; referenced from %s%s",
            ref,
            what == FREE_SPAN ? "into a free span (freed object?)"
                              : "past the last object of its span",
            mode_name(), who, sites);
}

/* Aborts unless s's alloc bits are current (see "What allocated means"). */
static void check_span_current(const tc__span *s) {
  if (s->sweepgen != tc__h.sweepgen)
    tc__fatal("gccheckmark: span %p is not swept (sweepgen %u, heap %u): "
              "its alloc bits are stale at mark termination",
              (void *)s->base, s->sweepgen, tc__h.sweepgen);
  if (s->cached)
    tc__fatal("gccheckmark: span %p is still cached at mark termination: "
              "its alloc bits miss the run's objects",
              (void *)s->base);
}

void tc__verify_ref(tc__marker *m, void *p, const void *from) {
  if (TC__UNLIKELY(m->wbrefs != NULL)) { /* wbcheck's recording marker */
    tc__wbcheck_visit(m->wbrefs, p);
    return;
  }
  tc__span *s = tc__span_of(p);
  if (s == NULL)
    return; /* not the heap's: ignored, as by the marker */
  if (s->state == TC__SPAN_FREE)
    report_free(FREE_SPAN, p, p, from);
  uint32_t i = tc__span_index(s, p);
  if (i >= s->nelems)
    report_free(PAST_LAST, p, p, from);
  char *obj = tc__span_obj(s, i);
  check_span_current(s);
  if (!tc__bit_get(s->alloc_bits, i))
    report_free(FREE_SLOT, p, obj, from);
  if (!insert((uintptr_t)obj))
    return;
  seen.checked++;
  seen.bytes += s->elem_size;
  if (!tc__bit_get(s->mark_bits, i))
    report_unmarked(obj, p, from);
  if (s->types == NULL)
    return;
  if (m->n == m->cap)
    tc__marker_grow(m);
  tc__grey_entry *e = &m->grey[m->n++];
  e->obj = obj;
  e->size = s->elem_size;
  e->type = s->types[i];
}

static bool lookup(uintptr_t a) {
  if (seen.cap == 0)
    return false;
  size_t mask = seen.cap - 1;
  for (size_t i = hash(a) & mask;; i = (i + 1) & mask) {
    if (seen.slots[i] == a)
      return true;
    if (seen.slots[i] == 0)
      return false;
  }
}

bool tc__verify_reached(const void *obj) {
  tc__span *s = tc__span_of(obj);
  if (s == NULL)
    return true; /* not the heap's: never collected */
  return lookup((uintptr_t)obj);
}

/* Returns the bytes in objects reachable from the roots. */
uint64_t tc__verify_mark(void) {
  tc__marker m;
  tc__marker_init(&m);
  m.verify = true;
  tc__gc_scan_stacks_verify(&m);
  tc__roots_scan_globals(&m);
  tc__handles_scan(&m);
  tc__world_scan_timers(&m);
  tc__finalizers_scan_queue(&m);
  tc__mark_drain(&m);
  /* the ephemeron rule, from scratch: values of ephemerons whose keys the
   * verifier reached, until nothing more is reached */
  while (tc__ephemerons_settle(&m))
    tc__mark_drain(&m);
  tc__ephemerons_forget(1);
  tc__weak_verify(tc__verify_reached);
  tc__marker_destroy(&m);
  uint64_t bytes = seen.bytes;
  free(seen.slots);
  memset(&seen, 0, sizeof seen);
  return bytes;
}
