/*
 * stress_sched_gc.c -- coroutines on several Ps allocate linked lists,
 * pass them through a pipeline of channels, change them, hold them across
 * yields, and verify checksums while the collector runs (forced cycles
 * from a dedicated coroutine plus heap-triggered ones from a small heap
 * goal).
 *
 * The pipeline, for W producers and K stages of F workers each:
 *
 *   producers --ch[0]--> stage 0 --ch[1]--> ... stage K-1 --ch[K]--> consumers
 *
 *   1. A producer builds `items` lists of random length (its own xorshift
 *      stream from the seed), each a head (producer, seq, len, checksum)
 *      and nodes, and sends them on ch[0].
 *   2. Every stage worker receives a list, verifies it, changes it and
 *      sends it on: stage k % 3 == 0 prepends nodes (allocation while the
 *      list is live), == 1 copies the list into a fresh one and retires the
 *      original (so it becomes garbage while its copy travels on), == 2
 *      parks lists in a stash (a traced heap array) across yields and
 *      forwards the oldest when the stash is full.  Workers yield at random.
 *   3. Consumers verify the final checksum and tick (producer, seq) off in
 *      a table: each list must arrive exactly once.
 *   4. Channels alternate unbuffered and buffered (capacity 8), so values
 *      sit in blocked senders' records, in rings and in receivers' records.
 *   5. A head has a finalizer that checks it was retired or consumed before
 *      it became unreachable: a head finalized while a coroutine could
 *      still reach it means the collector missed a root.  At the end every
 *      head ever made has been finalized exactly once.
 *
 * Shutting the pipeline down: when the producers are done main closes
 * ch[0]; the workers of stage k leave on (NULL, false) after flushing
 * their stash; when all of them left main closes ch[k + 1]; and so on.
 *
 * Arguments (all optional):
 *   --seed S      RNG seed (default 20261127)
 *   --procs P     processors (default 2)
 *   --producers W (default 8)    --items N  lists per producer (default 40000)
 *   --stages K    (default 4)    --workers F per stage (default 4)
 *   --consumers C (default 3)    --len L    max list length (default 48)
 * Scaled down 10x under valgrind and 4x under the sanitizers.  Exit status
 * 0 when every check passed, 1 otherwise (with the first failures).
 */
#include "tc_test.h" /* tc_test_node */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tricolor.h>

#define MAGIC 0x5ced5ced5ced5cedULL
#define STASH 6
#define MAX_STAGES 16

static struct {
  uint64_t seed;
  int procs, producers, items, stages, workers, consumers, len;
} opt = {20261127u, 2, 8, 40000, 4, 4, 3, 48};

/* ------------------------------------------------------------------ */
/* Objects                                                             */

typedef tc_test_node node; /* type tc_test_node_type */

typedef struct head {
  node *first;
  uint64_t magic;
  long producer, seq, len;
  uint64_t sum;
  atomic_int retired;  /* replaced by a copy */
  atomic_int consumed; /* reached a consumer */
} head;

static atomic_long heads_made, heads_finalized, premature, bad_magic;

static void head_finalize(void *obj) {
  head *h = obj;
  if (h->magic != MAGIC)
    atomic_fetch_add(&bad_magic, 1);
  else if (!atomic_load(&h->retired) && !atomic_load(&h->consumed))
    atomic_fetch_add(&premature, 1);
  atomic_fetch_add(&heads_finalized, 1);
}
static const uint32_t head_offsets[] = {offsetof(head, first)};
static tc_type head_type = {.name = "head",
                            .offsets = head_offsets,
                            .noffsets = 1,
                            .finalize = head_finalize};

/* An array of references: offset 0 repeated every 8 bytes. */
static const uint32_t stash_offsets[] = {0};
static tc_type stash_type = {
    .name = "stash", .offsets = stash_offsets, .noffsets = 1, .stride = 8};

/* ------------------------------------------------------------------ */
/* Checks                                                              */

static atomic_long failures;
static char first_failure[512];

static void failure(const char *what, const head *h) {
  if (atomic_fetch_add(&failures, 1) == 0)
    snprintf(first_failure, sizeof first_failure,
             "%s (producer %ld seq %ld len %ld)", what, h ? h->producer : -1,
             h ? h->seq : -1, h ? h->len : -1);
}

