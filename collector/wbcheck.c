/*
 * collector/wbcheck.c -- the missing-barrier finder, TRICOLOR_DEBUG=
 * wbcheck=1 (after Ruby's wbcheck, ruby/ruby pull request 13557): finds
 * references stored into heap objects without tc_store, TC_STORE or
 * tc_barrier, which a cycle marking at the wrong moment would turn into a
 * freed live object.
 *
 * Algorithm.
 *   1. Snapshots.  While the mode is on, the marker calls wb_trace instead
 *      of tracing each type that holds references (types.c's trace hook:
 *      the normal mark is not touched).  wb_trace reads the object's
 *      references as its type describes them -- (byte offset, value) per
 *      pointer field, or (visit number, value) for a trace callback, run
 *      with a recording marker -- greys them, and compares them with the
 *      snapshot taken at the object's previous scan (none: the object was
 *      zeroed at allocation, so all NULL).  The snapshot lives in a side
 *      hash table keyed by the object's address, dropped by the sweep that
 *      frees the object (the profile's free hook: wbcheck samples every
 *      object, heap/sweep.c step 5).
 *   2. Stores.  The barrier flag stays set, so every store takes the slow
 *      path, which calls tc__wbcheck_note before storing: a tc_store into
 *      a heap object marks the word it writes as "stored into" in the
 *      object's record (the object found from the slot through its span),
 *      with the file and line TC_STORE passed (tricolor/inline.h); a
 *      tc_barrier, which names no slot, records its two values with the
 *      cycle.
 *   3. The check.  A field whose value differs from the snapshot is a
 *      missing barrier unless its word was stored into since the previous
 *      scan or in the period before it, or either value went through
 *      tc_barrier in this cycle or the last one (a trace callback's
 *      reference has no word: any store into the object excuses it).
 *   4. The report names the object, its type and size, the field's offset
 *      (for a trace callback: the visit number and the offset of a slot
 *      holding the value), both values, where the object and the new value
 *      were allocated (the heap profile, pinned at rate 1 in this mode,
 *      captured every allocation's stack) and the last barriered store
 *      into the object (TC_STORE's file:line).  wbcheck=1 then aborts;
 *      wbcheck=2 goes on with the new snapshot.
 *
 * Why the period before (step 3): a scan may run while a mutator is
 * between its note and its store.  Then the scan reads the old value and
 * moves the note into "the period before"; the next scan sees the new
 * value, excused by that note.  A note and its store are never two scans
 * apart: the slow path has no safepoint, and an object is scanned at most
 * once per cycle outside a pause.  Memory order: the note is made under
 * wb.lock before the store; a scan reads the fields, then takes wb.lock.
 * If it read the new value, its lock hold comes after the mutator's (had
 * it come first, the read would precede the store), so it sees the note.
 *
 * Limits: stores the snapshot cannot see (a reference written and
 * overwritten between two scans) go unnoticed; stores of an unchanged
 * value or of non-references are nobody's business; words past the 63rd
 * of an object share one "stored into" bit; ephemerons are not checked
 * (their trace visits the value only once the key is marked).  Rejected:
 * a check at every store (it would need the old contents of every object,
 * i.e. the snapshot, anyway, and would find only stores made through the
 * barrier).  Debug only: a hash table entry and a snapshot per object
 * holding references, one lock for everything, the barrier and a stack
 * walk at every allocation.
 */
#include "collector/collector.h"
#include "collector/addrtab.h"

#include <stdlib.h>
#include <string.h>

#define ORD 0x80000000u /* key of a trace callback's k-th reference: ORD|k */

typedef struct wbref {
  uint32_t key;        /* byte offset, or ORD | visit number */
  void *val;           /* never NULL */
} wbref;

typedef struct refs {  /* references read by one scan, in key order */
  wbref *v;
  uint32_t n, cap;
  bool heap;           /* v was malloc'd (else the caller's buffer) */
  bool oom;
} refs;

typedef struct wbrec {
  uintptr_t addr;      /* the object; 0 = empty entry */
  wbref *snap;         /* non-NULL references at the last scan (malloc) */
  uint32_t nsnap;
  uint32_t store_off;  /* offset of the last barriered store into it */
  uint64_t noted;      /* words stored into since the last scan: bit w
                          for word w, bit 63 for words >= 63 */
  uint64_t prev;       /* the same for the period before the last scan */
  const char *file;    /* where the last barriered store was written */
  int line;            /*   (file NULL: a tc_store without TC_STORE's
                            site); line 0: no barriered store seen */
} wbrec;

