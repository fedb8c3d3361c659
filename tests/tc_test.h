/*
 * tc_test.h -- helpers shared by the cmocka tests of tricolor.
 *
 * Include it instead of <cmocka.h>: it pulls in what cmocka needs first
 * (stdarg, stddef, setjmp, stdint) and then cmocka itself.
 *
 *   tc_expect_death(fn, arg, "substring")
 *       Runs fn(arg) in a forked child and asserts that the child dies
 *       (killed by SIGABRT, or exits with a non-zero status) and that what
 *       it wrote to stderr contains the substring.  Use it for the
 *       "prints a tricolor: message and aborts" contract.
 *
 *   tc_test_run_child(fn, arg, "what")
 *       Runs int fn(arg) in a forked child under a watchdog and asserts
 *       that the child exits with status 0; a crash, a hang or a non-zero
 *       status fails the test with a message that starts with "what".
 *       Use it for a stress run that must not take the test runner down.
 *
 *   tc_test_rss_kib()
 *       Returns this process's resident set size in KiB (VmRSS of
 *       /proc/self/status), or -1 if it cannot be read.  Under an emulator
 *       (tc_test_under_emulator) VmRSS is the emulator's: qemu-user's
 *       translated code and its own tables grow as the test runs.  There it
 *       sums, over the host's /proc/self/smaps (which qemu passes through),
 *       the Rss of the mappings that the guest's /proc/self/maps (which
 *       qemu filters to the guest's own) also lists; -1 if none matches
 *       (a guest address space not at host address 0).
 *
 *   tc_test_count_lines(path), tc_test_count_entries(dir)
 *       Lines of a file, entries of a directory: for leak checks on
 *       /proc/self/maps, /proc/self/fd and /proc/self/task.
 *
 *   tc_test_under_valgrind(), tc_test_under_asan(), tc_test_under_tsan(),
 *   tc_test_under_sanitizer() (ASan or TSan), tc_test_under_emulator()
 *       Tell the test where it runs, to scale loops or relax RSS bounds.
 *       Under a sanitizer the runtime maps memory of its own as the test
 *       goes (ASan's allocator, TSan's shadow and meta shadow for every new
 *       mapping), so counts of /proc/self/maps lines grow there.
 *       tc_test_under_emulator() is true when the test runs under qemu-user
 *       (the aarch64 cross build): tests/CMakeLists.txt sets
 *       TC_TEST_EMULATOR for every test when CMAKE_CROSSCOMPILING_EMULATOR
 *       is set; set it by hand when running a test under qemu yourself.
 *
 *   tc_test_xorshift(&state), tc_test_mix(x)
 *       A deterministic xorshift64 stream and splitmix64's finalizer, for
 *       stress tests' seeded choices and checksums.
 *
 *   tc_test_modes[4]
 *       The four barrier modes, hybrid first, stw last.
 *
 *   tc_test_next_opt(argc, argv, &i, "prog", &key, &value)
 *       A stress test's "--key value" options, one pair a call.
 *
 *   tc_test_node, tc_test_node_type
 *       A list cell (next, value) and its type, for tests that build lists.
 *
 *   tc_test_slow_build()
 *       Any of valgrind, a sanitizer, qemu-user: widen timing windows.
 *
 *   tc_test_debug_env(extra)
 *       Sets TRICOLOR_DEBUG for the next tc_init / tc_run to its value at
 *       the first call plus ",extra"; tc_test_debug_env(NULL) restores it.
 *       So TRICOLOR_DEBUG=markorder=span runs a suite in the span mark
 *       order (tests/CMakeLists.txt registers some suites so, *_span).
 *
 *   tc_test_debug_keep_markorder()
 *       For a suite that starts from an empty TRICOLOR_DEBUG: drops every
 *       setting but markorder=, which chooses the collector under test.
 *
 *   tc_test_start(cfg), tc_test_finish(rounds), tc_test_restart(cfg),
 *   tc_test_settle(rounds)
 *       The fixture of a test on a bare mutator: setup starts the runtime
 *       and saves the root-stack mark (tc_test_drop_stale_frames), teardown
 *       collects until nothing is left, shuts down and asserts that
 *       nothing leaked (heap_live and finalizers_queued both 0).
 *
 * Death tests, how they work and what they need:
 *   1. stdout and stderr are flushed, then the test forks.  The child points
 *      its stderr at a pipe, resets the signal handlers cmocka installs for
 *      SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGSYS (cmocka would longjmp back into
 *      its runner inside the child), arms an alarm as a watchdog, runs
 *      fn(arg) and, if fn returns, says so on a second pipe and exits with
 *      status 0; the parent reports that as "did not die" whatever the exit
 *      status became (valgrind turns it into its error exit code when the
 *      child leaks, which a child that skips tc_shutdown does).
 *   2. The parent reads the pipe to EOF, waits for the child and asserts.
 *   3. Only the forking thread exists in the child.  Start the runtime
 *      inside fn (tc_init ... misuse) rather than before the fork: a runtime
 *      with background threads does not survive fork().
 *   4. Under AddressSanitizer a child that the sanitizer stops (a SEGV it
 *      caught, say) exits with status 1 after its report: that counts as a
 *      death, and the report is in the captured stderr.
 *   5. Under valgrind the child is traced by valgrind as well; run valgrind
 *      with --child-silent-after-fork=yes (scripts/memcheck.py does) so
 *      the child's leak report, which an abort makes meaningless, stays out
 *      of the log.  The watchdog is longer there.
 *   6. Set TC_TEST_SKIP_DEATH=1 in the environment to skip death tests
 *      (cmocka reports them as skipped).
 *
 * Files that call tc_expect_death get the ctest label `death` automatically
 * (tests/CMakeLists.txt), so a run can exclude them with -LE death.
 */
