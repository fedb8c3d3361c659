/*
 * heap/poison.h -- telling AddressSanitizer and valgrind which heap memory
 * holds objects, so that a use of a collected object is reported at the
 * faulting access (docs/debugging.md).
 *
 * The rule: heap memory is accessible to the tools exactly while the heap
 * has handed it out.
 *   1. A slot is handed out when a cache takes the run holding it
 *      (heap/cache.c run_set: every slot of the run, because the inline
 *      path bumps through it without calling the library), a large object
 *      when it is allocated (tc__large_alloc).  It becomes inaccessible
 *      again when the sweep frees it (heap/sweep.c) or when the cache
 *      gives back the unused tail of its run (run_release).
 *   2. Pages the page heap hands out (tc__pages_alloc) are accessible: the
 *      caller owns them.  A new small span makes its pages inaccessible at
 *      once (tc__span_new_small), so its free slots and the tail past its
 *      last object stay so until a run hands them out.  Freed pages
 *      (tc__pages_free) are inaccessible.
 *   3. A freed metadata block (heap/meta.c) is inaccessible except its
 *      first word, the free-list link.
 *   4. At shutdown the arenas and metadata chunks lose their poison before
 *      they are unmapped (ASan keeps the shadow of an unmapped range).
 *
 * The tools.
 *   AddressSanitizer (the library built with -fsanitize=address,
 *   __SANITIZE_ADDRESS__): inaccessible = poisoned
 *   (__asan_poison_memory_region).  A use of a collected object is a
 *   "use-after-poison" at the faulting instruction.  ASan keeps no stack
 *   for a manual poisoning, so the report has no "freed by" part.  Every
 *   size here is a multiple of 8, ASan's granule, so the shadow bytes of
 *   two objects never overlap: the background sweeper poisons dead objects
 *   while mutators use their live neighbours.
 *   valgrind memcheck (a build that finds <valgrind/memcheck.h>, run under
 *   valgrind: RUNNING_ON_VALGRIND, read once by tc__poison_init): the heap
 *   is a memory pool (anchor &tc__h; zeroed, as objects are handed out
 *   zero) and every handed-out object one chunk of it
 *   (VALGRIND_MEMPOOL_ALLOC / _FREE); pages no object occupies are
 *   VALGRIND_MAKE_MEM_NOACCESS.  A use of a collected object is an
 *   "Invalid write" (or read) with the stack of the access, then a freed
 *   block with the stack that freed it (the sweep) and the one that
 *   handed it out (the refill of its run: the object's own allocation
 *   when that took the slow path, else the allocation that refilled the
 *   run it was bumped from).  Which freed block: memcheck names the
 *   oldest one in its queue of freed blocks that lies within its malloc
 *   redzone (16 bytes unless --redzone-size says otherwise) of the
 *   address.  Objects are packed and slots reused at once, so that can be
 *   a neighbour freed earlier (a run's tail, given back as the cycle
 *   started) or an earlier occupant of the slot; --redzone-size=0 leaves
 *   only the latter.  The stack of the access is always exact.
 *   Neither (plain builds not under valgrind, ThreadSanitizer builds):
 *   every function here is empty and tc__poison_on() is false, so the
 *   per-object loops are skipped.
 *
 * What the library itself touches.  It reads and writes only objects it
 * has handed out, with three exceptions, each ordered around the
 * annotations: zeroing a run or a large object (after handing it out),
 * the TC_DEBUG >= 2 fill of freed objects with 0xdb (tc__heap_poison,
 * before freeing them) and zeroing a metadata block (after making it
 * accessible).  The marker and the verifier read only objects reachable
 * from roots.  A dangling reference into a freed slot is a bug: the marker
 * reports it before reading the slot where it checks alloc bits (TC_DEBUG
 * >= 2, world stopped), elsewhere the tool reports the marker's read.
 *
 * Rejected: poisoning a whole arena when it is mapped (8 MiB of ASan
 * shadow written per 64 MiB arena, for pages no pointer reaches before
 * they are handed out); VALGRIND_MAKE_MEM_NOACCESS alone (a report
 * without "free'd" and "alloc'd" stacks); one valgrind chunk per run (the
 * sweep frees objects one at a time, and a chunk cannot be freed in
 * parts); runs of one slot under valgrind, which would give every object
 * its exact allocation stack and no run tails to name, but change the
 * heap's behaviour under the tool that is meant to check it.
 *
 * All functions: heap lock held (tc__poison_init/destroy: heap init and
 * destroy).
 */
#ifndef TC_HEAP_POISON_H
#define TC_HEAP_POISON_H

#include "heap/heap.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define TC__POISON_ASAN 1
#elif !defined(__SANITIZE_THREAD__) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#define TC__POISON_VALGRIND 1
#endif

/* The valgrind pool's anchor: any address that stays put for the heap's
 * life. */
