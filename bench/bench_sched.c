/*
 * bench/bench_sched.c -- the cost of tricolor's coroutine scheduler,
 * channels and sync objects, with pthread equivalents where one exists.
 *
 * What it stresses.  The scheduler's hot paths, one at a time, on one P
 * (procs = 1, so every figure is a same-thread coroutine switch, as Go's
 * with GOMAXPROCS=1 in bench/go/sched.go):
 *
 *   yield       two coroutines call tc_yield in turn; per tc_yield (one
 *               switch out to the scheduler, the yielder queued at the
 *               back of the run queue, and one switch into the other)
 *   spawn       tc_go of an empty function that calls tc_waitgroup_done,
 *               in batches of 100 followed by tc_waitgroup_wait; per
 *               coroutine, creation to exit (stacks and Gs are reused)
 *   chan_unbuf  ping-pong over two unbuffered TC_CHAN_RAW channels; per
 *               round trip (send, receive the reply: two switches)
 *   chan_buf    the same over channels of capacity 1
 *   select2     the same, the echo side receiving with a 2-case tc_select
 *               (the sender alternates between the two channels)
 *   wg_1e5      one coroutine starts 100000 that each call
 *               tc_waitgroup_done, then waits; per coroutine (all alive at
 *               once, unlike spawn)
 *   rss_100k    VmRSS growth while N coroutines are parked in a channel
 *   rss_1m      receive, divided by N (bytes per parked coroutine; stacks
 *               are lazily committed, so this is what a parked one costs)
 *
 * Foreign threads (tc_config.foreign_threads = true; a pthread made by
 * this program, not by tricolor, while main waits in tc_waitgroup_wait,
 * so the one P is idle; the loop is timed on that thread):
 *   attach        tc_thread_attach + tc_thread_detach in a loop (after one
 *                 untimed pair, which makes the M); per pair
 *   attach_first  a new pthread's first attach + detach, timed inside it
 *                 (thread creation excluded); mean over the threads, made
 *                 one after another
 *   foreign_rtt   the thread, attached once, sends on an unbuffered
 *                 TC_CHAN_RAW channel to a coroutine that answers on
 *                 another; per round trip (after one untimed).  Each
 *                 crossing moves the P between the thread and the M that
 *                 runs the coroutine: two OS-thread wake-ups per trip
 * bench/go/cgo/attach.go is the Go peer (cgo callbacks from C threads).
 *
 * pthread column (same machine, no runtime):
 *   yield       two threads pinned to CPU 0 calling sched_yield in turn;
 *               per sched_yield
 *   spawn       pthread_create of an empty function + pthread_join
 *   chan_unbuf  two threads ping-ponging through a mutex and two condition
 *   foreign_rtt variables; per round trip (the floor of a hand-off
 *               between two OS threads)
 *
 * Method.  Each figure is the median of --runs runs (default 5); each
 * tricolor run is a fresh tc_run, timed inside main with tc_now() so that
 * runtime start-up and teardown are excluded.  Iteration counts are fixed
 * (--quick divides them by 10); each RSS run is a fresh forked process
 * (1M: one run, and only without --quick).  Build with -DTRICOLOR_DEBUG=0 for figures
 * worth comparing.
 *
 * Usage: bench_sched [--runs N] [--quick] [--only op,op,...]
 * Prints a table, then one machine-readable line per figure:
 *   RESULT op=<op> impl=<tricolor|pthread> value=<v> unit=<ns|bytes>
 * bench/sched.py runs this and bench/go/sched.go and prints them side by
 * side.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <tricolor.h>
#include <unistd.h>

#define MAX_RUNS 64

static int runs = 5;
static long scale = 1; /* divisor: 10 with --quick */
static const char *only;