static uint64_t node_value(long producer, long seq, long i, long salt) {
  uint64_t x = (uint64_t)producer * 0x9e3779b97f4a7c15ULL ^
               (uint64_t)seq * 0xbf58476d1ce4e5b9ULL ^
               (uint64_t)i * 0x94d049bb133111ebULL ^ (uint64_t)salt;
  x ^= x >> 31;
  return x * 0xd6e8feb86659fd93ULL;
}

/* Verifies h's length, checksum and magic; no allocation. */
static bool verify(const head *h, const char *where) {
  if (h == NULL) {
    failure(where, NULL);
    return false;
  }
  if (h->magic != MAGIC || atomic_load(&h->retired)) {
    failure("bad or retired head", h);
    return false;
  }
  uint64_t sum = 0;
  long len = 0;
  for (const node *n = h->first; n; n = n->next) {
    sum += n->value;
    if (++len > h->len)
      break;
  }
  if (len != h->len || sum != h->sum) {
    failure(where, h);
    return false;
  }
  return true;
}

static head *new_head(long producer, long seq) {
  head *h = tc_alloc(&head_type, sizeof(head));
  if (h == NULL)
    return NULL;
  h->magic = MAGIC;
  h->producer = producer;
  h->seq = seq;
  atomic_fetch_add(&heads_made, 1);
  return h;
}

/* Prepends n nodes to h (h rooted by the caller). */
static void prepend(head *h, long n, long salt) {
  node *x = NULL;
  TC_LOCALS(x);
  for (long i = 0; i < n; i++) {
    x = tc_alloc(&tc_test_node_type, sizeof(node));
    x->value = node_value(h->producer, h->seq, h->len, salt);
    TC_STORE(x, next, h->first);
    TC_STORE(h, first, x);
    h->len++;
    h->sum += x->value;
  }
}

/* ------------------------------------------------------------------ */
/* The pipeline                                                        */

static struct {
  tc_chan *ch[MAX_STAGES + 1]; /* global roots */
  tc_waitgroup producers, stage[MAX_STAGES], consumers;
  atomic_uchar *arrived;       /* [producers * items] */
  atomic_int stop_gc;
  tc_waitgroup gc_done;
  atomic_long forced;
  long cycles;                 /* all cycles, read at the end */
} pl;

typedef struct worker_arg {
  int id, stage;
} worker_arg;

static void producer(void *arg) {
  worker_arg *a = arg;
  uint64_t rng = opt.seed ^ (0x1234567ULL * (uint64_t)(a->id + 1));
  head *h = NULL;
  TC_LOCALS(h);
  for (long seq = 0; seq < opt.items; seq++) {
    h = new_head(a->id, seq);
    prepend(h, 1 + (long)(tc_test_xorshift(&rng) % (uint64_t)opt.len), 1);
    if (tc_chan_send(pl.ch[0], h) != TC_OK)
      failure("send on ch[0] failed", h);
    h = NULL;
    if (tc_test_xorshift(&rng) % 8 == 0)
      tc_yield();
  }
  tc_waitgroup_done(&pl.producers);
}

/* Sends h on (from a stage worker). */
static void forward(int stage, head *h) {
  if (tc_chan_send(pl.ch[stage + 1], h) != TC_OK)
    failure("forward failed", h);
}

