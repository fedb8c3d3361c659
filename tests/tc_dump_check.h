/*
 * tc_dump_check.h -- reading the coroutine dump (sched/traceback.c) in
 * tests: tc_dump_coroutines, the SIGQUIT dump and the deadlock report
 * print the same entries,
 *     coroutine <id> [<status or wait reason>]: <fn>(), created by ...
 *     	#0  0x... in <frame>+0x...
 *     	...
 *     (blank line)
 *
 *   dump_entry(out, id, buf, len)
 *       Copies coroutine id's entry (header and frame lines, up to the
 *       blank line) from out into buf; NULL if out has none.
 *   dump_has_frame(entry, fn)
 *       True if a frame line of the entry names function fn.
 *   dump_capture(buf, len)
 *       Runs tc_dump_coroutines into buf (truncated, NUL-terminated);
 *       returns its result.  From a coroutine or any thread.
 *   dump_wait_parked(ids, n)
 *       Dumps until coroutines ids[0..n) are all waiting (a wait reason in
 *       the bracket, not runnable/running/syscall); false after ~20 s.
 *       Coroutine (it sleeps between tries).
 * Include after tc_test.h.
 */
#ifndef TC_DUMP_CHECK_H
#define TC_DUMP_CHECK_H

#include "tc_test.h"

static TC_TEST_UNUSED const char *dump_entry(const char *out,
                                             unsigned long long id,
                                             char *buf, size_t len) {
  char head[64];
  int hn = snprintf(head, sizeof head, "coroutine %llu [", id);
  for (const char *p = out; p && *p;) {
    if ((p == out || p[-1] == '\n') && strncmp(p, head, (size_t)hn) == 0) {
      const char *end = strstr(p, "\n\n");
      size_t n = end ? (size_t)(end - p) : strlen(p);
      if (n >= len)
        n = len - 1;
      memcpy(buf, p, n);
      buf[n] = '\0';
      return buf;
    }
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return NULL;
}

static TC_TEST_UNUSED bool dump_has_frame(const char *entry, const char *fn) {
  char want[160];
  snprintf(want, sizeof want, " in %s+0x", fn);
  for (const char *p = entry; (p = strstr(p, want)) != NULL; p++) {
    const char *bol = p;
    while (bol > entry && bol[-1] != '\n')
      bol--;
    if (bol[0] == '\t' && bol[1] == '#')
      return true;
  }
  return false;
}

static TC_TEST_UNUSED int dump_capture(char *buf, size_t len) {
  FILE *f = fmemopen(buf, len, "w");
  if (f == NULL)
    return TC_ENOMEM;
  setvbuf(f, NULL, _IONBF, 0);
  int rc = tc_dump_coroutines(f);
  fclose(f);
  buf[len - 1] = '\0';
  return rc;
}

static TC_TEST_UNUSED bool dump_wait_parked(const unsigned long long *ids,
                                            int n) {
  static char out[64 * 1024];
  char entry[4096];
  for (int tries = 0; tries < 20000; tries++) {
    memset(out, 0, sizeof out);
    if (dump_capture(out, sizeof out) != TC_OK)
      return false;
    int parked = 0;
    for (int i = 0; i < n; i++) {
      if (dump_entry(out, ids[i], entry, sizeof entry) == NULL)
        break;
      const char *b = strchr(entry, '[');
      if (strncmp(b, "[runnable]", 10) == 0 ||
          strncmp(b, "[running]", 9) == 0 ||
          strncmp(b, "[syscall]", 9) == 0)
        break;
      parked++;
    }
    if (parked == n)
      return true;
    tc_sleep(1000000); /* 1 ms */
  }
  return false;
}

#endif /* TC_DUMP_CHECK_H */
