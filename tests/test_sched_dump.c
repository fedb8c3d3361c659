/*
 * test_sched_dump.c -- tc_dump_coroutines (sched/traceback.c) and where
 * tc_run installs the SIGQUIT dump.
 *
 * What is tested:
 *   - parked coroutines (a channel receive, a sleep, a select, a mutex, a
 *     wait group), each listed once with its id, its wait reason in the
 *     bracket, its entry function, the creation site of its tc_go
 *     (function, file:line) and a backtrace, unwound from its saved
 *     context, with a frame in the coroutine's own function (where it
 *     parked) and in tc__park; a coroutine not started yet says so; the
 *     calling (main) coroutine is [running] with its current stack (the
 *     function that called tc_dump_coroutines and main's function); on 1
 *     and 2 Ps;
 *   - from a thread that is not a mutator while main waits for it inside
 *     a system call: main is [syscall] without a backtrace, a coroutine
 *     spinning on the other P is [running] without one (or, if sysmon
 *     preempted it just then, [runnable] with its spin loop in the
 *     backtrace);
 *   - from a thread attached with tc_thread_attach: its entry says so and
 *     has its own stack (the attaching function);
 *   - outside tc_run: TC_ESTATE; a NULL stream: TC_EINVAL;
 *   - SIGQUIT: tc_run installs its handler only over the default
 *     disposition and puts the old one back when it returns; a handler
 *     of the application's and SIG_IGN are left alone (the dump itself,
 *     which exits the process, is a death test in test_sched_death.c).
 */
#include "tc_test.h"

#include "tc_dump_check.h"
#include "tc_sched_test.h"

#include <signal.h>

#define NPARKED 5

static char out[256 * 1024];
static char entry[8192];

static tc_chan *d_chan;     /* global root, registered by the main */
static tc_chan *d_selchan;  /* global root */
static tc_mutex d_mu;
static tc_waitgroup d_wg;
static atomic_ullong ids[NPARKED];
static int sites[NPARKED + 1]; /* tc_go lines; the last: the unstarted one */
static atomic_int woke;

/* Each parks, then does something, so the park is not a tail call: the
 * function stays on the stack and in the backtrace. */
static void park_recv(void *arg) {
  (void)arg;
  atomic_store(&ids[0], tc_self());
  bool ok = true;
  void *v = tc_chan_recv(d_chan, &ok);
  atomic_fetch_add(&woke, v == NULL && !ok ? 1 : 100); /* closed */
}

static void park_sleep(void *arg) {
  (void)arg;
  atomic_store(&ids[1], tc_self());
  tc_sleep((int64_t)3600 * 1000000000);
  atomic_fetch_add(&woke, 100);
}

static void park_select(void *arg) {
  (void)arg;
  atomic_store(&ids[2], tc_self());
  tc_select_case c[1] = {{.chan = d_selchan, .dir = TC_SELECT_RECV}};
  int i = tc_select(c, 1, true);
  atomic_fetch_add(&woke, i == 0 ? 1 : 100);
}

static void park_mutex(void *arg) {
  (void)arg;
  atomic_store(&ids[3], tc_self());
  tc_mutex_lock(&d_mu);
  tc_mutex_unlock(&d_mu);
  atomic_fetch_add(&woke, 1);
}

static void park_wg(void *arg) {
  (void)arg;
  atomic_store(&ids[4], tc_self());
  tc_waitgroup_wait(&d_wg);
  atomic_fetch_add(&woke, 1);
}

static void never_started(void *arg) {
  (void)arg;
  atomic_fetch_add(&woke, 1);
}

static const char *const fns[NPARKED] = {"park_recv", "park_sleep",
                                         "park_select", "park_mutex",
                                         "park_wg"};
static const char *const reasons[NPARKED] = {
    "chan receive", "sleep", "select", "sync.Mutex.Lock",
    "sync.WaitGroup.Wait"};