typedef struct bval {
  uintptr_t val;       /* a value tc_barrier saw; 0 = empty */
  uint32_t cycle;      /* tc__h.cycle then */
} bval;

static struct {
  uint32_t lock;       /* tc__spin: everything below */
  bool on;
  wbrec *t;            /* records, linear probing, power-of-two cap */
  size_t n, cap;
  bval *bv;            /* tc_barrier's values */
  size_t bvn, bvcap;
} wb;

/* Where the store being made was written (tc__store_slow_at). */
static __thread const char *site_file;
static __thread int site_line;

/* ------------------------------------------------------------ records */

static size_t rec_find(uintptr_t a) {
  return tc__addrtab_find(wb.t, sizeof *wb.t, wb.cap, a);
}

/* Returns obj's record, made empty if needed; NULL when out of memory.
 * wb.lock held. */
static wbrec *rec_get(uintptr_t a) {
  size_t i = rec_find(a);
  if (i != SIZE_MAX)
    return &wb.t[i];
  if (2 * (wb.n + 1) > wb.cap) {
    wbrec *t = tc__addrtab_grow(wb.t, &wb.cap, &wb.n, sizeof *t, 4096);
    if (t == NULL)
      return NULL;
    wb.t = t;
  }
  i = tc__addrtab_slot(wb.t, sizeof *wb.t, wb.cap, a);
  wb.t[i] = (wbrec){.addr = a};
  wb.n++;
  return &wb.t[i];
}

/* Removes entry i and frees its snapshot (collector/addrtab.h: no
 * tombstones). */
static void rec_remove(size_t i) {
  free(wb.t[i].snap);
  tc__addrtab_remove(wb.t, sizeof *wb.t, wb.cap, i);
  wb.n--;
}

void tc__wbcheck_forget(void *obj) {
  tc__spin_lock(&wb.lock);
  size_t i = rec_find((uintptr_t)obj);
  if (i != SIZE_MAX)
    rec_remove(i);
  tc__spin_unlock(&wb.lock);
}

/* ------------------------------------------------------------ tc_barrier */

/* Records that val went through tc_barrier in cycle c; wb.lock held. */
static void bval_put(uintptr_t val, uint32_t c) {
  if (val == 0)
    return;
  if (2 * (wb.bvn + 1) > wb.bvcap) {
    /* rebuild, dropping values too old to excuse anything (step 3) */
    size_t cap = wb.bvcap ? wb.bvcap : 1024;
    if (2 * (wb.bvn + 1) > cap)
      cap *= 2;
    bval *n = calloc(cap, sizeof *n), *old = wb.bv;
    if (n == NULL)
      return;
    size_t oldcap = wb.bvcap;
    wb.bv = n;
    wb.bvcap = cap;
    wb.bvn = 0;
    for (size_t k = 0; k < oldcap; k++)
      if (old[k].val && old[k].cycle + 1 >= c)
        bval_put(old[k].val, old[k].cycle);
    free(old);
  }
  size_t i = tc__addrtab_slot(wb.bv, sizeof *wb.bv, wb.bvcap, val);
  if (wb.bv[i].val == 0)
    wb.bvn++;
  wb.bv[i].val = val;
  wb.bv[i].cycle = c;
}

/* True if val went through tc_barrier in cycle c or c - 1. */
static bool bval_recent(const void *val, uint32_t c) {
  size_t i = tc__addrtab_find(wb.bv, sizeof *wb.bv, wb.bvcap, (uintptr_t)val);
  return i != SIZE_MAX && wb.bv[i].cycle + 1 >= c;
}

/* ------------------------------------------------------------ stores */

void tc__store_slow_at(void **slot, void *value, const char *file, int line) {
  site_file = file;
  site_line = line;
  tc__store_slow(slot, value);
  site_file = NULL;
}

static uint64_t word_bit(uint32_t off) {
  uint32_t w = off / (uint32_t)sizeof(void *);
  return UINT64_C(1) << (w < 63 ? w : 63);
}

