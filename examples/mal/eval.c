/*
 * eval.c -- EVAL with tail calls, the special forms, quasiquote, function
 * application and exceptions (MAL steps 2-9).
 *
 * EVAL (mal_eval) is one loop, as in the MAL guide:
 *   1. If DEBUG-EVAL was ever bound and is true in env, print the form.
 *   2. A symbol is looked up; a vector or map evaluates its elements;
 *      other atoms and () are themselves.
 *   3. A list whose head is a special-form symbol runs that form.  Forms
 *      in tail position (let*, do, if, quasiquote, the body of a closure,
 *      a macro's expansion) replace ast/env and loop instead of
 *      recursing, so tail calls use no C stack.
 *   4. Otherwise the head is evaluated: a macro is applied to the
 *      unevaluated arguments and the result is evaluated in its place; a
 *      function gets a freshly built list of evaluated arguments.
 *
 * Roots.  ast, env and every intermediate value live in the TC_LOCALS
 * frame of the current mal_eval call; a value is fetched from a rooted
 * list again after each call that may allocate rather than held in a C
 * temporary.  The frame is re-used by every iteration of the loop, which
 * is why a tail call costs no root-stack space either.
 *
 * Exceptions (throw, errors raised by C code).  mal_throw puts the value
 * in th->exc, a slot of the coroutine's root frame, and longjmps to
 * *th->handler.  try* (eval_try) and the top levels install a handler:
 *   mark = tc_roots_save(); if (setjmp(jb) == 0) { handler = &jb; ... }
 *   else { handler = saved; tc_roots_unwind(mark); v = th->exc; ... }
 * The longjmp skips the cleanup of every TC_LOCALS frame between the
 * throw and the handler; tc_roots_unwind pops them in one step.  The
 * thrown value is never unrooted: the thrower's frames hold it until the
 * longjmp, th->exc afterwards.  Code between a setjmp and a longjmp holds
 * no malloc'd memory, so nothing leaks.
 *
 * Stack depth.  Non-tail recursion in Lisp is C recursion here.  Every
 * mal_eval compares its frame address with th->stack_limit (the coroutine
 * stack minus MAL_STACK_MARGIN) and throws "stack overflow" instead of
 * running into the guard page.
 *
 * Rejected: a separate macroexpand pass before evaluation (older MAL
 * steps); expanding when the evaluated head turns out to be a macro gives
 * the same results with one lookup, and DEBUG-EVAL shows each expansion.
 */
#include "mal.h"

#include <stdarg.h>
#include <string.h>

/* ---------------------------------------------------------- throwing */

_Noreturn void mal_throw(mt *th, mal *v) {
  th->exc = v; /* a root of the coroutine's entry frame */
  longjmp(*th->handler, 1);
}

_Noreturn void mal_error(mt *th, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mal_throw(th, mal_string(msg));
}

const char *mal_type_name(const mal *v) {
  static const char *const names[] = {
      [T_NIL] = "nil",         [T_TRUE] = "boolean",  [T_FALSE] = "boolean",
      [T_INT] = "number",      [T_STR] = "string",    [T_SYM] = "symbol",
      [T_KW] = "keyword",      [T_LIST] = "list",     [T_VEC] = "vector",
      [T_MAP] = "map",         [T_BUILTIN] = "function", [T_FN] = "function",
      [T_ATOM] = "atom",       [T_ENV] = "environment", [T_CHAN] = "channel",
  };
  if (v->tag == T_FN && (v->flags & F_MACRO))
    return "macro";
  return v->tag < sizeof names / sizeof names[0] && names[v->tag]
             ? names[v->tag]
             : "?";
}

const char *mal_describe(const mal *v, char *buf, size_t size) {
  mal_buf b = {0};
  mal_pr(&b, v, true);
  if (b.n >= size && size > 4)
    memcpy(b.p + size - 4, "...", 4);
  snprintf(buf, size, "%s", b.p);
  mal_buf_free(&b);
  return buf;
}

/* ----------------------------------------------------------- helpers */

static mal *nth_form(mt *th, mal_list *l, uint32_t i, const char *form) {
  if (i >= l->h.len)
    mal_error(th, "%s: missing argument %u", form, i);
  return mal_seq_nth(&l->h, i);
}

static mal *need_symbol(mt *th, mal *x, const char *form) {
  if (x->tag != T_SYM) {
    char d[64];
    mal_error(th, "%s: expected a symbol, got %s", form,
              mal_describe(x, d, sizeof d));
  }
  return x;
}

