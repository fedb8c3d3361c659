/*
 * collector/weak.c -- weak references and ephemerons.
 *
 * A weak reference (tc_weak) is a small heap object holding one reference
 * the marker does not follow.  An ephemeron (tc_ephemeron) is a heap
 * object holding a key and a value: the value is followed only once the
 * key is marked by other means.  Both are ordinary heap objects, so an
 * embedder keeps them wherever it keeps references (a table, a handle, a
 * root), and they die like any object.
 *
 * The rules:
 *   1. Clearing.  At mark termination, once marking (ephemerons included)
 *      has reached its fixpoint, every weak reference whose target is
 *      unmarked is set to NULL, and so are the key and value of every
 *      ephemeron whose key is unmarked.  The world is stopped, so all weak
 *      references to a dead X are cleared together: no mutator sees one
 *      cleared and another not.  This comes before finalizers are queued
 *      (collector/finalizer.c resurrects unreachable finalizable objects
 *      for their finalizer), so a weak reference to X is NULL before X's
 *      finalizer runs, and stays NULL if the finalizer resurrects X (Java's
 *      WeakReference; its PhantomReference would clear after).
 *   2. Registry.  Every weak reference and ephemeron is recorded at
 *      creation in one array (not a root).  Termination walks it: an entry
 *      whose object is itself unmarked is dropped (the sweep frees it), a
 *      live one is cleared or kept by rule 1.  The walk costs O(weak
 *      objects) inside the termination pause, not O(heap); the closing
 *      figures are in tc_stats (weak_cleared, ephemerons) and gctrace.
 *   3. Ephemerons while marking.  Scanning an ephemeron E (its trace
 *      callback, ephemeron_trace) visits the value if the key is marked
 *      (or NULL); otherwise E is deferred on a pending list.  Whenever a
 *      marker runs out of grey objects, tc__ephemerons_settle visits the
 *      values of pending ephemerons whose keys got marked meanwhile and
 *      drops them from the list; marking goes on until a settle finds
 *      nothing.  So a chain E1(k1 -> k2), E2(k2 -> k3)... resolves in as
 *      many rounds as it is long, and a value that references its own key
 *      (E(k -> v), v -> k) keeps neither alive: k is not marked by other
 *      means.  Under concurrent marking the collector settles before it
 *      declares the mark done, and the termination pause settles once: if
 *      that finds work, the world restarts and marking goes on
 *      concurrently (collector/cycle.c's restarts), so the pause walks the
 *      pending list, never the heap behind it, except after the last
 *      allowed restart.
 *   4. Reads are strong reads.  While a cycle marks, tc_weak_get and the
 *      ephemeron readers shade what they return.  Why each mode needs it:
 *        - deletion: stacks were snapshotted at mark start; a target read
 *          afterwards onto a stack is seen by nobody, and if only weak
 *          references reach it, it is cleared and freed while in use;
 *        - hybrid: the same once the reading coroutine's stack is black
 *          (scanned, never rescanned);
 *        - insertion: stacks are rescanned at termination, so a target
 *          read onto a stack would be found, but one stored from there
 *          into the heap is shaded by the barrier anyway; the shade is
 *          redundant and harmless, and kept so the rule is one rule.
 *      Objects created while marking are black and never scanned: a new
 *      ephemeron's value is shaded then (it floats one cycle if the key
 *      dies), a new weak reference's target is not (it is weak).
 *   5. The verifier (gccheckmark) applies the same rules from scratch:
 *      weak targets are not followed, ephemeron values only once the
 *      verifier itself reached the key, with the same settle loop; and
 *      every weak reference or ephemeron it reaches must hold only marked
 *      (live) objects after clearing.
 *   Differences from Go's weak.Pointer: Go keeps one handle per target
 *   (weak.Make(p) == weak.Make(p)) and clears it when the target's span is
 *   swept; here each tc_weak_new makes a new object, and clearing happens
 *   in the termination pause, which needs no check in tc_weak_get against
 *   a not-yet-swept span.  Go has no ephemerons (its maps are strong).
 *
 * Locks: reg_lock (the registry; a leaf, taken by creators and by the
 * termination pause) and pend_lock (tc__spin, the pending lists; a leaf,
 * taken by markers, which grey into their own stacks under it).
 */
#include "barrier/barrier.h"

#include <stdlib.h>
#include <string.h>

struct tc_weak {
  void *target;           /* not traced; NULL once cleared */
};

struct tc_ephemeron {
  void *key;              /* not traced; NULL once cleared */
  void *value;            /* traced once key is marked; NULL once cleared */
};

static void ephemeron_trace(void *obj, tc_visitor *v);

