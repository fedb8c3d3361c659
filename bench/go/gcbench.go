// bench/go/gcbench.go -- the Go peer of bench/bench_gcbench.c: GCBench by
// John Ellis and Pete Kovac, with the constants and phases of Hans Boehm's
// C version.
//
// What it stresses: allocation rate of small objects (nodes with two
// references and two int32s, 24 bytes) against a fixed live heap (a
// long-lived tree of depth 16 and a pointer-free array of 500000 float64s),
// top-down construction storing young nodes into older ones (write
// barrier) and bottom-up construction.  Same phases as the C file:
//
//  1. build and drop a stretch tree of depth 18;
//  2. build a long-lived tree of depth 16 and a long-lived array;
//  3. for d = 4, 6, .., 16: numIters(d) trees top-down, then bottom-up;
//  4. check the long-lived data.
//
// One goroutine runs the workload; Go's collector still uses its own
// background workers (GOMAXPROCS is left as the environment sets it).
// At the end it prints the same RESULT line as the C benchmarks; see
// result.go for where each figure comes from.
//
// Build: GO111MODULE=off go build -o bench_gcbench_go gcbench.go result.go
package main

import (
	"fmt"
	"os"
	"time"
)

const (
	kStretchTreeDepth   = 18     // 2^19 - 1 nodes
	kLongLivedTreeDepth = 16     // 2^17 - 1 nodes, live throughout
	kArraySize          = 500000 // float64s, live throughout
	kMinTreeDepth       = 4
	kMaxTreeDepth       = 16
)

type node struct {
	left, right *node
	i, j        int32 // payload, as in the original (never read)
}

// treeSize returns the number of nodes in a tree of depth i.
func treeSize(i int) int { return (1 << (i + 1)) - 1 }

// numIters returns how many trees of depth i to build.
func numIters(i int) int { return 2 * treeSize(kStretchTreeDepth) / treeSize(i) }

// populate builds a tree of depth `depth` below n, top-down.
func populate(depth int, n *node) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &node{}
	n.right = &node{}
	populate(depth, n.left)
	populate(depth, n.right)
}

// makeTree returns a new tree of depth `depth`, built bottom-up.
func makeTree(depth int) *node {
	if depth <= 0 {
		return &node{}
	}
	left := makeTree(depth - 1)
	right := makeTree(depth - 1)
	return &node{left: left, right: right}
}

// timeConstruction builds numIters(depth) trees both ways.
func timeConstruction(depth int) {
	iters := numIters(depth)
	fmt.Printf("Creating %d trees of depth %d\n", iters, depth)

	t0 := time.Now()
	for i := 0; i < iters; i++ {
		temp := &node{}
		populate(depth, temp)
	}
	t1 := time.Now()
	fmt.Printf("\tTop down construction took %.0f msec\n", msec(t1.Sub(t0)))

	for i := 0; i < iters; i++ {
		makeTree(depth)
	}
	t2 := time.Now()
	fmt.Printf("\tBottom up construction took %.0f msec\n", msec(t2.Sub(t1)))
}

func msec(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func main() {
	fmt.Printf("Garbage Collector Test\n")
	fmt.Printf(" Live storage will peak at %d bytes.\n\n",
		2*24*treeSize(kLongLivedTreeDepth)+8*kArraySize)
	fmt.Printf(" Stretching memory with a binary tree of depth %d\n",
		kStretchTreeDepth)

	start := time.Now()

	makeTree(kStretchTreeDepth)

	fmt.Printf(" Creating a long-lived binary tree of depth %d\n",
		kLongLivedTreeDepth)
	longLived := &node{}
	populate(kLongLivedTreeDepth, longLived)

	fmt.Printf(" Creating a long-lived array of %d doubles\n", kArraySize)
	array := make([]float64, kArraySize)
	for i := 0; i < kArraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}

	for d := kMinTreeDepth; d <= kMaxTreeDepth; d += 2 {
		timeConstruction(d)
	}

	intact := longLived.left != nil && longLived.right != nil &&
		array[1000] == 1.0/1000
	wall := time.Since(start)
	fmt.Printf("Completed in %.0f msec\n", msec(wall))
	if !intact {
		fmt.Fprintln(os.Stderr, "gcbench: long-lived data damaged: Failed")
		os.Exit(1)
	}
	printResult("gcbench", wall)
}
