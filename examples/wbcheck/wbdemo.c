/*
 * examples/wbcheck/wbdemo.c -- a reference stored without the write
 * barrier, and what TRICOLOR_DEBUG=wbcheck=1 says about it
 * (docs/debugging.md, "Missing-barrier finder").
 *
 * main stores `a` into p->first through TC_STORE, collects (the marker
 * snapshots p), then writes p->second with a plain assignment and
 * collects again: the second scan sees offset 16 change with no barrier.
 * Built with TC_WBCHECK, so TC_STORE tells the barrier its line, which
 * the report names as the last barriered store into p.
 *
 *   TRICOLOR_DEBUG=wbcheck=1 ./wbdemo   reports, then aborts
 *   TRICOLOR_DEBUG=wbcheck=2 ./wbdemo   reports and runs to the end
 *   ./wbdemo                            runs to the end (the bug stays)
 */
#define TC_WBCHECK 1 /* TC_STORE passes its file and line */
#include <tricolor.h>

#include <stdio.h>

typedef struct pair {
  long tag;
  struct pair *first;  /* offset 8 */
  struct pair *second; /* offset 16 */
} pair;
static const uint32_t pair_offsets[] = {8, 16};
static tc_type pair_type = {.name = "pair", .offsets = pair_offsets,
                            .noffsets = 2};

__attribute__((noinline)) static pair *make_pair(long tag) {
  pair *p = tc_alloc(&pair_type, sizeof *p);
  p->tag = tag;
  return p;
}

int main(void) {
  if (tc_init(NULL) != TC_OK)
    return 1;
  pair *p = NULL, *a = NULL, *b = NULL;
  TC_LOCALS(p, a, b);
  p = make_pair(1);
  a = make_pair(2);
  b = make_pair(3);
  TC_STORE(p, first, a); /* through the barrier */
  tc_gc();
  p->second = b;         /* the bug: no barrier */
  tc_gc();
  printf("wbdemo: done\n");
  tc_shutdown();
  return 0;
}
