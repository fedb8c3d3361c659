/*
 * cgo_peer.c -- the C threads of bench/go/cgo/attach.go (cgo_peer.h).
 *
 * Each loop runs on a thread made here with pthread_create: Go has never
 * seen it, so each call into an exported Go function goes through cgo's
 * callback path for foreign threads (Go 1.19: needm takes an extra M at
 * entry and dropm gives it back at exit, every call; from Go 1.21 the M
 * stays bound to the thread after its first callback).  Times are taken
 * on that thread with CLOCK_MONOTONIC; the thread tells Go it is done
 * with goDone() and Go joins it with peer_join().
 */
#define _GNU_SOURCE 1
#include "cgo_peer.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_t thread;
static long iters;
static double result; /* ns per operation */

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void peer_empty(void) {}

/* cgo_callback: one untimed callback, then n timed ones. */
static void *callback_loop(void *arg) {
  (void)arg;
  goEmpty();
  int64_t t0 = now_ns();
  for (long i = 0; i < iters; i++)
    goEmpty();
  result = (double)(now_ns() - t0) / (double)iters;
  goDone();
  return NULL;
}

/* cgo_callback_first: a new thread's first callback, timed inside it. */
static void *first_child(void *arg) {
  int64_t t0 = now_ns();
  goEmpty();
  *(int64_t *)arg = now_ns() - t0;
  return NULL;
}

static void *callback_first_loop(void *arg) {
  (void)arg;
  int64_t sum = 0;
  for (long i = 0; i < iters; i++) {
    pthread_t t;
    int64_t ns = 0;
    if (pthread_create(&t, NULL, first_child, &ns) != 0) {
      fprintf(stderr, "cgo_peer: pthread_create failed\n");
      exit(1);
    }
    pthread_join(t, NULL);
    sum += ns;
  }
  result = (double)sum / (double)iters;
  goDone();
  return NULL;
}

/* cgo_rtt: one untimed round trip, then n timed ones. */
static void *rtt_loop(void *arg) {
  (void)arg;
  if (goRoundTrip(1) != 1)
    goto wrong;
  int64_t t0 = now_ns();
  for (long i = 0; i < iters; i++)
    if (goRoundTrip((uintptr_t)i + 2) != (uintptr_t)i + 2)
      goto wrong;
  result = (double)(now_ns() - t0) / (double)iters;
  goDone();
  return NULL;
wrong:
  fprintf(stderr, "cgo_peer: round trip: wrong value\n");
  exit(1);
}

int peer_start(int which, long n) {
  void *(*fn)(void *) = which == PEER_CALLBACK         ? callback_loop
                        : which == PEER_CALLBACK_FIRST ? callback_first_loop
                                                       : rtt_loop;
  iters = n > 0 ? n : 1;
  result = -1;
  return pthread_create(&thread, NULL, fn, NULL);
}

double peer_join(void) {
  pthread_join(thread, NULL);
  return result;
}
