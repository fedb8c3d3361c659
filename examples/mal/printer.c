/*
 * printer.c -- values to text (pr-str, str, prn, println, the REPL).
 *
 * The printer appends to a malloc'd C buffer (mal_buf) and never touches
 * the tricolor allocator, so it is not a safepoint: the value being
 * printed cannot be collected under it and needs no roots here, and it
 * never throws, so the buffer cannot leak through a longjmp.  The callers
 * that want a Lisp string (mal_pr_str) allocate one at the end.
 *
 * Readably (pr-str, prn, the REPL) strings are quoted with \\, \" and \n
 * escaped; otherwise (str, println) their bytes are copied as they are.
 *
 * Rejected: printing through a Lisp string builder on the heap.  It would
 * make every append a safepoint and the printer recursive in rooted
 * frames, for nothing: the text is C data until it is finished.
 */
#include "mal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void mal_buf_put(mal_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
      mal_oom(cap);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void put(mal_buf *b, const char *s) { mal_buf_put(b, s, strlen(s)); }

void mal_buf_free(mal_buf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static void pr_string(mal_buf *b, const mal *v, bool readably) {
  const char *s = mal_chars(v);
  if (!readably) {
    mal_buf_put(b, s, v->len);
    return;
  }
  put(b, "\"");
  for (uint32_t i = 0; i < v->len; i++) {
    switch (s[i]) {
    case '"':
      put(b, "\\\"");
      break;
    case '\\':
      put(b, "\\\\");
      break;
    case '\n':
      put(b, "\\n");
      break;
    default:
      mal_buf_put(b, &s[i], 1);
    }
  }
  put(b, "\"");
}

void mal_pr(mal_buf *b, const mal *v, bool readably) {
  char num[32];
  switch (v->tag) {
  case T_NIL:
    put(b, "nil");
    break;
  case T_TRUE:
    put(b, "true");
    break;
  case T_FALSE:
    put(b, "false");
    break;
  case T_INT:
    snprintf(num, sizeof num, "%" PRId64, mal_int_val(v));
    put(b, num);
    break;
  case T_STR:
    pr_string(b, v, readably);
    break;
  case T_SYM:
    mal_buf_put(b, mal_chars(v), v->len);
    break;
  case T_KW:
    put(b, ":");
    mal_buf_put(b, mal_chars(v), v->len);
    break;
  case T_LIST: {
    put(b, "(");
    for (const mal_list *l = (const mal_list *)v; l->h.len; l = l->cdr) {
      mal_pr(b, l->car, readably);
      if (l->h.len > 1)
        put(b, " ");
    }
    put(b, ")");
    break;
  }
  case T_VEC: {
    const mal_vec *x = (const mal_vec *)v;
    put(b, "[");
    for (uint32_t i = 0; i < x->h.len; i++) {
      if (i)
        put(b, " ");
      mal_pr(b, x->items[i], readably);
    }
    put(b, "]");
    break;
  }
  case T_MAP: {
    const mal_map *m = (const mal_map *)v;
    put(b, "{");
    for (uint32_t i = 0; i < m->h.len; i++) {
      if (i)
        put(b, " ");
      mal_pr(b, m->kv[2 * i], readably);
      put(b, " ");
      mal_pr(b, m->kv[2 * i + 1], readably);
    }
    put(b, "}");
    break;
  }
  case T_BUILTIN:
    put(b, "#<builtin ");
    put(b, ((const mal_builtin *)v)->name);
    put(b, ">");
    break;
  case T_FN:
    put(b, v->flags & F_MACRO ? "#<macro>" : "#<function>");
    break;
  case T_ATOM:
    put(b, "(atom ");
    mal_pr(b, ((const mal_atom *)v)->val, readably);
    put(b, ")");
    break;
  case T_CHAN:
    put(b, "#<chan>");
    break;
  case T_ENV:
    put(b, "#<env>");
    break;
  default:
    snprintf(num, sizeof num, "#<tag %d>", v->tag);
    put(b, num);
  }
}

mal *mal_pr_str(const mal *v, bool readably) {
  mal_buf b = {0};
  mal_pr(&b, v, readably);
  /* v is not needed after this point, so the allocation may collect it */
  mal *s = mal_str_new(T_STR, b.p, b.n);
  mal_buf_free(&b);
  return s;
}

void mal_print(FILE *f, const mal *v, bool readably) {
  mal_buf b = {0};
  mal_pr(&b, v, readably);
  fwrite(b.p, 1, b.n, f);
  mal_buf_free(&b);
}