static bool selected(const char *op) {
  if (only == NULL)
    return true;
  size_t n = strlen(op);
  for (const char *p = only; (p = strstr(p, op)) != NULL; p += n)
    if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return true;
  return false;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = strtol(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kib;
}

static void die(const char *what) {
  fprintf(stderr, "bench_sched: %s\n", what);
  exit(1);
}

/* ------------------------------------------------------------------ */
/* tricolor                                                            */

typedef struct run_arg {
  long n;
  double result; /* ns per op, or bytes */
} run_arg;

static tc_chan *ch[3]; /* a global root while a benchmark runs */
static tc_waitgroup wg;

static void add_roots(void) {
  if (tc_root_add((void **)ch, 3) != TC_OK)
    die("tc_root_add");
}

static void drop_roots(void) {
  for (int i = 0; i < 3; i++)
    tc_store((void **)&ch[i], NULL);
  tc_root_remove((void **)ch);
}

/* yield */
static void yielder(void *arg) {
  long n = *(long *)arg;
  for (long i = 0; i < n; i++)
    tc_yield();
  tc_waitgroup_done(&wg);
}

static void yield_main(void *arg) {
  run_arg *a = arg;
  static long n;
  n = a->n;
  tc_waitgroup_add(&wg, 1);
  tc_go(yielder, &n);
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++)
    tc_yield();
  tc_waitgroup_wait(&wg);
  a->result = (double)(tc_now() - t0) / (2.0 * (double)n);
}

/* spawn */
static void empty_done(void *arg) {
  (void)arg;
  tc_waitgroup_done(&wg);
}

static void spawn_main(void *arg) {
  run_arg *a = arg;
  enum { BATCH = 100 };
  long n = a->n / BATCH * BATCH;
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i += BATCH) {
    tc_waitgroup_add(&wg, BATCH);
    for (int k = 0; k < BATCH; k++)
      tc_go(empty_done, NULL);
    tc_waitgroup_wait(&wg);
  }
  a->result = (double)(tc_now() - t0) / (double)n;
}

/* chan_unbuf, chan_buf */
static void echo(void *arg) {
  (void)arg;
  for (;;) {
    bool ok;
    void *v = tc_chan_recv(ch[0], &ok);
    if (!ok)
      break;
    tc_chan_send(ch[1], v);
  }
  tc_waitgroup_done(&wg);
}

static void pingpong(run_arg *a, size_t cap) {
  add_roots();
  tc_store((void **)&ch[0], tc_chan_new(cap, TC_CHAN_RAW));
  tc_store((void **)&ch[1], tc_chan_new(cap, TC_CHAN_RAW));
  tc_waitgroup_add(&wg, 1);
  tc_go(echo, NULL);
  long n = a->n;
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++) {
    tc_chan_send(ch[0], (void *)(uintptr_t)(i + 1));
    if ((uintptr_t)tc_chan_recv(ch[1], NULL) != (uintptr_t)(i + 1))
      die("ping-pong: wrong value");
  }
  a->result = (double)(tc_now() - t0) / (double)n;
  tc_chan_close(ch[0]);
  tc_waitgroup_wait(&wg);
  drop_roots();
}

static void unbuf_main(void *arg) { pingpong(arg, 0); }
static void buf_main(void *arg) { pingpong(arg, 1); }

/* select2 */
static void select_echo(void *arg) {
  (void)arg;
  for (;;) {
    tc_select_case c[2] = {{.chan = ch[0], .dir = TC_SELECT_RECV},
                           {.chan = ch[2], .dir = TC_SELECT_RECV}};
    int r = tc_select(c, 2, true);
    if (r < 0 || !c[r].ok)
      break;
    tc_chan_send(ch[1], c[r].value);
  }
  tc_waitgroup_done(&wg);
}

static void select_main(void *arg) {
  run_arg *a = arg;
  add_roots();
  for (int i = 0; i < 3; i++)
    tc_store((void **)&ch[i], tc_chan_new(0, TC_CHAN_RAW));
  tc_waitgroup_add(&wg, 1);
  tc_go(select_echo, NULL);
  long n = a->n;
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++) {
    tc_chan_send(ch[(i & 1) ? 2 : 0], (void *)(uintptr_t)(i + 1));
    if ((uintptr_t)tc_chan_recv(ch[1], NULL) != (uintptr_t)(i + 1))
      die("select ping-pong: wrong value");
  }
  a->result = (double)(tc_now() - t0) / (double)n;
  tc_chan_close(ch[0]);
  tc_waitgroup_wait(&wg);
  drop_roots();
}

/* wg_1e5 */
static void wg_main(void *arg) {
  run_arg *a = arg;
  long n = a->n;
  int64_t t0 = tc_now();
  tc_waitgroup_add(&wg, n);
  for (long i = 0; i < n; i++)
    tc_go(empty_done, NULL);
  tc_waitgroup_wait(&wg);
  a->result = (double)(tc_now() - t0) / (double)n;
}

