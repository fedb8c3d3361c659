/*
 * test_sched_death.c -- the scheduler's fatal paths: the deadlock report
 * (sched/deadlock.c), the coroutine stack-overflow report (sched/stack.c),
 * and misuse of the coroutine API (sched/proc.c, sched/sync.c).
 *
 * What is tested:
 *   - deadlock: a program whose coroutines are all blocked (main on a wait
 *     group, others on a channel receive, a semaphore, a select with no
 *     ready case) exits with status 2 (as Go does) after printing
 *     "all coroutines are asleep - deadlock!" and one line per coroutine
 *     with its id, wait reason, entry function and creation site
 *     (file:line of the tc_go), the main coroutine's line saying it was
 *     created by tc_run (no made-up site like "tc_run:0"); main alone
 *     blocked on a channel; on 1 and 2 Ps;
 *     every blocked coroutine's entry has a backtrace with its own
 *     function and tc__park (the report's entries are the coroutine
 *     dump's, sched/traceback.c);
 *   - SIGQUIT under tc_run: "SIGQUIT: quit", then the dump (each parked
 *     coroutine with its wait reason, creation site and a frame of the
 *     function it parked in; main [running] with its own frame when the
 *     signal interrupted it, [syscall] when a plain thread took it), then
 *     exit status 2 without going on;
 *   - no false deadlock: a program whose coroutines wait for a sleeper, or
 *     for one blocked in a system call, finishes normally (status 0, no
 *     report); so does one that sleeps 1 us at a time 20000 times on one
 *     P (timers fired while the only M goes idle), alone and beside a
 *     coroutine blocked in a system call (a lost wake-up then hangs: the
 *     child's watchdog reports it);
 *   - a program blocked for good beside a ticker nobody receives from is
 *     left hanging, never reported (as Go does: a pending timer is not a
 *     deadlock), however the check's two reads of the timer heap fall
 *     around a tick: the hooks checkdelay, timerdelay and idledelay
 *     widen that window; the child's watchdog ends the hang;
 *   - stack overflow: a coroutine that recurses with a 4 KiB frame prints
 *     "tricolor: coroutine N stack overflow (stack size S)" with its id and
 *     the configured size, and aborts;
 *   - tc_go, tc_yield, tc_self, tc_sleep outside a coroutine (no runtime,
 *     a bare tc_init mutator, a plain thread while tc_run is active);
 *   - tc_syscall_exit without tc_syscall_enter (inside and outside a
 *     coroutine); tc_syscall_enter twice;
 *   - a negative wait-group counter, unlocking an unlocked mutex;
 *   - tc_select with its case array in the tricolor heap (debug builds;
 *     its results are plain stores, tricolor.h forbids it).
 *
 * Children are forked before the runtime starts (tc_test.h, rule 3).  The
 * deadlock tests use their own fork wrapper, run_child(), because they
 * check the exact exit status and the report's lines; the others use
 * tc_expect_death.  The children announce what the parent must find (the
 * coroutine ids and the tc_go lines) on stderr before they block.
 */
#include "tc_test.h"

#include "sched/sched.h" /* white-box: tc__g_cas (the status table) */
#include "tc_dump_check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <tricolor.h>

/* ------------------------------------------------------------------ */
/* A fork wrapper that keeps the exit status and the whole stderr      */

typedef struct child_result {
  int status;     /* from waitpid */
  char *out;      /* the child's stderr, NUL-terminated (malloc'd) */
} child_result;

static void child_main(void (*fn)(void *), void *arg, int wfd, int timeout) {
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    signal(sigs[i], SIG_DFL); /* not cmocka's longjmp handlers */
  signal(SIGABRT, SIG_DFL);
  alarm((unsigned)timeout);
  if (dup2(wfd, STDERR_FILENO) < 0)
    _exit(120);
  close(wfd);
  setvbuf(stderr, NULL, _IONBF, 0);
  fn(arg);
  _exit(0);
}

/* Runs fn(arg) in a forked child that a watchdog (SIGALRM) kills after
 * `timeout` seconds; returns its wait status and stderr. */
