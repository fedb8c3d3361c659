/*
 * collector/addrtab.h -- the side tables keyed by an object's address that
 * the debugging aids keep: the heap profile's sampled objects
 * (collector/profile.c), wbcheck's snapshots and the values tc_barrier saw
 * (collector/wbcheck.c).
 *
 * A table is an array of `cap` entries of `size` bytes, cap a power of
 * two; each entry starts with its key, a uintptr_t, 0 when the entry is
 * empty (so a table fresh from calloc is empty, and 0 is never a key).
 * The caller keeps the count and grows the table before it is half full,
 * so a probe always meets an empty entry.
 *   1. Hash: the address without its three low bits (objects and the
 *      values stored in them are 8-byte aligned), times 2^64 / phi,
 *      folded: consecutive objects land far apart.
 *   2. Probe: linear, from the home slot (hash & (cap - 1)) to the key or
 *      the first empty entry.
 *   3. Remove: backward shift, no tombstones.  The entries after the hole
 *      move back into it unless their home lies cyclically in (hole, j];
 *      so every entry stays reachable from its home, and lookups never
 *      wade through deleted entries.
 *   4. Grow: a table of twice the slots (calloc), every entry re-probed
 *      into it in slot order; out of memory, the old table stays and the
 *      caller decides what that means.  (wbcheck's table of tc_barrier's
 *      values rebuilds itself instead, dropping values too old to count.)
 *
 * No locking here: the caller's lock covers the table (prof.lock,
 * wb.lock).  Rejected: one table type with callbacks for the entries, or a
 * hash table library: the three entry types differ, and static inline
 * functions over (table, size) compile to the loops each file had.
 */
#ifndef TC_COLLECTOR_ADDRTAB_H
#define TC_COLLECTOR_ADDRTAB_H

#ifndef TC_BUILDING_LIBRARY
#error "collector/addrtab.h is internal to tricolor"
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns a pointer to the key of entry i of table t (entries of `size`
 * bytes, each starting with its uintptr_t key). */
static inline uintptr_t *tc__addrtab_key(const void *t, size_t size,
                                         size_t i) {
  return (uintptr_t *)((uintptr_t)t + i * size);
}

/* Returns the hash of address a (step 1). */
static inline size_t tc__addrtab_hash(uintptr_t a) {
  a >>= 3;
  a *= UINT64_C(0x9e3779b97f4a7c15);
  return (size_t)(a ^ (a >> 29));
}

/* Returns the slot holding key a, or the empty slot where a goes (step 2).
 * cap > 0 and the table not full; the caller's lock held. */
static inline size_t tc__addrtab_slot(const void *t, size_t size, size_t cap,
                                      uintptr_t a) {
  size_t mask = cap - 1, i = tc__addrtab_hash(a) & mask;
  uintptr_t k;
  while ((k = *tc__addrtab_key(t, size, i)) != 0 && k != a)
    i = (i + 1) & mask;
  return i;
}

/* Returns the slot holding key a, or SIZE_MAX when a is not in the table
 * (or a is 0, or there is no table yet: cap 0).  The caller's lock held. */
static inline size_t tc__addrtab_find(const void *t, size_t size, size_t cap,
                                      uintptr_t a) {
  if (cap == 0 || a == 0)
    return SIZE_MAX;
  size_t i = tc__addrtab_slot(t, size, cap, a);
  return *tc__addrtab_key(t, size, i) == a ? i : SIZE_MAX;
}

/* Empties slot i, moving the entries of its probe chain back (step 3);
 * the caller frees what the entry owned first and decrements its count.
 * The caller's lock held. */
static inline void tc__addrtab_remove(void *t, size_t size, size_t cap,
                                      size_t i) {
  size_t mask = cap - 1, j = i;
  for (;;) {
    memset(tc__addrtab_key(t, size, i), 0, size);
    for (;;) {
      j = (j + 1) & mask;
      uintptr_t k = *tc__addrtab_key(t, size, j);
      if (k == 0)
        return;
      size_t home = tc__addrtab_hash(k) & mask;
      /* j's entry may move to i unless its home lies cyclically in (i, j] */
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
        break;
    }
    memcpy(tc__addrtab_key(t, size, i), tc__addrtab_key(t, size, j), size);
    i = j;
  }
}

/* Grows table t of *cap entries to twice the slots (`first` when it has
 * none yet): re-probes every entry, in slot order, into a calloc'd table,
 * frees t, sets *cap and *n (the entries) and returns the new table
 * (step 4).  NULL when out of memory: t, *cap and *n stay.  The caller's
 * lock held. */
static inline void *tc__addrtab_grow(void *t, size_t *cap, size_t *n,
                                     size_t size, size_t first) {
  size_t ncap = *cap ? *cap * 2 : first, moved = 0;
  void *nt = calloc(ncap, size);
  if (nt == NULL)
    return NULL;
  for (size_t k = 0; k < *cap; k++) {
    const uintptr_t *e = tc__addrtab_key(t, size, k);
    if (*e == 0)
      continue;
    memcpy(tc__addrtab_key(nt, size, tc__addrtab_slot(nt, size, ncap, *e)),
           e, size);
    moved++;
  }
  free(t);
  *cap = ncap;
  *n = moved;
  return nt;
}

#endif /* TC_COLLECTOR_ADDRTAB_H */
