/*
 * heap/arena.c -- address space: the arena directory and arena mapping.
 *
 * 1. The directory has one entry per 64 MiB of the 48-bit address space
 *    (4 Mi entries, 32 MiB of address space).  It is mmap'd with
 *    MAP_NORESERVE, so only the directory pages that cover arenas in use
 *    are ever touched; looking up an address is two loads (tc__span_of).
 * 2. Arenas are 64 MiB-aligned so an address's arena is address >> 26.  A
 *    request larger than one arena maps several consecutive arenas at once.
 *    Pages are carved from the newest mapping in address order
 *    (grow_next .. grow_end); freed pages go to the page heap's free lists
 *    and are preferred over fresh ones.
 * 3. Arena memory is never unmapped before shutdown (Go does the same):
 *    free pages go back to the OS with madvise(MADV_DONTNEED) instead, which
 *    keeps the page map valid for every address ever handed out.  At
 *    shutdown the pages ever handed out (below the growth window) lose
 *    their ASan poison first, so the next mapping there starts clean
 *    (heap/poison.h).
 *
 * Rejected: one giant up-front reservation (valgrind and qemu-user handle
 * tens of GiB of PROT_NONE poorly) and a hash from address to span (not
 * O(1) in the worst case).
 */
#include "heap/poison.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

tc__heap tc__h;

/* Maps `size` bytes aligned to `align`; NULL on failure. */
static void *map_aligned(size_t size, size_t align) {
  size_t len = size + align;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  uintptr_t start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = start - (uintptr_t)p;
  size_t tail = len - head - size;
  if (head)
    munmap(p, head);
  if (tail)
    munmap((char *)start + size, tail);
  return (void *)start;
}

int tc__heap_init(size_t max_heap) {
  memset(&tc__h, 0, sizeof tc__h);
  pthread_mutex_init(&tc__h.lock, NULL);
  void *dir = mmap(NULL, TC__DIR_ENTRIES * sizeof(tc__arena *),
                   PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (dir == MAP_FAILED)
    return TC_ENOMEM;
  tc__h.max_heap = max_heap;
  tc__h.sweepgen = 2;
  tc__poison_init();
  tc__store_release(&tc__h.dir, (tc__arena **)dir);
  return TC_OK;
}

void tc__heap_abandon(void) { tc__poison_destroy(); }

void tc__heap_destroy(void) {
  tc__poison_destroy();
  for (size_t i = 0; i < tc__h.narenas; i++) {
    tc__arena *ar = tc__h.arenas[i];
    /* only pages below the growth window were ever handed out */
    char *end = ar->base + TC__ARENA_SIZE;
    if (tc__h.grow_next >= ar->base && tc__h.grow_next < end)
      end = tc__h.grow_next;
    tc__poison_unmap(ar->base, (size_t)(end - ar->base));
    munmap(ar->base, TC__ARENA_SIZE);
    munmap(ar, sizeof *ar);
  }
  munmap(tc__h.arenas, tc__h.arenas_cap * sizeof(tc__arena *));
  if (tc__h.dir)
    munmap(tc__h.dir, TC__DIR_ENTRIES * sizeof(tc__arena *));
  tc__meta_destroy();
  pthread_mutex_destroy(&tc__h.lock);
  memset(&tc__h, 0, sizeof tc__h);
}

/* Records a new arena in the directory and the arena list. */
static bool arena_register(char *base) {
  if (tc__h.narenas == tc__h.arenas_cap) {
    size_t cap = tc__h.arenas_cap ? tc__h.arenas_cap * 2 : 512;
    void *n = mmap(NULL, cap * sizeof(tc__arena *), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (n == MAP_FAILED)
      return false;
    if (tc__h.arenas) {
      memcpy(n, tc__h.arenas, tc__h.narenas * sizeof(tc__arena *));
      munmap(tc__h.arenas, tc__h.arenas_cap * sizeof(tc__arena *));
    }
    tc__h.arenas = n;
    tc__h.arenas_cap = cap;
  }
  tc__arena *ar = mmap(NULL, sizeof *ar, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ar == MAP_FAILED)
    return false;
  ar->base = base;
  tc__h.arenas[tc__h.narenas++] = ar;
  /* Published last: a concurrent tc__span_of sees NULL or a full arena. */
  tc__store_release(&tc__h.dir[(uintptr_t)base >> TC__ARENA_SHIFT], ar);
  return true;
}

bool tc__arena_map(size_t bytes) {
  size_t narenas = (bytes + TC__ARENA_SIZE - 1) / TC__ARENA_SIZE;
  char *p = map_aligned(narenas * TC__ARENA_SIZE, TC__ARENA_SIZE);
  if (p == NULL)
    return false;
  if ((uintptr_t)p + narenas * TC__ARENA_SIZE > ((uintptr_t)1 << TC__ADDR_BITS)) {
    munmap(p, narenas * TC__ARENA_SIZE);
    return false;
  }
  for (size_t i = 0; i < narenas; i++) {
    if (!arena_register(p + i * TC__ARENA_SIZE)) {
      /* Arenas already registered stay mapped until shutdown. */
      return false;
    }
  }
  tc__h.mapped += narenas * TC__ARENA_SIZE;
  tc__h.grow_next = p;
  tc__h.grow_end = p + narenas * TC__ARENA_SIZE;
  return true;
}

void tc__pagemap_set(tc__span *s) {
  for (size_t i = 0; i < s->npages; i++) {
    char *page = s->base + i * TC__PAGE_SIZE;
    tc__arena *ar = tc__h.dir[(uintptr_t)page >> TC__ARENA_SHIFT];
    tc__store_relaxed(&ar->pages[((uintptr_t)page >> TC__PAGE_SHIFT) &
                                 (TC__ARENA_PAGES - 1)], s);
  }
}
