/*
 * types.c -- MAL values on the tricolor heap: the tc_types, constructors,
 * symbol interning, hashing, equality, hash maps and environments.
 *
 * Layouts and tc_types (the table is in mal.h).
 *   1. Fixed layouts with references (cons cells, closures, atoms,
 *      channels) are described by offset lists: the marker reads the slots
 *      without calling us.
 *   2. Variable-size layouts (vectors, maps, environments) have trace
 *      callbacks that visit exactly the slots in use, found from `len`.
 *      The size class may be larger than what we asked for, and the
 *      memory is zeroed, so slots past `len` are NULL anyway; visiting
 *      only [0, len) keeps the callback honest about the layout.
 *   3. Objects without references (numbers, strings, symbols, builtins,
 *      nil/true/false) come from tc_alloc_noscan: never scanned.
 *
 * Roots.  nil, true, false, the empty list, the symbol table, the REPL
 * environment, the interned special symbols and the small integers live in
 * static arrays registered once with tc_root_add; everything else is
 * reached from those or from TC_LOCALS frames.  Global slots are written
 * with tc_store, like heap slots (docs/embedding.md, "Keep roots").
 *
 * Symbols are interned in an open-addressing hash set (a mal_vec whose
 * length is a power of two, at most half full), so symbol equality and
 * environment lookup compare pointers.  The set is weak: each slot holds a
 * tc_weak to its symbol, so a symbol that no code, environment or value
 * references any more is collected (macros that call gensym make a fresh
 * symbol each time: held strongly, the table grew without bound).  A slot
 * is NULL (never used: a probe stops), a weak reference whose symbol was
 * collected (a tombstone: a probe goes on, an insertion may reuse it), or
 * a weak reference to a live symbol.  Growing rehashes only the live ones,
 * so tombstones go away then.  docs/embedding.md writes the pattern up.
 *
 * Hash maps keep pairs in insertion order, which makes printing stable and
 * dissoc a filter; above MAP_LINEAR_MAX pairs an index of uint32 pair
 * numbers, stored after the pairs in the same object, makes lookups O(1).
 * Lisp maps never change after construction (assoc copies), so the index
 * needs no deletion; environments only add.
 *
 * Stores.  Every reference written into an object (cells, items, pairs,
 * fields, the globals) goes through tc_store/TC_STORE.  `len` fields that
 * a trace callback reads are written with a relaxed atomic store after the
 * slots they expose, so a concurrent marker (under tc_run, every barrier
 * mode but stw marks while the coroutines run) never reads a torn length.
 *
 * Rejected: tagged immediates for integers.  tricolor ignores slot values
 * that are not heap pointers, so it would work, but boxing keeps every
 * value a heap object (which is what this example shows) and the cache of
 * small integers removes most of the cost.
 */
#include "mal.h"

#include <stdlib.h>
#include <string.h>

mal *mal_g[G_COUNT];
mal *mal_sym[S_COUNT];
static mal *small_ints[SMALL_INT_MAX - SMALL_INT_MIN + 1];
static uint32_t nused; /* symbol-table slots not NULL (live + tombstones) */
bool mal_debug_eval_bound;

#define SYMTAB_INITIAL 512 /* slots; a fresh REPL interns about 150 names */

/* ---------------------------------------------------------------- types */

static void vec_trace(void *obj, tc_visitor *v) {
  mal_vec *x = obj;
  uint32_t n = __atomic_load_n(&x->h.len, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < n; i++)
    tc_visit_slot(v, (void **)&x->items[i]);
}

static void map_trace(void *obj, tc_visitor *v) {
  mal_map *m = obj;
  uint32_t n = 2 * __atomic_load_n(&m->h.len, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < n; i++)
    tc_visit_slot(v, (void **)&m->kv[i]);
}

static void env_trace(void *obj, tc_visitor *v) {
  mal_env *e = obj;
  tc_visit_slot(v, (void **)&e->outer);
  tc_visit_slot(v, (void **)&e->ext);
  uint32_t n = 2 * __atomic_load_n(&e->h.len, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < n; i++)
    tc_visit_slot(v, (void **)&e->kv[i]);
}