/* Evaluates each element of a list into a new list. */
static mal_list *eval_list(mt *th, mal_list *l, mal_env *env) {
  mal_lb b = {0};
  mal *x = NULL;
  TC_LOCALS(l, env, b.head, b.tail, x);
  for (; l->h.len; l = l->cdr) {
    x = mal_eval(th, l->car, env);
    mal_lb_add(&b, x);
  }
  return mal_lb_done(&b);
}

static mal *eval_vec(mt *th, mal_vec *v, mal_env *env) {
  mal_vec *r = NULL;
  mal *x = NULL;
  TC_LOCALS(v, env, r, x);
  r = mal_vec_new(v->h.len);
  for (uint32_t i = 0; i < v->h.len; i++) {
    x = mal_eval(th, v->items[i], env);
    tc_store((void **)&r->items[i], x);
  }
  return &r->h;
}

/* Keys are not evaluated (they are literals); values are. */
static mal *eval_map(mt *th, mal_map *m, mal_env *env) {
  mal_map *r = NULL;
  mal *x = NULL;
  TC_LOCALS(m, env, r, x);
  r = mal_map_copy(m, 0);
  for (uint32_t i = 0; i < r->h.len; i++) {
    x = mal_eval(th, r->kv[2 * i + 1], env);
    tc_store((void **)&r->kv[2 * i + 1], x);
  }
  return &r->h;
}

static uint32_t seq_len(const mal *s) { return s->len; }

/*
 * Returns a new environment for calling f with args: params bound to
 * arguments, `& rest` to the remaining list (shared, not copied: lists are
 * immutable).  One allocation.
 */
static mal_env *bind_args(mt *th, mal_fn *f, mal_list *args) {
  mal_env *e = NULL;
  TC_LOCALS(f, args, e);
  uint32_t np = seq_len(f->params);
  e = mal_env_new(f->env, np);
  mal_list *a = args; /* a suffix of args: kept alive by it */
  for (uint32_t i = 0; i < np; i++) {
    mal *p = mal_seq_nth(f->params, i);
    if (p == mal_sym[S_AMP]) {
      if (i + 1 >= np)
        mal_error(th, "fn*: '&' must be followed by a parameter");
      mal_env_bind(e, mal_seq_nth(f->params, i + 1), &a->h);
      return e;
    }
    if (a->h.len == 0)
      mal_error(th, "too few arguments: %u given, %u expected",
                args->h.len, np);
    mal_env_bind(e, p, a->car);
    a = a->cdr;
  }
  if (a->h.len != 0)
    mal_error(th, "too many arguments: %u given, %u expected", args->h.len,
              np);
  return e;
}

static mal *call_builtin(mt *th, mal_builtin *b, mal_list *args) {
  uint32_t n = args->h.len;
  if ((int)n < b->min_args || (b->max_args >= 0 && (int)n > b->max_args)) {
    if (b->min_args == b->max_args)
      mal_error(th, "%s: expected %d argument%s, got %u", b->name,
                b->min_args, b->min_args == 1 ? "" : "s", n);
    if (b->max_args < 0)
      mal_error(th, "%s: expected at least %d argument%s, got %u", b->name,
                b->min_args, b->min_args == 1 ? "" : "s", n);
    mal_error(th, "%s: expected %d to %d arguments, got %u", b->name,
              b->min_args, b->max_args, n);
  }
  return b->fn(th, args);
}

_Noreturn static void not_callable(mt *th, mal *f) {
  char d[64];
  mal_error(th, "cannot call %s %s", mal_type_name(f),
            mal_describe(f, d, sizeof d));
}

mal *mal_apply(mt *th, mal *f, mal_list *args) {
  if (f->tag == T_BUILTIN)
    return call_builtin(th, (mal_builtin *)f, args);
  if (f->tag != T_FN)
    not_callable(th, f);
  mal_env *e = NULL;
  TC_LOCALS(f, args, e);
  e = bind_args(th, (mal_fn *)f, args);
  return mal_eval(th, ((mal_fn *)f)->body, e);
}

/* --------------------------------------------------------- quasiquote */

static mal *qq(mt *th, mal *ast);

static bool starts_with(const mal *x, int sym) {
  return x->tag == T_LIST && x->len >= 2 &&
         ((const mal_list *)x)->car == mal_sym[sym];
}

