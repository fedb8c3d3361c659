/*
 * base/base.c -- the failure path, the other messages on stderr, and the
 * TRICOLOR_DEBUG settings: what every module needs and no module owns.
 *
 * Messages (tc__fatal, tc__warn, tc__print):
 *   1. format into a 1 KiB stack buffer (the prefix, then the message,
 *      truncated to fit), and end it with a newline;
 *   2. write it to fd 2 with one write(2), unbuffered;
 *   3. tc__fatal then aborts.
 * They never allocate and take no lock, so they work from any thread, with
 * the heap lock held, inside a pause or on a corrupt heap (HACKING.md,
 * "Where allocation is forbidden").  One write(2) per line keeps lines from
 * several threads whole as far as the kernel does (a pipe: under PIPE_BUF).
 * Rejected: stdio (it locks and may allocate its buffer on first use).
 *
 * Settings: tc_init zeroes tc__debug_settings and parses TRICOLOR_DEBUG
 * into it before it starts any thread; afterwards the settings are only
 * read, so plain loads suffice.  Values are integers, but for barrier
 * and markorder (names) and memprofile (a path, which cannot hold a
 * comma).  An unknown key or a malformed entry warns and is skipped: a
 * typo must not stop the program it was meant to debug.
 *
 * The gdb extension (scripts/tricolor-gdb.py: info coroutines, coroutine
 * N bt, tricolor stats, tricolor spans) rides along inline in a
 * .debug_gdb_scripts section (gdb's "script text entry": a 4, the
 * script's name on the first line, its text, a NUL), so gdb loads it with
 * the library's symbols, once auto-loading is allowed for the library
 * (docs/debugging.md says how).  Here because every program that links
 * tricolor, statically too, links this file.  Rejected: a file entry (a 1
 * and a path, Go's way), since the path differs between the build tree
 * and an install; a libtricolor.so.*-gdb.py beside the library, which a
 * static link loses.  The section is not loaded into memory (no
 * SHF_ALLOC) and `strip --strip-debug` removes it with the debug
 * information.
 *
 * Thread names (tc__thread_name): every thread tricolor starts names
 * itself "tricolor-..." so that a thread list (gdb, top, a test that
 * counts /proc/self/task) tells them apart from the program's own.
 */
#define _GNU_SOURCE 1 /* pthread_setname_np */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

tc__debug tc__debug_settings;

/* ---- the gdb extension ---- */
#if defined(TC_GDB_SCRIPT) /* CMake passes the script's path */
__asm__(".pushsection .debug_gdb_scripts, \"MS\", %progbits, 1\n"
        ".byte 4\n" /* SECTION_SCRIPT_ID_PYTHON_TEXT */
        ".ascii \"tricolor-gdb.py\\n\"\n"
        ".incbin \"" TC_GDB_SCRIPT "\"\n"
        ".byte 0\n"
        ".popsection\n");
#endif

/* ---- messages ---- */

static void vprint(const char *prefix, const char *fmt, va_list ap) {
  char buf[1024];
  int n = 0;
  if (prefix)
    n = snprintf(buf, sizeof buf, "%s", prefix);
  int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
  if (m < 0)
    m = 0;
  size_t len = (size_t)n + (size_t)m;
  if (len > sizeof buf - 2)
    len = sizeof buf - 2;
  buf[len++] = '\n';
  ssize_t w = write(2, buf, len);
  (void)w;
}

void tc__fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint("tricolor: ", fmt, ap);
  va_end(ap);
  abort();
}

void tc__warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint("tricolor: ", fmt, ap);
  va_end(ap);
}

void tc__print(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprint(NULL, fmt, ap);
  va_end(ap);
}

void tc__thread_name(const char *fmt, ...) {
  char name[16]; /* the kernel's limit, NUL included */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  pthread_setname_np(pthread_self(), name);
}

/* ---- settings ---- */

