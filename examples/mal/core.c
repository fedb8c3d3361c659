/*
 * core.c -- the MAL core namespace: the builtin functions of steps 2-9,
 * a few extras (string?, number?, fn?, time-ms, gc, gc-stats), and the
 * prelude written in MAL (not, load-file, cond).
 *
 * A builtin is a C function `mal *f(mt *th, mal_list *args)`; eval checks
 * the arity from the table below before calling, so a builtin reads its
 * fixed arguments without checking their number.  Its arguments list is
 * rooted by the caller (eval's frame) for the whole call, but a builtin
 * that allocates still roots the values it keeps in C locals: it does not
 * rely on how it was reached, and the locals stay valid if an argument
 * list is later built differently.
 *
 * Lists are immutable and share structure: `rest` of a list is its cdr,
 * `cons` onto a list is one cell, `list` returns its freshly built
 * argument list, and `& rest` parameters are suffixes of the argument
 * list.  Vectors are copied into lists where a list is expected.
 *
 * gc and gc-stats expose the collector to Lisp programs, so tests can
 * check that dropped structures are really reclaimed (tests/gc_heavy.mal).
 */
#include "mal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ARG0 (args->car)
#define ARG1 (args->cdr->car)
#define ARG2 (args->cdr->cdr->car)

/* ------------------------------------------------------------- checks */

_Noreturn static void type_error(mt *th, const char *fn, const char *want,
                                 const mal *got) {
  char d[64];
  mal_error(th, "%s: expected %s, got %s %s", fn, want, mal_type_name(got),
            mal_describe(got, d, sizeof d));
}

static int64_t int_arg(mt *th, const char *fn, const mal *v) {
  if (v->tag != T_INT)
    type_error(th, fn, "a number", v);
  return mal_int_val(v);
}

static void need(mt *th, const char *fn, const mal *v, int tag,
                 const char *want) {
  if (v->tag != tag)
    type_error(th, fn, want, v);
}

static void need_seq(mt *th, const char *fn, const mal *v) {
  if (!mal_is_seq(v) && v->tag != T_NIL)
    type_error(th, fn, "a list or vector", v);
}

/* A list with the elements of a list, vector or nil (shared if a list). */
static mal_list *to_list(mal *seq) {
  if (seq->tag == T_LIST)
    return (mal_list *)seq;
  if (seq->tag == T_NIL)
    return MAL_EMPTY;
  mal_lb b = {0};
  TC_LOCALS(seq, b.head, b.tail);
  for (uint32_t i = 0; i < seq->len; i++)
    mal_lb_add(&b, ((mal_vec *)seq)->items[i]);
  return mal_lb_done(&b);
}

/* --------------------------------------------------------- arithmetic */

static mal *core_add(mt *th, mal_list *args) {
  int64_t r = 0;
  for (; args->h.len; args = args->cdr)
    r += int_arg(th, "+", args->car);
  return mal_int_new(r);
}

static mal *core_sub(mt *th, mal_list *args) {
  int64_t r = int_arg(th, "-", ARG0);
  if (args->h.len == 1)
    return mal_int_new(-r);
  for (args = args->cdr; args->h.len; args = args->cdr)
    r -= int_arg(th, "-", args->car);
  return mal_int_new(r);
}

static mal *core_mul(mt *th, mal_list *args) {
  int64_t r = 1;
  for (; args->h.len; args = args->cdr)
    r *= int_arg(th, "*", args->car);
  return mal_int_new(r);
}

static mal *core_div(mt *th, mal_list *args) {
  int64_t r = int_arg(th, "/", ARG0);
  for (args = args->cdr; args->h.len; args = args->cdr) {
    int64_t d = int_arg(th, "/", args->car);
    if (d == 0)
      mal_error(th, "/: division by zero");
    r /= d;
  }
  return mal_int_new(r);
}

#define COMPARE(name, sym, op)                                              \
  static mal *name(mt *th, mal_list *args) {                                \
    return mal_bool(int_arg(th, sym, ARG0) op int_arg(th, sym, ARG1));      \
  }
