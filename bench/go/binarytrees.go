// bench/go/binarytrees.go -- the Go peer of bench/bench_binarytrees.c:
// binary-trees from the Computer Language Benchmarks Game, single goroutine.
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
// Go's collector uses its own background workers (GOMAXPROCS is left as
// the environment sets it); the workload itself runs on one goroutine.
//
// Usage: bench_binarytrees_go [depth]   (default 21)
// Build: GO111MODULE=off go build -o bench_binarytrees_go binarytrees.go result.go
package main

import (
	"fmt"
	"os"
	"strconv"
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

func main() {
	const minDepth = 4
	n := 21
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 0 || v > 30 {
			fmt.Fprintf(os.Stderr, "usage: %s [depth 0..30]\n", os.Args[0])
			os.Exit(2)
		}
		n = v
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
		for i := 1; i <= iterations; i++ {
			check += bottomUpTree(d).itemCheck()
		}
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iterations, d, check)
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth,
		longLived.itemCheck())

	printResult("binarytrees", time.Since(start))
}