/* rss_100k, rss_1m */
static atomic_long parked;

static void parked_receiver(void *arg) {
  (void)arg;
  atomic_fetch_add(&parked, 1);
  (void)tc_chan_recv(ch[0], NULL); /* until the channel is closed */
  tc_waitgroup_done(&wg);
}

static void rss_main(void *arg) {
  run_arg *a = arg;
  add_roots();
  tc_store((void **)&ch[0], tc_chan_new(0, TC_CHAN_RAW));
  atomic_store(&parked, 0);
  long n = a->n;
  long before = rss_kib();
  tc_waitgroup_add(&wg, n);
  for (long i = 0; i < n; i++)
    if (tc_go(parked_receiver, NULL) != TC_OK)
      die("tc_go failed (out of memory or mappings)");
  while (atomic_load(&parked) < n)
    tc_yield(); /* one P: each one parks before the next runs */
  long after = rss_kib();
  a->result = (double)(after - before) * 1024.0 / (double)n;
  tc_chan_close(ch[0]);
  tc_waitgroup_wait(&wg);
  drop_roots();
}

/* ---- foreign threads ---- */

static void attach_or_die(void) {
  if (tc_thread_attach() != TC_OK)
    die("tc_thread_attach");
}

static void detach_or_die(void) {
  if (tc_thread_detach() != TC_OK)
    die("tc_thread_detach");
}

/* Tells main this thread is done: attached, as only a mutator may. */
static void foreign_done(void) {
  attach_or_die();
  tc_waitgroup_done(&wg);
  detach_or_die();
}

/* Runs thread(a) on a pthread of ours and waits for its tc_waitgroup_done
 * (wg counts it, and any coroutine the caller started), then joins it
 * inside a syscall bracket: main must not return while it is attached. */
static void foreign_wait(void *(*thread)(void *), run_arg *a) {
  pthread_t t;
  tc_waitgroup_add(&wg, 1);
  if (pthread_create(&t, NULL, thread, a))
    die("pthread_create");
  tc_waitgroup_wait(&wg);
  tc_syscall_enter();
  pthread_join(t, NULL);
  tc_syscall_exit();
}

/* attach */
static void *attach_thread(void *arg) {
  run_arg *a = arg;
  long n = a->n;
  attach_or_die(); /* untimed: the first attach of the run makes the M */
  detach_or_die();
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++) {
    attach_or_die();
    detach_or_die();
  }
  a->result = (double)(tc_now() - t0) / (double)n;
  foreign_done();
  return NULL;
}

static void attach_main(void *arg) { foreign_wait(attach_thread, arg); }

/* attach_first */
static void *first_child(void *arg) {
  int64_t t0 = tc_now();
  attach_or_die();
  detach_or_die();
  *(int64_t *)arg = tc_now() - t0;
  return NULL;
}

static void *attach_first_thread(void *arg) {
  run_arg *a = arg;
  int64_t sum = 0;
  for (long i = 0; i < a->n; i++) {
    pthread_t t;
    int64_t ns = 0;
    if (pthread_create(&t, NULL, first_child, &ns))
      die("pthread_create");
    pthread_join(t, NULL);
    sum += ns;
  }
  a->result = (double)sum / (double)a->n;
  foreign_done();
  return NULL;
}

static void attach_first_main(void *arg) {
  foreign_wait(attach_first_thread, arg);
}

/* foreign_rtt: echo() above answers */
static void round_trip(uintptr_t v) {
  tc_chan_send(ch[0], (void *)v);
  if ((uintptr_t)tc_chan_recv(ch[1], NULL) != v)
    die("foreign round trip: wrong value");
}

static void *rtt_thread(void *arg) {
  run_arg *a = arg;
  long n = a->n;
  attach_or_die();
  round_trip(1); /* untimed */
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++)
    round_trip((uintptr_t)i + 2);
  a->result = (double)(tc_now() - t0) / (double)n;
  tc_chan_close(ch[0]);
  tc_waitgroup_done(&wg);
  detach_or_die();
  return NULL;
}