static child_result run_child_for(void (*fn)(void *), void *arg,
                                  int timeout) {
  child_result r = {0, NULL};
  int fds[2];
  assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_main(fn, arg, fds[1], timeout);
  }
  close(fds[1]);
  size_t cap = 1 << 16, len = 0;
  r.out = malloc(cap + 1);
  assert_non_null(r.out);
  for (;;) {
    if (len == cap) {
      cap *= 2;
      r.out = realloc(r.out, cap + 1);
      assert_non_null(r.out);
    }
    ssize_t n = read(fds[0], r.out + len, cap - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  r.out[len] = '\0';
  close(fds[0]);
  pid_t w;
  do
    w = waitpid(pid, &r.status, 0);
  while (w < 0 && errno == EINTR);
  assert_int_equal(w, pid);
  return r;
}

static child_result run_child(void (*fn)(void *), void *arg) {
  return run_child_for(fn, arg,
                       tc_test_under_valgrind()
                           ? TC_TEST_DEATH_TIMEOUT_VALGRIND_S
                           : TC_TEST_DEATH_TIMEOUT_S);
}

static bool skip_death(void) {
  const char *s = getenv("TC_TEST_SKIP_DEATH");
  return s && *s && strcmp(s, "0") != 0;
}

/* Fails the test, showing the child's stderr. */
#define child_fail(r, ...)                                                 \
  do {                                                                     \
    print_error(__VA_ARGS__);                                              \
    print_error("\nchild status 0x%x, stderr:\n----8<----\n%s----8<----\n", \
                (r)->status, (r)->out);                                    \
    free((r)->out);                                                        \
    (r)->out = NULL;                                                       \
    fail();                                                                \
  } while (0)

/* Returns the line of out that starts with prefix, copied to buf. */
static const char *line_with(const char *out, const char *prefix, char *buf,
                             size_t len) {
  for (const char *p = out; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (strncmp(p, prefix, strlen(prefix)) == 0) {
      if (n >= len)
        n = len - 1;
      memcpy(buf, p, n);
      buf[n] = '\0';
      return buf;
    }
    p = nl ? nl + 1 : NULL;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Deadlock                                                            */

/* Each blocked coroutine says who it is and why it will wait:
 *   expect <id> <reason>|<function>
 * and each tc_go says where it was:  site <function> <file>:<line>
 * (__LINE__ on the same line as the tc_go is the line tc_go records). */
#define ANNOUNCE_SITE(fn)                                                  \
  fprintf(stderr, "site %s %s:%d\n", #fn, __FILE__, __LINE__)

static void announce(const char *reason, const char *fn) {
  fprintf(stderr, "expect %llu %s|%s\n", (unsigned long long)tc_self(),
          reason, fn);
}

static tc_chan *dl_chan; /* a global root, registered by deadlock_main */
static tc_sema dl_sema;
static tc_waitgroup dl_wg;

static void dl_recv_forever(void *arg) {
  (void)arg;
  announce("chan receive", "dl_recv_forever");
  (void)tc_chan_recv(dl_chan, NULL);
  fprintf(stderr, "dl_recv_forever woke up\n"); /* not a tail call */
}

static void dl_sema_forever(void *arg) {
  (void)arg;
  announce("semacquire", "dl_sema_forever");
  tc_sema_acquire(&dl_sema);
  fprintf(stderr, "dl_sema_forever woke up\n");
}

static void dl_select_forever(void *arg) {
  (void)arg;
  announce("select", "dl_select_forever");
  tc_select_case c[1] = {{.chan = dl_chan, .dir = TC_SELECT_RECV}};
  (void)tc_select(c, 1, true);
  fprintf(stderr, "dl_select_forever woke up\n");
}

static void deadlock_main(void *arg) {
  (void)arg;
  if (tc_root_add((void **)&dl_chan, 1) != TC_OK)
    fprintf(stderr, "tc_root_add failed\n");
  tc_store((void **)&dl_chan, tc_chan_new(0, TC_CHAN_RAW));
  tc_sema_init(&dl_sema, 0);
  tc_go(dl_recv_forever, NULL); ANNOUNCE_SITE(dl_recv_forever);
  tc_go(dl_sema_forever, NULL); ANNOUNCE_SITE(dl_sema_forever);
  tc_go(dl_select_forever, NULL); ANNOUNCE_SITE(dl_select_forever);
  announce("sync.WaitGroup.Wait", "deadlock_main");
  tc_waitgroup_add(&dl_wg, 1);
  tc_waitgroup_wait(&dl_wg);
  fprintf(stderr, "main woke up\n");
}

static void deadlock_child(void *arg) {
  tc_config cfg = {.procs = (int)(intptr_t)arg};
  int rc = tc_run(&cfg, deadlock_main, NULL);
  fprintf(stderr, "tc_run returned %d\n", rc);
}

/* An announcement "expect <id> <reason>|<function>" in a child's stderr. */
typedef struct announced {
  unsigned long long id;
  char reason[256]; /* up to the '|', then the function after a '\0' */
  const char *fn;   /* into reason */
} announced;

/* Finds the next announcement at or after *p, fills a and moves *p past
 * its start; false when none is left. */
static bool next_announced(const char **p, announced *a) {
  for (; (*p = strstr(*p, "expect ")) != NULL; (*p)++) {
    if (sscanf(*p, "expect %llu %255[^\n]", &a->id, a->reason) != 2)
      continue;
    char *bar = strchr(a->reason, '|');
    if (bar == NULL)
      continue;
    *bar = '\0';
    a->fn = bar + 1;
    (*p)++;
    return true;
  }
  return false;
}

/* Fails the test unless hdr (the `what`: report or dump) holds, for each
 * "site <function> <file>:<line>" the child announced, "<function>(),
 * created by <creator> at <file>:<line>" followed by `end`. */
static void check_sites(child_result *r, const char *hdr, const char *creator,
                        const char *end, const char *what) {
  for (const char *p = r->out; (p = strstr(p, "site ")) != NULL; p++) {
    char fn[128], where[512], want[700];
    if (sscanf(p, "site %127s %511s", fn, where) != 2)
      continue;
    snprintf(want, sizeof want, "%s(), created by %s at %s%s", fn, creator,
             where, end);
    if (strstr(hdr, want) == NULL)
      child_fail(r, "%s lacks \"%s\"", what, want);
  }
}

/* Checks the report in r against the child's announcements. */
static void check_deadlock_report(child_result *r, int nexpect) {
  if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 2)
    child_fail(r, "expected exit status 2 after a deadlock");
  const char *hdr =
      strstr(r->out, "tricolor: all coroutines are asleep - deadlock!");
  if (hdr == NULL)
    child_fail(r, "no deadlock header");
  if (strstr(r->out, "woke up") || strstr(r->out, "tc_run returned"))
    child_fail(r, "the program went on after the deadlock");
  /* every announced coroutine has its line: coroutine <id> [<reason>]:
   * <fn>(), created by ... */
  int found = 0;
  announced a;
  for (const char *p = r->out; next_announced(&p, &a);) {
    unsigned long long id = a.id;
    const char *reason = a.reason, *fn = a.fn;
    char prefix[320], line[1024];
    snprintf(prefix, sizeof prefix, "coroutine %llu [%s]: %s()", id, reason,
             fn);
    if (line_with(hdr, prefix, line, sizeof line) == NULL)
      child_fail(r, "no report line starting with \"%s\"", prefix);
    /* and a backtrace of where it parked: its own function, tc__park */
    static char entry[8192];
    if (dump_entry(hdr, id, entry, sizeof entry) == NULL ||
        !dump_has_frame(entry, fn) || !dump_has_frame(entry, "tc__park"))
      child_fail(r, "coroutine %llu's entry has no frame %s and tc__park",
                 id, fn);
    found++;
  }
  if (found != nexpect)
    child_fail(r, "%d coroutines announced, %d expected", found, nexpect);
  /* every tc_go site appears in the line of the coroutine it created */
  check_sites(r, hdr, "deadlock_main", "", "report");
  /* main (coroutine 1) was started by tc_run, not by a tc_go: its line
   * says so, and no line names a creation site that does not exist */
  char line[1024];
  static const char main_says[] = ", created by tc_run (the main coroutine)";
  if (line_with(hdr, "coroutine 1 [", line, sizeof line) == NULL)
    child_fail(r, "no report line for the main coroutine");
  size_t n = strlen(line), m = strlen(main_says);
  if (n < m || strcmp(line + n - m, main_says) != 0)
    child_fail(r, "the main coroutine's line \"%s\" does not end with \"%s\"",
               line, main_says);
  if (strstr(hdr, "tc_run:0") != NULL)
    child_fail(r, "the report names a creation site tc_run:0");
}

static void test_deadlock_report(void **state) {
  (void)state;
  if (skip_death())
    skip();
  for (int procs = 1; procs <= 2; procs++) {
    child_result r = run_child(deadlock_child, (void *)(intptr_t)procs);
    check_deadlock_report(&r, 4);
    free(r.out);
  }
}

static void lonely_main(void *arg) {
  (void)arg;
  tc_chan *c = NULL;
  TC_LOCALS(c);
  c = tc_chan_new(1, TC_CHAN_RAW);
  announce("chan receive", "lonely_main");
  (void)tc_chan_recv(c, NULL); /* nobody will ever send */
  fprintf(stderr, "main woke up\n");
}

static void lonely_child(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 2};
  int rc = tc_run(&cfg, lonely_main, NULL);
  fprintf(stderr, "tc_run returned %d\n", rc);
}

static void test_deadlock_main_alone(void **state) {
  (void)state;
  if (skip_death())
    skip();
  child_result r = run_child(lonely_child, NULL);
  check_deadlock_report(&r, 1); /* main's line included */
  free(r.out);
}

/* ------------------------------------------------------------------ */
/* SIGQUIT: the coroutine dump, then exit status 2                      */

static tc_chan *sq_chan; /* a global root, registered by sq_main */
static atomic_ullong sq_ids[2];

static void sq_recv(void *arg) {
  (void)arg;
  atomic_store(&sq_ids[0], tc_self());
  announce("chan receive", "sq_recv");
  (void)tc_chan_recv(sq_chan, NULL);
  fprintf(stderr, "sq_recv woke up\n"); /* not a tail call */
}

static void sq_sleep(void *arg) {
  (void)arg;
  atomic_store(&sq_ids[1], tc_self());
  announce("sleep", "sq_sleep");
  tc_sleep((int64_t)3600 * 1000000000);
  fprintf(stderr, "sq_sleep woke up\n");
}

/* A thread that is not a mutator sends SIGQUIT to itself. */
static void *sq_thread(void *arg) {
  (void)arg;
  raise(SIGQUIT);
  fprintf(stderr, "the thread went on after SIGQUIT\n");
  return NULL;
}

static void sq_main(void *arg) {
  bool from_thread = arg != NULL;
  if (tc_root_add((void **)&sq_chan, 1) != TC_OK)
    fprintf(stderr, "tc_root_add failed\n");
  tc_store((void **)&sq_chan, tc_chan_new(0, TC_CHAN_RAW));
  tc_go(sq_recv, NULL); ANNOUNCE_SITE(sq_recv);
  tc_go(sq_sleep, NULL); ANNOUNCE_SITE(sq_sleep);
  unsigned long long ids[2];
  for (int i = 0; i < 2; i++) {
    while (atomic_load(&sq_ids[i]) == 0)
      tc_sleep(100000);
    ids[i] = atomic_load(&sq_ids[i]);
  }
  if (!dump_wait_parked(ids, 2))
    fprintf(stderr, "the coroutines did not park\n");
  if (from_thread) {
    pthread_t t;
    tc_syscall_enter(); /* main: [syscall] in the dump */
    if (pthread_create(&t, NULL, sq_thread, NULL) == 0)
      pthread_join(t, NULL);
    tc_syscall_exit();
  } else {
    raise(SIGQUIT); /* main is the interrupted coroutine */
  }
  fprintf(stderr, "main went on after SIGQUIT\n");
}

static void sq_child(void *arg) {
  tc_config cfg = {.procs = 2};
  signal(SIGQUIT, SIG_DFL); /* whatever the test runner inherited */
  int rc = tc_run(&cfg, sq_main, arg);
  fprintf(stderr, "tc_run returned %d\n", rc);
}

static void check_sigquit_dump(child_result *r, bool from_thread) {
  if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 2)
    child_fail(r, "expected exit status 2 after SIGQUIT");
  const char *hdr = strstr(r->out, "SIGQUIT: quit\n");
  if (hdr == NULL)
    child_fail(r, "no \"SIGQUIT: quit\" header");
  if (strstr(r->out, "went on") || strstr(r->out, "woke up") ||
      strstr(r->out, "tc_run returned"))
    child_fail(r, "the program went on after SIGQUIT");
  static char entry[8192];
  int found = 0;
  announced a;
  for (const char *p = r->out; next_announced(&p, &a);) {
    unsigned long long id = a.id;
    const char *reason = a.reason, *fn = a.fn;
    char want[320];
    snprintf(want, sizeof want, "coroutine %llu [%s]: %s(), created by "
             "sq_main at ", id, reason, fn);
    if (dump_entry(hdr, id, entry, sizeof entry) == NULL ||
        strncmp(entry, want, strlen(want)) != 0)
      child_fail(r, "no entry starting with \"%s\"", want);
    if (!dump_has_frame(entry, fn) || !dump_has_frame(entry, "tc__park"))
      child_fail(r, "coroutine %llu's entry has no frame %s and tc__park",
                 id, fn);
    found++;
  }
  if (found != 2)
    child_fail(r, "%d coroutines announced, 2 expected", found);
  check_sites(r, hdr, "sq_main", "\n", "dump");
  /* main: interrupted by the signal on its own stack, or in a system
   * call while a plain thread took the signal */
  if (dump_entry(hdr, 1, entry, sizeof entry) == NULL)
    child_fail(r, "no entry for the main coroutine");
  if (from_thread) {
    static const char want[] = "coroutine 1 [syscall]: sq_main(), created "
                               "by tc_run (the main coroutine)\n\t(in a "
                               "system call";
    if (strncmp(entry, want, strlen(want)) != 0)
      child_fail(r, "main's entry is not [syscall] without a backtrace");
  } else {
    static const char want[] = "coroutine 1 [running]: sq_main(), created "
                               "by tc_run (the main coroutine)\n";
    if (strncmp(entry, want, strlen(want)) != 0 ||
        !dump_has_frame(entry, "sq_main"))
      child_fail(r, "main's entry is not [running] with a frame sq_main");
  }
}

static void test_sigquit_dump(void **state) {
  (void)state;
  if (skip_death())
    skip();
  for (int from_thread = 0; from_thread <= 1; from_thread++) {
    child_result r =
        run_child(sq_child, from_thread ? (void *)1 : NULL);
    check_sigquit_dump(&r, from_thread);
    free(r.out);
  }
}

/* Not deadlocks: a sleeper or a system call will make progress. */
static tc_waitgroup ok_wg;
static int ok_pipe[2];

static void ok_sleeper(void *arg) {
  (void)arg;
  tc_sleep(30 * 1000000); /* every other coroutine is blocked meanwhile */
  tc_waitgroup_done(&ok_wg);
}

static void ok_syscaller(void *arg) {
  (void)arg;
  char c;
  tc_syscall_enter();
  ssize_t n = read(ok_pipe[0], &c, 1); /* a thread writes it in 30 ms */
  tc_syscall_exit();
  if (n != 1)
    fprintf(stderr, "read failed\n");
  tc_waitgroup_done(&ok_wg);
}

static void *late_writer(void *arg) {
  (void)arg;
  struct timespec ts = {0, 30 * 1000000};
  nanosleep(&ts, NULL);
  char c = 'w';
  if (write(ok_pipe[1], &c, 1) != 1)
    abort();
  return NULL;
}

static void not_deadlocked_main(void *arg) {
  (void)arg;
  tc_waitgroup_add(&ok_wg, 2);
  tc_go(ok_sleeper, NULL);
  tc_go(ok_syscaller, NULL);
  tc_waitgroup_wait(&ok_wg);
  fprintf(stderr, "main woke up\n");
}

static void not_deadlocked_child(void *arg) {
  tc_config cfg = {.procs = (int)(intptr_t)arg};
  if (pipe(ok_pipe) != 0)
    _exit(5);
  pthread_t t;
  if (pthread_create(&t, NULL, late_writer, NULL) != 0)
    _exit(6);
  int rc = tc_run(&cfg, not_deadlocked_main, NULL);
  pthread_join(t, NULL);
  fprintf(stderr, "tc_run returned %d\n", rc);
  _exit(rc == TC_OK ? 0 : 7);
}

static void test_no_false_deadlock(void **state) {
  (void)state;
  if (skip_death())
    skip();
  for (int procs = 1; procs <= 2; procs++) {
    child_result r =
        run_child(not_deadlocked_child, (void *)(intptr_t)procs);
    if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 ||
        strstr(r.out, "deadlock") || !strstr(r.out, "main woke up") ||
        !strstr(r.out, "tc_run returned 0"))
      child_fail(&r, "procs=%d: expected a normal end", procs);
    free(r.out);
  }
}

