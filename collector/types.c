/*
 * collector/types.c -- the type registry.
 *
 * Each object records a 16-bit type id in its span's side array; the
 * registry maps ids back to the embedder's tc_type.  A tc_type is
 * registered on its first allocation: it gets the next free id, cached in
 * the descriptor itself (type->id), so the inline path needs one load.
 * type->fast_id is that id when the inline path may allocate the type, and
 * 0 for types with a finalizer (their objects are recorded by the slow
 * path).  Ids are never reused and the registry outlives tc_shutdown, so a
 * descriptor stays valid across repeated init/shutdown.
 *
 * Concurrency: registration takes a lock; the id is published with a
 * release store after the registry entry is written.
 *
 * Trace hook (wbcheck, collector/wbcheck.c): between tc_init and
 * tc_shutdown a debug mode may have the marker call one function for
 * every object that holds references, in place of the type's own tracing.
 * The marker reads tc__typeinfos only, so the hook costs the normal mark
 * nothing; the embedder's view of each type stays in `registered`.
 */
#include "collector/collector.h"

tc_type *tc__types[TC__MAX_TYPES];
tc__typeinfo tc__typeinfos[TC__MAX_TYPES];
static tc__typeinfo registered[TC__MAX_TYPES]; /* as registered, unhooked */
static uint32_t ntypes = 1; /* id 0 = no type (noscan) */
static tc__lock types_lock = TC__LOCK_INIT;
static tc_trace_fn hook;                       /* under types_lock */
static bool (*hook_skips)(const tc_type *t);

/* Points the marker's view of type id at the hook, or back; types_lock
 * held. */
static void hook_type(uint32_t id) {
  tc__typeinfo *ti = &tc__typeinfos[id];
  *ti = registered[id];
  bool refs = ti->trace || ti->noffsets;
  if (hook && refs && !(hook_skips && hook_skips(tc__types[id]))) {
    ti->trace = hook;
    ti->ptrmask = 0; /* the hook sees every object of the type */
  }
}

void tc__types_hook_trace(tc_trace_fn fn, bool (*skips)(const tc_type *t)) {
  tc__lock_acquire(&types_lock);
  hook = fn;
  hook_skips = skips;
  for (uint32_t id = 1; id < ntypes; id++)
    hook_type(id);
  tc__lock_release(&types_lock);
}

const tc__typeinfo *tc__type_registered(uint32_t id) { return &registered[id]; }

uint32_t tc__type_register(tc_type *t) {
  uint32_t id = tc__load_acquire(&t->id);
  if (id)
    return id;
  if (t->noffsets && t->offsets == NULL)
    tc__fatal("type '%s': noffsets is %u but offsets is NULL",
              t->name ? t->name : "?", t->noffsets);
  const char *name = t->name ? t->name : "?";
  if (t->stride % sizeof(void *))
    tc__fatal("type '%s': stride %u is not a multiple of 8", name, t->stride);
  for (uint32_t i = 0; i < t->noffsets; i++) {
    if (t->offsets[i] % sizeof(void *))
      tc__fatal("type '%s': pointer offset %u is not 8-byte aligned", name,
                t->offsets[i]);
    if (i > 0 && t->offsets[i] <= t->offsets[i - 1])
      tc__fatal("type '%s': offsets are not ascending (%u after %u)", name,
                t->offsets[i], t->offsets[i - 1]);
    if (t->offsets[i] > INT32_MAX) /* extent, offset + 8, must not wrap */
      tc__fatal("type '%s': pointer offset %u is past 2 GiB", name,
                t->offsets[i]);
    if (t->stride && t->offsets[i] + sizeof(void *) > t->stride)
      tc__fatal("type '%s': offset %u lies outside stride %u", name,
                t->offsets[i], t->stride);
  }
  tc__lock_acquire(&types_lock);
  id = t->id;
  if (id == 0) {
    if (ntypes >= TC__MAX_TYPES)
      tc__fatal("more than %d types registered", TC__MAX_TYPES - 1);
    id = ntypes++;
    tc__types[id] = t;
    tc__typeinfo *ti = &tc__typeinfos[id];
    ti->offsets = t->offsets;
    ti->noffsets = t->noffsets;
    ti->stride = t->stride;
    ti->extent = 0;
    for (uint32_t i = 0; i < t->noffsets; i++)
      if (t->offsets[i] + (uint32_t)sizeof(void *) > ti->extent)
        ti->extent = t->offsets[i] + (uint32_t)sizeof(void *);
    ti->trace = t->trace;
    ti->ptrmask = 0;
    if (!t->trace && !t->stride && ti->extent <= 64 * sizeof(void *))
      for (uint32_t i = 0; i < t->noffsets; i++)
        ti->ptrmask |= (uint64_t)1 << (t->offsets[i] / sizeof(void *));
    registered[id] = *ti;
    hook_type(id);
    tc__store_release(&t->fast_id, t->finalize ? 0u : id);
    tc__store_release(&t->id, id);
  }
  tc__lock_release(&types_lock);
  return id;
}
