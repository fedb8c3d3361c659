// attach.go -- the Go peer of bench_sched's foreign-thread ops: cgo calls,
// and callbacks into Go from threads that C made (bench/bench_sched.c
// measures tc_thread_attach and a foreign thread's channel round trip).
//
//	cgo_call            Go calls an empty C function (peer_empty) in a
//	                    loop; per call.  No tricolor peer: the reference
//	                    for what crossing into C costs
//	cgo_callback        a C thread (pthread_create in cgo_peer.c, never a
//	                    Go thread) calls the exported empty goEmpty in a
//	                    loop, after one untimed call; per call.  On Go
//	                    1.19 to 1.20 every such callback runs needm (take
//	                    an extra M, Go's attach) and dropm (give it back,
//	                    Go's detach); from Go 1.21 the M stays bound to the
//	                    thread after its first callback.  Peer of attach
//	cgo_callback_first  a new C thread's first goEmpty, timed inside the
//	                    thread (thread creation excluded); mean over n
//	                    threads made one after another.  Peer of
//	                    attach_first
//	cgo_rtt             the C thread calls goRoundTrip, which sends on an
//	                    unbuffered chan uintptr to a goroutine and
//	                    receives its answer on another; per round trip
//	                    (one callback each), after one untimed.  Peer of
//	                    foreign_rtt
//
// While a C thread runs its loop, main waits on a channel (its P is
// free, as tricolor's main coroutine waits on a wait group); goDone tells
// it the figure is ready.  GOMAXPROCS is set to 1 by the program, as in
// bench/go/sched.go and bench_sched's procs = 1.  Each figure is measured
// -runs times (default 5), a runtime.GC() before each.
//
// Output: one line per run, in bench_sched's format; bench/sched.py takes
// the median of an op's lines:
//
//	RESULT op=<op> impl=go value=<v> unit=ns
//
// Build (cgo, gcc): cd bench/go/cgo && GO111MODULE=off go build -o
// bench_cgo_go .  (bench/sched.py does it offline).
package main

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -lpthread
#include "cgo_peer.h"
*/
import "C"

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

var (
	done = make(chan struct{}, 1)
	ping = make(chan uintptr)
	pong = make(chan uintptr)
)

//export goEmpty
func goEmpty() {}

//export goDone
func goDone() { done <- struct{}{} }

//export goRoundTrip
func goRoundTrip(v C.uintptr_t) C.uintptr_t {
	ping <- uintptr(v)
	return C.uintptr_t(<-pong)
}

func echo() {
	for v := range ping {
		pong <- v
	}
}

func benchCall(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		C.peer_empty()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// onCThread runs loop `which` on a new C thread and waits for it.
func onCThread(which int, n int) float64 {
	if rc := C.peer_start(C.int(which), C.long(n)); rc != 0 {
		fmt.Fprintf(os.Stderr, "peer_start: error %d\n", int(rc))
		os.Exit(1)
	}
	<-done
	return float64(C.peer_join())
}

type op struct {
	name string
	n    int
	f    func(int) float64
}

func main() {
	runs := flag.Int("runs", 5, "runs per figure")
	quick := flag.Bool("quick", false, "iteration counts / 10")
	only := flag.String("only", "", "comma-separated ops")
	flag.Parse()
	if *runs < 1 {
		*runs = 1
	}
	runtime.GOMAXPROCS(1)
	go echo()

	scale := 1
	if *quick {
		scale = 10
	}
	ops := []op{
		{"cgo_call", 2000000, benchCall},
		{"cgo_callback", 100000, func(n int) float64 { return onCThread(C.PEER_CALLBACK, n) }},
		{"cgo_callback_first", 2000, func(n int) float64 { return onCThread(C.PEER_CALLBACK_FIRST, n) }},
		{"cgo_rtt", 50000, func(n int) float64 { return onCThread(C.PEER_RTT, n) }},
	}
	for _, o := range ops {
		if *only != "" && !strings.Contains(","+*only+",", ","+o.name+",") {
			continue // not in the comma-separated list
		}
		n := o.n / scale
		for i := 0; i < *runs; i++ {
			runtime.GC()
			fmt.Printf("RESULT op=%s impl=go value=%.2f unit=ns\n", o.name,
				o.f(n))
		}
	}
}