static void stage_worker(void *arg) {
  worker_arg *a = arg;
  uint64_t rng = opt.seed ^ (0xabcdefULL * (uint64_t)(a->stage * 64 + a->id + 1));
  head *h = NULL, *copy = NULL;
  void **stash = NULL;
  node *n = NULL;
  TC_LOCALS(h, copy, stash, n);
  int kind = a->stage % 3;
  int stashed = 0;
  if (kind == 2)
    stash = tc_alloc(&stash_type, STASH * sizeof(void *));
  for (;;) {
    bool ok = false;
    h = tc_chan_recv(pl.ch[a->stage], &ok);
    if (!ok)
      break;
    if (!verify(h, "checksum on receive"))
      continue;
    if (tc_test_xorshift(&rng) % 4 == 0)
      tc_yield(); /* h lives in a local across the switch */
    switch (kind) {
    case 0:
      prepend(h, 1 + (long)(tc_test_xorshift(&rng) % 8), 100 + a->stage);
      if (verify(h, "checksum after prepend"))
        forward(a->stage, h);
      break;
    case 1: {
      /* copy the list, node by node, in order */
      copy = new_head(h->producer, h->seq);
      node *tail = NULL; /* not a root: reached through copy */
      for (node *src = h->first; src; src = src->next) {
        n = tc_alloc(&tc_test_node_type, sizeof(node));
        n->value = src->value;
        if (tail)
          TC_STORE(tail, next, n);
        else
          TC_STORE(copy, first, n);
        tail = n;
        copy->len++;
        copy->sum += n->value;
        if (copy->len % 16 == 0)
          tc_yield(); /* half-built copy and its original across a switch */
      }
      n = NULL;
      if (verify(h, "original during copy") &&
          verify(copy, "checksum of copy")) {
        atomic_store(&h->retired, 1);
        forward(a->stage, copy);
      }
      copy = NULL;
      break;
    }
    default:
      if (stashed == STASH) {
        /* forward the oldest, shift the rest down */
        head *old = (head *)tc_load(&stash[0]);
        for (int i = 1; i < STASH; i++)
          tc_store(&stash[i - 1], tc_load(&stash[i]));
        tc_store(&stash[STASH - 1], NULL);
        stashed--;
        copy = old; /* rooted before the send (a safepoint) */
        if (verify(copy, "checksum out of the stash"))
          forward(a->stage, copy);
        copy = NULL;
      }
      tc_store(&stash[stashed++], h);
      break;
    }
    h = NULL;
  }
  for (int i = 0; i < stashed; i++) {
    copy = (head *)tc_load(&stash[i]);
    tc_store(&stash[i], NULL);
    if (verify(copy, "checksum out of the stash"))
      forward(a->stage, copy);
  }
  tc_waitgroup_done(&pl.stage[a->stage]);
}

static void consumer(void *arg) {
  (void)arg;
  head *h = NULL;
  TC_LOCALS(h);
  for (;;) {
    bool ok = false;
    h = tc_chan_recv(pl.ch[opt.stages], &ok);
    if (!ok)
      break;
    if (!verify(h, "checksum at the consumer"))
      continue;
    if (h->producer < 0 || h->producer >= opt.producers || h->seq < 0 ||
        h->seq >= opt.items) {
      failure("unknown list", h);
      continue;
    }
    atomic_fetch_add(&pl.arrived[h->producer * opt.items + h->seq], 1);
    atomic_store(&h->consumed, 1);
    h = NULL;
  }
  tc_waitgroup_done(&pl.consumers);
}

static void collector(void *arg) {
  (void)arg;
  while (!atomic_load(&pl.stop_gc)) {
    tc_sleep(2 * 1000 * 1000);
    tc_gc();
    atomic_fetch_add(&pl.forced, 1);
  }
  tc_waitgroup_done(&pl.gc_done);
}

static void stress_main(void *arg) {
  (void)arg;
  static worker_arg pargs[1024], sargs[MAX_STAGES][256], cargs[256];
  if (tc_root_add((void **)pl.ch, (size_t)opt.stages + 1) != TC_OK)
    failure("tc_root_add", NULL);
  for (int k = 0; k <= opt.stages; k++)
    tc_store((void **)&pl.ch[k], tc_chan_new(k % 2 ? 8 : 0, 0));

  tc_waitgroup_add(&pl.gc_done, 1);
  tc_go(collector, NULL);
  tc_waitgroup_add(&pl.consumers, opt.consumers);
  for (int i = 0; i < opt.consumers; i++) {
    cargs[i] = (worker_arg){i, opt.stages};
    tc_go(consumer, &cargs[i]);
  }
  for (int k = 0; k < opt.stages; k++) {
    tc_waitgroup_add(&pl.stage[k], opt.workers);
    for (int i = 0; i < opt.workers; i++) {
      sargs[k][i] = (worker_arg){i, k};
      tc_go(stage_worker, &sargs[k][i]);
    }
  }
  tc_waitgroup_add(&pl.producers, opt.producers);
  for (int i = 0; i < opt.producers; i++) {
    pargs[i] = (worker_arg){i, -1};
    tc_go(producer, &pargs[i]);
  }

  tc_waitgroup_wait(&pl.producers);
  tc_chan_close(pl.ch[0]);
  for (int k = 0; k < opt.stages; k++) {
    tc_waitgroup_wait(&pl.stage[k]);
    tc_chan_close(pl.ch[k + 1]);
  }
  tc_waitgroup_wait(&pl.consumers);
  atomic_store(&pl.stop_gc, 1);
  tc_waitgroup_wait(&pl.gc_done);

  /* everything is garbage now: each head is finalized exactly once */
  for (int i = 0; i < 6 && atomic_load(&heads_finalized) <
                               atomic_load(&heads_made); i++)
    tc_gc();
  tc_root_remove((void **)pl.ch);
  tc_stats st;
  tc_read_stats(&st);
  pl.cycles = (long)st.cycles;
}