static void foreign_rtt_main(void *arg) {
  add_roots();
  tc_store((void **)&ch[0], tc_chan_new(0, TC_CHAN_RAW));
  tc_store((void **)&ch[1], tc_chan_new(0, TC_CHAN_RAW));
  tc_waitgroup_add(&wg, 1);
  tc_go(echo, NULL);
  foreign_wait(rtt_thread, arg);
  drop_roots();
}

static bool foreign_cfg; /* the op's tc_run sets tc_config.foreign_threads */

static double run_tricolor(tc_fn fn, long n) {
  run_arg a = {n, 0};
  tc_config cfg = {.procs = 1, .foreign_threads = foreign_cfg};
  memset(&wg, 0, sizeof wg);
  if (tc_run(&cfg, fn, &a) != TC_OK)
    die("tc_run failed");
  return a.result;
}

/* Runs run_tricolor in a forked child: a fresh process, so that memory
 * freed by earlier runs (malloc's arenas keep it) does not hide what the
 * RSS figures measure. */
static double run_tricolor_fresh(tc_fn fn, long n) {
  int fds[2];
  if (pipe(fds) != 0)
    die("pipe");
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    close(fds[0]);
    double v = run_tricolor(fn, n);
    if (write(fds[1], &v, sizeof v) != (ssize_t)sizeof v)
      _exit(1);
    _exit(0);
  }
  close(fds[1]);
  double v = -1;
  if (read(fds[0], &v, sizeof v) != (ssize_t)sizeof v)
    die("the measuring child failed");
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  return v;
}

/* ------------------------------------------------------------------ */
/* pthread                                                             */

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv[2];
  int turn;
  long n;
  pthread_barrier_t start;
} pp = {PTHREAD_MUTEX_INITIALIZER,
        {PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER}, 0, 0, {{0}}};

static void *pp_thread(void *arg) {
  int me = (int)(intptr_t)arg;
  pthread_barrier_wait(&pp.start);
  for (long i = 0; i < pp.n; i++) {
    pthread_mutex_lock(&pp.mu);
    while (pp.turn != me)
      pthread_cond_wait(&pp.cv[me], &pp.mu);
    pp.turn = !me;
    pthread_cond_signal(&pp.cv[!me]);
    pthread_mutex_unlock(&pp.mu);
  }
  return NULL;
}

/* Mutex/condvar ping-pong: ns per round trip (A -> B -> A). */
static double pt_pingpong(long n) {
  pp.n = n;
  pp.turn = 0;
  pthread_barrier_init(&pp.start, NULL, 3);
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&t[i], NULL, pp_thread, (void *)(intptr_t)i))
      die("pthread_create");
  pthread_barrier_wait(&pp.start);
  int64_t t0 = tc_now();
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  double ns = (double)(tc_now() - t0) / (double)n;
  pthread_barrier_destroy(&pp.start);
  return ns;
}

static void *noop_thread(void *arg) { return arg; }

static double pt_spawn(long n) {
  int64_t t0 = tc_now();
  for (long i = 0; i < n; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, noop_thread, NULL))
      die("pthread_create");
    pthread_join(t, NULL);
  }
  return (double)(tc_now() - t0) / (double)n;
}

static long yield_n;
static pthread_barrier_t yield_start;

static void *yield_thread(void *arg) {
  (void)arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  pthread_barrier_wait(&yield_start);
  for (long i = 0; i < yield_n; i++)
    sched_yield();
  return NULL;
}

/* Two threads on one CPU yielding in turn: ns per sched_yield. */
static double pt_yield(long n) {
  yield_n = n;
  pthread_barrier_init(&yield_start, NULL, 3);
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    if (pthread_create(&t[i], NULL, yield_thread, NULL))
      die("pthread_create");
  pthread_barrier_wait(&yield_start);
  int64_t t0 = tc_now();
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  double ns = (double)(tc_now() - t0) / (2.0 * (double)n);
  pthread_barrier_destroy(&yield_start);
  return ns;
}

/* ------------------------------------------------------------------ */