#define TC__POISON_POOL (&tc__h)

/* Reads whether valgrind runs us and creates the pool; heap init. */
static inline void tc__poison_init(void) {
#if defined(TC__POISON_VALGRIND)
  tc__h.valgrind = RUNNING_ON_VALGRIND != 0;
  if (tc__h.valgrind)
    VALGRIND_CREATE_MEMPOOL(TC__POISON_POOL, 0, 1);
#endif
}

/* Forgets every chunk (the arenas are about to be unmapped); heap
 * destroy. */
static inline void tc__poison_destroy(void) {
#if defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    VALGRIND_DESTROY_MEMPOOL(TC__POISON_POOL);
#endif
}

/* True when a tool is watching: the per-object annotations are worth
 * their loops. */
static inline bool tc__poison_on(void) {
#if defined(TC__POISON_ASAN)
  return true;
#elif defined(TC__POISON_VALGRIND)
  return tc__h.valgrind;
#else
  return false;
#endif
}

/* Hands out n objects of `size` bytes from p (a run, a large object):
 * accessible, defined (they are zero, or zeroed next). */
static inline void tc__poison_objects_out(char *p, uint32_t n, uint32_t size) {
#if defined(TC__POISON_ASAN)
  __asan_unpoison_memory_region(p, (size_t)n * size);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    for (uint32_t i = 0; i < n; i++)
      VALGRIND_MEMPOOL_ALLOC(TC__POISON_POOL, p + (size_t)i * size, size);
#else
  (void)p, (void)n, (void)size;
#endif
}

/* Takes back one object handed out by tc__poison_objects_out: freed by
 * the sweep. */
static inline void tc__poison_object_free(char *p, size_t size) {
#if defined(TC__POISON_ASAN)
  __asan_poison_memory_region(p, size);
#elif defined(TC__POISON_VALGRIND)
  (void)size;
  if (tc__h.valgrind)
    VALGRIND_MEMPOOL_FREE(TC__POISON_POOL, p);
#else
  (void)p, (void)size;
#endif
}

/* Takes back n unused slots of `size` bytes from p: the tail of a run a
 * cache gives back. */
static inline void tc__poison_objects_free(char *p, uint32_t n, uint32_t size) {
#if defined(TC__POISON_ASAN)
  __asan_poison_memory_region(p, (size_t)n * size);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    for (uint32_t i = 0; i < n; i++)
      VALGRIND_MEMPOOL_FREE(TC__POISON_POOL, p + (size_t)i * size);
#else
  (void)p, (void)n, (void)size;
#endif
}

/* Makes pages no object occupies inaccessible (free pages, a new small
 * span's slots). */
static inline void tc__poison_pages(char *p, size_t bytes) {
#if defined(TC__POISON_ASAN)
  __asan_poison_memory_region(p, bytes);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}

/* Makes pages handed out by the page heap accessible; `zero`: they read
 * as zero (fresh or returned to the OS), else they hold old bytes. */
static inline void tc__poison_pages_out(char *p, size_t bytes, bool zero) {
#if defined(TC__POISON_ASAN)
  (void)zero;
  __asan_unpoison_memory_region(p, bytes);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind) {
    if (zero)
      (void)VALGRIND_MAKE_MEM_DEFINED(p, bytes);
    else
      (void)VALGRIND_MAKE_MEM_UNDEFINED(p, bytes);
  }
#else
  (void)p, (void)bytes, (void)zero;
#endif
}

/* A freed metadata block: inaccessible past its first word (the link). */
static inline void tc__poison_meta_free(void *p, size_t bytes) {
  char *rest = (char *)p + sizeof(void *);
  size_t n = bytes - sizeof(void *);
#if defined(TC__POISON_ASAN)
  __asan_poison_memory_region(rest, n);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    (void)VALGRIND_MAKE_MEM_NOACCESS(rest, n);
#else
  (void)rest, (void)n;
#endif
}

/* A metadata block taken off a free list: accessible, to be zeroed. */
static inline void tc__poison_meta_out(void *p, size_t bytes) {
#if defined(TC__POISON_ASAN)
  __asan_unpoison_memory_region(p, bytes);
#elif defined(TC__POISON_VALGRIND)
  if (tc__h.valgrind)
    (void)VALGRIND_MAKE_MEM_UNDEFINED(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}

/* Clears the poison of memory about to be unmapped: ASan keeps the shadow
 * of an unmapped range, and the next mapping there (a coroutine stack, a
 * malloc arena) would inherit it.  Heap destroy. */
static inline void tc__poison_unmap(void *p, size_t bytes) {
#if defined(TC__POISON_ASAN)
  __asan_unpoison_memory_region(p, bytes);
#else
  (void)p, (void)bytes;
#endif
}

#endif /* TC_HEAP_POISON_H */