/* Short sleeps on one P: every timer is fired by the spinning M or by
 * sysmon while the only M looks for work and may go idle.
 *   - A coroutine whose timer was taken off the heap but is not queued yet
 *     is neither "sleeping" nor "runnable": that window must not look like
 *     a deadlock (main alone).
 *   - A coroutine that sysmon queues on the global run queue while the
 *     only M stops spinning must not be stranded there: with a second
 *     coroutine blocked in a system call no deadlock can be reported, so a
 *     lost wake-up shows as a hang (the child's watchdog, SIGALRM). */
static int short_pipe[2];

static void blocked_in_read(void *arg) {
  (void)arg;
  char c;
  tc_syscall_enter();
  ssize_t n = read(short_pipe[0], &c, 1); /* until main is done */
  tc_syscall_exit();
  if (n != 1)
    fprintf(stderr, "read failed\n");
}

static void short_sleeps_main(void *arg) {
  long n = (long)(intptr_t)arg;
  bool with_syscall = n < 0;
  if (with_syscall) {
    n = -n;
    tc_go(blocked_in_read, NULL);
    tc_yield();
  }
  for (long i = 0; i < n; i++)
    tc_sleep(1000); /* 1 us */
  if (with_syscall && write(short_pipe[1], "x", 1) != 1)
    fprintf(stderr, "write failed\n");
  fprintf(stderr, "main woke up\n");
}

