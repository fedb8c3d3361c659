/*
 * base/lock.c -- tc__spin, the library's futex mutex: a plain uint32_t word
 * for short critical sections that threads share (the scheduler's locks,
 * channels and sync objects; the collector's waiter list, finalizer queue
 * and event trace).  It blocks the thread; it never parks a coroutine, so
 * a coroutine must not hold one across a safepoint (HACKING.md).
 *
 * Algorithm: Drepper's three-state mutex ("Futexes Are Tricky", mutex 2).
 * The word is 0 unlocked, 1 locked, 2 locked and maybe contended.
 *   1. lock: CAS 0 -> 1; done if it succeeds (the uncontended fast path).
 *   2. otherwise spin briefly (100 rounds of a CPU pause), retrying the
 *      CAS 0 -> 1 whenever the word reads 0.
 *   3. otherwise exchange in 2 (unless the word last read 2) and, until
 *      an exchange returns 0, sleep in FUTEX_WAIT while the word is 2 and
 *      exchange 2 in again.  A locker that got the lock this way leaves 2
 *      behind, so its unlock wakes the next sleeper even if none is left
 *      (a spare wake-up, never a lost one).
 *   4. unlock: exchange in 0; FUTEX_WAKE one sleeper only if the old value
 *      was 2.
 *
 * Memory order: every successful acquisition (the CAS and the exchanges
 * of step 3) is an acquire and the unlocking exchange a release, so what
 * one holder wrote happens-before what the next one reads.  The loads
 * while spinning are relaxed: they only decide when to try the CAS.  The
 * futex calls order nothing; they only sleep and wake.  The orders sit on
 * the atomic operations, not in fences, so that ThreadSanitizer sees the
 * lock.
 *
 * Rejected: pthread mutexes (larger, and a G-facing lock must be a plain
 * word embeddable in public structs), pure spinning (an M preempted by the
 * OS while holding a lock would burn the other cores).
 */
#include "base/base.h"

#include <stdint.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(uint32_t *addr, int op, uint32_t val,
                  const struct timespec *ts) {
  return syscall(SYS_futex, addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL, 0);
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
    tc__cpu_relax();
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
