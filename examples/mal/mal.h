/*
 * mal.h -- the Make-a-Lisp interpreter's values and the interfaces between
 * its files (types.c, reader.c, printer.c, eval.c, core.c, coro.c,
 * main.c).
 *
 * Every Lisp value is an object on the tricolor heap that starts with a
 * `mal` header (tag, flags, length).  The layouts and the tc_type that
 * tells the collector where each layout keeps its references:
 *
 *   tag           struct        tc_type            references
 *   nil/true/false mal          noscan             none
 *   T_INT         mal_int       noscan             none (boxed int64)
 *   T_STR/SYM/KW  mal_str       noscan             none
 *   T_BUILTIN     mal_builtin   noscan             none (C function)
 *   T_LIST        mal_list      offsets            car, cdr (a cons cell)
 *   T_FN          mal_fn        offsets            params, body, env
 *   T_ATOM        mal_atom      offsets            val
 *   T_CHAN        mal_chan      offsets            ch (a tc_chan)
 *   T_VEC         mal_vec       trace callback     items[0..len)
 *   T_MAP         mal_map       trace callback     kv[0..2*len)
 *   T_ENV         mal_env       trace callback     outer, ext, kv[0..2*len)
 *
 * Fixed layouts use offset lists (the marker reads them without a call);
 * the three variable-size layouts use trace callbacks that read `len`.
 *
 * The rules every file follows (docs/embedding.md explains them):
 *   1. A heap pointer that lives across an allocation (any mal_* call that
 *      may allocate, eval, apply, a channel operation, the GIL) is held in
 *      a TC_LOCALS local.  Functions root the parameters they still need
 *      after an allocation themselves; callers never nest allocating calls
 *      as arguments of one another (`f(g(), h())` would leave g's result
 *      unrooted while h allocates).
 *   2. A reference stored into a heap object or a global goes through
 *      tc_store / TC_STORE.  Non-reference fields (len, flags, numbers,
 *      bytes) are plain stores.
 *   3. Errors longjmp to the innermost try* (mal_throw); the landing site
 *      calls tc_roots_unwind with the mark it saved before setjmp.
 *   4. One coroutine runs Lisp at a time: it holds the GIL (coro.c) and
 *      releases it only around blocking operations, so shared structures
 *      (the symbol table, environments, atoms) need no other locking.
 */
#ifndef MAL_H
#define MAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <tricolor.h>

/* ---------------------------------------------------------------- values */

enum mal_tag {
  T_NIL = 1,
  T_TRUE,
  T_FALSE,
  T_INT,
  T_STR,
  T_SYM,
  T_KW,
  T_LIST,
  T_VEC,
  T_MAP,
  T_BUILTIN,
  T_FN,
  T_ATOM,
  T_ENV,
  T_CHAN,
};

#define F_MACRO   0x01 /* T_FN: defined by defmacro! */
#define F_SPECIAL 0x02 /* T_SYM: names a special form; aux = which */

typedef struct mal {
  uint8_t tag;               /* enum mal_tag */
  uint8_t flags;             /* F_* */
  uint16_t aux;              /* T_SYM with F_SPECIAL: the form's SF_* */
  uint32_t len;              /* list/vector length, map/env pairs, bytes */
} mal;

typedef struct mal_int {
  mal h;
  int64_t n;
} mal_int;

/* Strings, symbols and keywords (the keyword's name has no colon). */
typedef struct mal_str {
  mal h;                     /* h.len = bytes, without the NUL */
  uint32_t hash;             /* FNV-1a of the bytes, for maps and interning */
  char s[];                  /* h.len bytes and a NUL */
} mal_str;

/* A cons cell; the one empty list (MAL_EMPTY) has len 0, car = cdr = NULL. */
typedef struct mal_list {
  mal h;                     /* h.len = elements from this cell on */
  mal *car;
  struct mal_list *cdr;      /* never NULL except in the empty list */
} mal_list;

typedef struct mal_vec {
  mal h;                     /* h.len = items */
  mal *items[];
} mal_vec;

/*
 * A hash map: pairs in insertion order, kv[2i] key and kv[2i+1] value,
 * i < h.len <= cap.  Maps of more than MAP_LINEAR_MAX pairs also carry an
 * open-addressing index of icap (a power of two, >= 2 * cap) uint32
 * entries after kv[2 * cap]: pair number + 1, 0 = empty.  Lisp maps are
 * immutable (assoc copies); environments grow one in place.
 */
typedef struct mal_map {
  mal h;                     /* h.len = pairs in use */
  uint32_t cap;              /* pairs that fit */
  uint32_t icap;             /* index entries, 0 = linear search */
  mal *kv[];                 /* 2 * cap slots, then uint32_t idx[icap] */
} mal_map;
#define MAP_LINEAR_MAX 8

typedef struct mal_env mal_env;
typedef struct mt mt;
typedef mal *(*mal_builtin_fn)(mt *th, mal_list *args);

