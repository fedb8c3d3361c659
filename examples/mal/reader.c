/*
 * reader.c -- the MAL reader: text to values.
 *
 * 1. The tokenizer follows MAL's token regex
 *      [\s,]*(~@|[\[\]{}()'`~^@]|"(?:\\.|[^\\"])*"?|;.*|[^\s\[\]{}('"`,;)]*)
 *    by hand: whitespace and commas separate, `;` comments run to the end
 *    of the line, strings run to the closing unescaped quote.
 * 2. read_form dispatches on the first character of the token: lists,
 *    vectors and maps recurse; the quote characters wrap the next form in
 *    (quote x), (quasiquote x), (unquote x), (splice-unquote x),
 *    (deref x); `^m x` reads as (with-meta x m); anything else is an atom.
 * 3. Sequences are built front to back with a list builder (mal_lb); a
 *    vector or a map is made from that list at the closing bracket.
 *
 * The text is never copied: the reader walks the caller's bytes, which are
 * either a C buffer (the REPL line) or the bytes of a heap string that the
 * caller keeps rooted (read-string, load-file).  tricolor does not move
 * objects, so a pointer into a rooted string stays valid across the
 * allocations the reader makes.
 *
 * Errors throw a Lisp string (mal_error): an unterminated string or
 * sequence says "unbalanced ... got EOF", which is what the MAL tests
 * match.  Every partial result is in a TC_LOCALS local, and nothing is
 * malloc'd, so a throw leaks nothing.
 */
#include "mal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
  const char *s;             /* the text, not NUL-terminated */
  size_t n;                  /* its length */
  size_t pos;                /* next byte to read */
} reader;

static bool is_sep(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v' || c == ',';
}

static bool is_delim(char c) {
  return is_sep(c) || strchr("[]{}()'\"`;", c) != NULL;
}

/* Skips separators and comments; returns false at the end of the text. */
static bool skip(reader *r) {
  while (r->pos < r->n) {
    char c = r->s[r->pos];
    if (is_sep(c)) {
      r->pos++;
    } else if (c == ';') {
      while (r->pos < r->n && r->s[r->pos] != '\n')
        r->pos++;
    } else {
      return true;
    }
  }
  return false;
}

static mal *read_form(mt *th, reader *r);

/* Reads forms up to `close`; the opening bracket is consumed. */
static mal_list *read_seq(mt *th, reader *r, char close) {
  mal_lb b = {0};
  mal *x = NULL;
  TC_LOCALS(b.head, b.tail, x);
  for (;;) {
    if (!skip(r))
      mal_error(th, "unbalanced input: expected '%c', got EOF", close);
    if (r->s[r->pos] == close) {
      r->pos++;
      return mal_lb_done(&b);
    }
    x = read_form(th, r);
    mal_lb_add(&b, x);
  }
}

/* Reads a string literal starting at the opening quote. */
static mal *read_string(mt *th, reader *r) {
  size_t start = ++r->pos, len = 0;
  /* Pass 1: find the end and the unescaped length. */
  size_t i = start;
  for (;; i++) {
    if (i >= r->n)
      mal_error(th, "unbalanced string: expected '\"', got EOF");
    if (r->s[i] == '"')
      break;
    if (r->s[i] == '\\') {
      if (++i >= r->n)
        mal_error(th, "unbalanced string: expected '\"', got EOF");
    }
    len++;
  }
  size_t end = i;
  /* Pass 2: unescape into a fresh string.  Allocate first, then write the
   * bytes: r->s stays valid, it is C memory or a rooted string. */
  mal_str *x = mal_alloc(NULL, sizeof(mal_str) + len + 1, T_STR);
  size_t k = 0;
  for (i = start; i < end; i++) {
    char c = r->s[i];
    if (c == '\\') {
      c = r->s[++i];
      if (c == 'n')
        c = '\n';
    }
    x->s[k++] = c;
  }
  x->s[k] = '\0';
  x->h.len = (uint32_t)k;
  x->hash = mal_hash_bytes(x->s, k);
  r->pos = end + 1;
  return &x->h;
}