static void short_sleeps_child(void *arg) {
  tc_config cfg = {.procs = 1};
  if (pipe(short_pipe) != 0)
    _exit(5);
  int rc = tc_run(&cfg, short_sleeps_main, arg);
  fprintf(stderr, "tc_run returned %d\n", rc);
  _exit(rc == TC_OK ? 0 : 7);
}

static void check_short_sleeps(long n, bool with_syscall) {
  int timeout = tc_test_under_valgrind() ? 300 : 30;
  child_result r = run_child_for(
      short_sleeps_child, (void *)(intptr_t)(with_syscall ? -n : n), timeout);
  if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0 ||
      strstr(r.out, "deadlock") || !strstr(r.out, "main woke up")) {
    bool hung = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM;
    child_fail(&r, "%ld sleeps of 1 us%s: expected a normal end%s", n,
               with_syscall ? " beside a blocked system call" : "",
               hung ? " (it hung: killed by the watchdog)" : "");
  }
  free(r.out);
}

static void test_no_false_deadlock_short_sleeps(void **state) {
  (void)state;
  if (skip_death())
    skip();
  check_short_sleeps(tc_test_under_valgrind() ? 2000 : 20000, false);
}

static void test_short_sleeps_no_lost_wakeup(void **state) {
  (void)state;
  if (skip_death())
    skip();
  check_short_sleeps(tc_test_under_valgrind() ? 2000 : 20000, true);
}

