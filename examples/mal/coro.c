/*
 * coro.c -- coroutines and channels for Lisp code, on tricolor's G/M/P
 * scheduler: (spawn f & args), (chan n), (send! c v), (recv! c),
 * (close! c), (yield), (sleep ms).
 *
 * The global interpreter lock.  Lisp coroutines are tricolor coroutines,
 * and the scheduler runs coroutines on `procs` threads at once.  The
 * interpreter's shared structures (the symbol table, environments that
 * def! grows, atoms) are not written to be updated from two threads, so a
 * coroutine runs Lisp only while it holds the GIL, a tc_mutex:
 *   1. Each Lisp coroutine takes the GIL when it starts and gives it back
 *      when it ends.
 *   2. It releases the GIL around every operation that may block (send!,
 *      recv!, yield, sleep, reading a REPL line), so a coroutine parked on
 *      a channel never stops the others.
 *   3. While other coroutines exist, eval offers the GIL every 1000
 *      evaluations (mal_gil_tick): a busy loop cannot starve the others.
 *      tc_mutex_unlock hands the lock to the longest waiter, so offering
 *      is fair.
 * Python's GIL makes the same trade: simple, correct shared state, no
 * parallel Lisp.  The collector still marks on all processors.
 *
 * Roots across a blocking operation.  Releasing the GIL, a channel
 * operation and taking the GIL again are all safepoints (the collector may
 * run, other coroutines allocate).  Every value involved sits in a
 * TC_LOCALS local; tricolor additionally keeps values in flight in a
 * channel reachable (sched/chan.c).  A received value is assigned to a
 * rooted local straight from tc_chan_recv's return, before the GIL is
 * taken again.
 *
 * A new coroutine gets its function (and arguments) as tc_go's argument,
 * which tricolor keeps reachable until the coroutine starts; its entry
 * function roots it in its first statement.  An uncaught Lisp error ends
 * that coroutine only, with a message on stdout.  When the main coroutine
 * (the REPL or the file being run) returns, the program ends and other
 * coroutines are dropped, as in Go.
 */
#include "mal.h"

#include <string.h>

static tc_mutex gil; /* zero-initialised: unlocked */
int mal_coroutines;
size_t mal_stack_size;

void mal_gil_acquire(void) { tc_mutex_lock(&gil); }

void mal_gil_release(void) { tc_mutex_unlock(&gil); }

void mal_gil_tick_slow(mt *th) {
  th->ticks = 0;
  mal_gil_release();
  tc_yield();
  mal_gil_acquire();
}

void mal_thread_init(mt *th, size_t stack_size) {
  th->handler = NULL;
  th->exc = NULL;
  th->ticks = 0;
  th->id = tc_self();
  /* The caller's frame is near the top of its stack; keep a margin for
   * the C code that does not check. */
  char *here = (char *)__builtin_frame_address(0);
  size_t usable = stack_size > 2 * MAL_STACK_MARGIN ? stack_size - MAL_STACK_MARGIN
                                                    : stack_size / 2;
  th->stack_limit = here - usable;
}

static int64_t int_arg(mt *th, const char *fn, const mal *v) {
  if (v->tag != T_INT) {
    char d[64];
    mal_error(th, "%s: expected a number, got %s", fn,
              mal_describe(v, d, sizeof d));
  }
  return mal_int_val(v);
}

static tc_chan *chan_arg(mt *th, const char *fn, const mal *v) {
  if (v->tag != T_CHAN) {
    char d[64];
    mal_error(th, "%s: expected a channel, got %s", fn,
              mal_describe(v, d, sizeof d));
  }
  return ((const mal_chan *)v)->ch;
}

/* --------------------------------------------------------- coroutines */

/* Entry of a spawned coroutine; arg is the list (f arg ...). */
static void coro_entry(void *arg) {
  mal_list *call = arg;
  mt th;
  th.exc = NULL;
  TC_LOCALS(call, th.exc); /* first: arg is ours to keep alive from here */
  mal_thread_init(&th, mal_stack_size);
  mal_gil_acquire();
  jmp_buf top;
  volatile tc_roots_mark mark = tc_roots_save(); /* read after longjmp */
  if (setjmp(top) == 0) {
    th.handler = &top;
    mal_apply(&th, call->car, call->cdr);
  } else {
    tc_roots_unwind(mark);
    fprintf(stdout, "Uncaught error in coroutine %llu: ",
            (unsigned long long)th.id);
    mal_print(stdout, th.exc, th.exc->tag != T_STR);
    fputc('\n', stdout);
    th.exc = NULL;
  }
  th.handler = NULL;
  fflush(stdout);
  mal_coroutines--;
  mal_gil_release();
}

