/*
 * sched/lock.c -- the scheduler's low-level locks: a futex mutex for short
 * critical sections and a note (one-shot wake-up) for parking threads.
 *
 * tc__spin_lock is Drepper's three-state futex mutex ("Futexes Are
 * Tricky", mutex 2): 0 unlocked, 1 locked, 2 locked and contended.  The
 * fast path is one CAS; a contended locker spins briefly, then sleeps in
 * FUTEX_WAIT; unlock wakes one sleeper only when the state says there may
 * be one.  Acquire/release atomics make it visible to ThreadSanitizer.
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
 *
 * Rejected: pthread mutexes (larger, and a G-facing lock must be a plain
 * word embeddable in public structs), pure spinning (an M preempted by the
 * OS while holding a lock would burn the other cores).
 */
#include "sched/sched.h"

#include <errno.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(uint32_t *addr, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

bool tc__spin_trylock(uint32_t *l) {
  uint32_t zero = 0;
  return tc__cas_acq_rel(l, &zero, 1u);
}

void tc__spin_lock(uint32_t *l) {
  uint32_t c = 0;
  if (tc__cas_acq_rel(l, &c, 1u))
    return;
  for (int i = 0; i < 100 && c != 0; i++) { /* brief spin */
    cpu_relax();
    c = tc__load_relaxed(l);
    if (c == 0) {
      if (tc__cas_acq_rel(l, &c, 1u))
        return;
    }
  }
  if (c != 2)
    c = __atomic_exchange_n(l, 2u, __ATOMIC_ACQUIRE);
  while (c != 0) {
    futex(l, FUTEX_WAIT, 2, NULL);
    c = __atomic_exchange_n(l, 2u, __ATOMIC_ACQUIRE);
  }
}

void tc__spin_unlock(uint32_t *l) {
  if (__atomic_exchange_n(l, 0u, __ATOMIC_RELEASE) == 2)
    futex(l, FUTEX_WAKE, 1, NULL);
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

void tc__gen_wait(uint32_t *gen, uint32_t seen) {
  while (tc__load_acquire(gen) == seen)
    futex(gen, FUTEX_WAIT, seen, NULL);
}

void tc__gen_advance(uint32_t *gen) {
  __atomic_add_fetch(gen, 1u, __ATOMIC_RELEASE);
}

void tc__gen_wake(uint32_t *gen) { futex(gen, FUTEX_WAKE, INT32_MAX, NULL); }