/* A ticker nobody receives from, beside a main blocked for good: a
 * pending timer, so no report; the child hangs until its watchdog.  On
 * one P, sysmon fires the 100 ms ticker at 100 ms and, were the ticker
 * taken off the heap, would hold it off until 120 ms (timerdelay); the
 * only M goes idle and checks at about 105 ms (idledelay); the check,
 * finding the heap empty, reads the firing count 30 ms later
 * (checkdelay), between ticks.  A ticker that left the heap and came
 * back (n up before firing down) was then seen in neither count: the
 * check reported a deadlock (exit status 2). */
static void ticker_hang_main(void *arg) {
  (void)arg;
  tc_timer *t = NULL;
  tc_chan *never = NULL;
  TC_LOCALS(t, never);
  t = tc_ticker_new(100000000); /* 100 ms */
  never = tc_chan_new(0, 0);
  fprintf(stderr, "main blocks\n");
  (void)tc_chan_recv(never, NULL);
  fprintf(stderr, "main woke up\n");
}

static void ticker_hang_child(void *arg) {
  (void)arg;
  tc_test_debug_env("checkdelay=30000,timerdelay=20000,idledelay=105000");
  tc_config cfg = {.procs = 1};
  (void)tc_run(&cfg, ticker_hang_main, NULL);
  _exit(7);
}

