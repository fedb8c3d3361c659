// bench/go/sched.go -- the Go peer of bench/bench_sched.c: the cost of
// Go's scheduler, channels and sync on one P (GOMAXPROCS=1, as tricolor's
// procs = 1), measured the same way.
//
//	yield       two goroutines call runtime.Gosched in turn; per Gosched
//	spawn       go f() of a function that calls wg.Done, in batches of 100
//	            followed by wg.Wait; per goroutine
//	chan_unbuf  ping-pong over two unbuffered chan uintptr; per round trip
//	chan_buf    the same over channels of capacity 1
//	select2     the same, the echo side receiving with a 2-case select
//	wg_1e5      one goroutine starts 100000 that each call wg.Done, then
//	            waits; per goroutine
//	rss_100k    VmRSS growth while N goroutines are parked in a channel
//	rss_1m      receive, divided by N (bytes per parked goroutine)
//
// Each figure is measured -runs times (default 5; RSS at 1M once).  A
// runtime.GC() precedes every run; each RSS run is a fresh process (the
// program runs itself with -child).  GOMAXPROCS is set to 1 by the program
// (the environment cannot change it).
//
// Output: one line per run, in bench_sched's format; bench/sched.py takes
// the median of an op's lines:
//
//	RESULT op=<op> impl=go value=<v> unit=<ns|bytes>
//
// Build: GO111MODULE=off go build -o bench_sched_go sched.go
// (a program of its own: not built with result.go).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "VmRSS:" {
			v, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

func benchYield(n int) float64 {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / (2 * float64(n))
}

func benchSpawn(n int) float64 {
	const batch = 100
	n = n / batch * batch
	var wg sync.WaitGroup
	done := func() { wg.Done() }
	t0 := time.Now()
	for i := 0; i < n; i += batch {
		wg.Add(batch)
		for k := 0; k < batch; k++ {
			go done()
		}
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func benchPingPong(n, capacity int) float64 {
	ping := make(chan uintptr, capacity)
	pong := make(chan uintptr, capacity)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- uintptr(i + 1)
		if <-pong != uintptr(i+1) {
			panic("ping-pong: wrong value")
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	close(ping)
	return ns
}

func benchSelect(n int) float64 {
	a := make(chan uintptr)
	b := make(chan uintptr)
	reply := make(chan uintptr)
	go func() {
		for {
			var v uintptr
			var ok bool
			select {
			case v, ok = <-a:
			case v, ok = <-b:
			}
			if !ok {
				return
			}
			reply <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if i&1 != 0 {
			b <- uintptr(i + 1)
		} else {
			a <- uintptr(i + 1)
		}
		if <-reply != uintptr(i+1) {
			panic("select ping-pong: wrong value")
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	close(a)
	return ns
}

func benchWaitGroup(n int) float64 {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go wg.Done()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func benchRSS(n int) float64 {
	c := make(chan struct{})
	var parked sync.WaitGroup
	var done sync.WaitGroup
	parked.Add(n)
	done.Add(n)
	before := rssKiB()
	for i := 0; i < n; i++ {
		go func() {
			parked.Done()
			<-c
			done.Done()
		}()
	}
	parked.Wait()
	runtime.Gosched() // one P: the last one parks before we run again
	after := rssKiB()
	close(c)
	done.Wait()
	return float64(after-before) * 1024 / float64(n)
}

var child *bool

// fresh measures op in a new process of this program (-child): goroutine
// stacks freed by earlier runs stay in Go's stack pool and heap and would
// hide what the RSS figures measure.
func fresh(name string) float64 {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	out, err := exec.Command(exe, "-child", "-only", name).Output()
	if err != nil {
		panic(fmt.Sprintf("%s -child -only %s: %v", exe, name, err))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		panic(err)
	}
	return v
}

type op struct {
	name string
	unit string
	n    int
	f    func(int) float64
	once bool
}

func main() {
	runs := flag.Int("runs", 5, "runs per figure")
	quick := flag.Bool("quick", false, "iteration counts / 10, no 1M RSS")
	only := flag.String("only", "", "comma-separated ops")
	child = flag.Bool("child", false, "internal: measure -only once, print the value")
	flag.Parse()
	if *child {
		*runs = 1
	}
	runtime.GOMAXPROCS(1)

	scale := 1
	if *quick {
		scale = 10
	}
	ops := []op{
		{"yield", "ns", 2000000, benchYield, false},
		{"spawn", "ns", 1000000, benchSpawn, false},
		{"chan_unbuf", "ns", 1000000, func(n int) float64 { return benchPingPong(n, 0) }, false},
		{"chan_buf", "ns", 1000000, func(n int) float64 { return benchPingPong(n, 1) }, false},
		{"select2", "ns", 1000000, benchSelect, false},
		{"wg_1e5", "ns", 100000, benchWaitGroup, false},
		{"rss_100k", "bytes", 100000, benchRSS, false},
		{"rss_1m", "bytes", 1000000, benchRSS, true},
	}
	for _, o := range ops {
		if *only != "" && !strings.Contains(","+*only+",", ","+o.name+",") {
			continue // not in the comma-separated list
		}
		if o.once && *quick {
			continue
		}
		n := o.n
		if !strings.HasPrefix(o.name, "rss") {
			n /= scale
		}
		r := *runs
		if o.once {
			r = 1
		}
		v := make([]float64, r)
		for i := range v {
			if o.unit == "bytes" && !*child {
				v[i] = fresh(o.name)
				continue
			}
			runtime.GC()
			v[i] = o.f(n)
		}
		if *child {
			fmt.Printf("%g\n", v[0])
			return
		}
		for _, x := range v {
			fmt.Printf("RESULT op=%s impl=go value=%.2f unit=%s\n", o.name,
				x, o.unit)
		}
	}
}