static const uint32_t list_refs[] = {offsetof(mal_list, car),
                                     offsetof(mal_list, cdr)};
static const uint32_t fn_refs[] = {offsetof(mal_fn, params),
                                   offsetof(mal_fn, body),
                                   offsetof(mal_fn, env)};
static const uint32_t atom_refs[] = {offsetof(mal_atom, val)};
static const uint32_t chan_refs[] = {offsetof(mal_chan, ch)};

tc_type mal_list_type = {.name = "mal list", .offsets = list_refs, .noffsets = 2};
tc_type mal_fn_type = {.name = "mal fn", .offsets = fn_refs, .noffsets = 3};
tc_type mal_atom_type = {.name = "mal atom", .offsets = atom_refs, .noffsets = 1};
tc_type mal_chan_type = {.name = "mal chan", .offsets = chan_refs, .noffsets = 1};
tc_type mal_vec_type = {.name = "mal vector", .trace = vec_trace};
tc_type mal_map_type = {.name = "mal map", .trace = map_trace};
tc_type mal_env_type = {.name = "mal env", .trace = env_trace};

_Noreturn void mal_oom(size_t size) {
  fprintf(stderr, "mal: out of memory allocating %zu bytes\n", size);
  abort();
}

static void set_len(mal *m, uint32_t n) {
  __atomic_store_n(&m->len, n, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ scalars */

uint32_t mal_hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static mal *singleton(uint8_t tag) { return mal_alloc(NULL, sizeof(mal), tag); }

mal *mal_int_new(int64_t n) {
  if (n >= SMALL_INT_MIN && n <= SMALL_INT_MAX && small_ints[n - SMALL_INT_MIN])
    return small_ints[n - SMALL_INT_MIN];
  mal_int *x = mal_alloc(NULL, sizeof *x, T_INT);
  x->n = n;
  return &x->h;
}

/* `s` may point into another heap string: the caller keeps that rooted
 * (objects never move, so the bytes stay where they are). */
mal *mal_str_new(uint8_t tag, const char *s, size_t n) {
  if (n > UINT32_MAX - 1)
    mal_oom(n);
  mal_str *x = mal_alloc(NULL, sizeof *x + n + 1, tag);
  memcpy(x->s, s, n);
  x->s[n] = '\0';
  x->h.len = (uint32_t)n;
  x->hash = mal_hash_bytes(s, n);
  return &x->h;
}

mal *mal_string(const char *s) { return mal_str_new(T_STR, s, strlen(s)); }

mal *mal_keyword(const char *s, size_t n) { return mal_str_new(T_KW, s, n); }

/* The symbol a table slot names, or NULL (an empty slot, a tombstone). */
static mal_str *slot_symbol(mal *slot) {
  return slot ? tc_weak_get((tc_weak *)slot) : NULL;
}

/* Rehashes the live symbols into a table of twice the size, or the same
 * size when tombstones made up most of the load.  Allocates; the caller
 * holds nothing unrooted. */
static void symtab_grow(void) {
  mal_vec *old = (mal_vec *)mal_g[G_SYMTAB];
  uint32_t live = 0;
  for (uint32_t i = 0; i < old->h.len; i++)
    live += slot_symbol(old->items[i]) != NULL;
  uint32_t len = 4 * (live + 1) > old->h.len ? 2 * old->h.len : old->h.len;
  mal_vec *big = mal_vec_new(len);
  old = (mal_vec *)mal_g[G_SYMTAB]; /* re-read after allocating */
  uint32_t mask = big->h.len - 1;
  nused = 0;
  for (uint32_t i = 0; i < old->h.len; i++) {
    mal_str *y = slot_symbol(old->items[i]);
    if (y == NULL)
      continue; /* collected since: dropped */
    uint32_t k = y->hash & mask;
    while (big->items[k])
      k = (k + 1) & mask;
    tc_store((void **)&big->items[k], old->items[i]); /* the same tc_weak */
    nused++;
  }
  tc_store((void **)&mal_g[G_SYMTAB], big);
}

mal *mal_symbol(const char *s, size_t n) {
  uint32_t h = mal_hash_bytes(s, n);
  mal *sym = NULL;
  tc_weak *w = NULL;
  TC_LOCALS(sym, w);
  for (;;) {
    mal_vec *t = (mal_vec *)mal_g[G_SYMTAB];
    uint32_t mask = t->h.len - 1, k = h & mask, reuse = UINT32_MAX;
    for (; t->items[k]; k = (k + 1) & mask) {
      mal_str *y = slot_symbol(t->items[k]);
      if (y == NULL) {
        if (reuse == UINT32_MAX)
          reuse = k; /* a tombstone: the first one takes the new symbol */
        continue;
      }
      if (y->hash == h && y->h.len == n && memcmp(y->s, s, n) == 0)
        return &y->h;
    }
    if (reuse == UINT32_MAX && 2 * (nused + 1) > t->h.len) {
      symtab_grow();
      continue;
    }
    uint32_t slot = reuse != UINT32_MAX ? reuse : k;
    sym = mal_str_new(T_SYM, s, n);
    w = tc_weak_new(sym);
    if (w == NULL)
      mal_oom(sizeof(void *));
    /* Under the GIL nobody else touched the table while we allocated; a
     * cycle may have turned more slots into tombstones, but slot `slot`
     * was empty or a tombstone and still is. */
    t = (mal_vec *)mal_g[G_SYMTAB];
    if (slot_symbol(t->items[slot]) != NULL)
      continue; /* cannot happen under the GIL; probe again if it did */
    if (t->items[slot] == NULL)
      nused++;
    tc_store((void **)&t->items[slot], w);
    return sym;
  }
}

/* -------------------------------------------------------------- lists */

mal_list *mal_cons(mal *car, mal_list *cdr) {
  TC_LOCALS(car, cdr);
  mal_list *c = mal_alloc(&mal_list_type, sizeof *c, T_LIST);
  c->h.len = cdr->h.len + 1;
  TC_STORE(c, car, car);
  TC_STORE(c, cdr, cdr);
  return c;
}

mal_list *mal_list2(mal *a, mal *b) {
  mal_list *l = NULL;
  TC_LOCALS(a, b, l);
  l = mal_cons(b, MAL_EMPTY);
  return mal_cons(a, l);
}

mal_list *mal_list3(mal *a, mal *b, mal *c) {
  mal_list *l = NULL;
  TC_LOCALS(a, b, c, l);
  l = mal_cons(c, MAL_EMPTY);
  l = mal_cons(b, l);
  return mal_cons(a, l);
}

mal *mal_seq_nth(const mal *seq, uint32_t i) {
  if (seq->tag == T_VEC)
    return ((const mal_vec *)seq)->items[i];
  const mal_list *l = (const mal_list *)seq;
  while (i--)
    l = l->cdr;
  return l->car;
}

void mal_lb_add(mal_lb *b, mal *x) {
  TC_LOCALS(x);
  mal_list *c = mal_alloc(&mal_list_type, sizeof *c, T_LIST);
  c->h.len = 1; /* the real lengths are written by mal_lb_done */
  TC_STORE(c, car, x);
  TC_STORE(c, cdr, MAL_EMPTY);
  if (b->tail)
    TC_STORE(b->tail, cdr, c);
  else
    b->head = c;
  b->tail = c;
  b->n++;
}

mal_list *mal_lb_done(mal_lb *b) {
  if (b->head == NULL)
    return MAL_EMPTY;
  uint32_t n = b->n;
  for (mal_list *c = b->head; n > 0; c = c->cdr)
    c->h.len = n--; /* not a reference: a plain store */
  return b->head;
}

/* ------------------------------------------------------------ vectors */

mal_vec *mal_vec_new(uint32_t n) {
  mal_vec *v = mal_alloc(&mal_vec_type, sizeof *v + (size_t)n * sizeof(mal *),
                         T_VEC);
  set_len(&v->h, n); /* the slots are zeroed: NULL until filled */
  return v;
}

mal_vec *mal_vec_from_seq(mal *seq) {
  TC_LOCALS(seq);
  if (seq->tag == T_VEC)
    return (mal_vec *)seq;
  mal_vec *v = mal_vec_new(seq->len);
  uint32_t i = 0;
  for (mal_list *l = (mal_list *)seq; l->h.len; l = l->cdr)
    tc_store((void **)&v->items[i++], l->car);
  return v;
}

/* --------------------------------------------------------------- maps */

static uint32_t *map_index(const mal_map *m) {
  return (uint32_t *)(void *)&m->kv[2 * (size_t)m->cap];
}

mal_map *mal_map_new(uint32_t cap) {
  uint32_t icap = 0;
  if (cap > MAP_LINEAR_MAX)
    for (icap = 16; icap < 2 * cap; icap *= 2)
      ;
  size_t size = sizeof(mal_map) + 2 * (size_t)cap * sizeof(mal *) +
                (size_t)icap * sizeof(uint32_t);
  mal_map *m = mal_alloc(&mal_map_type, size, T_MAP);
  m->cap = cap;
  m->icap = icap;
  return m;
}

int64_t mal_map_find(const mal_map *m, const mal *key) {
  uint32_t n = m->h.len;
  if (m->icap == 0) {
    for (uint32_t i = 0; i < n; i++)
      if (m->kv[2 * i] == key || mal_equal(m->kv[2 * i], key))
        return i;
    return -1;
  }
  const uint32_t *idx = map_index(m);
  uint32_t mask = m->icap - 1;
  for (uint32_t k = mal_hash(key) & mask; idx[k]; k = (k + 1) & mask) {
    const mal *x = m->kv[2 * (idx[k] - 1)];
    if (x == key || mal_equal(x, key))
      return idx[k] - 1;
  }
  return -1;
}

mal *mal_map_get(const mal_map *m, const mal *key) {
  int64_t i = mal_map_find(m, key);
  return i < 0 ? NULL : m->kv[2 * i + 1];
}

void mal_map_put(mal_map *m, mal *key, mal *val) {
  int64_t i = mal_map_find(m, key);
  if (i >= 0) {
    tc_store((void **)&m->kv[2 * i + 1], val);
    return;
  }
  uint32_t n = m->h.len;
  if (n >= m->cap) {
    fprintf(stderr, "mal: map_put past capacity (a bug)\n");
    abort();
  }
  tc_store((void **)&m->kv[2 * n], key);
  tc_store((void **)&m->kv[2 * n + 1], val);
  if (m->icap) {
    uint32_t *idx = map_index(m), mask = m->icap - 1;
    uint32_t k = mal_hash(key) & mask;
    while (idx[k])
      k = (k + 1) & mask;
    idx[k] = n + 1;
  }
  set_len(&m->h, n + 1); /* after the pair it exposes */
}

mal_map *mal_map_copy(mal_map *m, uint32_t extra) {
  TC_LOCALS(m);
  mal_map *c = mal_map_new(m->h.len + extra);
  for (uint32_t i = 0; i < m->h.len; i++)
    mal_map_put(c, m->kv[2 * i], m->kv[2 * i + 1]);
  return c;
}

/* ------------------------------------------------------- environments */

mal_env *mal_env_new(mal_env *outer, uint32_t cap) {
  TC_LOCALS(outer);
  mal_env *e = mal_alloc(&mal_env_type,
                         sizeof *e + 2 * (size_t)cap * sizeof(mal *), T_ENV);
  e->cap = cap;
  TC_STORE(e, outer, outer);
  return e;
}

/* Returns the value slot of sym in e alone, or NULL. */
static mal **env_slot(const mal_env *e, const mal *sym) {
  if (e->ext) {
    int64_t i = mal_map_find(e->ext, sym);
    return i < 0 ? NULL : &e->ext->kv[2 * i + 1];
  }
  for (uint32_t i = 0; i < e->h.len; i++)
    if (e->kv[2 * i] == sym)
      return (mal **)&e->kv[2 * i + 1];
  return NULL;
}

mal *mal_env_get(const mal_env *e, const mal *sym) {
  for (; e; e = e->outer) {
    mal **slot = env_slot(e, sym);
    if (slot)
      return *slot;
  }
  return NULL;
}

void mal_env_bind(mal_env *e, mal *sym, mal *val) {
  if (sym == mal_sym[S_DEBUG_EVAL])
    mal_debug_eval_bound = true;
  mal **slot = env_slot(e, sym);
  if (slot) {
    tc_store((void **)slot, val);
    return;
  }
  if (e->ext) {
    mal_map_put(e->ext, sym, val);
    return;
  }
  uint32_t n = e->h.len;
  if (n >= e->cap) {
    fprintf(stderr, "mal: env_bind past capacity (a bug)\n");
    abort();
  }
  tc_store((void **)&e->kv[2 * n], sym);
  tc_store((void **)&e->kv[2 * n + 1], val);
  set_len(&e->h, n + 1);
}

void mal_env_set(mal_env *e, mal *sym, mal *val) {
  mal_map *m = NULL;
  TC_LOCALS(e, sym, val, m);
  if (env_slot(e, sym) || (e->ext ? e->ext->h.len < e->ext->cap
                                  : e->h.len < e->cap)) {
    mal_env_bind(e, sym, val);
    return;
  }
  /* Full: move the pairs to a bigger hashed map. */
  if (e->ext) {
    m = mal_map_copy(e->ext, e->ext->cap + 8);
  } else {
    m = mal_map_new(2 * e->cap + 8);
    for (uint32_t i = 0; i < e->h.len; i++)
      mal_map_put(m, e->kv[2 * i], e->kv[2 * i + 1]);
  }
  TC_STORE(e, ext, m);
  mal_env_bind(e, sym, val);
}

/* ------------------------------------------------- hashing, equality */

static uint32_t mix(uint32_t h, uint32_t x) {
  return (h ^ x) * 0x9e3779b1u + 0x7f4a7c15u;
}

uint32_t mal_hash(const mal *v) {
  switch (v->tag) {
  case T_INT: {
    uint64_t n = (uint64_t)mal_int_val(v);
    return mix((uint32_t)n, (uint32_t)(n >> 32));
  }
  case T_STR:
  case T_SYM:
  case T_KW:
    return ((const mal_str *)v)->hash ^ v->tag;
  case T_NIL:
  case T_TRUE:
  case T_FALSE:
    return v->tag * 0x85ebca6bu;
  case T_LIST: { /* lists and vectors that are = hash alike */
    uint32_t h = 0x5eed;
    for (const mal_list *l = (const mal_list *)v; l->h.len; l = l->cdr)
      h = mix(h, mal_hash(l->car));
    return h;
  }
  case T_VEC: {
    uint32_t h = 0x5eed;
    for (uint32_t i = 0; i < v->len; i++)
      h = mix(h, mal_hash(((const mal_vec *)v)->items[i]));
    return h;
  }
  case T_MAP: { /* order-independent */
    const mal_map *m = (const mal_map *)v;
    uint32_t h = 0x3a9;
    for (uint32_t i = 0; i < m->h.len; i++)
      h += mix(mal_hash(m->kv[2 * i]), mal_hash(m->kv[2 * i + 1]));
    return h;
  }
  default: /* identity: objects never move, so the address is stable */
    return mix((uint32_t)(uintptr_t)v, (uint32_t)((uintptr_t)v >> 32));
  }
}

bool mal_equal(const mal *a, const mal *b) {
  if (a == b)
    return true;
  if (mal_is_seq(a) && mal_is_seq(b)) {
    if (a->len != b->len)
      return false;
    if (a->tag == T_LIST && b->tag == T_LIST) {
      const mal_list *x = (const mal_list *)a, *y = (const mal_list *)b;
      for (; x->h.len; x = x->cdr, y = y->cdr)
        if (!mal_equal(x->car, y->car))
          return false;
      return true;
    }
    for (uint32_t i = 0; i < a->len; i++)
      if (!mal_equal(mal_seq_nth(a, i), mal_seq_nth(b, i)))
        return false;
    return true;
  }
  if (a->tag != b->tag)
    return false;
  switch (a->tag) {
  case T_INT:
    return mal_int_val(a) == mal_int_val(b);
  case T_STR:
  case T_KW:
    return a->len == b->len &&
           memcmp(mal_chars(a), mal_chars(b), a->len) == 0;
  case T_MAP: {
    const mal_map *x = (const mal_map *)a, *y = (const mal_map *)b;
    if (x->h.len != y->h.len)
      return false;
    for (uint32_t i = 0; i < x->h.len; i++) {
      const mal *w = mal_map_get(y, x->kv[2 * i]);
      if (w == NULL || !mal_equal(x->kv[2 * i + 1], w))
        return false;
    }
    return true;
  }
  default: /* symbols are interned; the rest compare by identity */
    return false;
  }
}

/* ---------------------------------------------------------------- init */

static const struct {
  int index;
  const char *name;
  int special;
} named_symbols[] = {
    {S_DEF, "def!", SF_DEF},
    {S_LET, "let*", SF_LET},
    {S_DO, "do", SF_DO},
    {S_IF, "if", SF_IF},
    {S_FN, "fn*", SF_FN},
    {S_QUOTE, "quote", SF_QUOTE},
    {S_QUASIQUOTE, "quasiquote", SF_QUASIQUOTE},
    {S_DEFMACRO, "defmacro!", SF_DEFMACRO},
    {S_TRY, "try*", SF_TRY},
    {S_CATCH, "catch*", SF_NONE},
    {S_UNQUOTE, "unquote", SF_NONE},
    {S_SPLICE_UNQUOTE, "splice-unquote", SF_NONE},
    {S_DEREF, "deref", SF_NONE},
    {S_WITH_META, "with-meta", SF_NONE},
    {S_CONS, "cons", SF_NONE},
    {S_CONCAT, "concat", SF_NONE},
    {S_VEC, "vec", SF_NONE},
    {S_AMP, "&", SF_NONE},
    {S_DEBUG_EVAL, "DEBUG-EVAL", SF_NONE},
};

/* Creates the global objects and registers the global roots.  Mutator,
 * once per runtime (tc_run tears the roots down with the runtime). */
void mal_types_init(void) {
  memset(mal_g, 0, sizeof mal_g);
  memset(mal_sym, 0, sizeof mal_sym);
  memset(small_ints, 0, sizeof small_ints);
  nused = 0;
  mal_debug_eval_bound = false;
  if (tc_root_add((void **)mal_g, G_COUNT) ||
      tc_root_add((void **)mal_sym, S_COUNT) ||
      tc_root_add((void **)small_ints,
                  sizeof small_ints / sizeof small_ints[0])) {
    fprintf(stderr, "mal: cannot register the global roots\n");
    exit(1);
  }
  /* Each object goes into its root slot before the next allocation. */
  tc_store((void **)&mal_g[G_NIL], singleton(T_NIL));
  tc_store((void **)&mal_g[G_TRUE], singleton(T_TRUE));
  tc_store((void **)&mal_g[G_FALSE], singleton(T_FALSE));
  tc_store((void **)&mal_g[G_EMPTY],
           mal_alloc(&mal_list_type, sizeof(mal_list), T_LIST));
  tc_store((void **)&mal_g[G_SYMTAB], mal_vec_new(SYMTAB_INITIAL));
  for (int64_t n = SMALL_INT_MIN; n <= SMALL_INT_MAX; n++)
    tc_store((void **)&small_ints[n - SMALL_INT_MIN], mal_int_new(n));
  for (size_t i = 0; i < sizeof named_symbols / sizeof named_symbols[0]; i++) {
    const char *name = named_symbols[i].name;
    mal *s = mal_symbol(name, strlen(name));
    if (named_symbols[i].special) {
      s->flags |= F_SPECIAL;
      s->aux = (uint16_t)named_symbols[i].special;
    }
    tc_store((void **)&mal_sym[named_symbols[i].index], s);
  }
  mal_env *env = mal_env_new(NULL, 0);
  tc_store((void **)&mal_g[G_REPL_ENV], env);
  mal_map *m = mal_map_new(256);
  TC_STORE(MAL_REPL_ENV, ext, m);
}