/* (cons a (cons b ... ())) with (concat x ...) for splice-unquote. */
static mal *qq_foldr(mt *th, mal *seq) {
  mal_vec *v = NULL;
  mal *acc = NULL, *x = NULL;
  TC_LOCALS(seq, v, acc, x);
  v = mal_vec_from_seq(seq);
  acc = &MAL_EMPTY->h;
  for (uint32_t i = v->h.len; i-- > 0;) {
    x = v->items[i];
    if (starts_with(x, S_SPLICE_UNQUOTE)) {
      x = mal_seq_nth(x, 1);
      acc = &mal_list3(mal_sym[S_CONCAT], x, acc)->h;
    } else {
      x = qq(th, x);
      acc = &mal_list3(mal_sym[S_CONS], x, acc)->h;
    }
  }
  return acc;
}

static mal *qq(mt *th, mal *ast) {
  mal *x = NULL;
  TC_LOCALS(ast, x);
  switch (ast->tag) {
  case T_LIST:
    if (starts_with(ast, S_UNQUOTE))
      return mal_seq_nth(ast, 1);
    return qq_foldr(th, ast);
  case T_VEC:
    x = qq_foldr(th, ast);
    return &mal_list2(mal_sym[S_VEC], x)->h;
  case T_MAP:
  case T_SYM:
    return &mal_list2(mal_sym[S_QUOTE], ast)->h;
  default:
    return ast;
  }
}

/* -------------------------------------------------------------- try* */

/* (try* expr (catch* sym handler)).  Not a tail position for expr: the
 * handler must stay installed while it runs. */
static mal *eval_try(mt *th, mal_list *l, mal_env *env) {
  mal *v = NULL, *clause = NULL;
  mal_env *cenv = NULL;
  TC_LOCALS(l, env, v, clause, cenv);
  if (l->h.len < 3)
    return mal_eval(th, nth_form(th, l, 1, "try*"), env);
  clause = mal_seq_nth(&l->h, 2);
  if (clause->tag != T_LIST || clause->len != 3 ||
      ((mal_list *)clause)->car != mal_sym[S_CATCH])
    mal_error(th, "try*: expected (catch* symbol form)");
  need_symbol(th, mal_seq_nth(clause, 1), "catch*");

  jmp_buf jb;
  jmp_buf *volatile saved = th->handler;
  volatile tc_roots_mark mark = tc_roots_save(); /* read after longjmp */
  if (setjmp(jb) == 0) {
    th->handler = &jb;
    v = mal_eval(th, mal_seq_nth(&l->h, 1), env);
    th->handler = saved;
    return v;
  }
  /* Landed from a throw: drop the frames it skipped, then take the value
   * out of th->exc (no safepoint in between). */
  th->handler = saved;
  tc_roots_unwind(mark);
  v = th->exc;
  th->exc = NULL;
  cenv = mal_env_new(env, 1);
  mal_env_bind(cenv, mal_seq_nth(clause, 1), v);
  return mal_eval(th, mal_seq_nth(clause, 2), cenv);
}

/* ------------------------------------------------------------ EVAL */

static void debug_eval(mal *ast, mal_env *env) {
  mal *d = mal_env_get(env, mal_sym[S_DEBUG_EVAL]);
  if (d == NULL || !mal_truthy(d))
    return;
  mal_buf b = {0};
  mal_buf_put(&b, "EVAL: ", 6);
  mal_pr(&b, ast, true);
  mal_buf_put(&b, "\n", 1);
  fwrite(b.p, 1, b.n, stdout);
  mal_buf_free(&b);
}

