/*
 * sched/stack.c -- coroutine stacks: mapping, guard pages, pooling, and
 * the stack-overflow report.
 *
 * 1. Stacks are carved from chunks of 32, each chunk one mmap with
 *    MAP_NORESERVE: a stack costs address space, and RSS only for the pages
 *    it touches (lazily committed).  Size: tc_config.stack_size, default
 *    64 KiB, rounded up to pages.
 * 2. Guard pages: the page below each stack is made PROT_NONE, which splits
 *    the chunk's mapping (two VMAs per stack).  Linux refuses mappings past
 *    vm.max_map_count (65530 by default), so guards are given to stacks
 *    only while the guarded count stays under (max_map_count - 16384) / 2;
 *    later chunks have no guards and cost one VMA per 32 stacks.  100k and
 *    1M coroutines therefore work under the default limit; the first ~24k
 *    stacks are protected.  (Go has no guard pages at all: it checks the
 *    stack bound in every function prologue and grows the stack by copying,
 *    which C cannot do.)
 * 3. Freed stacks go to a pool and are reused as they are (their touched
 *    pages stay resident; dropping them would cost a page fault per spawn).
 * 4. A fault in a guard page is reported by a SIGSEGV handler running on
 *    the thread's alternate signal stack: "tricolor: coroutine N stack
 *    overflow (stack size S)", then abort.  Other faults go to the handler
 *    that was installed before ours (e.g. AddressSanitizer's).
 * 5. Under valgrind every stack is registered (VALGRIND_STACK_REGISTER).
 */
#include "sched/proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TC__VALGRIND 1
#endif

#define CHUNK_STACKS 32
#define SIGSTACK_SIZE (64 * 1024)

typedef struct chunk {
  struct chunk *next;
  char *base;
  size_t len;
  tc__stack stacks[CHUNK_STACKS];
#if defined(TC__VALGRIND)
  unsigned vg_id[CHUNK_STACKS];
#endif
} chunk;

static struct {
  uint32_t lock;           /* tc__spin */
  size_t size;             /* usable bytes per stack */
  size_t page;
  tc__stack *pool;         /* free stacks */
  chunk *chunks;           /* every chunk, for shutdown */
  size_t guarded;          /* stacks with a guard page */
  size_t guard_budget;     /* at most this many */
  bool handler;            /* SIGSEGV handler installed */
  struct sigaction old_segv;
} st;

static long max_map_count(void) {
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  long n = 65530;
  if (f) {
    if (fscanf(f, "%ld", &n) != 1)
      n = 65530;
    fclose(f);
  }
  return n;
}

/* Writes a decimal number to buf; returns its length (signal-safe). */
static size_t utoa(char *buf, unsigned long long v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  return n;
}

static void segv_handler(int sig, siginfo_t *info, void *uctx) {
  tc__ctx *ctx = tc__ctx_current();
  tc__m *m = ctx ? (tc__m *)ctx->owner : NULL;
  tc__g *g = (m && tc__sched.running) ? m->curg : NULL;
  char *addr = info->si_addr;
  if (g && g->stack && g->stack->guard && addr >= g->stack->guard &&
      addr < g->stack->guard + st.page) {
    char msg[160];
    size_t n = 0;
    const char *a = "tricolor: coroutine ";
    memcpy(msg + n, a, strlen(a));
    n += strlen(a);
    n += utoa(msg + n, g->id);
    const char *b = " stack overflow (stack size ";
    memcpy(msg + n, b, strlen(b));
    n += strlen(b);
    n += utoa(msg + n, g->stack->size);
    const char *c = ")\n";
    memcpy(msg + n, c, 2);
    n += 2;
    ssize_t w = write(2, msg, n);
    (void)w;
    signal(SIGABRT, SIG_DFL);
    abort();
  }
  /* Not ours: hand it to the previous handler, or crash as before. */
  if (st.old_segv.sa_flags & SA_SIGINFO) {
    if (st.old_segv.sa_sigaction) {
      st.old_segv.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (st.old_segv.sa_handler != SIG_DFL &&
             st.old_segv.sa_handler != SIG_IGN) {
    st.old_segv.sa_handler(sig);
    return;
  }
  signal(SIGSEGV, SIG_DFL); /* the fault repeats and kills the process */
}

int tc__stacks_init(size_t size) {
  memset(&st, 0, sizeof st);
  st.page = (size_t)sysconf(_SC_PAGESIZE);
  if (size < 4 * st.page)
    size = 4 * st.page;
  st.size = (size + st.page - 1) & ~(st.page - 1);
  long maps = max_map_count();
  st.guard_budget = maps > 16384 ? (size_t)(maps - 16384) / 2 : 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = segv_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, &st.old_segv) == 0)
    st.handler = true;
  return TC_OK;
}