static tc_type weak_type = {.name = "tc_weak"};
static tc_type ephemeron_type = {.name = "tc_ephemeron",
                                 .trace = ephemeron_trace};

bool tc__type_is_ephemeron(const tc_type *t) { return t == &ephemeron_type; }

/* Registry of every weak reference and ephemeron (rule 2). */
static tc__lock reg_lock = TC__LOCK_INIT;
static void **reg;
static size_t nreg, capreg;

/* Pending ephemerons (rule 3): [0] the mark, [1] the verifier's. */
static uint32_t pend_lock;
static struct {
  void **e;
  size_t n, cap;
} pend[2];

static tc__weakstats totals;

/* ---------------------------------------------------------------- creation */

static bool reg_add(void *obj) {
  tc__lock_acquire(&reg_lock);
  if (nreg == capreg) {
    size_t cap = capreg ? 2 * capreg : 256;
    void **r = realloc(reg, cap * sizeof *r);
    if (r == NULL) {
      tc__lock_release(&reg_lock);
      return false;
    }
    reg = r;
    capreg = cap;
  }
  reg[nreg++] = obj;
  tc__lock_release(&reg_lock);
  return true;
}

static void check_ref(void *ref, const char *call) {
  if (ref && tc__span_of(ref) && !tc_is_object(ref))
    tc__fatal("%s(%p): not the start of a tricolor object", call, ref);
}

/* Strong reads (rule 4): a coroutine inside a system call holds no P and
 * no pause waits for it, so it could read while a pause clears. */
static void *read_ref(void *const *slot, const char *call) {
  tc__require_mutator(call);
  if (tc__world_scheduled() && tc__gcw_current() == NULL)
    tc__fatal("%s between tc_syscall_enter and tc_syscall_exit", call);
  void *ref = tc__load_relaxed(slot);
  if (ref && tc__marking() && !tc__debug_settings.noweakshade)
    tc__shade(ref);
  return ref;
}

tc_weak *tc_weak_new(void *target) {
  tc__require_mutator("tc_weak_new");
  check_ref(target, "tc_weak_new");
  tc_weak *w = NULL;
  TC_LOCALS(target, w);
  w = tc_alloc(&weak_type, sizeof *w);
  if (w == NULL)
    return NULL;
  tc__store_relaxed(&w->target, target); /* black or white, not traced */
  if (!reg_add(w))
    return NULL;
  return w;
}

void *tc_weak_get(const tc_weak *w) {
  if (w == NULL)
    return NULL;
  return read_ref(&w->target, "tc_weak_get");
}

tc_ephemeron *tc_ephemeron_new(void *key, void *value) {
  tc__require_mutator("tc_ephemeron_new");
  check_ref(key, "tc_ephemeron_new");
  check_ref(value, "tc_ephemeron_new");
  if (key == NULL)
    tc__fatal("tc_ephemeron_new(NULL, %p): an ephemeron needs a key", value);
  tc_ephemeron *e = NULL;
  TC_LOCALS(key, value, e);
  e = tc_alloc(&ephemeron_type, sizeof *e);
  if (e == NULL)
    return NULL;
  tc__store_relaxed(&e->key, key);
  tc__store_relaxed(&e->value, value);
  /* created black while marking: never scanned this cycle, so its value
   * is shaded now (rule 4); it floats one cycle if the key dies */
  if (value && tc__marking())
    tc__shade(value);
  if (!reg_add(e))
    return NULL;
  return e;
}

void *tc_ephemeron_key(const tc_ephemeron *e) {
  return e ? read_ref(&e->key, "tc_ephemeron_key") : NULL;
}

void *tc_ephemeron_value(const tc_ephemeron *e) {
  return e ? read_ref(&e->value, "tc_ephemeron_value") : NULL;
}

/* ---------------------------------------------------------------- marking */

static void pend_push(int list, void *e) {
  tc__spin_lock(&pend_lock);
  if (pend[list].n == pend[list].cap) {
    size_t cap = pend[list].cap ? 2 * pend[list].cap : 256;
    void **p = realloc(pend[list].e, cap * sizeof *p);
    if (p == NULL)
      tc__fatal("out of memory deferring an ephemeron");
    pend[list].e = p;
    pend[list].cap = cap;
  }
  pend[list].e[pend[list].n++] = e;
  tc__spin_unlock(&pend_lock);
}

static void ephemeron_trace(void *obj, tc_visitor *v) {
  tc_ephemeron *e = obj;
  tc__marker *m = tc__visitor_marker(v);
  void *key = tc__load_relaxed(&e->key);
  if (key == NULL || tc__marker_is_marked(m, key))
    tc_visit_slot(v, &e->value);
  else
    pend_push(m->verify, e);
}