COMPARE(core_lt, "<", <)
COMPARE(core_le, "<=", <=)
COMPARE(core_gt, ">", >)
COMPARE(core_ge, ">=", >=)

static mal *core_eq(mt *th, mal_list *args) {
  (void)th;
  return mal_bool(mal_equal(ARG0, ARG1));
}

/* --------------------------------------------------------- predicates */

#define PREDICATE(name, test)                                               \
  static mal *name(mt *th, mal_list *args) {                                \
    (void)th;                                                               \
    const mal *v = ARG0;                                                    \
    return mal_bool(test);                                                  \
  }
PREDICATE(core_is_list, v->tag == T_LIST)
PREDICATE(core_is_vector, v->tag == T_VEC)
PREDICATE(core_is_map, v->tag == T_MAP)
PREDICATE(core_is_sequential, mal_is_seq(v))
PREDICATE(core_is_nil, v->tag == T_NIL)
PREDICATE(core_is_true, v->tag == T_TRUE)
PREDICATE(core_is_false, v->tag == T_FALSE)
PREDICATE(core_is_symbol, v->tag == T_SYM)
PREDICATE(core_is_keyword, v->tag == T_KW)
PREDICATE(core_is_string, v->tag == T_STR)
PREDICATE(core_is_number, v->tag == T_INT)
PREDICATE(core_is_atom, v->tag == T_ATOM)
PREDICATE(core_is_fn, v->tag == T_BUILTIN || (v->tag == T_FN && !(v->flags & F_MACRO)))
PREDICATE(core_is_macro, v->tag == T_FN && (v->flags & F_MACRO))

/* -------------------------------------------------------- sequences */

static mal *core_list(mt *th, mal_list *args) {
  (void)th;
  return &args->h; /* freshly built by eval or apply, and immutable */
}

static mal *core_vector(mt *th, mal_list *args) {
  (void)th;
  return &mal_vec_from_seq(&args->h)->h;
}

static mal *core_is_empty(mt *th, mal_list *args) {
  need_seq(th, "empty?", ARG0);
  return mal_bool(ARG0->tag == T_NIL || ARG0->len == 0);
}

static mal *core_count(mt *th, mal_list *args) {
  const mal *v = ARG0;
  switch (v->tag) {
  case T_NIL:
    return mal_int_new(0);
  case T_LIST:
  case T_VEC:
  case T_MAP:
  case T_STR:
    return mal_int_new(v->len);
  default:
    type_error(th, "count", "a collection", v);
  }
}

static mal *core_cons(mt *th, mal_list *args) {
  mal *x = ARG0;
  mal_list *l = NULL;
  TC_LOCALS(args, x, l);
  need_seq(th, "cons", ARG1);
  l = to_list(ARG1);
  return &mal_cons(x, l)->h;
}

/* The last argument, when it is a list, becomes the tail of the result
 * instead of being copied: lists are immutable, so sharing is safe. */
static mal *core_concat(mt *th, mal_list *args) {
  mal_lb b = {0};
  mal *s = NULL;
  TC_LOCALS(args, b.head, b.tail, s);
  for (; args->h.len; args = args->cdr) {
    s = args->car;
    need_seq(th, "concat", s);
    if (args->h.len == 1 && s->tag == T_LIST) {
      if (b.tail == NULL)
        return s;
      TC_STORE(b.tail, cdr, s);
      uint32_t n = b.n + s->len;
      for (mal_list *c = b.head; c != (mal_list *)s; c = c->cdr)
        c->h.len = n--; /* not a reference: a plain store */
      return &b.head->h;
    }
    for (uint32_t i = 0; s->tag != T_NIL && i < s->len; i++)
      mal_lb_add(&b, mal_seq_nth(s, i));
  }
  return &mal_lb_done(&b)->h;
}

static mal *core_vec(mt *th, mal_list *args) {
  need_seq(th, "vec", ARG0);
  if (ARG0->tag == T_NIL)
    return &mal_vec_new(0)->h;
  return &mal_vec_from_seq(ARG0)->h;
}