#ifndef TC_TEST_H
#define TC_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <tricolor.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define TC_TEST_UNUSED __attribute__((unused))

/* Bytes of a dying child's stderr kept for matching and for the failure
 * message.  A tricolor: message is one line; valgrind and ASan reports run
 * to a few KiB. */
#define TC_TEST_DEATH_CAPTURE (256 * 1024)

/* Seconds a death-test child may run before the watchdog kills it. */
#define TC_TEST_DEATH_TIMEOUT_S 60
#define TC_TEST_DEATH_TIMEOUT_VALGRIND_S 300

/* Returns true when running under valgrind (it sets LD_PRELOAD to its
 * vgpreload objects for the client). */
static TC_TEST_UNUSED bool tc_test_under_valgrind(void) {
  const char *p = getenv("LD_PRELOAD");
  return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* Returns true when built with AddressSanitizer. */
static TC_TEST_UNUSED bool tc_test_under_asan(void) {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

/* Returns true when built with ThreadSanitizer. */
static TC_TEST_UNUSED bool tc_test_under_tsan(void) {
#if defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

/* Returns true when built with AddressSanitizer or ThreadSanitizer. */
static TC_TEST_UNUSED bool tc_test_under_sanitizer(void) {
  return tc_test_under_asan() || tc_test_under_tsan();
}

/* Returns true when the test runs under an emulator (qemu-user): the
 * environment names it in TC_TEST_EMULATOR (tests/CMakeLists.txt). */
static TC_TEST_UNUSED bool tc_test_under_emulator(void) {
  const char *e = getenv("TC_TEST_EMULATOR");
  return e != NULL && e[0] != '\0' && strcmp(e, "0") != 0;
}

/* The four barrier modes, in the order the stress tests run them (names:
 * tc_barrier_name). */
static const tc_barrier_mode tc_test_modes[4] TC_TEST_UNUSED = {
    TC_BARRIER_HYBRID, TC_BARRIER_INSERTION, TC_BARRIER_DELETION,
    TC_BARRIER_STW};

/* Steps through a stress test's options, "--key value" pairs: *key and
 * *value get the pair at argv[*i], and *i moves past it; false after the
 * last.  A key without a value ends the program with status 2, naming
 * prog. */
static TC_TEST_UNUSED bool tc_test_next_opt(int argc, char **argv, int *i,
                                            const char *prog,
                                            const char **key,
                                            const char **value) {
  if (*i >= argc)
    return false;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: option %s needs a value\n", prog, argv[*i]);
    exit(2);
  }
  *key = argv[*i];
  *value = argv[*i + 1];
  *i += 2;
  return true;
}

/* Returns the next number of the xorshift64 generator (shifts 13, 7, 17)
 * whose state is *s (never 0); a stress test's deterministic stream. */
static TC_TEST_UNUSED uint64_t tc_test_xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Returns x mixed by splitmix64's finalizer: a bijection whose every
 * output bit depends on every input bit (seeds, checksums). */
static TC_TEST_UNUSED uint64_t tc_test_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* Returns true on a slow build (valgrind, a sanitizer, qemu-user): there
 * a test widens its timing windows (mark delays, watchdogs). */
static TC_TEST_UNUSED bool tc_test_slow_build(void) {
  return tc_test_under_valgrind() || tc_test_under_sanitizer() ||
         tc_test_under_emulator();
}

/* Sets TRICOLOR_DEBUG, which tc_init and tc_run read, to the value it had
 * at the first call (a sanitizer run or the user may have set it) followed
 * by `extra`; NULL restores that first value.  Test thread, or a forked
 * child before it starts the runtime. */
static TC_TEST_UNUSED void tc_test_debug_env(const char *extra) {
  static char buf[1024];
  static char saved[512];
  static bool have_saved;
  if (!have_saved) {
    const char *old = getenv("TRICOLOR_DEBUG");
    snprintf(saved, sizeof saved, "%s", old ? old : "");
    have_saved = true;
  }
  if (extra == NULL) {
    if (saved[0])
      setenv("TRICOLOR_DEBUG", saved, 1);
    else
      unsetenv("TRICOLOR_DEBUG");
    return;
  }
  snprintf(buf, sizeof buf, "%s%s%s", saved, saved[0] ? "," : "", extra);
  setenv("TRICOLOR_DEBUG", buf, 1);
}

/* Leaves only the markorder= entry of TRICOLOR_DEBUG (the last one, if
 * several), or unsets it.  Test thread, before tc_test_debug_env. */
static TC_TEST_UNUSED void tc_test_debug_keep_markorder(void) {
  const char *old = getenv("TRICOLOR_DEBUG");
  const char *hit = NULL;
  for (const char *p = old; p && (p = strstr(p, "markorder=")) != NULL; p++)
    if (p == old || p[-1] == ',')
      hit = p;
  if (hit == NULL) {
    unsetenv("TRICOLOR_DEBUG");
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%.*s", (int)strcspn(hit, ","), hit);
  setenv("TRICOLOR_DEBUG", buf, 1);
}

/* Under qemu-user: the Rss in KiB of the host mappings that overlap a
 * guest mapping (see tc_test_rss_kib), or -1. */
static TC_TEST_UNUSED long tc_test__emulated_rss_kib(void) {
  FILE *f = fopen("/proc/self/maps", "r"); /* the guest's, from qemu */
  if (f == NULL)
    return -1;
  size_t n = 0, cap = 0;
  unsigned long(*r)[2] = NULL;
  char line[512];
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 256;
      void *g = realloc(r, cap * sizeof *r);
      if (g == NULL) {
        free(r);
        fclose(f);
        return -1;
      }
      r = g;
    }
    r[n][0] = lo;
    r[n][1] = hi;
    n++;
  }
  fclose(f);
  f = fopen("/proc/self/smaps", "r"); /* the host's: qemu passes it on */
  if (f == NULL) {
    free(r);
    return -1;
  }
  long kib = 0;
  bool matched = false, guest = false;
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) { /* a mapping's header */
      guest = false;
      for (size_t i = 0; i < n && !guest; i++)
        guest = lo < r[i][1] && r[i][0] < hi;
      matched |= guest;
    } else if (guest && strncmp(line, "Rss:", 4) == 0) {
      kib += strtol(line + 4, NULL, 10);
    }
  }
  fclose(f);
  free(r);
  return matched ? kib : -1;
}