static mal *core_spawn(mt *th, mal_list *args) {
  mal *f = args->car;
  if (f->tag != T_FN && f->tag != T_BUILTIN) {
    char d[64];
    mal_error(th, "spawn: expected a function, got %s",
              mal_describe(f, d, sizeof d));
  }
  /* args is (f arg ...), just what the entry wants; it was built for
   * this call and is immutable, so it can be handed over as it is. */
  mal_coroutines++;
  if (tc_go(coro_entry, args) != 0) {
    mal_coroutines--;
    mal_error(th, "spawn: out of memory");
  }
  return MAL_NIL;
}

static mal *core_yield(mt *th, mal_list *args) {
  (void)args;
  th->ticks = 0;
  mal_gil_release();
  tc_yield();
  mal_gil_acquire();
  return MAL_NIL;
}

static mal *core_sleep(mt *th, mal_list *args) {
  int64_t ms = int_arg(th, "sleep", args->car);
  mal_gil_release();
  tc_sleep(ms * 1000000);
  mal_gil_acquire();
  return MAL_NIL;
}

/* ----------------------------------------------------------- channels */

static mal *core_chan(mt *th, mal_list *args) {
  int64_t cap = args->h.len ? int_arg(th, "chan", args->car) : 0;
  if (cap < 0)
    mal_error(th, "chan: negative capacity %lld", (long long)cap);
  tc_chan *ch = NULL;
  mal_chan *c = NULL;
  TC_LOCALS(ch, c);
  ch = tc_chan_new((size_t)cap, 0); /* values are Lisp objects: traced */
  if (ch == NULL)
    mal_error(th, "chan: out of memory");
  c = mal_alloc(&mal_chan_type, sizeof *c, T_CHAN);
  TC_STORE(c, ch, ch);
  return &c->h;
}

static mal *core_send(mt *th, mal_list *args) {
  mal *c = args->car, *v = args->cdr->car;
  TC_LOCALS(c, v);
  tc_chan *ch = chan_arg(th, "send!", c); /* c keeps ch alive */
  mal_gil_release();
  int rc = tc_chan_send(ch, v);
  mal_gil_acquire();
  if (rc == TC_ECLOSED)
    mal_error(th, "send!: send on a closed channel");
  return MAL_NIL;
}

static mal *core_recv(mt *th, mal_list *args) {
  mal *c = args->car, *v = NULL;
  TC_LOCALS(c, v);
  tc_chan *ch = chan_arg(th, "recv!", c);
  bool ok = false;
  mal_gil_release();
  v = tc_chan_recv(ch, &ok); /* rooted before the next safepoint */
  mal_gil_acquire();
  return ok ? v : MAL_NIL;
}

static mal *core_close(mt *th, mal_list *args) {
  if (tc_chan_close(chan_arg(th, "close!", args->car)) == TC_ECLOSED)
    mal_error(th, "close!: close of a closed channel");
  return MAL_NIL;
}

static mal *core_is_chan(mt *th, mal_list *args) {
  (void)th;
  return mal_bool(args->car->tag == T_CHAN);
}

void mal_coro_init(mal_env *env) {
  TC_LOCALS(env);
  mal_def_builtin(env, "spawn", core_spawn, 1, -1);
  mal_def_builtin(env, "yield", core_yield, 0, 0);
  mal_def_builtin(env, "sleep", core_sleep, 1, 1);
  mal_def_builtin(env, "chan", core_chan, 0, 1);
  mal_def_builtin(env, "chan?", core_is_chan, 1, 1);
  mal_def_builtin(env, "send!", core_send, 2, 2);
  mal_def_builtin(env, "recv!", core_recv, 1, 1);
  mal_def_builtin(env, "close!", core_close, 1, 1);
}