static mal *core_nth(mt *th, mal_list *args) {
  need_seq(th, "nth", ARG0);
  int64_t i = int_arg(th, "nth", ARG1);
  if (ARG0->tag == T_NIL || i < 0 || i >= ARG0->len)
    mal_error(th, "nth: index %lld out of range", (long long)i);
  return mal_seq_nth(ARG0, (uint32_t)i);
}

static mal *core_first(mt *th, mal_list *args) {
  need_seq(th, "first", ARG0);
  if (ARG0->tag == T_NIL || ARG0->len == 0)
    return MAL_NIL;
  return mal_seq_nth(ARG0, 0);
}

static mal *core_rest(mt *th, mal_list *args) {
  mal *s = ARG0;
  mal_lb b = {0};
  TC_LOCALS(s, b.head, b.tail);
  need_seq(th, "rest", s);
  if (s->tag == T_NIL || s->len == 0)
    return &MAL_EMPTY->h;
  if (s->tag == T_LIST)
    return &((mal_list *)s)->cdr->h;
  for (uint32_t i = 1; i < s->len; i++)
    mal_lb_add(&b, ((mal_vec *)s)->items[i]);
  return &mal_lb_done(&b)->h;
}

static mal *core_apply(mt *th, mal_list *args) {
  mal *f = ARG0, *last = NULL;
  mal_lb b = {0};
  TC_LOCALS(args, f, last, b.head, b.tail);
  for (args = args->cdr; args->h.len > 1; args = args->cdr)
    mal_lb_add(&b, args->car);
  last = args->car;
  need_seq(th, "apply", last);
  if (b.head == NULL) {
    args = to_list(last); /* no copy when the last argument is a list */
  } else {
    for (uint32_t i = 0; i < last->len && last->tag != T_NIL; i++)
      mal_lb_add(&b, mal_seq_nth(last, i));
    args = mal_lb_done(&b);
  }
  return mal_apply(th, f, args);
}

static mal *core_map(mt *th, mal_list *args) {
  mal *f = ARG0, *s = ARG1, *x = NULL;
  mal_list *one = NULL;
  mal_lb b = {0};
  TC_LOCALS(f, s, x, one, b.head, b.tail);
  need_seq(th, "map", s);
  s = &to_list(s)->h; /* s is then a rooted cursor down the list */
  for (; s->len; s = &((mal_list *)s)->cdr->h) {
    one = mal_cons(((mal_list *)s)->car, MAL_EMPTY);
    x = mal_apply(th, f, one);
    mal_lb_add(&b, x);
  }
  return &mal_lb_done(&b)->h;
}

/* ---------------------------------------------------------- strings */

static mal *join(mal_list *args, bool readably, const char *sep) {
  mal_buf b = {0};
  for (; args->h.len; args = args->cdr) {
    mal_pr(&b, args->car, readably);
    if (args->h.len > 1 && sep)
      mal_buf_put(&b, sep, strlen(sep));
  }
  mal *s = mal_str_new(T_STR, b.p ? b.p : "", b.n);
  mal_buf_free(&b);
  return s;
}

static void print_line(mal_list *args, bool readably) {
  mal_buf b = {0};
  for (; args->h.len; args = args->cdr) {
    mal_pr(&b, args->car, readably);
    if (args->h.len > 1)
      mal_buf_put(&b, " ", 1);
  }
  mal_buf_put(&b, "\n", 1);
  fwrite(b.p, 1, b.n, stdout);
  mal_buf_free(&b);
}

static mal *core_pr_str(mt *th, mal_list *args) {
  (void)th;
  return join(args, true, " ");
}

static mal *core_str(mt *th, mal_list *args) {
  (void)th;
  return join(args, false, NULL);
}

static mal *core_prn(mt *th, mal_list *args) {
  (void)th;
  print_line(args, true);
  return MAL_NIL;
}

static mal *core_println(mt *th, mal_list *args) {
  (void)th;
  print_line(args, false);
  return MAL_NIL;
}

