/*
 * base/bell.c -- tc__bell, a word one thread sleeps on until another rings
 * it or a timeout passes: the collector thread's wait for the end of a
 * mark (collector/cycle.c), so that it sleeps until the last marker is
 * done instead of polling.
 *
 * Protocol.  The bell is a counter.  A waiter reads it (`seen`), then
 * checks whatever condition it waits for, then sleeps in FUTEX_WAIT while
 * the word still equals `seen`: a ring between the read and the sleep
 * changed the word, so the sleep returns at once and no ring is lost.
 * Ringing adds 1 and wakes every sleeper.  A waiter that must not sleep
 * on a ring it could miss altogether (the ringer decided not to ring
 * before the waiter said it waits) pairs a flag with the condition in a
 * Dekker pattern; the caller does that (collector/cycle.c), and a
 * timeout bounds the cost of any ring still missed.
 *
 * Memory order: the counter is read and bumped seq_cst (so callers can
 * build the Dekker pair on it); the futex calls order nothing.
 */
#include "base/base.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint32_t tc__bell_read(const uint32_t *bell) {
  return __atomic_load_n(bell, __ATOMIC_SEQ_CST);
}

void tc__bell_wait(uint32_t *bell, uint32_t seen, uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  syscall(SYS_futex, bell, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, seen, &ts, NULL,
          0);
}

void tc__bell_ring(uint32_t *bell) {
  __atomic_add_fetch(bell, 1u, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, bell, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT32_MAX, NULL,
          NULL, 0);
}
