/*
 * main.c -- the mal program: a MAL REPL on stdin/stdout, or `mal FILE
 * ARGS...` to run a file with *ARGV* bound to ARGS.
 *
 * Start-up.
 *   1. main() parses the command line and calls tc_run, which starts the
 *      tricolor runtime and runs main_coroutine as coroutine 1 (the REPL
 *      is "the main coroutine": when it returns, the program ends).
 *   2. main_coroutine takes the GIL (coro.c), creates the global objects
 *      and roots (types.c), the core namespace and the prelude (core.c,
 *      coro.c), then runs the file or the REPL.
 *   3. Each REPL line is read with the GIL released and the thread marked
 *      as in a system call (tc_syscall_enter/exit): while the REPL waits
 *      for input, spawned coroutines keep running on the processor.
 *
 * Errors.  rep() installs a handler per line: save the root-stack mark,
 * setjmp; a throw lands back in rep(), which pops the frames the longjmp
 * skipped with tc_roots_unwind and prints "Error: ..." (the message of a
 * string, the printed form of any other value).  The REPL goes on.
 *
 * Test modes.  `mal --step 0` echoes each line and `mal --step 1` reads
 * and prints without evaluating, so the runner can feed the step 0 and
 * step 1 test files to the same program.
 *
 * Environment: MAL_STACK_KB sets the coroutine stack size (default 8192;
 * eval throws "stack overflow" before using the last 64 KiB).
 */
#include "mal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef struct start {
  int step;                  /* 0 or 1: test modes; 9: evaluate */
  const char *file;          /* NULL: REPL */
  int argc;                  /* *ARGV* */
  char **argv;
  int status;                /* exit status of the program */
} start;

static void print_error(FILE *f, mal *exc) {
  fputs("Error: ", f);
  mal_print(f, exc, exc->tag != T_STR);
  fputc('\n', f);
}

/* Reads one line into *buf; false at end of input.  Blocks with the GIL
 * released and the processor handed over (no tricolor call, no heap
 * access in between). */
static bool read_line(char **buf, size_t *cap, size_t *len) {
  mal_gil_release();
  tc_syscall_enter();
  ssize_t n = getline(buf, cap, stdin);
  tc_syscall_exit();
  mal_gil_acquire();
  if (n < 0)
    return false;
  if (n > 0 && (*buf)[n - 1] == '\n')
    (*buf)[--n] = '\0';
  *len = (size_t)n;
  return true;
}

/* Reads, evaluates and prints one REPL line. */
static void rep(mt *th, int step, const char *line, size_t n) {
  mal *v = NULL;
  TC_LOCALS(v);
  if (step == 0) {
    fwrite(line, 1, n, stdout);
    fputc('\n', stdout);
    return;
  }
  jmp_buf jb;
  jmp_buf *volatile saved = th->handler;
  volatile tc_roots_mark mark = tc_roots_save(); /* read after longjmp */
  if (setjmp(jb) == 0) {
    th->handler = &jb;
    v = mal_read(th, line, n);
    if (v) {
      if (step > 1)
        v = mal_eval(th, v, MAL_REPL_ENV);
      mal_print(stdout, v, true);
      fputc('\n', stdout);
    }
  } else {
    tc_roots_unwind(mark);
    v = th->exc;
    th->exc = NULL;
    print_error(stdout, v);
  }
  th->handler = saved;
}

static void repl(mt *th, int step) {
  char *line = NULL; /* C memory: outlives any throw inside rep */
  size_t cap = 0, len = 0;
  for (;;) {
    fputs("user> ", stdout);
    fflush(stdout);
    if (!read_line(&line, &cap, &len))
      break;
    rep(th, step, line, len);
  }
  free(line);
  fputc('\n', stdout);
}

/* Runs (load-file file); returns the exit status. */
static int run_file(mt *th, const char *file) {
  mal *v = NULL, *f = NULL;
  mal_list *args = NULL;
  TC_LOCALS(v, f, args);
  jmp_buf jb;
  volatile tc_roots_mark mark = tc_roots_save(); /* read after longjmp */
  if (setjmp(jb) == 0) {
    th->handler = &jb;
    f = mal_env_get(MAL_REPL_ENV, mal_symbol("load-file", 9));
    v = mal_string(file);
    args = mal_cons(v, MAL_EMPTY);
    mal_apply(th, f, args);
    th->handler = NULL;
    return 0;
  }
  tc_roots_unwind(mark);
  th->handler = NULL;
  v = th->exc;
  th->exc = NULL;
  fflush(stdout);
  print_error(stderr, v);
  return 1;
}

/* Binds *ARGV* to the program's arguments after the file. */
static void define_argv(start *st) {
  mal_lb b = {0};
  mal *s = NULL;
  TC_LOCALS(b.head, b.tail, s);
  for (int i = 0; i < st->argc; i++) {
    s = mal_string(st->argv[i]);
    mal_lb_add(&b, s);
  }
  s = &mal_lb_done(&b)->h;
  mal_env_set(MAL_REPL_ENV, mal_symbol("*ARGV*", 6), s);
}

static void main_coroutine(void *arg) {
  start *st = arg;
  mt th;
  th.exc = NULL;
  TC_LOCALS(th.exc);
  mal_thread_init(&th, mal_stack_size);
  mal_gil_acquire();
  mal_types_init();

  jmp_buf jb;
  volatile tc_roots_mark mark = tc_roots_save(); /* read after longjmp */
  if (setjmp(jb) != 0) {
    tc_roots_unwind(mark);
    fputs("mal: start-up failed: ", stderr);
    print_error(stderr, th.exc);
    st->status = 70;
    mal_gil_release();
    return;
  }
  th.handler = &jb;
  mal_core_init(&th, MAL_REPL_ENV);
  mal_coro_init(MAL_REPL_ENV);
  define_argv(st);
  th.handler = NULL;

  if (st->file)
    st->status = run_file(&th, st->file);
  else
    repl(&th, st->step);
  fflush(stdout);
  mal_gil_release();
}

static void usage(void) {
  fputs("usage: mal [--step 0|1] [FILE [ARGS...]]\n"
        "  no FILE: read-eval-print loop on stdin (prompt 'user> ')\n"
        "  FILE: load FILE with *ARGV* bound to ARGS\n"
        "  --step 0: echo lines; --step 1: read and print only (tests)\n",
        stderr);
  exit(2);
}

int main(int argc, char **argv) {
  start st = {.step = 9};
  int i = 1;
  if (i < argc && strcmp(argv[i], "--step") == 0) {
    if (i + 1 >= argc)
      usage();
    st.step = atoi(argv[i + 1]);
    if (st.step != 0 && st.step != 1)
      usage();
    i += 2;
  } else if (i < argc && (strcmp(argv[i], "-h") == 0 ||
                          strcmp(argv[i], "--help") == 0)) {
    usage();
  }
  if (i < argc) {
    st.file = argv[i++];
    st.argc = argc - i;
    st.argv = argv + i;
  }
  const char *kb = getenv("MAL_STACK_KB");
  mal_stack_size = (size_t)(kb && atol(kb) > 0 ? atol(kb) : 8192) * 1024;

  tc_config cfg = {.stack_size = mal_stack_size};
  int rc = tc_run(&cfg, main_coroutine, &st);
  if (rc != 0) {
    fprintf(stderr, "mal: cannot start the tricolor runtime: %s\n",
            tc_strerror(rc));
    return 70;
  }
  return st.status;
}