size_t tc__ephemerons_settle(tc__marker *m) {
  int list = m->verify;
  size_t resolved = 0;
  tc__spin_lock(&pend_lock);
  for (size_t i = 0; i < pend[list].n;) {
    tc_ephemeron *e = pend[list].e[i];
    void *key = tc__load_relaxed(&e->key);
    if (key && !tc__marker_is_marked(m, key)) {
      i++;
      continue;
    }
    void *value = tc__load_relaxed(&e->value);
    if (value)
      tc__mark_ref(m, value, e);
    pend[list].e[i] = pend[list].e[--pend[list].n];
    resolved++;
  }
  tc__spin_unlock(&pend_lock);
  if (list == 0)
    tc__add_relaxed(&totals.ephemerons_resolved, (uint64_t)resolved);
  return resolved;
}

size_t tc__ephemerons_pending(int list) {
  tc__spin_lock(&pend_lock);
  size_t n = pend[list].n;
  tc__spin_unlock(&pend_lock);
  return n;
}

void tc__ephemerons_forget(int list) {
  tc__spin_lock(&pend_lock);
  pend[list].n = 0;
  tc__spin_unlock(&pend_lock);
}

/* ---------------------------------------------------------------- termination */

/* World stopped: the mark is final. */
static bool is_marked(const void *p) {
  tc__span *s = tc__span_of(p);
  if (s == NULL)
    return true; /* not the heap's: never collected */
  uint32_t i = tc__span_index(s, p);
  return (tc__load_relaxed(&s->mark_bits[i >> 6]) >> (i & 63)) & 1;
}

static bool is_ephemeron(const void *obj) {
  tc__span *s = tc__span_of(obj);
  return s->types && s->types[tc__span_index(s, obj)] == ephemeron_type.id;
}

void tc__weak_process(tc__weakstats *cycle) {
  memset(cycle, 0, sizeof *cycle);
  tc__lock_acquire(&reg_lock);
  size_t keep = 0;
  for (size_t i = 0; i < nreg; i++) {
    void *obj = reg[i];
    if (!is_marked(obj))
      continue; /* dead itself: the sweep frees it */
    if (is_ephemeron(obj)) {
      tc_ephemeron *e = obj;
      cycle->ephemerons++;
      void *key = tc__load_relaxed(&e->key);
      if (key && !is_marked(key)) {
        tc__store_relaxed(&e->key, (void *)NULL);
        tc__store_relaxed(&e->value, (void *)NULL);
        cycle->ephemerons_cleared++;
      }
    } else {
      tc_weak *w = obj;
      cycle->weak++;
      void *t = tc__load_relaxed(&w->target);
      if (t && !is_marked(t)) {
        tc__store_relaxed(&w->target, (void *)NULL);
        cycle->weak_cleared++;
      }
    }
    reg[keep++] = obj;
  }
  nreg = keep;
  tc__lock_release(&reg_lock);
  cycle->ephemerons_resolved =
      __atomic_exchange_n(&totals.ephemerons_resolved, 0, __ATOMIC_RELAXED);
  tc__ephemerons_forget(0); /* what is left has a dead key: cleared above */
}

void tc__weak_verify(bool (*reached)(const void *obj)) {
  tc__lock_acquire(&reg_lock);
  for (size_t i = 0; i < nreg; i++) {
    void *obj = reg[i];
    if (!reached(obj))
      continue;
    void *const *slots = obj;
    size_t n = is_ephemeron(obj) ? 2 : 1;
    for (size_t k = 0; k < n; k++) {
      void *ref = tc__load_relaxed(&slots[k]);
      if (ref && !is_marked(ref))
        tc__fatal("gccheckmark: %s %p still holds %p, which the %s mark "
                  "did not mark (it will be freed: a dangling weak "
                  "reference)",
                  n == 2 ? "ephemeron" : "weak reference", obj, ref,
                  tc_barrier_name((tc_barrier_mode)tc__barrier_mode()));
    }
  }
  tc__lock_release(&reg_lock);
}

void tc__weak_destroy(void) {
  tc__lock_acquire(&reg_lock);
  free(reg);
  reg = NULL;
  nreg = capreg = 0;
  tc__lock_release(&reg_lock);
  tc__spin_lock(&pend_lock);
  for (int l = 0; l < 2; l++) {
    free(pend[l].e);
    memset(&pend[l], 0, sizeof pend[l]);
  }
  tc__spin_unlock(&pend_lock);
  memset(&totals, 0, sizeof totals);
}
