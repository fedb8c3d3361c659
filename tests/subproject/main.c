/* main.c -- the subproject test's embedder: one object survives a
 * collection while it is a local.  Uses only <tricolor.h>. */
#include <tricolor.h>

#include <stdio.h>

static int check(void) {
  void *p = tc_alloc_noscan(64);
  TC_LOCALS(p);
  tc_gc();
  return p != NULL && tc_is_object(p);
}

int main(void) {
  if (tc_init(NULL) != TC_OK)
    return 1;
  int ok = check();
  tc_shutdown();
  puts(ok ? "embedder: ok" : "embedder: object lost");
  return ok ? 0 : 1;
}
