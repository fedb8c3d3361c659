// bench/go/binarytrees.go -- the Go peer of bench/bench_binarytrees.c:
// binary-trees from the Computer Language Benchmarks Game, on one goroutine
// or split over several.
//
// What it stresses: raw allocation throughput of 16-byte nodes (two
// references) that almost all die young, against one long-lived tree of
// depth max that every mark must trace.  Same algorithm and output as the
// C file:
//
//  1. max = max(min + 2, depth), min = 4; check and drop a stretch tree of
//     depth max + 1;
//  2. build the long-lived tree of depth max;
//  3. for d = min, min + 2, .., max: 2^(max - d + min) trees of depth d;
//  4. check the long-lived tree.
//
// Mutators: with --mutators K (or -mutators K, or BENCH_MUTATORS=K) the
// trees of each depth in step 3 are split into K equal shares, one
// goroutine each, joined with a sync.WaitGroup before the depth's line is
// printed, exactly as the C file does with tricolor coroutines.  Default 1:
// the whole workload on the main goroutine.  Go's collector uses its own
// background workers (GOMAXPROCS is left as the environment sets it).
//
// Usage: bench_binarytrees_go [depth] [--mutators K]   (default 21, 1)
// Build: GO111MODULE=off go build -o bench_binarytrees_go binarytrees.go result.go
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

type node struct {
	left, right *node
}

// bottomUpTree returns a new tree of depth `depth`.
func bottomUpTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	left := bottomUpTree(depth - 1)
	right := bottomUpTree(depth - 1)
	return &node{left: left, right: right}
}

// itemCheck returns the number of nodes in the tree.
func (n *node) itemCheck() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.itemCheck() + n.right.itemCheck()
}

// checkTrees builds and checks n trees of depth d, returning their sum.
func checkTrees(d, n int) int {
	check := 0
	for i := 0; i < n; i++ {
		check += bottomUpTree(d).itemCheck()
	}
	return check
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s [depth 0..30] [--mutators 1..64]\n",
		os.Args[0])
	os.Exit(2)
}

// parseMutators returns K in 1..64, or exits with the usage line.
func parseMutators(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 64 {
		usage()
	}
	return v
}

func main() {
	const minDepth = 4
	n, mutators := 21, 1
	if env := os.Getenv("BENCH_MUTATORS"); env != "" {
		mutators = parseMutators(env)
	}
	haveDepth := false
	for i := 1; i < len(os.Args); i++ {
		a := os.Args[i]
		if (a == "--mutators" || a == "-mutators") && i+1 < len(os.Args) {
			i++
			mutators = parseMutators(os.Args[i])
			continue
		}
		v, err := strconv.Atoi(a)
		if haveDepth || err != nil || v < 0 || v > 30 {
			usage()
		}
		n, haveDepth = v, true
	}
	maxDepth := n
	if minDepth+2 > n {
		maxDepth = minDepth + 2
	}
	stretchDepth := maxDepth + 1

	start := time.Now()

	fmt.Printf("stretch tree of depth %d\t check: %d\n", stretchDepth,
		bottomUpTree(stretchDepth).itemCheck())

	longLived := bottomUpTree(maxDepth)

	for d := minDepth; d <= maxDepth; d += 2 {
		iterations := 1 << uint(maxDepth-d+minDepth)
		check := 0
		if mutators == 1 {
			check = checkTrees(d, iterations)
		} else {
			sums := make([]int, mutators)
			var wg sync.WaitGroup
			for k := 0; k < mutators; k++ {
				share := iterations*(k+1)/mutators - iterations*k/mutators
				wg.Add(1)
				go func(k, share int) {
					defer wg.Done()
					sums[k] = checkTrees(d, share)
				}(k, share)
			}
			wg.Wait()
			for _, s := range sums {
				check += s
			}
		}
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iterations, d, check)
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth,
		longLived.itemCheck())

	printResult("binarytrees", time.Since(start), mutators)
}