static void test_ticker_alone_is_no_deadlock(void **state) {
  (void)state;
  if (skip_death())
    skip();
  child_result r = run_child_for(ticker_hang_child, NULL, 2);
  bool hung = WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM;
  if (!hung || strstr(r.out, "deadlock") || !strstr(r.out, "main blocks"))
    child_fail(&r, "expected a hang ended by the watchdog, no report");
  free(r.out);
}

/* ------------------------------------------------------------------ */
/* Stack overflow                                                      */

static volatile long recursion_limit = 1L << 40; /* never reached */

static __attribute__((noinline)) long recurse(long depth) {
  volatile char frame[4096];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = (char)depth;
  if (depth >= recursion_limit)
    return frame[0];
  return recurse(depth + 1) + frame[depth % (long)sizeof frame];
}

static void overflow_g(void *arg) {
  (void)arg;
  fprintf(stderr, "overflow-id %llu\n", (unsigned long long)tc_self());
  long r = recurse(0);
  fprintf(stderr, "recursion returned %ld\n", r);
}

static void overflow_main(void *arg) {
  (void)arg;
  tc_waitgroup wg = {0};
  tc_go(overflow_g, NULL);
  tc_waitgroup_add(&wg, 1);
  tc_waitgroup_wait(&wg); /* never: the program dies first */
}

static void overflow_child(void *arg) {
  tc_config cfg = {.procs = 1, .stack_size = (size_t)(uintptr_t)arg};
  tc_run(&cfg, overflow_main, NULL);
}