static mal *core_read_string(mt *th, mal_list *args) {
  mal *s = ARG0;
  TC_LOCALS(s); /* the reader walks its bytes while it allocates */
  need(th, "read-string", s, T_STR, "a string");
  mal *v = mal_read(th, mal_chars(s), s->len);
  return v ? v : MAL_NIL;
}

static mal *core_slurp(mt *th, mal_list *args) {
  need(th, "slurp", ARG0, T_STR, "a string");
  FILE *f = fopen(mal_chars(ARG0), "rb");
  if (f == NULL)
    mal_error(th, "slurp: %s: %s", mal_chars(ARG0), strerror(errno));
  mal_buf b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    mal_buf_put(&b, chunk, n);
  fclose(f);
  mal *s = mal_str_new(T_STR, b.p ? b.p : "", b.n);
  mal_buf_free(&b);
  return s;
}

static mal *core_eval(mt *th, mal_list *args) {
  return mal_eval(th, ARG0, MAL_REPL_ENV);
}

static mal *core_throw(mt *th, mal_list *args) { mal_throw(th, ARG0); }

static mal *core_symbol(mt *th, mal_list *args) {
  mal *s = ARG0;
  TC_LOCALS(s);
  need(th, "symbol", s, T_STR, "a string");
  return mal_symbol(mal_chars(s), s->len);
}

static mal *core_keyword(mt *th, mal_list *args) {
  mal *s = ARG0;
  if (s->tag == T_KW)
    return s;
  TC_LOCALS(s);
  need(th, "keyword", s, T_STR, "a string");
  return mal_keyword(mal_chars(s), s->len);
}

/* ------------------------------------------------------------- atoms */

static mal *core_atom(mt *th, mal_list *args) {
  (void)th;
  mal *v = ARG0;
  TC_LOCALS(v);
  mal_atom *a = mal_alloc(&mal_atom_type, sizeof *a, T_ATOM);
  TC_STORE(a, val, v);
  return &a->h;
}

static mal *core_deref(mt *th, mal_list *args) {
  need(th, "deref", ARG0, T_ATOM, "an atom");
  return ((mal_atom *)ARG0)->val;
}

static mal *core_reset(mt *th, mal_list *args) {
  need(th, "reset!", ARG0, T_ATOM, "an atom");
  TC_STORE((mal_atom *)ARG0, val, ARG1);
  return ARG1;
}

static mal *core_swap(mt *th, mal_list *args) {
  mal *a = ARG0, *f = ARG1, *v = NULL;
  mal_list *fargs = NULL;
  TC_LOCALS(args, a, f, v, fargs);
  need(th, "swap!", a, T_ATOM, "an atom");
  fargs = mal_cons(((mal_atom *)a)->val, args->cdr->cdr);
  v = mal_apply(th, f, fargs);
  TC_STORE((mal_atom *)a, val, v);
  return v;
}

/* -------------------------------------------------------------- maps */

static mal *core_hash_map(mt *th, mal_list *args) {
  if (args->h.len % 2)
    mal_error(th, "hash-map: expected an even number of arguments");
  TC_LOCALS(args);
  mal_map *m = mal_map_new(args->h.len / 2);
  for (; args->h.len; args = args->cdr->cdr)
    mal_map_put(m, args->car, args->cdr->car);
  return &m->h;
}

static mal *core_assoc(mt *th, mal_list *args) {
  need(th, "assoc", ARG0, T_MAP, "a map");
  if (args->h.len % 2 == 0)
    mal_error(th, "assoc: expected a map and key/value pairs");
  TC_LOCALS(args);
  mal_map *m = mal_map_copy((mal_map *)ARG0, (args->h.len - 1) / 2);
  for (args = args->cdr; args->h.len; args = args->cdr->cdr)
    mal_map_put(m, args->car, args->cdr->car);
  return &m->h;
}