typedef struct op {
  const char *name;     /* RESULT op= */
  const char *what;     /* table label */
  const char *unit;     /* ns or bytes */
  tc_fn tc;             /* tricolor main */
  long tc_n;            /* iterations (or coroutines) */
  double (*pt)(long n); /* pthread equivalent or NULL */
  long pt_n;
  bool once;            /* one run only (rss_1m) */
  bool foreign;         /* tc_config.foreign_threads */
} op;

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
      if (runs < 1 || runs > MAX_RUNS)
        die("--runs must be in 1..64");
    } else if (strcmp(argv[i], "--quick") == 0) {
      scale = 10;
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      only = argv[++i];
    } else {
      fprintf(stderr, "usage: bench_sched [--runs N] [--quick] "
                      "[--only op,op,...]\n");
      return 2;
    }
  }
  unsetenv("TRICOLOR_PROCS"); /* procs = 1 is part of the definition */

  const op ops[] = {
      {"yield", "yield (per tc_yield, 2 coroutines)", "ns", yield_main,
       2000000, pt_yield, 200000, false, false},
      {"spawn", "spawn+finish (tc_go + wait group)", "ns", spawn_main,
       1000000, pt_spawn, 20000, false, false},
      {"chan_unbuf", "unbuffered chan round trip", "ns", unbuf_main, 1000000,
       pt_pingpong, 100000, false, false},
      {"chan_buf", "buffered chan round trip (cap 1)", "ns", buf_main,
       1000000, NULL, 0, false, false},
      {"select2", "2-case select round trip", "ns", select_main, 1000000,
       NULL, 0, false, false},
      {"wg_1e5", "wait group of 1e5 (per coroutine)", "ns", wg_main, 100000,
       NULL, 0, false, false},
      {"rss_100k", "RSS per parked coroutine, 100k", "bytes", rss_main,
       100000, NULL, 0, false, false},
      {"rss_1m", "RSS per parked coroutine, 1M", "bytes", rss_main, 1000000,
       NULL, 0, true, false},
      {"attach", "attach+detach (foreign pthread)", "ns", attach_main,
       100000, NULL, 0, false, true},
      {"attach_first", "first attach+detach of a new pthread", "ns",
       attach_first_main, 2000, NULL, 0, false, true},
      {"foreign_rtt", "foreign thread -> coroutine round trip", "ns",
       foreign_rtt_main, 50000, pt_pingpong, 50000, false, true},
  };
  size_t nops = sizeof ops / sizeof ops[0];
  double tcv[16], ptv[16];
  printf("bench_sched: procs=1, median of %d runs%s\n\n", runs,
         scale > 1 ? " (--quick)" : "");
  printf("| %-38s | %12s | %12s |\n", "operation", "tricolor", "pthread");
  printf("|%s|%s|%s|\n", "----------------------------------------",
         "-------------:", "-------------:");
  fflush(stdout);
  for (size_t k = 0; k < nops; k++) {
    const op *o = &ops[k];
    tcv[k] = ptv[k] = -1;
    if (!selected(o->name))
      continue;
    if (o->once && scale > 1)
      continue; /* 1M coroutines is not quick */
    long n = o->tc_n;
    if (strcmp(o->unit, "bytes") != 0)
      n = n / scale > 0 ? n / scale : 1;
    int r = o->once ? 1 : runs;
    double v[MAX_RUNS];
    bool rss = strcmp(o->unit, "bytes") == 0;
    foreign_cfg = o->foreign;
    for (int i = 0; i < r; i++)
      v[i] = rss ? run_tricolor_fresh(o->tc, n) : run_tricolor(o->tc, n);
    tcv[k] = median(v, r);
    if (o->pt) {
      long pn = o->pt_n / scale > 0 ? o->pt_n / scale : 1;
      for (int i = 0; i < runs; i++)
        v[i] = o->pt(pn);
      ptv[k] = median(v, runs);
    }
    char a[32], b[32];
    snprintf(a, sizeof a, "%.1f %s", tcv[k], o->unit);
    if (ptv[k] >= 0)
      snprintf(b, sizeof b, "%.1f %s", ptv[k], o->unit);
    else
      snprintf(b, sizeof b, "-");
    printf("| %-38s | %12s | %12s |\n", o->what, a, b);
    fflush(stdout);
  }
  printf("\n");
  for (size_t k = 0; k < nops; k++) {
    if (tcv[k] >= 0)
      printf("RESULT op=%s impl=tricolor value=%.2f unit=%s\n", ops[k].name,
             tcv[k], ops[k].unit);
    if (ptv[k] >= 0)
      printf("RESULT op=%s impl=pthread value=%.2f unit=%s\n", ops[k].name,
             ptv[k], ops[k].unit);
  }
  return 0;
}