void tc__wbcheck_note(void **slot, void *old_ref, void *new_ref) {
  if (slot == NULL) { /* tc_barrier: values only */
    uint32_t c = tc__load_relaxed(&tc__h.cycle);
    tc__spin_lock(&wb.lock);
    bval_put((uintptr_t)old_ref, c);
    bval_put((uintptr_t)new_ref, c);
    tc__spin_unlock(&wb.lock);
    return;
  }
  tc__span *s = tc__span_of(slot);
  if (s == NULL || tc__load_acquire(&s->state) == TC__SPAN_FREE)
    return; /* a root or a handle slot, or not the heap's */
  uint32_t i = tc__span_index(s, slot);
  if (i >= s->nelems)
    return;
  char *obj = tc__span_obj(s, i);
  uint32_t off = (uint32_t)((char *)slot - obj);
  tc__spin_lock(&wb.lock);
  wbrec *r = rec_get((uintptr_t)obj);
  if (r) {
    r->noted |= word_bit(off);
    r->store_off = off;
    r->file = site_file;
    r->line = site_file ? site_line : -1;
  }
  tc__spin_unlock(&wb.lock);
}

/* ------------------------------------------------------------ scans */

static void refs_add(refs *rf, uint32_t key, void *val) {
  if (rf->n == rf->cap) {
    uint32_t cap = rf->cap * 2;
    wbref *v = rf->heap ? realloc(rf->v, cap * sizeof *v)
                        : malloc(cap * sizeof *v);
    if (v == NULL) {
      rf->oom = true;
      return;
    }
    if (!rf->heap)
      memcpy(v, rf->v, rf->n * sizeof *v);
    rf->v = v;
    rf->cap = cap;
    rf->heap = true;
  }
  rf->v[rf->n].key = key;
  rf->v[rf->n].val = val;
  rf->n++;
}

void tc__wbcheck_visit(void *rfp, void *ref) {
  refs *rf = rfp;
  refs_add(rf, ORD | rf->n, ref); /* trace callbacks: visit order */
}

/* Reads obj's references as its registered type describes them. */
static void read_refs(char *obj, size_t size, const tc__typeinfo *ti,
                      refs *rf) {
  if (ti->trace) {
    tc__marker rec;
    memset(&rec, 0, sizeof rec);
    rec.verify = true; /* mark_one hands references to tc__verify_ref */
    rec.wbrefs = rf;
    tc__mark_trace(&rec, obj, ti->trace);
    return;
  }
  size_t stride = ti->stride ? ti->stride : size;
  for (size_t base = 0; base < size; base += stride)
    for (uint32_t k = 0; k < ti->noffsets; k++) {
      size_t o = base + ti->offsets[k];
      if (o + sizeof(void *) > size)
        break;
      void *ref = tc__load_relaxed((void **)(obj + o));
      if (ref)
        refs_add(rf, (uint32_t)o, ref);
    }
}

/* What a report says (copied out of the table, printed unlocked). */
typedef struct finding {
  char *obj;
  uint32_t type, size, key;
  void *old_val, *new_val;
  const char *file;
  int line;
  uint32_t store_off;
} finding;

/* Compares rf with obj's snapshot and makes rf the new one; returns true
 * and fills *f at the first change no barrier excuses.  wb.lock held. */
static bool compare(char *obj, refs *rf, finding *f) {
  size_t i = rec_find((uintptr_t)obj);
  if (i == SIZE_MAX && rf->n == 0)
    return false; /* never stored into, still all NULL */
  wbrec *r = i != SIZE_MAX ? &wb.t[i] : rec_get((uintptr_t)obj);
  if (r == NULL)
    return false;
  uint32_t c = tc__load_relaxed(&tc__h.cycle);
  uint64_t stored = r->noted | r->prev;
  bool found = false;
  uint32_t a = 0, b = 0;
  while (!found && (a < r->nsnap || b < rf->n)) {
    uint32_t ka = a < r->nsnap ? r->snap[a].key : UINT32_MAX;
    uint32_t kb = b < rf->n ? rf->v[b].key : UINT32_MAX;
    uint32_t key = ka < kb ? ka : kb;
    void *was = ka == key ? r->snap[a++].val : NULL;
    void *now = kb == key ? rf->v[b++].val : NULL;
    if (was == now)
      continue;
    bool excused = (key & ORD) ? stored != 0 : (stored & word_bit(key)) != 0;
    if (excused || bval_recent(was, c) || bval_recent(now, c))
      continue;
    f->key = key;
    f->old_val = was;
    f->new_val = now;
    f->file = r->file;
    f->line = r->line;
    f->store_off = r->store_off;
    found = true;
  }
  /* the new snapshot */
  if (rf->n != r->nsnap) {
    wbref *v = realloc(r->snap, (rf->n ? rf->n : 1) * sizeof *v);
    if (v == NULL) {
      rf->oom = true;
      return found;
    }
    r->snap = v;
  }
  if (rf->n)
    memcpy(r->snap, rf->v, rf->n * sizeof *rf->v);
  r->nsnap = rf->n;
  r->prev = r->noted;
  r->noted = 0;
  return found;
}

