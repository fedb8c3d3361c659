/*
 * collector/handles.c -- handles: roots for pointers kept in memory the
 * collector does not see (malloc'd C structures).
 *
 * A handle is one slot in a block of 256.  Free slots are chained through
 * the slot itself with the low bit set (object pointers are 8-byte
 * aligned, so a tagged word is never an object); the scanner skips them.
 * Blocks are malloc'd and live until shutdown.  Stores go through the
 * barrier like any heap slot (docs/barriers.md, "Roots, and which writes
 * have a barrier").  A lock makes creation and freeing safe from any
 * thread.
 *
 * Every call checks first that the runtime is live and the caller a
 * mutator (tc__require_mutator), before it touches the handle: tc_shutdown
 * frees the blocks, so a handle kept past it points into freed memory and
 * only that check turns the misuse into a message naming the call.
 */
#include "collector/collector.h"

#include <stdlib.h>

#define HANDLES_PER_BLOCK 256

struct tc_handle {
  void *ref;  /* the object, or (next free handle | 1) */
};

typedef struct handle_block {
  struct handle_block *next;
  tc_handle slots[HANDLES_PER_BLOCK];
} handle_block;

static tc__lock handles_lock = TC__LOCK_INIT;
static handle_block *blocks;
static tc_handle *free_handles;
static size_t nlive;

static bool is_free(const tc_handle *h) { return (uintptr_t)h->ref & 1; }

/* Aborts unless obj is NULL, outside the heap, or an object start. */
static void check_ref(void *obj, const char *call) {
  if (TC_DEBUG >= 1 && obj && tc__span_of(obj) && !tc_is_object(obj))
    tc__fatal("%s(%p): not the start of a tricolor object", call, obj);
}

tc_handle *tc_handle_new(void *obj) {
  tc__require_mutator("tc_handle_new");
  check_ref(obj, "tc_handle_new");
  /* the handle may be created after the collector scanned the handles:
   * obj enters it as the new value of a store */
  tc_barrier(NULL, obj);
  tc__lock_acquire(&handles_lock);
  if (free_handles == NULL) {
    handle_block *b = malloc(sizeof *b);
    if (b == NULL) {
      tc__lock_release(&handles_lock);
      return NULL;
    }
    b->next = blocks;
    blocks = b;
    for (int i = HANDLES_PER_BLOCK - 1; i >= 0; i--) {
      b->slots[i].ref = (void *)((uintptr_t)free_handles | 1);
      free_handles = &b->slots[i];
    }
  }
  tc_handle *h = free_handles;
  free_handles = (tc_handle *)((uintptr_t)h->ref & ~(uintptr_t)1);
  nlive++;
  /* A new handle is a fresh root: no old value to shade. */
  tc__store_relaxed(&h->ref, obj);
  tc__lock_release(&handles_lock);
  if (obj)
    tc_barrier(NULL, obj);
  return h;
}

void *tc_handle_get(const tc_handle *h) {
  tc__require_mutator("tc_handle_get");
  if (TC_DEBUG >= 1 && is_free(h))
    tc__fatal("tc_handle_get(%p): handle was freed", (const void *)h);
  return tc__load_relaxed(&h->ref);
}

void tc_handle_set(tc_handle *h, void *obj) {
  tc__require_mutator("tc_handle_set");
  if (TC_DEBUG >= 1 && is_free(h))
    tc__fatal("tc_handle_set(%p): handle was freed", (void *)h);
  check_ref(obj, "tc_handle_set");
  tc_store(&h->ref, obj);
}

void tc_handle_free(tc_handle *h) {
  tc__require_mutator("tc_handle_free");
  if (h == NULL)
    return;
  if (is_free(h))
    tc__fatal("tc_handle_free(%p): handle freed twice", (void *)h);
  void *old = tc__load_relaxed(&h->ref);
  tc_barrier(old, NULL);
  tc__lock_acquire(&handles_lock);
  h->ref = (void *)((uintptr_t)free_handles | 1);
  free_handles = h;
  nlive--;
  tc__lock_release(&handles_lock);
}

uint64_t tc__handles_scan(tc__marker *m) {
  uint64_t n = 0;
  tc__lock_acquire(&handles_lock);
  for (handle_block *b = blocks; b; b = b->next)
    for (int i = 0; i < HANDLES_PER_BLOCK; i++) {
      void *ref = tc__load_relaxed(&b->slots[i].ref);
      n++;
      if (ref && !((uintptr_t)ref & 1))
        tc__mark_ref(m, ref, &b->slots[i]);
    }
  tc__lock_release(&handles_lock);
  return n;
}

void tc__handles_destroy(void) {
  tc__lock_acquire(&handles_lock);
  while (blocks) {
    handle_block *b = blocks;
    blocks = b->next;
    free(b);
  }
  free_handles = NULL;
  nlive = 0;
  tc__lock_release(&handles_lock);
}
