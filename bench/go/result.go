// bench/go/result.go -- the RESULT line of the Go peers, the same fields as
// bench/backend.h prints for the C benchmarks:
//
//	RESULT bench=B backend=go wall_ms=W rss_kib=R cycles=C max_pause_us=M
//	       p99_pause_us=P mode=- procs=N mutators=U pauses=Q p50_pause_us=H
//	       start_max_us=- term_max_us=- gc_cpu_pct=G        (one line)
//
//	wall_ms       the workload, timed with the monotonic clock (time.Since).
//	rss_kib       peak resident set in KiB: VmHWM of /proc/self/status, else
//	              syscall.Getrusage Maxrss, which on Linux survives exec and
//	              so includes the size of the process that started us.
//	cycles        runtime.MemStats.NumGC.
//	max_pause_us  the longest, and p99_pause_us the 99th percentile (nearest
//	p99_pause_us  rank), of runtime.MemStats.PauseNs.  Go records one entry
//	              per cycle, the sum of its stop-the-world pauses, and keeps
//	              the last 256 cycles only: with NumGC > 256 both figures
//	              are over the most recent 256 cycles.
//	procs         runtime.GOMAXPROCS(0).
//	mutators      goroutines running the workload at once (the caller's).
//	pauses        every stop-the-world pause (two per cycle: sweep
//	p50_pause_us  termination and mark termination), from the runtime/metrics
//	              histogram /gc/pauses:seconds: the count, and the median as
//	              the upper bound of its bucket (buckets are ~6% wide).
//	start_max_us, term_max_us
//	              "-": Go splits its pauses only in the gctrace line;
//	              bench/run.py sets GODEBUG=gctrace=1 and takes every
//	              pause, split by kind, from those lines instead.
//	gc_cpu_pct    runtime.MemStats.GCCPUFraction in percent.
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// peakRSSKiB returns the peak resident set in KiB (see the file comment).
func peakRSSKiB() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "VmHWM:" {
				if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		return int64(ru.Maxrss)
	}
	return -1
}

// pauseHist returns the number of stop-the-world pauses and the upper
// bound of the bucket holding the median, in ns, from runtime/metrics.
func pauseHist() (uint64, uint64) {
	sample := []metrics.Sample{{Name: "/gc/pauses:seconds"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, 0
	}
	h := sample[0].Value.Float64Histogram()
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return 0, 0
	}
	rank := (n + 1) / 2 // ceil(n / 2), nearest rank
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			hi := h.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = h.Buckets[i]
			}
			return n, uint64(hi * 1e9)
		}
	}
	return n, 0
}

// printResult prints the RESULT line after the workload of `bench`, run by
// mutators[0] goroutines at once (default 1).
func printResult(bench string, wall time.Duration, mutators ...int) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)

	kept := uint32(len(m.PauseNs))
	if m.NumGC < kept {
		kept = m.NumGC
	}
	pauses := make([]uint64, 0, kept)
	for k := uint32(0); k < kept; k++ {
		// The pause of cycle c (1-based) is at PauseNs[(c+255)%256].
		c := m.NumGC - k
		pauses = append(pauses, m.PauseNs[(c+255)%256])
	}
	sort.Slice(pauses, func(a, b int) bool { return pauses[a] < pauses[b] })
	var maxNs, p99Ns uint64
	if n := len(pauses); n > 0 {
		maxNs = pauses[n-1]
		rank := (99*n + 99) / 100 // ceil(0.99 n)
		p99Ns = pauses[rank-1]
	}
	npause, p50Ns := pauseHist()
	k := 1
	if len(mutators) > 0 {
		k = mutators[0]
	}

	rss := peakRSSKiB()

	fmt.Printf("RESULT bench=%s backend=go wall_ms=%.3f rss_kib=%d cycles=%d "+
		"max_pause_us=%.1f p99_pause_us=%.1f mode=- procs=%d mutators=%d "+
		"pauses=%d p50_pause_us=%.1f start_max_us=- term_max_us=- "+
		"gc_cpu_pct=%.2f\n",
		bench, float64(wall.Nanoseconds())/1e6, rss, m.NumGC,
		float64(maxNs)/1e3, float64(p99Ns)/1e3, runtime.GOMAXPROCS(0), k,
		npause, float64(p50Ns)/1e3, 100*m.GCCPUFraction)
	os.Stdout.Sync()
}
