/*
 * sched/lock.c -- the scheduler's thread parking: a note (one-shot wake-up)
 * and a generation word, both on futexes.  The futex mutex (tc__spin) is
 * base/lock.c's.
 *
 * A note is a word a thread sleeps on until another sets it (Go's note):
 * clear, then sleep (optionally with a deadline), and some other thread
 * wakes it once.  Used to park idle Ms and sysmon.
 *
 * A generation word (tc__gen_wait, tc__gen_advance, tc__gen_wake) is what
 * the Ms stopped for the collector wait on: one FUTEX_WAKE restarts them
 * all.  Waking them one note at a time, the restarter could lose its CPU
 * to the first M it woke (the kernel often runs the wakee at once) and
 * leave the others stopped for a scheduler time slice: milliseconds.
 */
#include "sched/sched.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(uint32_t *addr, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
}

void tc__note_clear(tc__note *n) { tc__store_relaxed(&n->key, 0u); }

void tc__note_wake(tc__note *n) {
  if (__atomic_exchange_n(&n->key, 1u, __ATOMIC_RELEASE) == 0)
    futex(&n->key, FUTEX_WAKE, 1, NULL);
}

bool tc__note_sleep(tc__note *n, int64_t ns) {
  int64_t deadline = ns >= 0 ? (int64_t)tc__nanotime() + ns : -1;
  while (tc__load_acquire(&n->key) == 0) {
    struct timespec ts, *tsp = NULL;
    if (deadline >= 0) {
      int64_t left = deadline - (int64_t)tc__nanotime();
      if (left <= 0)
        return false;
      ts.tv_sec = left / 1000000000;
      ts.tv_nsec = left % 1000000000;
      tsp = &ts;
    }
    futex(&n->key, FUTEX_WAIT, 0, tsp);
  }
  return true;
}

bool tc__note_spin(tc__note *n, uint64_t ns) {
  uint64_t deadline = tc__nanotime() + ns;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (tc__load_acquire(&n->key))
        return true;
      tc__cpu_relax();
    }
    if (tc__nanotime() >= deadline)
      return tc__load_acquire(&n->key) != 0;
  }
}

bool tc__note_yield(tc__note *n, uint64_t ns) {
  uint64_t deadline = tc__nanotime() + ns;
  while (!tc__load_acquire(&n->key)) {
    if (tc__nanotime() >= deadline)
      return false;
    sched_yield();
  }
  return true;
}

void tc__gen_wait(uint32_t *gen, uint32_t seen) {
  while (tc__load_acquire(gen) == seen)
    futex(gen, FUTEX_WAIT, seen, NULL);
}

void tc__gen_advance(uint32_t *gen) {
  __atomic_add_fetch(gen, 1u, __ATOMIC_RELEASE);
}

void tc__gen_wake(uint32_t *gen) { futex(gen, FUTEX_WAKE, INT32_MAX, NULL); }