static mal *core_dissoc(mt *th, mal_list *args) {
  need(th, "dissoc", ARG0, T_MAP, "a map");
  TC_LOCALS(args);
  mal_map *old = (mal_map *)ARG0;
  mal_map *m = mal_map_new(old->h.len);
  old = (mal_map *)ARG0; /* no allocation until the end: plain pointers */
  for (uint32_t i = 0; i < old->h.len; i++) {
    bool drop = false;
    for (mal_list *k = args->cdr; k->h.len && !drop; k = k->cdr)
      drop = mal_equal(old->kv[2 * i], k->car);
    if (!drop)
      mal_map_put(m, old->kv[2 * i], old->kv[2 * i + 1]);
  }
  return &m->h;
}

static mal *core_get(mt *th, mal_list *args) {
  if (ARG0->tag == T_NIL)
    return MAL_NIL;
  need(th, "get", ARG0, T_MAP, "a map");
  mal *v = mal_map_get((mal_map *)ARG0, ARG1);
  return v ? v : MAL_NIL;
}

static mal *core_contains(mt *th, mal_list *args) {
  if (ARG0->tag == T_NIL)
    return MAL_FALSE;
  need(th, "contains?", ARG0, T_MAP, "a map");
  return mal_bool(mal_map_find((mal_map *)ARG0, ARG1) >= 0);
}

static mal *map_half(mt *th, mal_list *args, const char *fn, int which) {
  mal *m = ARG0;
  mal_lb b = {0};
  TC_LOCALS(m, b.head, b.tail);
  need(th, fn, m, T_MAP, "a map");
  for (uint32_t i = 0; i < m->len; i++)
    mal_lb_add(&b, ((mal_map *)m)->kv[2 * i + which]);
  return &mal_lb_done(&b)->h;
}

static mal *core_keys(mt *th, mal_list *args) { return map_half(th, args, "keys", 0); }
static mal *core_vals(mt *th, mal_list *args) { return map_half(th, args, "vals", 1); }

/* ------------------------------------------------------------- extras */

static mal *core_time_ms(mt *th, mal_list *args) {
  (void)th;
  (void)args;
  return mal_int_new(tc_now() / 1000000);
}

static mal *core_gc(mt *th, mal_list *args) {
  (void)th;
  (void)args;
  tc_gc();
  return MAL_NIL;
}

/* {:cycles n :heap-live bytes :heap-marked bytes :total-alloc bytes} */
static mal *core_gc_stats(mt *th, mal_list *args) {
  (void)th;
  (void)args;
  tc_stats *s = malloc(sizeof *s); /* big (pause ring): not on the stack */
  if (s == NULL)
    mal_oom(sizeof *s);
  tc_read_stats(s);
  int64_t vals[] = {(int64_t)s->cycles, (int64_t)s->heap_live,
                    (int64_t)s->heap_marked, (int64_t)s->total_alloc};
  free(s);
  static const char *const names[] = {"cycles", "heap-live", "heap-marked",
                                      "total-alloc"};
  mal_map *m = NULL;
  mal *k = NULL, *v = NULL;
  TC_LOCALS(m, k, v);
  m = mal_map_new(4);
  for (int i = 0; i < 4; i++) {
    k = mal_keyword(names[i], strlen(names[i]));
    v = mal_int_new(vals[i]);
    mal_map_put(m, k, v);
  }
  return &m->h;
}

/* ------------------------------------------------------------- table */