static void check_overflow(size_t stack_size, size_t reported) {
  child_result r = run_child(overflow_child, (void *)(uintptr_t)stack_size);
  if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGABRT) {
    /* under AddressSanitizer a child it stops exits with status 1 */
    if (!(tc_test_under_asan() && WIFEXITED(r.status) &&
          WEXITSTATUS(r.status) != 0))
      child_fail(&r, "expected an abort on stack overflow");
  }
  unsigned long long id = 0;
  const char *p = strstr(r.out, "overflow-id ");
  if (p == NULL || sscanf(p, "overflow-id %llu", &id) != 1)
    child_fail(&r, "the coroutine did not start");
  char want[128];
  snprintf(want, sizeof want,
           "tricolor: coroutine %llu stack overflow (stack size %zu)", id,
           reported);
  if (strstr(r.out, want) == NULL)
    child_fail(&r, "stderr lacks \"%s\"", want);
  free(r.out);
}

static void test_stack_overflow_report(void **state) {
  (void)state;
  if (skip_death())
    skip();
  check_overflow(0, 64 * 1024); /* the default */
  check_overflow(128 * 1024, 128 * 1024);
  check_overflow(100 * 1000, 100 * 1024); /* rounded up to pages */
}

/* ------------------------------------------------------------------ */
/* API outside a coroutine                                             */

static void noop(void *arg) { (void)arg; }

static void go_no_runtime(void *arg) {
  (void)arg;
  tc_go(noop, NULL);
}

static void go_bare_mutator(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    _exit(3);
  tc_go(noop, NULL); /* a mutator, but not a coroutine */
}

static void *thread_go(void *arg) {
  (void)arg;
  tc_go(noop, NULL);
  return NULL;
}

static void go_from_thread_main(void *arg) {
  (void)arg;
  pthread_t t;
  if (pthread_create(&t, NULL, thread_go, NULL) != 0)
    _exit(4);
  pthread_join(t, NULL);
}

static void go_from_thread(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 1};
  tc_run(&cfg, go_from_thread_main, NULL);
}

static void yield_no_runtime(void *arg) {
  (void)arg;
  tc_yield();
}

static void self_no_runtime(void *arg) {
  (void)arg;
  fprintf(stderr, "%llu\n", (unsigned long long)tc_self());
}

static void sleep_bare_mutator(void *arg) {
  (void)arg;
  if (tc_init(NULL) != TC_OK)
    _exit(3);
  tc_sleep(1000);
}

static void test_api_outside_coroutine(void **state) {
  (void)state;
  tc_expect_death(go_no_runtime, NULL,
                  "tricolor: tc_go called outside a coroutine");
  tc_expect_death(go_bare_mutator, NULL,
                  "tricolor: tc_go called outside a coroutine");
  tc_expect_death(go_from_thread, NULL,
                  "tricolor: tc_go called outside a coroutine");
  tc_expect_death(yield_no_runtime, NULL,
                  "tricolor: tc_yield called outside a coroutine");
  tc_expect_death(self_no_runtime, NULL,
                  "tricolor: tc_self called outside a coroutine");
  tc_expect_death(sleep_bare_mutator, NULL,
                  "tricolor: tc_sleep called outside a coroutine");
}

/* ------------------------------------------------------------------ */
/* System-call brackets                                                */

static void exit_without_enter_main(void *arg) {
  (void)arg;
  tc_syscall_exit();
}

static void exit_without_enter(void *arg) {
  (void)arg;
  tc_run(NULL, exit_without_enter_main, NULL);
}

static void exit_without_enter_no_runtime(void *arg) {
  (void)arg;
  tc_syscall_exit();
}

static void exit_twice_main(void *arg) {
  (void)arg;
  tc_syscall_enter();
  tc_syscall_exit();
  tc_syscall_exit();
}

static void exit_twice(void *arg) {
  (void)arg;
  tc_run(NULL, exit_twice_main, NULL);
}

static void enter_twice_main(void *arg) {
  (void)arg;
  tc_syscall_enter();
  tc_syscall_enter();
}

static void enter_twice(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 1};
  tc_run(&cfg, enter_twice_main, NULL);
}

static void test_syscall_exit_without_enter(void **state) {
  (void)state;
  tc_expect_death(exit_without_enter, NULL,
                  "tricolor: tc_syscall_exit without tc_syscall_enter");
  tc_expect_death(exit_without_enter_no_runtime, NULL,
                  "tricolor: tc_syscall_exit without tc_syscall_enter");
  tc_expect_death(exit_twice, NULL,
                  "tricolor: tc_syscall_exit without tc_syscall_enter");
  /* the second enter finds the coroutine in a syscall already */
  tc_expect_death(enter_twice, NULL,
                  "tricolor: tc_syscall_enter inside a system call");
}

