/*
 * heap/meta.c -- memory for side metadata: span records, their bitmaps and
 * type-id arrays.  Kept out of the heap pages so objects have no header.
 *
 * 1. Blocks are rounded up to 64 bytes; each multiple up to 8 KiB has its
 *    own free list, carved from 1 MiB chunks mmap'd on demand.  Bigger
 *    blocks (none in practice: the largest span record is ~2.4 KiB) are
 *    mmap'd one by one.
 * 2. Blocks are zeroed when handed out, so a new span starts with clear
 *    bitmaps and type ids.
 * 3. Chunks are unmapped only at shutdown; the chunk list makes that exact.
 * 4. Under ASan and valgrind a free block is inaccessible past its first
 *    word, the free-list link (heap/poison.h).
 * All calls with the heap lock held.
 */
#include "heap/poison.h"

#include <string.h>
#include <sys/mman.h>

#define META_GRAIN 64
#define META_LISTS 128                 /* blocks of 64 .. 8192 bytes */
#define META_CHUNK ((size_t)1 << 20)

typedef struct meta_free {
  struct meta_free *next;
} meta_free;

typedef struct meta_chunk {
  struct meta_chunk *next;
  size_t size;
} meta_chunk;

static meta_free *free_lists[META_LISTS];
static meta_chunk *chunks;     /* every mapping, for shutdown */
static char *chunk_next, *chunk_end;
static uint64_t mapped;

static size_t meta_round(size_t size) {
  return (size + META_GRAIN - 1) & ~(size_t)(META_GRAIN - 1);
}

/* Maps a block of at least `size` bytes and links it on the chunk list. */
static void *meta_map(size_t size) {
  size_t len = size + META_GRAIN;
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  meta_chunk *c = (meta_chunk *)p;
  c->size = len;
  c->next = chunks;
  chunks = c;
  mapped += len;
  return p + META_GRAIN;
}

void *tc__meta_alloc(size_t size) {
  size = meta_round(size);
  size_t list = size / META_GRAIN - 1;
  if (list >= META_LISTS)
    return meta_map(size); /* fresh mapping: already zero */
  meta_free *f = free_lists[list];
  if (f) {
    free_lists[list] = f->next;
    tc__poison_meta_out(f, size);
    memset(f, 0, size);
    return f;
  }
  if ((size_t)(chunk_end - chunk_next) < size) {
    char *c = meta_map(META_CHUNK - META_GRAIN);
    if (c == NULL)
      return NULL;
    chunk_next = c;
    chunk_end = c + META_CHUNK - META_GRAIN;
  }
  void *p = chunk_next;
  chunk_next += size;
  return p; /* never handed out before: zero */
}

void tc__meta_free(void *p, size_t size) {
  size = meta_round(size);
  size_t list = size / META_GRAIN - 1;
  if (list >= META_LISTS)
    return; /* large blocks stay until shutdown; they do not occur */
  meta_free *f = p;
  f->next = free_lists[list];
  free_lists[list] = f;
  tc__poison_meta_free(f, size);
}

void tc__meta_destroy(void) {
  while (chunks) {
    meta_chunk *c = chunks;
    chunks = c->next;
    tc__poison_unmap(c, c->size);
    munmap(c, c->size);
  }
  memset(free_lists, 0, sizeof free_lists);
  chunk_next = chunk_end = NULL;
  mapped = 0;
}

uint64_t tc__meta_mapped(void) { return mapped; }