typedef struct mal_builtin {
  mal h;
  mal_builtin_fn fn;
  const char *name;          /* static string */
  int16_t min_args;          /* arity checked before the call */
  int16_t max_args;          /* -1: variadic */
} mal_builtin;

typedef struct mal_fn {
  mal h;                     /* h.flags & F_MACRO for macros */
  mal *params;               /* list or vector of symbols, `&` allowed */
  mal *body;
  mal_env *env;              /* captured environment */
} mal_fn;

typedef struct mal_atom {
  mal h;
  mal *val;
} mal_atom;

typedef struct mal_chan {
  mal h;
  tc_chan *ch;               /* a heap object of the library */
} mal_chan;

/*
 * An environment: pairs (symbol, value) inline, kv[0..2*len), searched
 * linearly, until a definition overflows cap; from then on they live in
 * `ext`, a hashed mal_map (the REPL environment starts that way).
 */
struct mal_env {
  mal h;                     /* h.len = inline pairs in use */
  uint32_t cap;              /* inline pairs that fit */
  uint32_t spare;
  mal_env *outer;            /* NULL for the REPL environment */
  mal_map *ext;              /* the pairs once they outgrew kv, else NULL */
  mal *kv[];                 /* 2 * cap slots */
};

extern tc_type mal_list_type, mal_vec_type, mal_map_type, mal_fn_type,
    mal_atom_type, mal_env_type, mal_chan_type;

/* -------------------------------------------------------------- globals */

/* Global roots (registered with tc_root_add by mal_types_init; written
 * with tc_store). */
enum {
  G_NIL,
  G_TRUE,
  G_FALSE,
  G_EMPTY,                   /* the empty list */
  G_SYMTAB,                  /* interned symbols: a weak hash set (a mal_vec
                                of tc_weak, types.c) */
  G_REPL_ENV,
  G_COUNT
};
extern mal *mal_g[G_COUNT];

#define MAL_NIL (mal_g[G_NIL])
#define MAL_TRUE (mal_g[G_TRUE])
#define MAL_FALSE (mal_g[G_FALSE])
#define MAL_EMPTY ((mal_list *)mal_g[G_EMPTY])
#define MAL_REPL_ENV ((mal_env *)mal_g[G_REPL_ENV])

/* Special forms: their symbols carry F_SPECIAL and aux = SF_*. */
enum {
  SF_NONE,
  SF_DEF,
  SF_LET,
  SF_DO,
  SF_IF,
  SF_FN,
  SF_QUOTE,
  SF_QUASIQUOTE,
  SF_DEFMACRO,
  SF_TRY,
};

/* Symbols the interpreter compares against, interned at start-up. */
enum {
  S_DEF, S_LET, S_DO, S_IF, S_FN, S_QUOTE, S_QUASIQUOTE, S_DEFMACRO, S_TRY,
  S_CATCH, S_UNQUOTE, S_SPLICE_UNQUOTE, S_DEREF, S_WITH_META, S_CONS,
  S_CONCAT, S_VEC, S_AMP, S_DEBUG_EVAL,
  S_COUNT
};
extern mal *mal_sym[S_COUNT];

/* Boxed integers in [SMALL_INT_MIN, SMALL_INT_MAX] are preallocated. */
#define SMALL_INT_MIN (-128)
#define SMALL_INT_MAX 1023

/* Set once a binding of DEBUG-EVAL is made: eval looks it up only then. */
extern bool mal_debug_eval_bound;

/* -------------------------------------------------------- interpreter */

/*
 * One per coroutine that runs Lisp, on that coroutine's C stack.  `exc`
 * is registered in a TC_LOCALS frame of the coroutine's entry function, so
 * a thrown value stays a root while the longjmp travels.
 */
struct mt {
  jmp_buf *handler;          /* innermost try* or the top level */
  mal *exc;                  /* the value being thrown */
  char *stack_limit;         /* eval throws when its frame is below this */
  uint32_t ticks;            /* evaluations since the GIL was last offered */
  uint64_t id;               /* tc_self() of the coroutine */
};

/* Stack reserved below stack_limit for C code that does not check
 * (printer, error formatting, libc): 64 KiB. */
#define MAL_STACK_MARGIN (64 * 1024)

void mal_thread_init(mt *th, size_t stack_size);

/* ---------------------------------------------------------- types.c */

void mal_types_init(void);
_Noreturn void mal_oom(size_t size);

/* Allocates an object of `type` (NULL: noscan) with the header set. */
static inline void *mal_alloc(tc_type *type, size_t size, uint8_t tag) {
  mal *m = type ? (mal *)tc_alloc(type, size) : (mal *)tc_alloc_noscan(size);
  if (m == NULL)
    mal_oom(size);
  m->tag = tag;
  m->flags = 0;
  m->aux = 0;
  m->len = 0;
  return m;
}