/* ------------------------------------------------------------------ */
/* The G status table (white-box: tc__g_cas)                          */

static void illegal_status_main(void *arg) {
  (void)arg;
  /* RUNNING -> IDLE is not in the table, even though `from` is right */
  tc__g_cas(tc__getg(), TC__G_RUNNING, TC__G_IDLE);
}

static void illegal_status(void *arg) {
  (void)arg;
  tc_run(NULL, illegal_status_main, NULL);
}

static void test_g_status_table(void **state) {
  (void)state;
  tc_expect_death(illegal_status, NULL,
                  "illegal status change running -> idle");
}

/* ------------------------------------------------------------------ */
/* Sync misuse                                                         */

static void negative_wg_main(void *arg) {
  (void)arg;
  tc_waitgroup wg = {0};
  tc_waitgroup_add(&wg, 1);
  tc_waitgroup_done(&wg);
  tc_waitgroup_done(&wg);
}

static void negative_wg(void *arg) {
  (void)arg;
  tc_run(NULL, negative_wg_main, NULL);
}

static void unlock_unlocked_main(void *arg) {
  (void)arg;
  tc_mutex mu = {0};
  tc_mutex_lock(&mu);
  tc_mutex_unlock(&mu);
  tc_mutex_unlock(&mu);
}

static void unlock_unlocked(void *arg) {
  (void)arg;
  tc_run(NULL, unlock_unlocked_main, NULL);
}

static void test_sync_misuse(void **state) {
  (void)state;
  tc_expect_death(negative_wg, NULL,
                  "tricolor: sync: negative WaitGroup counter");
  tc_expect_death(unlock_unlocked, NULL,
                  "tricolor: sync: unlock of unlocked mutex");
}

/* ------------------------------------------------------------------ */
/* Select misuse                                                       */

/* A case array as an embedder would keep it in the heap: traced. */
static const uint32_t case_offsets[] = {offsetof(tc_select_case, chan),
                                        offsetof(tc_select_case, value)};
static tc_type case_array_type = {.name = "select cases",
                                  .offsets = case_offsets,
                                  .noffsets = 2,
                                  .stride = sizeof(tc_select_case)};

static void select_heap_cases_main(void *arg) {
  (void)arg;
  tc_select_case *cases = NULL;
  void *v = NULL;
  TC_LOCALS(cases, v);
  cases = tc_alloc(&case_array_type, 2 * sizeof(tc_select_case));
  tc_chan *c = tc_chan_new(1, 0);
  TC_STORE(&cases[0], chan, c);
  cases[0].dir = TC_SELECT_RECV;
  cases[1].dir = TC_SELECT_RECV; /* NULL channel: never fires */
  v = tc_alloc_noscan(16);
  tc_chan_send(cases[0].chan, v);
  int r = tc_select(cases, 2, true); /* would write cases[0].value */
  fprintf(stderr, "tc_select returned %d\n", r);
}

static void select_heap_cases(void *arg) {
  (void)arg;
  tc_config cfg = {.procs = 1};
  tc_run(&cfg, select_heap_cases_main, NULL);
}

static void test_select_cases_in_heap(void **state) {
  (void)state;
#if TC_DEBUG >= 1
  tc_expect_death(select_heap_cases, NULL,
                  "the case array is in the tricolor heap");
  tc_expect_death(select_heap_cases, NULL, "tricolor: tc_select(");
#else
  (void)select_heap_cases;
  skip();
#endif
}

int main(int argc, char **argv) {
  if (argc > 1)
    cmocka_set_test_filter(argv[1]); /* e.g. "test_sleep*" */
  unsetenv("TRICOLOR_PROCS");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deadlock_report),
      cmocka_unit_test(test_deadlock_main_alone),
      cmocka_unit_test(test_sigquit_dump),
      cmocka_unit_test(test_no_false_deadlock),
      cmocka_unit_test(test_no_false_deadlock_short_sleeps),
      cmocka_unit_test(test_ticker_alone_is_no_deadlock),
      cmocka_unit_test(test_short_sleeps_no_lost_wakeup),
      cmocka_unit_test(test_stack_overflow_report),
      cmocka_unit_test(test_api_outside_coroutine),
      cmocka_unit_test(test_syscall_exit_without_enter),
      cmocka_unit_test(test_g_status_table),
      cmocka_unit_test(test_sync_misuse),
      cmocka_unit_test(test_select_cases_in_heap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