void tc__stacks_destroy(void) {
  tc__spin_lock(&st.lock);
  while (st.chunks) {
    chunk *c = st.chunks;
    st.chunks = c->next;
#if defined(TC__VALGRIND)
    for (int i = 0; i < CHUNK_STACKS; i++)
      VALGRIND_STACK_DEREGISTER(c->vg_id[i]);
#endif
    munmap(c->base, c->len);
    free(c);
  }
  st.pool = NULL;
  tc__spin_unlock(&st.lock);
  if (st.handler)
    sigaction(SIGSEGV, &st.old_segv, NULL);
  st.handler = false;
}

/* Maps a chunk of stacks and puts them in the pool; lock held. */
static bool chunk_new(void) {
  chunk *c = calloc(1, sizeof *c);
  if (c == NULL)
    return false;
  size_t per = st.size + st.page; /* guard (or spare) page + stack */
  c->len = per * CHUNK_STACKS;
  c->base = mmap(NULL, c->len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (c->base == MAP_FAILED) {
    free(c);
    return false;
  }
  bool guard = st.guarded + CHUNK_STACKS <= st.guard_budget;
  for (int i = 0; i < CHUNK_STACKS; i++) {
    tc__stack *s = &c->stacks[i];
    char *low = c->base + (size_t)i * per;
    s->guard = NULL;
    if (guard && mprotect(low, st.page, PROT_NONE) == 0)
      s->guard = low;
    s->lo = low + st.page;
    s->hi = s->lo + st.size;
    s->size = st.size;
#if defined(TC__VALGRIND)
    c->vg_id[i] = VALGRIND_STACK_REGISTER(s->lo, s->hi);
#endif
    s->next = st.pool;
    st.pool = s;
  }
  if (guard)
    st.guarded += CHUNK_STACKS;
  c->next = st.chunks;
  st.chunks = c;
  return true;
}

tc__stack *tc__stack_get(void) {
  tc__spin_lock(&st.lock);
  if (st.pool == NULL && !chunk_new()) {
    tc__spin_unlock(&st.lock);
    return NULL;
  }
  tc__stack *s = st.pool;
  st.pool = s->next;
  tc__spin_unlock(&st.lock);
  return s;
}

void tc__stack_put(tc__stack *s) {
  tc__spin_lock(&st.lock);
  s->next = st.pool;
  st.pool = s;
  tc__spin_unlock(&st.lock);
}

void tc__stack_thread_init(void) {
  tc__m *m = (tc__m *)tc__ctx_current()->owner;
  stack_t old;
  if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE) &&
      old.ss_size >= MINSIGSTKSZ)
    return; /* the thread has one (a sanitizer's): share it */
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = malloc(SIGSTACK_SIZE);
  if (ss.ss_sp == NULL)
    return;
  ss.ss_size = SIGSTACK_SIZE;
  if (sigaltstack(&ss, NULL) != 0) {
    free(ss.ss_sp);
    return;
  }
  if (m)
    m->sigstack = ss.ss_sp;
}

void tc__stack_thread_destroy(void) {
  tc__m *m = (tc__m *)tc__ctx_current()->owner;
  if (m == NULL || m->sigstack == NULL)
    return;
  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, NULL);
  free(m->sigstack);
  m->sigstack = NULL;
}