static void report(const finding *f) {
  tc_type *t = tc__type_get(f->type);
  const char *tname = t && t->name ? t->name : "?";
  char where[96];
  if (f->key & ORD) {
    /* a trace callback's reference: find a slot holding the value */
    long off = -1;
    void *v = f->new_val ? f->new_val : f->old_val;
    for (size_t o = 0; o + sizeof(void *) <= f->size; o += sizeof(void *))
      if (tc__load_relaxed((void **)(f->obj + o)) == v) {
        off = (long)o;
        break;
      }
    snprintf(where, sizeof where, "reference #%u of its trace callback "
             "(offset %ld)", f->key & ~ORD, off);
  } else {
    snprintf(where, sizeof where, "offset %u", f->key);
  }
  char site[512];
  tc__warn("wbcheck: missing write barrier: object %p (type %s, %u bytes) "
           "%s changed from %p to %p since its last scan, with no %s and "
           "no tc_barrier of either value",
           (void *)f->obj, tname, f->size, where, f->old_val, f->new_val,
           (f->key & ORD) ? "tc_store or TC_STORE into the object"
                          : "tc_store or TC_STORE into that word");
  tc__warn("wbcheck:   %p was allocated at %s", (void *)f->obj,
           tc__profile_site(f->obj, site, sizeof site, 6) ? site
                                                          : "? (not sampled)");
  if (f->new_val && tc__profile_site(f->new_val, site, sizeof site, 6))
    tc__warn("wbcheck:   the new value %p was allocated at %s", f->new_val,
             site);
  if (f->line > 0)
    tc__warn("wbcheck:   last barriered store into %p: %s:%d (offset %u)",
             (void *)f->obj, f->file, f->line, f->store_off);
  else if (f->line < 0)
    tc__warn("wbcheck:   last barriered store into %p: a tc_store at offset "
             "%u (TC_STORE in a build with TC_WBCHECK defined names its "
             "line)", (void *)f->obj, f->store_off);
  else
    tc__warn("wbcheck:   no barriered store into %p was ever seen",
             (void *)f->obj);
  if (tc__debug_settings.wbcheck == 1)
    tc__fatal("wbcheck: missing write barrier (wbcheck=2 reports and goes "
              "on)");
}

/* The trace hook: reads, greys and checks obj's references. */
static void wb_trace(void *objp, tc_visitor *v) {
  char *obj = objp;
  tc__marker *m = tc__visitor_marker(v);
  tc__span *s = tc__span_of(obj);
  uint32_t id = s->types[tc__span_index(s, obj)];
  wbref local[32];
  refs rf = {local, 0, 32, false, false};
  read_refs(obj, s->elem_size, tc__type_registered(id), &rf);
  for (uint32_t k = 0; k < rf.n; k++)
    tc__mark_ref(m, rf.v[k].val, obj);
  if (!m->verify && !rf.oom) { /* the verifier's traversal only greys */
    finding f = {.obj = obj, .type = id, .size = s->elem_size};
    tc__spin_lock(&wb.lock);
    bool bad = compare(obj, &rf, &f);
    tc__spin_unlock(&wb.lock);
    if (bad)
      report(&f);
  }
  if (rf.oom)
    tc__fatal("wbcheck: out of memory for a snapshot");
  if (rf.heap)
    free(rf.v);
}

/* ------------------------------------------------------------ lifecycle */

static bool not_checked(const tc_type *t) { return tc__type_is_ephemeron(t); }

void tc__wbcheck_init(void) {
  if (!tc__debug_settings.wbcheck)
    return;
  wb.on = true;
  tc__types_hook_trace(wb_trace, not_checked);
}

void tc__wbcheck_shutdown(void) {
  if (!wb.on)
    return;
  tc__types_hook_trace(NULL, NULL);
  for (size_t i = 0; i < wb.cap; i++)
    free(wb.t[i].snap);
  free(wb.t);
  free(wb.bv);
  memset(&wb, 0, sizeof wb);
}