static bool is_integer(const char *s, size_t n) {
  size_t i = (n > 1 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == n)
    return false;
  for (; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

static mal *read_atom(mt *th, reader *r) {
  size_t start = r->pos;
  while (r->pos < r->n && !is_delim(r->s[r->pos]))
    r->pos++;
  const char *s = r->s + start;
  size_t n = r->pos - start;
  if (n == 0)
    mal_error(th, "unexpected '%c'", r->s[start]);
  if (is_integer(s, n)) {
    char buf[32];
    if (n >= sizeof buf)
      mal_error(th, "integer literal too long: %.*s", (int)n, s);
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
      mal_error(th, "integer literal out of range: %s", buf);
    return mal_int_new(v);
  }
  if (n == 3 && memcmp(s, "nil", 3) == 0)
    return MAL_NIL;
  if (n == 4 && memcmp(s, "true", 4) == 0)
    return MAL_TRUE;
  if (n == 5 && memcmp(s, "false", 5) == 0)
    return MAL_FALSE;
  if (s[0] == ':')
    return mal_keyword(s + 1, n - 1);
  return mal_symbol(s, n);
}

/* (sym form) for the reader macros. */
static mal *wrap(mt *th, reader *r, int sym) {
  mal *x = read_form(th, r);
  return &mal_list2(mal_sym[sym], x)->h;
}

static mal *read_form(mt *th, reader *r) {
  mal *x = NULL, *y = NULL;
  mal_list *l = NULL;
  TC_LOCALS(x, y, l);
  if (!skip(r))
    mal_error(th, "unexpected EOF");
  char c = r->s[r->pos];
  switch (c) {
  case '(':
    r->pos++;
    return &read_seq(th, r, ')')->h;
  case '[':
    r->pos++;
    l = read_seq(th, r, ']');
    return &mal_vec_from_seq(&l->h)->h;
  case '{': {
    r->pos++;
    l = read_seq(th, r, '}');
    if (l->h.len % 2)
      mal_error(th, "a map literal needs an even number of forms");
    mal_map *m = mal_map_new(l->h.len / 2);
    for (; l->h.len; l = l->cdr->cdr)
      mal_map_put(m, l->car, l->cdr->car);
    return &m->h;
  }
  case ')':
  case ']':
  case '}':
    mal_error(th, "unbalanced input: unexpected '%c'", c);
  case '\'':
    r->pos++;
    return wrap(th, r, S_QUOTE);
  case '`':
    r->pos++;
    return wrap(th, r, S_QUASIQUOTE);
  case '~':
    r->pos++;
    if (r->pos < r->n && r->s[r->pos] == '@') {
      r->pos++;
      return wrap(th, r, S_SPLICE_UNQUOTE);
    }
    return wrap(th, r, S_UNQUOTE);
  case '@':
    r->pos++;
    return wrap(th, r, S_DEREF);
  case '^':
    r->pos++;
    y = read_form(th, r); /* the metadata */
    x = read_form(th, r);
    return &mal_list3(mal_sym[S_WITH_META], x, y)->h;
  case '"':
    return read_string(th, r);
  default:
    return read_atom(th, r);
  }
}

mal *mal_read(mt *th, const char *s, size_t n) {
  reader r = {s, n, 0};
  if (!skip(&r))
    return NULL;
  return read_form(th, &r);
}

mal_list *mal_read_all(mt *th, const char *s, size_t n) {
  reader r = {s, n, 0};
  mal_lb b = {0};
  mal *x = NULL;
  TC_LOCALS(b.head, b.tail, x);
  while (skip(&r)) {
    x = read_form(th, &r);
    mal_lb_add(&b, x);
  }
  return mal_lb_done(&b);
}