static inline bool mal_truthy(const mal *v) {
  return v->tag != T_NIL && v->tag != T_FALSE;
}
static inline bool mal_is_seq(const mal *v) {
  return v->tag == T_LIST || v->tag == T_VEC;
}
static inline mal *mal_bool(bool b) { return b ? MAL_TRUE : MAL_FALSE; }

mal *mal_int_new(int64_t n);
static inline int64_t mal_int_val(const mal *v) { return ((const mal_int *)v)->n; }
mal *mal_str_new(uint8_t tag, const char *s, size_t n);
mal *mal_string(const char *s);              /* T_STR from a C string */
mal *mal_symbol(const char *s, size_t n);    /* interned */
mal *mal_keyword(const char *s, size_t n);
static inline const char *mal_chars(const mal *v) { return ((const mal_str *)v)->s; }

mal_list *mal_cons(mal *car, mal_list *cdr);
mal_list *mal_list2(mal *a, mal *b);
mal_list *mal_list3(mal *a, mal *b, mal *c);
mal *mal_seq_nth(const mal *seq, uint32_t i); /* list or vector, i < len */

/*
 * Builds a list front to back.  The caller roots b.head and b.tail:
 *   mal_lb b = {0}; TC_LOCALS(b.head, b.tail);
 *   mal_lb_add(&b, x); ...; list = mal_lb_done(&b);
 */
typedef struct mal_lb {
  mal_list *head, *tail;
  uint32_t n;
} mal_lb;
void mal_lb_add(mal_lb *b, mal *x);
mal_list *mal_lb_done(mal_lb *b);

mal_vec *mal_vec_new(uint32_t n);            /* items NULL */
mal_vec *mal_vec_from_seq(mal *seq);

mal_map *mal_map_new(uint32_t cap);
mal_map *mal_map_copy(mal_map *m, uint32_t extra);
int64_t mal_map_find(const mal_map *m, const mal *key); /* pair or -1 */
mal *mal_map_get(const mal_map *m, const mal *key);    /* NULL if absent */
void mal_map_put(mal_map *m, mal *key, mal *val);      /* needs room */

mal_env *mal_env_new(mal_env *outer, uint32_t cap);
mal *mal_env_get(const mal_env *e, const mal *sym);    /* NULL if unbound */
void mal_env_bind(mal_env *e, mal *sym, mal *val);     /* needs room */
void mal_env_set(mal_env *e, mal *sym, mal *val);      /* may allocate */

uint32_t mal_hash(const mal *v);
uint32_t mal_hash_bytes(const char *s, size_t n); /* FNV-1a */
bool mal_equal(const mal *a, const mal *b);

/* --------------------------------------------------------- reader.c */

/* Reads the first form of s[0..n); NULL when there is none (blank or a
 * comment).  The bytes must stay put: a C buffer or a rooted string. */
mal *mal_read(mt *th, const char *s, size_t n);
/* Reads every form of s[0..n) into a list (for load-file). */
mal_list *mal_read_all(mt *th, const char *s, size_t n);

/* -------------------------------------------------------- printer.c */

typedef struct mal_buf {
  char *p;                   /* malloc'd, NUL-terminated */
  size_t n, cap;
} mal_buf;
void mal_buf_put(mal_buf *b, const char *s, size_t n);
void mal_buf_free(mal_buf *b);
/* Appends the printed form of v; never allocates on the heap, never
 * throws, so it needs no roots. */
void mal_pr(mal_buf *b, const mal *v, bool readably);
/* The printed form as a new heap string. */
mal *mal_pr_str(const mal *v, bool readably);
void mal_print(FILE *f, const mal *v, bool readably);

/* ----------------------------------------------------------- eval.c */

mal *mal_eval(mt *th, mal *ast, mal_env *env);
mal *mal_apply(mt *th, mal *f, mal_list *args);
_Noreturn void mal_throw(mt *th, mal *v);
_Noreturn void mal_error(mt *th, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A short printed form of v for messages (into buf, truncated). */
const char *mal_describe(const mal *v, char *buf, size_t size);
const char *mal_type_name(const mal *v);

/* ----------------------------------------------------------- core.c */

void mal_core_init(mt *th, mal_env *env);
void mal_def_builtin(mal_env *env, const char *name, mal_builtin_fn fn,
                     int min_args, int max_args);

/* ----------------------------------------------------------- coro.c */

/* The global interpreter lock (see coro.c). */
void mal_gil_acquire(void);
void mal_gil_release(void);
/* Offers the GIL to other coroutines every so many evaluations. */
void mal_gil_tick_slow(mt *th);
extern int mal_coroutines; /* spawned coroutines still running */
static inline void mal_gil_tick(mt *th) {
  if (mal_coroutines > 0 && ++th->ticks >= 1000)
    mal_gil_tick_slow(th);
}
void mal_coro_init(mal_env *env);
extern size_t mal_stack_size; /* bytes of each coroutine stack */

#endif /* MAL_H */
