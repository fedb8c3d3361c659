/*
 * cgo_peer.h -- the C half of bench/go/cgo/attach.go: an empty function
 * for Go to call, and the loops that C threads (made here with
 * pthread_create, so not Go threads) run calling back into Go.
 */
#ifndef CGO_PEER_H
#define CGO_PEER_H

#include <stdint.h>

enum {
  PEER_CALLBACK = 1,       /* goEmpty() in a loop from one C thread */
  PEER_CALLBACK_FIRST = 2, /* goEmpty() once from each of n new C threads */
  PEER_RTT = 3,            /* goRoundTrip(v) in a loop from one C thread */
};

/* Does nothing: the Go -> C call of cgo_call. */
void peer_empty(void);
/* Starts a C thread running loop `which` n times; it calls goDone() when
 * it has its figure.  Returns 0 or an errno value. */
int peer_start(int which, long n);
/* Joins that thread and returns its figure, ns per operation. */
double peer_join(void);

/* Exported by attach.go (//export; cgo's generated header says the same). */
extern void goEmpty(void);
extern void goDone(void);
extern uintptr_t goRoundTrip(uintptr_t v);

#endif