mal *mal_eval(mt *th, mal *ast, mal_env *env) {
  mal *f = NULL, *x = NULL;
  mal_list *l = NULL, *args = NULL;
  mal_env *e2 = NULL;
  TC_LOCALS(ast, env, f, x, l, args, e2);
  if ((char *)__builtin_frame_address(0) < th->stack_limit)
    mal_error(th, "stack overflow: eval nested too deeply");

  for (;;) {
    mal_gil_tick(th);
    if (mal_debug_eval_bound)
      debug_eval(ast, env);
    switch (ast->tag) {
    case T_SYM:
      x = mal_env_get(env, ast);
      if (x == NULL)
        mal_error(th, "'%s' not found", mal_chars(ast));
      return x;
    case T_VEC:
      return eval_vec(th, (mal_vec *)ast, env);
    case T_MAP:
      return eval_map(th, (mal_map *)ast, env);
    case T_LIST:
      break;
    default:
      return ast;
    }
    l = (mal_list *)ast;
    if (l->h.len == 0)
      return ast;

    x = l->car;
    if (x->tag == T_SYM && (x->flags & F_SPECIAL)) {
      switch (x->aux) {
      case SF_DEF: /* (def! sym expr) */
        need_symbol(th, nth_form(th, l, 1, "def!"), "def!");
        x = mal_eval(th, nth_form(th, l, 2, "def!"), env);
        mal_env_set(env, mal_seq_nth(&l->h, 1), x);
        return x;

      case SF_LET: { /* (let* (sym expr ...) body) */
        f = nth_form(th, l, 1, "let*");
        if (!mal_is_seq(f) || f->len % 2)
          mal_error(th, "let*: expected an even list of bindings");
        e2 = mal_env_new(env, f->len / 2);
        for (uint32_t i = 0; i < f->len; i += 2) {
          need_symbol(th, mal_seq_nth(f, i), "let*");
          x = mal_eval(th, mal_seq_nth(f, i + 1), e2);
          /* set, not bind: the init form may have def!'d into e2 */
          mal_env_set(e2, mal_seq_nth(f, i), x);
        }
        ast = nth_form(th, l, 2, "let*");
        env = e2;
        continue;
      }

      case SF_DO: /* (do expr ... last): last in tail position */
        if (l->h.len == 1)
          return MAL_NIL;
        for (args = l->cdr; args->h.len > 1; args = args->cdr)
          mal_eval(th, args->car, env);
        ast = args->car;
        continue;

      case SF_IF: /* (if cond then else?) */
        x = mal_eval(th, nth_form(th, l, 1, "if"), env);
        if (mal_truthy(x))
          ast = nth_form(th, l, 2, "if");
        else if (l->h.len > 3)
          ast = mal_seq_nth(&l->h, 3);
        else
          return MAL_NIL;
        continue;

      case SF_FN: { /* (fn* params body) */
        f = nth_form(th, l, 1, "fn*");
        if (!mal_is_seq(f))
          mal_error(th, "fn*: expected a parameter list");
        for (uint32_t i = 0; i < f->len; i++)
          need_symbol(th, mal_seq_nth(f, i), "fn*");
        nth_form(th, l, 2, "fn*");
        mal_fn *fn = mal_alloc(&mal_fn_type, sizeof *fn, T_FN);
        TC_STORE(fn, params, f);
        TC_STORE(fn, body, mal_seq_nth(&l->h, 2));
        TC_STORE(fn, env, env);
        return &fn->h;
      }

      case SF_QUOTE:
        return nth_form(th, l, 1, "quote");

      case SF_QUASIQUOTE:
        ast = qq(th, nth_form(th, l, 1, "quasiquote"));
        continue;

      case SF_DEFMACRO: { /* (defmacro! sym fn) */
        need_symbol(th, nth_form(th, l, 1, "defmacro!"), "defmacro!");
        f = mal_eval(th, nth_form(th, l, 2, "defmacro!"), env);
        if (f->tag != T_FN)
          mal_error(th, "defmacro!: expected a function");
        mal_fn *m = mal_alloc(&mal_fn_type, sizeof *m, T_FN);
        m->h.flags = F_MACRO; /* a copy: the function itself stays one */
        TC_STORE(m, params, ((mal_fn *)f)->params);
        TC_STORE(m, body, ((mal_fn *)f)->body);
        TC_STORE(m, env, ((mal_fn *)f)->env);
        x = &m->h;
        mal_env_set(env, mal_seq_nth(&l->h, 1), x);
        return x;
      }

      case SF_TRY:
        return eval_try(th, l, env);
      }
    }

    /* Application. */
    f = mal_eval(th, l->car, env);
    if (f->tag == T_FN && (f->flags & F_MACRO)) {
      e2 = bind_args(th, (mal_fn *)f, l->cdr);
      ast = mal_eval(th, ((mal_fn *)f)->body, e2);
      continue;
    }
    args = eval_list(th, l->cdr, env);
    if (f->tag == T_BUILTIN)
      return call_builtin(th, (mal_builtin *)f, args);
    if (f->tag != T_FN)
      not_callable(th, f);
    env = bind_args(th, (mal_fn *)f, args);
    ast = ((mal_fn *)f)->body;
  }
}