static const struct {
  const char *name;
  mal_builtin_fn fn;
  int min, max;
} builtins[] = {
    {"+", core_add, 0, -1},
    {"-", core_sub, 1, -1},
    {"*", core_mul, 0, -1},
    {"/", core_div, 2, -1},
    {"<", core_lt, 2, 2},
    {"<=", core_le, 2, 2},
    {">", core_gt, 2, 2},
    {">=", core_ge, 2, 2},
    {"=", core_eq, 2, 2},
    {"list", core_list, 0, -1},
    {"list?", core_is_list, 1, 1},
    {"vector", core_vector, 0, -1},
    {"vector?", core_is_vector, 1, 1},
    {"map?", core_is_map, 1, 1},
    {"sequential?", core_is_sequential, 1, 1},
    {"nil?", core_is_nil, 1, 1},
    {"true?", core_is_true, 1, 1},
    {"false?", core_is_false, 1, 1},
    {"symbol?", core_is_symbol, 1, 1},
    {"keyword?", core_is_keyword, 1, 1},
    {"string?", core_is_string, 1, 1},
    {"number?", core_is_number, 1, 1},
    {"fn?", core_is_fn, 1, 1},
    {"macro?", core_is_macro, 1, 1},
    {"atom?", core_is_atom, 1, 1},
    {"empty?", core_is_empty, 1, 1},
    {"count", core_count, 1, 1},
    {"cons", core_cons, 2, 2},
    {"concat", core_concat, 0, -1},
    {"vec", core_vec, 1, 1},
    {"nth", core_nth, 2, 2},
    {"first", core_first, 1, 1},
    {"rest", core_rest, 1, 1},
    {"apply", core_apply, 2, -1},
    {"map", core_map, 2, 2},
    {"pr-str", core_pr_str, 0, -1},
    {"str", core_str, 0, -1},
    {"prn", core_prn, 0, -1},
    {"println", core_println, 0, -1},
    {"read-string", core_read_string, 1, 1},
    {"slurp", core_slurp, 1, 1},
    {"eval", core_eval, 1, 1},
    {"throw", core_throw, 1, 1},
    {"symbol", core_symbol, 1, 1},
    {"keyword", core_keyword, 1, 1},
    {"atom", core_atom, 1, 1},
    {"deref", core_deref, 1, 1},
    {"reset!", core_reset, 2, 2},
    {"swap!", core_swap, 2, -1},
    {"hash-map", core_hash_map, 0, -1},
    {"assoc", core_assoc, 1, -1},
    {"dissoc", core_dissoc, 1, -1},
    {"get", core_get, 2, 2},
    {"contains?", core_contains, 2, 2},
    {"keys", core_keys, 1, 1},
    {"vals", core_vals, 1, 1},
    {"time-ms", core_time_ms, 0, 0},
    {"gc", core_gc, 0, 0},
    {"gc-stats", core_gc_stats, 0, 0},
};

static const char *const prelude[] = {
    "(def! *host-language* \"c-tricolor\")",
    "(def! not (fn* (a) (if a false true)))",
    "(def! load-file (fn* (f) (eval (read-string (str \"(do \" (slurp f) "
    "\"\\nnil)\")))))",
    "(defmacro! cond (fn* (& xs) (if (> (count xs) 0) (list 'if (first xs) "
    "(if (> (count xs) 1) (nth xs 1) (throw \"odd number of forms to cond\")) "
    "(cons 'cond (rest (rest xs)))))))",
};

void mal_def_builtin(mal_env *env, const char *name, mal_builtin_fn fn,
                     int min_args, int max_args) {
  mal_builtin *b = NULL;
  mal *sym = NULL;
  TC_LOCALS(env, b, sym);
  b = mal_alloc(NULL, sizeof *b, T_BUILTIN); /* no references: noscan */
  b->fn = fn;
  b->name = name;
  b->min_args = (int16_t)min_args;
  b->max_args = (int16_t)max_args;
  sym = mal_symbol(name, strlen(name));
  mal_env_set(env, sym, &b->h);
}

/* Defines the core namespace in env and evaluates the prelude.  Runs with
 * th's handler installed: an error in the prelude is a bug and reaches
 * the caller's handler. */
void mal_core_init(mt *th, mal_env *env) {
  TC_LOCALS(env);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    mal_def_builtin(env, builtins[i].name, builtins[i].fn, builtins[i].min,
                    builtins[i].max);
  mal *form = NULL;
  TC_LOCALS(form);
  for (size_t i = 0; i < sizeof prelude / sizeof prelude[0]; i++) {
    form = mal_read(th, prelude[i], strlen(prelude[i]));
    mal_eval(th, form, env);
  }
}
