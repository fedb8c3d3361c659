/*
 * gdb_target.c -- the program tests/gdb/check_gdb.py debugs: coroutines
 * parked on a channel receive, a sleep, a select and a mutex, a heap with
 * a few size classes and one finished cycle, then a stop at
 * gdb_target_ready() for gdb to look around.  Linked with the shared
 * library, whose .debug_gdb_scripts section carries the extension.
 *
 * The coroutines' ids are fixed by the order of the tc_go calls (main is
 * 1, then 2, 3, ...); each park is followed by more code, so it is not a
 * tail call and the coroutine's own function stays in its backtrace.
 * main knows the others are parked when tc_dump_coroutines shows each
 * with its wait reason.  The program exits with status 0 once gdb lets
 * it go on.  GDB_TARGET_DUMP=1 in the environment prints
 * tc_dump_coroutines there, GDB_TARGET_QUIT=1 raises SIGQUIT (the samples
 * in docs/debugging.md).
 */
#define _GNU_SOURCE 1
#include <tricolor.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tc_chan *recv_chan, *sel_chan; /* global roots */
static tc_mutex mu;
static atomic_int woke;

static void parked_on_recv(void *arg) {
  (void)arg;
  bool ok = true;
  void *v = tc_chan_recv(recv_chan, &ok);
  atomic_fetch_add(&woke, v == NULL && !ok);
}

static void parked_in_sleep(void *arg) {
  (void)arg;
  tc_sleep((int64_t)3600 * 1000000000);
  atomic_fetch_add(&woke, 1);
}

static void parked_in_select(void *arg) {
  (void)arg;
  tc_select_case c[1] = {{.chan = sel_chan, .dir = TC_SELECT_RECV}};
  int i = tc_select(c, 1, true);
  atomic_fetch_add(&woke, i == 0);
}

static void parked_on_mutex(void *arg) {
  (void)arg;
  tc_mutex_lock(&mu);
  tc_mutex_unlock(&mu);
  atomic_fetch_add(&woke, 1);
}

/* gdb stops here (break gdb_target_ready). */
__attribute__((noinline)) void gdb_target_ready(int parked) {
  __asm__ volatile("" : : "r"(parked) : "memory");
}

/* True when the dump shows a coroutine with each wait reason. */
static bool all_parked(void) {
  static const char *const want[] = {"[chan receive]", "[sleep]",
                                     "[select]", "[sync.Mutex.Lock]"};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return false;
  int rc = tc_dump_coroutines(f);
  fclose(f);
  bool ok = rc == TC_OK;
  for (size_t i = 0; ok && i < sizeof want / sizeof want[0]; i++)
    ok = strstr(buf, want[i]) != NULL;
  free(buf);
  return ok;
}

typedef struct node {
  struct node *next;
  void *data; /* noscan bytes of several sizes, or a large object */
  char pad[32];
} node;

static const uint32_t node_offsets[] = {offsetof(node, next),
                                        offsetof(node, data)};
static tc_type node_type = {.name = "node", .offsets = node_offsets,
                            .noffsets = 2};

static void target_main(void *arg) {
  (void)arg;
  tc_root_add((void **)&recv_chan, 1);
  tc_root_add((void **)&sel_chan, 1);
  tc_store((void **)&recv_chan, tc_chan_new(0, TC_CHAN_RAW));
  tc_store((void **)&sel_chan, tc_chan_new(0, TC_CHAN_RAW));
  /* a heap in a few classes and a large object, and a cycle behind us */
  node *list = NULL, *n = NULL;
  TC_LOCALS(list, n);
  for (int i = 0; i < 2000; i++) {
    n = tc_alloc(&node_type, sizeof(node));
    TC_STORE(n, next, list);
    list = n;
    (void)tc_alloc_noscan(100); /* garbage */
    TC_STORE(n, data, tc_alloc_noscan(i == 0 ? 100000
                                               : 16 + (size_t)(i % 7) * 100));
  }
  tc_gc();
  tc_mutex_lock(&mu);
  tc_go(parked_on_recv, NULL);   /* coroutine 2 */
  tc_go(parked_in_sleep, NULL);  /* coroutine 3 */
  tc_go(parked_in_select, NULL); /* coroutine 4 */
  tc_go(parked_on_mutex, NULL);  /* coroutine 5 */
  int tries = 0;
  while (!all_parked() && tries++ < 20000)
    tc_sleep(1000000);
  /* docs/debugging.md's samples of the dump and of SIGQUIT */
  if (getenv("GDB_TARGET_DUMP"))
    tc_dump_coroutines(stdout);
  if (getenv("GDB_TARGET_QUIT"))
    raise(SIGQUIT);
  gdb_target_ready(tries < 20000);
  tc_chan_close(recv_chan);
  tc_chan_close(sel_chan);
  tc_mutex_unlock(&mu);
  while (atomic_load(&woke) < 3)
    tc_sleep(1000000);
  printf("gdb_target: done, %d woke\n", atomic_load(&woke));
}

int main(void) {
  tc_config cfg = {.procs = 2};
  return tc_run(&cfg, target_main, NULL) == TC_OK ? 0 : 1;
}