/* Calls tc_dump_coroutines: a frame the calling coroutine's backtrace
 * must show. */
static __attribute__((noinline)) int dump_here(void) {
  memset(out, 0, sizeof out);
  int rc = dump_capture(out, sizeof out);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
  return rc;
}

static void check_parked(const char *file) {
  char want[512];
  for (int i = 0; i < NPARKED; i++) {
    unsigned long long id = atomic_load(&ids[i]);
    if (dump_entry(out, id, entry, sizeof entry) == NULL) {
      EXPECT(!"a parked coroutine is missing from the dump");
      continue;
    }
    snprintf(want, sizeof want,
             "coroutine %llu [%s]: %s(), created by dump_main at %s:%d\n",
             id, reasons[i], fns[i], file, sites[i]);
    EXPECT(strncmp(entry, want, strlen(want)) == 0);
    EXPECT(dump_has_frame(entry, fns[i]));  /* where it parked */
    EXPECT(dump_has_frame(entry, "tc__park"));
    EXPECT(strstr(entry, "resumed while dumped") == NULL);
    /* its header appears once: each coroutine is listed once */
    const char *first = strstr(out, want);
    EXPECT(first != NULL && strstr(first + 1, want) == NULL);
  }
}

static void dump_main(void *arg) {
  int procs = (int)(intptr_t)arg;
  EXPECT(tc_root_add((void **)&d_chan, 1) == TC_OK);
  EXPECT(tc_root_add((void **)&d_selchan, 1) == TC_OK);
  tc_store((void **)&d_chan, tc_chan_new(0, TC_CHAN_RAW));
  tc_store((void **)&d_selchan, tc_chan_new(0, TC_CHAN_RAW));
  for (int i = 0; i < NPARKED; i++)
    atomic_store(&ids[i], 0);
  atomic_store(&woke, 0);
  tc_mutex_lock(&d_mu);
  tc_waitgroup_add(&d_wg, 1);
  tc_go(park_recv, NULL); sites[0] = __LINE__;
  tc_go(park_sleep, NULL); sites[1] = __LINE__;
  tc_go(park_select, NULL); sites[2] = __LINE__;
  tc_go(park_mutex, NULL); sites[3] = __LINE__;
  tc_go(park_wg, NULL); sites[4] = __LINE__;
  unsigned long long want_ids[NPARKED];
  for (int i = 0; i < NPARKED; i++) {
    while (atomic_load(&ids[i]) == 0)
      tc_sleep(100000);
    want_ids[i] = atomic_load(&ids[i]);
  }
  EXPECT(dump_wait_parked(want_ids, NPARKED));

  /* one more, created but not run yet: on one P, main keeps the P until
   * it has dumped (on two, another M may take it first) */
  tc_go(never_started, NULL); sites[NPARKED] = __LINE__;
  EXPECT(dump_here() == TC_OK);
  check_parked(__FILE__);

  /* the caller: running, with its current stack */
  EXPECT(dump_entry(out, tc_self(), entry, sizeof entry) != NULL);
  static const char main_says[] = "coroutine 1 [running]: dump_main(), "
                                  "created by tc_run (the main coroutine)\n";
  EXPECT(strncmp(entry, main_says, strlen(main_says)) == 0);
  EXPECT(dump_has_frame(entry, "dump_here"));
  EXPECT(dump_has_frame(entry, "dump_main"));
  EXPECT(!dump_has_frame(entry, "tc_dump_coroutines"));

  /* the one not started: runnable, "not started yet" */
  char want[256];
  snprintf(want, sizeof want,
           "]: never_started(), created by dump_main at %s:%d\n\t(not "
           "started yet)\n", __FILE__, sites[NPARKED]);
  EXPECT(procs != 1 || strstr(out, want) != NULL);

  /* release everyone; their wake-ups prove they were parked, not lost */
  tc_chan_close(d_chan);
  tc_chan_close(d_selchan);
  tc_mutex_unlock(&d_mu);
  tc_waitgroup_done(&d_wg);
  /* four woken (the sleeper sleeps on) and the one not started */
  while (atomic_load(&woke) < NPARKED)
    tc_sleep(100000);
  EXPECT(atomic_load(&woke) == NPARKED);
  tc_store((void **)&d_chan, NULL);
  tc_store((void **)&d_selchan, NULL);
  EXPECT(tc_root_remove((void **)&d_chan) == TC_OK);
  EXPECT(tc_root_remove((void **)&d_selchan) == TC_OK);
}