/* ------------------------------------------------------------------ */

static int int_arg(const char *s, int lo, int hi, const char *name) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < lo || v > hi) {
    fprintf(stderr, "stress_sched_gc: %s must be in [%d, %d]\n", name, lo,
            hi);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (strcmp(k, "--seed") == 0)
      opt.seed = strtoull(v, NULL, 0);
    else if (strcmp(k, "--procs") == 0)
      opt.procs = int_arg(v, 1, 256, k);
    else if (strcmp(k, "--producers") == 0)
      opt.producers = int_arg(v, 1, 1024, k);
    else if (strcmp(k, "--items") == 0)
      opt.items = int_arg(v, 1, 10000000, k);
    else if (strcmp(k, "--stages") == 0)
      opt.stages = int_arg(v, 1, MAX_STAGES, k);
    else if (strcmp(k, "--workers") == 0)
      opt.workers = int_arg(v, 1, 256, k);
    else if (strcmp(k, "--consumers") == 0)
      opt.consumers = int_arg(v, 1, 256, k);
    else if (strcmp(k, "--len") == 0)
      opt.len = int_arg(v, 1, 100000, k);
    else {
      fprintf(stderr, "stress_sched_gc: unknown option %s\n", k);
      return 2;
    }
  }
  if (argc % 2 == 0) {
    fprintf(stderr, "stress_sched_gc: option %s needs a value\n",
            argv[argc - 1]);
    return 2;
  }
  const char *pre = getenv("LD_PRELOAD");
  bool valgrind = pre && strstr(pre, "vgpreload");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  bool sanitized = true;
#else
  bool sanitized = false;
#endif
  if (valgrind)
    opt.items = opt.items / 10 > 0 ? opt.items / 10 : 1;
  else if (sanitized)
    opt.items = opt.items / 4 > 0 ? opt.items / 4 : 1;

  size_t n = (size_t)opt.producers * (size_t)opt.items;
  pl.arrived = calloc(n, sizeof *pl.arrived);
  if (pl.arrived == NULL)
    return 2;

  /* a small heap goal: heap-triggered cycles besides the forced ones */
  tc_config cfg = {.procs = opt.procs, .gc_percent = 50,
                   .min_heap = 512 * 1024};
  int64_t t0 = tc_now();
  int rc = tc_run(&cfg, stress_main, NULL);
  int64_t t1 = tc_now();
  if (rc != TC_OK) {
    fprintf(stderr, "stress_sched_gc: tc_run: %s\n", tc_strerror(rc));
    return 1;
  }

  long missing = 0, duplicated = 0;
  for (size_t i = 0; i < n; i++) {
    missing += pl.arrived[i] == 0;
    duplicated += pl.arrived[i] > 1;
  }
  long made = atomic_load(&heads_made), fin = atomic_load(&heads_finalized);
  printf("stress_sched_gc: seed=%llu procs=%d producers=%d items=%d "
         "stages=%d workers=%d consumers=%d: %zu lists, %ld heads, "
         "%ld cycles (%ld forced), %.2f s\n",
         (unsigned long long)opt.seed, opt.procs, opt.producers, opt.items,
         opt.stages, opt.workers, opt.consumers, n, made, pl.cycles,
         atomic_load(&pl.forced), (double)(t1 - t0) / 1e9);
  bool ok = true;
  if (atomic_load(&failures)) {
    printf("FAIL: %ld check(s) failed, first: %s\n", atomic_load(&failures),
           first_failure);
    ok = false;
  }
  if (missing || duplicated) {
    printf("FAIL: %ld lists missing, %ld arrived more than once\n", missing,
           duplicated);
    ok = false;
  }
  if (atomic_load(&premature) || atomic_load(&bad_magic)) {
    printf("FAIL: %ld heads finalized while still reachable, %ld with a "
           "bad magic\n",
           atomic_load(&premature), atomic_load(&bad_magic));
    ok = false;
  }
  if (fin != made) {
    printf("FAIL: %ld heads made, %ld finalized\n", made, fin);
    ok = false;
  }
  if (atomic_load(&pl.forced) == 0) {
    printf("FAIL: no forced collection ran\n");
    ok = false;
  }
  free(pl.arrived);
  printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