void tc__debug_delay(int us) {
  if (us <= 0)
    return;
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

void tc__debug_parse(tc__debug *d, const char *s) {
  while (s && *s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    const char *eq = memchr(s, '=', len);
    if (eq) {
      size_t klen = (size_t)(eq - s);
      int val = atoi(eq + 1);
      if (klen == 7 && !strncmp(s, "barrier", 7)) {
        const char *v = eq + 1;
        size_t vlen = len - klen - 1;
        static const char *const names[] = {"hybrid", "insertion",
                                            "deletion", "stw"};
        d->barrier = -1;
        for (int i = 0; i < 4; i++)
          if (strlen(names[i]) == vlen && !strncmp(v, names[i], vlen))
            d->barrier = TC_BARRIER_HYBRID + i;
        if (vlen == 4 && !strncmp(v, "none", 4))
          d->barrier = TC__BARRIER_NONE;
        if (d->barrier < 0) {
          tc__warn("TRICOLOR_DEBUG: barrier='%.*s' is not hybrid, insertion, "
                   "deletion or stw; using hybrid", (int)vlen, v);
          d->barrier = 0;
        }
      } else if (klen == 9 && !strncmp(s, "markorder", 9)) {
        const char *v = eq + 1;
        size_t vlen = len - klen - 1;
        if (vlen == 6 && !strncmp(v, "object", 6)) {
          d->markorder = TC__MARKORDER_OBJECT;
        } else if (vlen == 4 && !strncmp(v, "span", 4)) {
          d->markorder = TC__MARKORDER_SPAN;
        } else {
          tc__warn("TRICOLOR_DEBUG: markorder='%.*s' is not object or span; "
                   "using object", (int)vlen, v);
          d->markorder = TC__MARKORDER_OBJECT;
        }
      } else if (klen == 12 && !strncmp(s, "markorderbug", 12))
        d->markorderbug = val;
      else if (klen == 11 && !strncmp(s, "gccheckmark", 11))
        d->gccheckmark = val;
      else if (klen == 13 && !strncmp(s, "gcforceperiod", 13))
        d->gcforceperiod = val;
      else if (klen == 11 && !strncmp(s, "gcmarkdelay", 11))
        d->gcmarkdelay = val;
      else if (klen == 10 && !strncmp(s, "shadedelay", 10))
        d->shadedelay = val;
      else if (klen == 11 && !strncmp(s, "noweakshade", 11))
        d->noweakshade = val;
      else if (klen == 10 && !strncmp(s, "markthread", 10))
        d->markthread = val;
      else if (klen == 11 && !strncmp(s, "retakedelay", 11))
        d->retakedelay = val;
      else if (klen == 10 && !strncmp(s, "timerdelay", 10))
        d->timerdelay = val;
      else if (klen == 9 && !strncmp(s, "idledelay", 9))
        d->idledelay = val;
      else if (klen == 10 && !strncmp(s, "checkdelay", 10))
        d->checkdelay = val;
      else if (klen == 7 && !strncmp(s, "gctrace", 7))
        d->gctrace = val;
      else if (klen == 11 && !strncmp(s, "checkstores", 11))
        d->checkstores = val;
      else if (klen == 8 && !strncmp(s, "gcstress", 8))
        d->gcstress = val;
      else if (klen == 10 && !strncmp(s, "schedtrace", 10))
        d->schedtrace = val;
      else if (klen == 11 && !strncmp(s, "scheddetail", 11))
        d->scheddetail = val;
      else if (klen == 14 && !strncmp(s, "memprofilerate", 14)) {
        d->memprofilerate = val < 0 ? 0 : val;
        d->has_memprofilerate = 1;
      } else if (klen == 10 && !strncmp(s, "memprofile", 10)) {
        /* a path, not an integer: up to the next comma */
        size_t vlen = len - klen - 1;
        if (vlen >= sizeof d->memprofile)
          tc__warn("TRICOLOR_DEBUG: memprofile path longer than %zu bytes; "
                   "ignored", sizeof d->memprofile - 1);
        else
          snprintf(d->memprofile, sizeof d->memprofile, "%.*s", (int)vlen,
                   eq + 1);
      } else if (klen == 7 && !strncmp(s, "wbcheck", 7))
        d->wbcheck = val;
      else
        tc__warn("TRICOLOR_DEBUG: unknown setting '%.*s'", (int)klen, s);
    } else if (len) {
      tc__warn("TRICOLOR_DEBUG: '%.*s' is not key=value", (int)len, s);
    }
    s = end ? end + 1 : NULL;
  }
}