static void test_dump_parked(void **state) {
  (void)state;
  for (int procs = 1; procs <= 2; procs++)
    run(procs, dump_main, (void *)(intptr_t)procs);
}

/* ------------------------------------------------------------------ */
/* From a thread that is not a mutator                                 */

static atomic_int spin_started, spin_stop;
static atomic_ullong spin_id;
static int thread_rc;

static void spinner(void *arg) {
  (void)arg;
  atomic_store(&spin_id, tc_self());
  atomic_store(&spin_started, 1);
  while (!atomic_load(&spin_stop))
    tc_safepoint();
  atomic_store(&spin_started, 2);
}

static void *dump_thread(void *arg) {
  (void)arg;
  memset(out, 0, sizeof out);
  thread_rc = dump_capture(out, sizeof out);
  return NULL;
}

static void thread_main(void *arg) {
  (void)arg;
  atomic_store(&spin_started, 0);
  atomic_store(&spin_stop, 0);
  tc_go(spinner, NULL);
  while (atomic_load(&spin_started) == 0)
    tc_sleep(100000);
  pthread_t t;
  tc_syscall_enter();
  int rc = pthread_create(&t, NULL, dump_thread, NULL);
  if (rc == 0)
    pthread_join(t, NULL);
  tc_syscall_exit();
  EXPECT(rc == 0);
  atomic_store(&spin_stop, 1);
  while (atomic_load(&spin_started) != 2)
    tc_sleep(100000);
  EXPECT(thread_rc == TC_OK);
  EXPECT(dump_entry(out, 1, entry, sizeof entry) != NULL);
  EXPECT(strncmp(entry, "coroutine 1 [syscall]: thread_main()", 36) == 0);
  EXPECT(strstr(entry, "\n\t(in a system call on its thread: no "
                       "backtrace)") != NULL);
  EXPECT(dump_entry(out, atomic_load(&spin_id), entry, sizeof entry) !=
         NULL);
  const char *b = strchr(entry, '[');
  if (strncmp(b, "[running]: spinner()", 20) == 0)
    EXPECT(strstr(entry, "\n\t(running on another thread: no "
                         "backtrace)") != NULL);
  else /* preempted by sysmon at that moment: parked in its loop */
    EXPECT(strncmp(b, "[runnable]: spinner()", 21) == 0 &&
           dump_has_frame(entry, "spinner"));
}

static void test_dump_from_thread(void **state) {
  (void)state;
  run(2, thread_main, NULL);
}

/* An attached thread dumps: it is "an attached thread" with its own
 * stack; main waits for it in a system call. */
static atomic_ullong attached_id;

static __attribute__((noinline)) void *attached_dump(void *arg) {
  (void)arg;
  if (tc_thread_attach() != TC_OK) {
    thread_rc = TC_ESTATE;
    return NULL;
  }
  atomic_store(&attached_id, tc_self());
  thread_rc = dump_here();
  EXPECT(tc_thread_detach() == TC_OK);
  return NULL;
}

