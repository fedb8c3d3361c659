// bench/go/parked.go -- the Go peer of bench/bench_parked.c: collector
// pauses with many parked goroutines holding pointers, while other
// goroutines churn the heap.
//
// Same workload and output as the C file:
//
//  1. N goroutines (default 10000) each allocate R objects (default 10),
//     keep them in locals and block in a receive from one channel; main
//     waits until all are about to block (a WaitGroup);
//  2. the churn phase is timed: C churners (default 1) share T trees of
//     depth D (default 40000 trees of depth 10, bottom-up, nodes of two
//     pointers and an int), keeping the last W (default 32) of each live in
//     a slice;
//  3. main closes the channel; every parked goroutine checks its objects.
//
// Go scans goroutine stacks concurrently (each stack once, as tricolor's
// hybrid mode), so its two pauses per cycle should not grow with N.  The
// pauses come from GODEBUG=gctrace=1 (bench/run.py sets it and parses the
// lines) and cover the whole run, set-up included (unlike the C file, which
// forgets the set-up's; it allocates 3 MiB, below Go's first 4 MiB goal, so
// at most a cycle or two).
//
// Usage: bench_parked_go [--parked N] [--roots R] [--churners C] [--trees T]
// [--depth D] [--window W]   (R in 1..16)
// Build: GO111MODULE=off go build -o bench_parked_go parked.go result.go
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

type obj struct {
	left, right *obj
	value       int
}

const maxRoots = 16

var (
	release  = make(chan struct{})
	ready    sync.WaitGroup
	finished sync.WaitGroup
	errorsMu sync.Mutex
	damaged  int
)

//go:noinline
func newObj(v int) *obj { return &obj{value: v} }

// parked holds r objects in locals (an array on its stack) while blocked.
func parked(id, r int) {
	var o [maxRoots]*obj
	for i := 0; i < r; i++ {
		o[i] = newObj(id*maxRoots + i)
	}
	ready.Done()
	<-release
	bad := 0
	for i := 0; i < r; i++ {
		if o[i] == nil || o[i].value != id*maxRoots+i || o[i].left != nil {
			bad++
		}
	}
	if bad > 0 {
		errorsMu.Lock()
		damaged += bad
		errorsMu.Unlock()
	}
	finished.Done()
}

func makeTree(depth int) *obj {
	if depth <= 0 {
		return &obj{}
	}
	left := makeTree(depth - 1)
	right := makeTree(depth - 1)
	return &obj{left: left, right: right}
}

func (n *obj) count() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.count() + n.right.count()
}

func churn(trees, depth, w int) int {
	window := make([]*obj, w)
	check := 0
	for i := 0; i < trees; i++ {
		t := makeTree(depth)
		check += t.count()
		window[i%w] = t
	}
	return check
}

func main() {
	parkedN, roots, churners, trees, depth, window := 10000, 10, 1, 40000, 10, 32
	opts := map[string]*int{"--parked": &parkedN, "--roots": &roots,
		"--churners": &churners, "--trees": &trees, "--depth": &depth,
		"--window": &window}
	for i := 1; i < len(os.Args); i++ {
		p, ok := opts[os.Args[i]]
		if !ok || i+1 >= len(os.Args) {
			usage()
		}
		i++
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v < 0 {
			usage()
		}
		*p = v
	}
	if roots < 1 || roots > maxRoots || churners < 1 || churners > 64 ||
		trees < 1 || depth > 20 || window < 1 {
		usage()
	}

	ready.Add(parkedN)
	finished.Add(parkedN)
	for i := 0; i < parkedN; i++ {
		go parked(i, roots)
	}
	ready.Wait()

	start := time.Now()
	sums := make([]int, churners)
	var wg sync.WaitGroup
	for k := 0; k < churners; k++ {
		share := trees*(k+1)/churners - trees*k/churners
		wg.Add(1)
		go func(k, share int) {
			defer wg.Done()
			sums[k] = churn(share, depth, window)
		}(k, share)
	}
	wg.Wait()
	wall := time.Since(start)
	nodes := 0
	for _, s := range sums {
		nodes += s
	}

	close(release)
	finished.Wait()
	fmt.Printf("parked %d goroutines x %d roots; %d churner(s): %d trees of "+
		"depth %d (%d nodes), window %d; damaged objects: %d\n",
		parkedN, roots, churners, trees, depth, nodes, window, damaged)
	if damaged > 0 {
		fmt.Fprintf(os.Stderr, "bench_parked: %d parked objects damaged: Failed\n",
			damaged)
		os.Exit(1)
	}
	printResult("parked", wall, churners)
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s [--parked N] [--roots R (1..%d)] "+
		"[--churners C] [--trees T] [--depth D] [--window W]\n",
		os.Args[0], maxRoots)
	os.Exit(2)
}
