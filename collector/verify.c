/*
 * collector/verify.c -- the mark verifier (TRICOLOR_DEBUG=gccheckmark=1).
 *
 * In the mark-termination pause, after the mark is complete and the
 * finalizers are queued, the heap is traversed again from every root (root
 * stacks of all Gs, globals, handles, the finalizer queue and the children
 * of finalizable objects), stop-the-world, with a separate visited set.
 * Every object reached must carry this cycle's mark bit: one that does not
 * was reachable and left white by the concurrent mark, and the sweep would
 * free it.  The report names the object, its type, and who refers to it (a
 * root slot, or an object, its type and the slot's offset), then aborts.
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
#include "collector/collector.h"

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

static TC_NORETURN void report(void *p, const void *from) {
  const char *tname = type_name_of(p);
  const char *fname = from ? type_name_of(from) : NULL;
  if (fname) {
    /* find the slot of the referrer that holds p */
    tc__span *fs = tc__span_of(from);
    long off = -1;
    for (size_t o = 0; o + sizeof(void *) <= fs->elem_size; o += sizeof(void *))
      if (tc__load_relaxed((void **)((char *)from + o)) == p) {
        off = (long)o;
        break;
      }
    tc__fatal("gccheckmark: reachable object %p (type %s) was not marked "
              "by the %s mark; referenced from object %p (type %s) at "
              "offset %ld",
              p, tname ? tname : "?",
              tc_barrier_name((tc_barrier_mode)tc__gc.mode), from, fname, off);
  }
  tc__fatal("gccheckmark: reachable object %p (type %s) was not marked by "
            "the %s mark; referenced from root slot %p",
            p, tname ? tname : "?",
            tc_barrier_name((tc_barrier_mode)tc__gc.mode), from);
}

void tc__verify_ref(tc__marker *m, void *p, const void *from) {
  tc__span *s = tc__span_of(p);
  if (s == NULL || s->state == TC__SPAN_FREE)
    return;
  uint32_t i = tc__span_index(s, p);
  if (i >= s->nelems)
    return;
  char *obj = tc__span_obj(s, i);
  if (!insert((uintptr_t)obj))
    return;
  seen.checked++;
  seen.bytes += s->elem_size;
  if (!tc__bit_get(s->mark_bits, i))
    report(obj, from);
  if (s->types == NULL)
    return;
  if (m->n == m->cap)
    tc__marker_grow(m);
  tc__grey_entry *e = &m->grey[m->n++];
  e->obj = obj;
  e->size = s->elem_size;
  e->type = s->types[i];
}

/* Returns the bytes in objects reachable from the roots. */
uint64_t tc__verify_mark(void) {
  tc__marker m;
  tc__marker_init(&m);
  m.verify = true;
  tc__world_scan_stacks_verify(&m);
  tc__roots_scan_globals(&m);
  tc__handles_scan(&m);
  tc__finalizers_scan_queue(&m);
  tc__mark_drain(&m);
  tc__marker_destroy(&m);
  uint64_t bytes = seen.bytes;
  free(seen.slots);
  memset(&seen, 0, sizeof seen);
  return bytes;
}