/* Returns VmRSS of this process in KiB (under an emulator: the guest's
 * share, see above), or -1 if /proc is unreadable. */
static TC_TEST_UNUSED long tc_test_rss_kib(void) {
  if (tc_test_under_emulator())
    return tc_test__emulated_rss_kib();
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      char *end;
      long v = strtol(line + 6, &end, 10);
      if (end != line + 6)
        kib = v;
      break;
    }
  }
  fclose(f);
  return kib;
}

/* Returns the number of lines of the file at path (of /proc/self/maps:
 * this process's mappings), or -1 if it cannot be read.  Any thread. */
static TC_TEST_UNUSED int tc_test_count_lines(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

/* Returns the number of entries of the directory at path that do not
 * start with a dot (of /proc/self/fd: open descriptors, this count's own
 * included; of /proc/self/task: threads), or -1.  Any thread. */
static TC_TEST_UNUSED int tc_test_count_entries(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* Prints a tc_expect_death failure and fails the test at file:line. */
#define tc_test__fail(file, line, ...)                                       \
  do {                                                                       \
    print_error("tc_expect_death: " __VA_ARGS__);                            \
    print_error("\n");                                                       \
    _fail((file), (line));                                                   \
  } while (0)

/* In a forked child: back to the default actions of the signals cmocka
 * catches with handlers installed by signal() (no SA_SIGINFO), which would
 * longjmp into its runner and run the rest of the suite a second time in
 * the child; and of SIGABRT and SIGALRM (a watchdog alarm ends it).
 * Handlers installed with SA_SIGINFO (the library's guard-page reporter,
 * the sanitizers) stay. */
static TC_TEST_UNUSED void tc_test_child_signals(void) {
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    if (sigaction(sigs[i], NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
        sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)
      signal(sigs[i], SIG_DFL);
  }
  signal(SIGABRT, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
}

/* Child side of tc_expect_death; never returns. */
static TC_TEST_UNUSED void tc_test__death_child(void (*fn)(void *), void *arg,
                                                int wfd, int retfd) {
  tc_test_child_signals();
  alarm(tc_test_under_valgrind() ? TC_TEST_DEATH_TIMEOUT_VALGRIND_S
                                 : TC_TEST_DEATH_TIMEOUT_S);
  if (dup2(wfd, STDERR_FILENO) < 0)
    _exit(120);
  close(wfd);
  setvbuf(stderr, NULL, _IONBF, 0);
  fn(arg);
  fflush(stdout);
  char returned = 'R';
  if (write(retfd, &returned, 1) != 1)
    _exit(121);
  _exit(0); /* no atexit handlers, no flushing of the parent's buffers */
}

/*
 * Runs fn(arg) in a forked child and asserts (cmocka) that the child was
 * killed by SIGABRT or exited with a non-zero status, and that its stderr
 * contains expected_substring (NULL or "" = any output).  On failure, the
 * child's stderr is printed and the failure names the caller's line.
 * Test thread; no runtime threads running.  A macro over
 *   void tc_expect_death(void (*fn)(void *), void *arg, const char *substr);
 */
#define tc_expect_death(fn, arg, expected_substring)                        \
  tc_test__expect_death((fn), (arg), (expected_substring), __FILE__, __LINE__)

static TC_TEST_UNUSED void tc_test__expect_death(
    void (*fn)(void *), void *arg, const char *expected_substring,
    const char *file, int line) {
  const char *skip_env = getenv("TC_TEST_SKIP_DEATH");
  if (skip_env != NULL && skip_env[0] != '\0' && strcmp(skip_env, "0") != 0) {
    print_message("tc_expect_death: skipped (TC_TEST_SKIP_DEATH is set)\n");
    skip();
  }

  int fds[2], ret[2]; /* the child's stderr; "fn returned" */
  if (pipe2(fds, O_CLOEXEC) != 0)
    tc_test__fail(file, line, "pipe: %s", strerror(errno));
  if (pipe2(ret, O_CLOEXEC) != 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    tc_test__fail(file, line, "pipe: %s", strerror(err));
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    close(ret[0]);
    close(ret[1]);
    tc_test__fail(file, line, "fork: %s", strerror(err));
  }
  if (pid == 0) {
    close(fds[0]);
    close(ret[0]);
    tc_test__death_child(fn, arg, fds[1], ret[1]);
  }
  close(fds[1]);
  close(ret[1]);

  char *buf = malloc(TC_TEST_DEATH_CAPTURE + 1);
  assert_non_null(buf);
  size_t len = 0;
  bool truncated = false;
  for (;;) {
    char scratch[4096];
    ssize_t n = read(fds[0], scratch, sizeof scratch);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    size_t take = (size_t)n;
    if (take > TC_TEST_DEATH_CAPTURE - len) {
      take = TC_TEST_DEATH_CAPTURE - len;
      truncated = true;
    }
    memcpy(buf + len, scratch, take);
    len += take;
  }
  buf[len] = '\0';
  close(fds[0]);

  int status = 0;
  pid_t w;
  do
    w = waitpid(pid, &status, 0);
  while (w < 0 && errno == EINTR);
  if (w != pid) {
    int err = errno;
    free(buf);
    close(ret[0]);
    tc_test__fail(file, line, "waitpid: %s", strerror(err));
  }
  /* The child is gone: this read returns its marker or end-of-file. */
  char marker = 0;
  ssize_t got;
  do
    got = read(ret[0], &marker, 1);
  while (got < 0 && errno == EINTR);
  close(ret[0]);
  bool fn_returned = got == 1;

  char how[160];
  bool died;
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    died = sig == SIGABRT;
    snprintf(how, sizeof how, "was killed by signal %d (%s)%s", sig,
             strsignal(sig), sig == SIGALRM ? " -- watchdog timeout" : "");
  } else if (WIFEXITED(status)) {
    died = WEXITSTATUS(status) != 0 && !fn_returned;
    snprintf(how, sizeof how, "%sexited with status %d",
             fn_returned ? "returned from fn and " : "", WEXITSTATUS(status));
  } else {
    died = false;
    snprintf(how, sizeof how, "ended with wait status 0x%x", status);
  }

  bool matched = expected_substring == NULL || expected_substring[0] == '\0' ||
                 strstr(buf, expected_substring) != NULL;
  if (!died || !matched) {
    print_error("tc_expect_death: the child %s; its stderr%s:\n"
                "----8<----\n%s%s----8<----\n",
                how, truncated ? " (truncated)" : "", buf,
                (len > 0 && buf[len - 1] != '\n') ? "\n" : "");
    free(buf);
    if (!died)
      tc_test__fail(file, line,
                    "expected SIGABRT or a non-zero exit, the child %s", how);
    tc_test__fail(file, line, "the child %s but its stderr lacks \"%s\"",
                  how, expected_substring);
  }
  free(buf);
}

/*
 * Runs fn(arg) in a forked child that exits with what fn returns, and
 * asserts (cmocka) that the child exited with status 0.  The child gets
 * the default signal actions (tc_test_child_signals) and a watchdog alarm
 * of 120 s (600 s in a slow build): a hang ends as SIGALRM.  A signal or a
 * non-zero status fails the test at the caller's line, after a message
 * that starts with `what` (the run's name and seed).  Test thread; no
 * runtime threads running.  A macro over
 *   void tc_test_run_child(int (*fn)(void *), void *arg, const char *what);
 */
#define tc_test_run_child(fn, arg, what)                                    \
  tc_test__run_child((fn), (arg), (what), __FILE__, __LINE__)

static TC_TEST_UNUSED void tc_test__run_child(int (*fn)(void *), void *arg,
                                              const char *what,
                                              const char *file, int line) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    tc_test_child_signals();
    alarm(tc_test_slow_build() ? 600 : 120); /* a hang ends as SIGALRM */
    int rc = fn(arg);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  int status = 0;
  pid_t got;
  do
    got = waitpid(pid, &status, 0);
  while (got < 0 && errno == EINTR);
  assert_int_equal(got, pid);
  if (WIFSIGNALED(status)) {
    print_error("%s: the child was killed by signal %d (%s)%s\n", what,
                WTERMSIG(status), strsignal(WTERMSIG(status)),
                WTERMSIG(status) == SIGALRM ? ": watchdog timeout" : "");
    _fail(file, line);
  }
  assert_true(WIFEXITED(status));
  if (WEXITSTATUS(status) != 0) {
    print_error("%s: the child exited with status %d\n", what,
                WEXITSTATUS(status));
    _fail(file, line);
  }
}

/* A list cell: `next` is its one reference, `value` a payload (a term of
 * the list's checksum); 16 bytes, tc_type "node".  Files that build lists
 * say `typedef tc_test_node node;`. */
typedef struct tc_test_node {
  struct tc_test_node *next;
  uint64_t value;
} tc_test_node;
static TC_TEST_UNUSED const uint32_t tc_test_node_offsets[] = {
    offsetof(tc_test_node, next)};
static TC_TEST_UNUSED tc_type tc_test_node_type = {
    .name = "node", .offsets = tc_test_node_offsets, .noffsets = 1};

/* The root-stack top saved in a test's setup (tc_roots_save()). */
static TC_TEST_UNUSED tc_roots_mark tc_test_base_mark;

/* A failed assertion longjmps out of TC_LOCALS scopes, leaving their
 * frames on the root stack.  Drops them without walking them (they lie in
 * dead stack memory), so the next test does not scan a dead C stack. */
static TC_TEST_UNUSED void tc_test_drop_stale_frames(void) {
  tc__rootstack *rs = tc__ctx_get()->rs;
  if (rs != NULL && rs->top != (const tc__frame *)tc_test_base_mark)
    rs->top = (tc__frame *)tc_test_base_mark;
}

/* Starts the bare mutator of one test: tc_init(cfg) on this thread and
 * the root-stack mark that tc_test_drop_stale_frames returns to.  Returns
 * 0, or -1 if tc_init failed (a cmocka setup's return).  Test thread. */
static TC_TEST_UNUSED int tc_test_start(const tc_config *cfg) {
  if (tc_init(cfg) != TC_OK)
    return -1;
  tc_test_base_mark = tc_roots_save();
  return 0;
}

/* Shuts the test's runtime down and starts it again with cfg, inside a
 * test (a failure fails the test).  Test thread. */
static TC_TEST_UNUSED void tc_test_restart(const tc_config *cfg) {
  tc_shutdown();
  assert_int_equal(tc_init(cfg), TC_OK);
  tc_test_base_mark = tc_roots_save();
}

/* Collects up to `rounds` times, until nothing is live and no finalizer is
 * queued (a finalizable object needs one cycle more after its finalizer),
 * and returns the stats of the last cycle.  Bare mutator. */
static TC_TEST_UNUSED tc_stats tc_test_settle(int rounds) {
  tc_stats s;
  memset(&s, 0, sizeof s);
  for (int i = 0; i < rounds; i++) {
    tc_gc();
    tc_read_stats(&s);
    if (s.heap_live == 0 && s.finalizers_queued == 0)
      break;
  }
  return s;
}

/* Ends a test started with tc_test_start, as its cmocka teardown: drops
 * the frames a failed assertion left, settles (at most `rounds` cycles),
 * shuts down (first: a failed check must not leave it running), then
 * asserts that nothing leaked: no live bytes, no queued finalizer. */
static TC_TEST_UNUSED void tc_test_finish(int rounds) {
  tc_test_drop_stale_frames();
  tc_stats s = tc_test_settle(rounds);
  tc_shutdown();
  assert_int_equal(s.heap_live, 0);
  assert_int_equal(s.finalizers_queued, 0);
}

#endif /* TC_TEST_H */