static void attached_main(void *arg) {
  (void)arg;
  pthread_t t;
  thread_rc = -1;
  tc_syscall_enter();
  int rc = pthread_create(&t, NULL, attached_dump, NULL);
  if (rc == 0)
    pthread_join(t, NULL);
  tc_syscall_exit();
  EXPECT(rc == 0);
  EXPECT(thread_rc == TC_OK);
  unsigned long long id = atomic_load(&attached_id);
  EXPECT(dump_entry(out, id, entry, sizeof entry) != NULL);
  char want[128];
  snprintf(want, sizeof want, "coroutine %llu [running]: an attached "
           "thread (tc_thread_attach)\n", id);
  EXPECT(strncmp(entry, want, strlen(want)) == 0);
  EXPECT(dump_has_frame(entry, "dump_here"));
  EXPECT(dump_has_frame(entry, "attached_dump"));
  EXPECT(dump_entry(out, 1, entry, sizeof entry) != NULL);
  EXPECT(strncmp(entry, "coroutine 1 [syscall]: attached_main()", 38) == 0);
}

static void test_dump_attached_thread(void **state) {
  (void)state;
  run(2, attached_main, NULL);
}

static void test_dump_outside_run(void **state) {
  (void)state;
  FILE *f = fopen("/dev/null", "w");
  assert_non_null(f);
  assert_int_equal(tc_dump_coroutines(f), TC_ESTATE);
  assert_int_equal(tc_dump_coroutines(NULL), TC_EINVAL);
  fclose(f);
}

/* ------------------------------------------------------------------ */
/* Where tc_run installs its SIGQUIT handler                           */

static struct sigaction seen; /* SIGQUIT's disposition inside tc_run */
static atomic_int app_quits;

static void app_quit(int sig) {
  (void)sig;
  atomic_fetch_add(&app_quits, 1);
}

static void look_main(void *arg) {
  (void)arg;
  EXPECT(sigaction(SIGQUIT, NULL, &seen) == 0);
  if (arg != NULL) /* the application's handler must run, not the dump */
    EXPECT(raise(SIGQUIT) == 0);
}

static void test_sigquit_installed_over_default(void **state) {
  (void)state;
  struct sigaction dfl, after;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  assert_int_equal(sigaction(SIGQUIT, &dfl, NULL), 0);
  run(1, look_main, NULL);
  assert_true(seen.sa_flags & SA_SIGINFO); /* ours, while tc_run ran */
  assert_true(seen.sa_sigaction != NULL);
  assert_int_equal(sigaction(SIGQUIT, NULL, &after), 0);
  assert_false(after.sa_flags & SA_SIGINFO);
  assert_ptr_equal(after.sa_handler, SIG_DFL); /* put back */
}

static void test_sigquit_application_handler_kept(void **state) {
  (void)state;
  struct sigaction app, after;
  memset(&app, 0, sizeof app);
  app.sa_handler = app_quit;
  assert_int_equal(sigaction(SIGQUIT, &app, NULL), 0);
  atomic_store(&app_quits, 0);
  run(1, look_main, (void *)1);
  assert_false(seen.sa_flags & SA_SIGINFO);
  assert_ptr_equal(seen.sa_handler, app_quit);
  assert_int_equal(atomic_load(&app_quits), 1);
  assert_int_equal(sigaction(SIGQUIT, NULL, &after), 0);
  assert_ptr_equal(after.sa_handler, app_quit);

  app.sa_handler = SIG_IGN; /* ignored stays ignored */
  assert_int_equal(sigaction(SIGQUIT, &app, NULL), 0);
  run(1, look_main, NULL);
  assert_ptr_equal(seen.sa_handler, SIG_IGN);
  assert_int_equal(sigaction(SIGQUIT, NULL, &after), 0);
  assert_ptr_equal(after.sa_handler, SIG_IGN);

  app.sa_handler = SIG_DFL;
  assert_int_equal(sigaction(SIGQUIT, &app, NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dump_parked),
      cmocka_unit_test(test_dump_from_thread),
      cmocka_unit_test(test_dump_attached_thread),
      cmocka_unit_test(test_dump_outside_run),
      cmocka_unit_test(test_sigquit_installed_over_default),
      cmocka_unit_test(test_sigquit_application_handler_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
