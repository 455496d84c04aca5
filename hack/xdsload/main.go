// Command xdsload measures Gantry's xDS server under many clients. It starts
// the server in a child process (so its CPU time and memory are measured
// alone, from /proc/<pid>; -inprocess runs it in this process and reads
// /proc/self), connects N simulated clients (state of the world and
// delta, each on its own connection, as Envoys would), waits until all hold
// the configuration, makes one route change and reports how long every
// client took to receive it, then reconnects every client at once with
// unchanged configuration and counts the resources re-sent (want 0).
//
//	go run ./hack/xdsload -clients 1000 -delta 0.5 -clusters 50
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	clients := flag.Int("clients", 1000, "number of simulated clients")
	deltaShare := flag.Float64("delta", 0.5, "share of clients that use delta xDS (the rest use state of the world)")
	clusters := flag.Int("clusters", 50, "clusters (with endpoints) and virtual hosts in the configuration")
	quiet := flag.Duration("quiet", 2*time.Second, "how long to wait for resends after the reconnect storm")
	serveOnly := flag.Bool("serve", false, "internal: run the server side (started by xdsload itself)")
	inProcess := flag.Bool("inprocess", false, "run the server in this process (CPU and RSS then include the clients)")
	flag.Parse()
	if *serveOnly {
		if err := serve(*clusters, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "xdsload server:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*clients, *deltaShare, *clusters, *quiet, *inProcess); err != nil {
		fmt.Fprintln(os.Stderr, "xdsload:", err)
		os.Exit(1)
	}
}

// child is the server: a process, or a goroutine with -inprocess.
type child struct {
	wait func() error
	in   io.WriteCloser
	out  *bufio.Scanner
	pid  string
}

func startInProcess(clusters int) (*child, string, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := serve(clusters, inR, outW)
		_ = outW.Close()
		errc <- err
	}()
	c := &child{wait: func() error { return <-errc }, in: inW, out: bufio.NewScanner(outR), pid: "self"}
	line, err := c.read("addr ")
	return c, line, err
}

func startChild(clusters int) (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "-serve", "-clusters", strconv.Itoa(clusters))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	c := &child{wait: cmd.Wait, in: in, out: bufio.NewScanner(out), pid: strconv.Itoa(cmd.Process.Pid)}
	line, err := c.read("addr ")
	return c, line, err
}

func (c *child) read(prefix string) (string, error) {
	if !c.out.Scan() {
		return "", fmt.Errorf("server exited: %v", c.out.Err())
	}
	line := c.out.Text()
	if !strings.HasPrefix(line, prefix) {
		return "", fmt.Errorf("server said %q, want %q...", line, prefix)
	}
	return strings.TrimPrefix(line, prefix), nil
}

// recorder is the observer: it counts clients per phase.
type recorder struct {
	mu        sync.Mutex
	phase     string
	seen      map[int]map[string]bool // initial: types received per client
	first     map[int]time.Time       // change: first route response per client
	nsub      int
	resent    int
	responses int
	progress  chan struct{}
}

func (r *recorder) received(id int, typeURL string, at time.Time, resent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.phase {
	case "initial":
		if r.seen[id] == nil {
			r.seen[id] = map[string]bool{}
		}
		r.seen[id][typeURL] = true
	case "change":
		if _, ok := r.first[id]; !ok && typeURL == loadTypes[3] {
			r.first[id] = at
		}
	case "reconnect":
		r.responses++
		r.resent += resent
	}
	r.poke()
}

func (r *recorder) subscribed(int) {
	r.mu.Lock()
	r.nsub++
	r.poke()
	r.mu.Unlock()
}

func (r *recorder) poke() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// waitFor blocks until cond holds (checked under the lock) or timeout.
func (r *recorder) waitFor(timeout time.Duration, cond func() bool) error {
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-r.progress:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return fmt.Errorf("timed out in phase %s", r.phase)
		}
	}
}

func (r *recorder) setPhase(p string) {
	r.mu.Lock()
	r.phase, r.nsub = p, 0
	r.mu.Unlock()
}

// result is what a run measured.
type result struct {
	// convergence is sorted, one entry per client.
	convergence []time.Duration
	// responses and resent are counted after the reconnect storm.
	responses, resent int
}

func run(n int, deltaShare float64, clusters int, quiet time.Duration, inProcess bool) error {
	_, err := measure(n, deltaShare, clusters, quiet, inProcess)
	return err
}

func measure(n int, deltaShare float64, clusters int, quiet time.Duration, inProcess bool) (*result, error) {
	start := startChild
	if inProcess {
		start = startInProcess
	}
	srv, addr, err := start(clusters)
	if err != nil {
		return nil, err
	}
	defer func() {
		fmt.Fprintln(srv.in, "quit")
		_ = srv.wait()
	}()
	names := make([]string, clusters)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	rec := &recorder{phase: "initial", seen: map[int]map[string]bool{}, first: map[int]time.Time{}, progress: make(chan struct{}, 1)}
	cs := make([]*client, n)
	deltas := int(float64(n)*deltaShare + 0.5)
	for i := range cs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		cs[i] = newClient(i, i < deltas, names, conn, rec)
	}
	defer func() {
		for _, c := range cs {
			c.stop()
		}
	}()
	fmt.Printf("xdsload: %d clients (%d state of the world, %d delta), %d clusters/virtual hosts, server pid %s at %s\n",
		n, n-deltas, deltas, clusters, srv.pid, addr)
	report(srv.pid, "server at start")
	if err := initialSync(cs, rec); err != nil {
		return nil, err
	}
	cpu0 := report(srv.pid, "server after initial sync")
	lat, err := routeChange(srv, rec, n)
	if err != nil {
		return nil, err
	}
	cpu1 := report(srv.pid, "server after the change")
	fmt.Printf("server CPU for the change: %v\n", cpu1-cpu0)
	res, err := reconnectStorm(cs, rec, quiet)
	if err != nil {
		return nil, err
	}
	res.convergence = lat
	cpu2 := report(srv.pid, "server after the reconnect storm")
	fmt.Printf("server CPU for the reconnect storm: %v\n", cpu2-cpu1)
	return res, nil
}

// initialSync starts every client and waits until all hold every type.
func initialSync(cs []*client, rec *recorder) error {
	began := time.Now()
	for _, c := range cs {
		if err := c.start(); err != nil {
			return err
		}
	}
	if err := rec.waitFor(2*time.Minute, func() bool { return countFull(rec.seen) == len(cs) }); err != nil {
		return err
	}
	fmt.Printf("initial: all %d clients hold every type after %v\n", len(cs), time.Since(began).Round(time.Millisecond))
	return nil
}

// routeChange asks the server for one route change and returns, sorted,
// how long each client took to receive it.
func routeChange(srv *child, rec *recorder, n int) ([]time.Duration, error) {
	rec.setPhase("change")
	fmt.Fprintln(srv.in, "change")
	line, err := srv.read("changed ")
	if err != nil {
		return nil, err
	}
	nanos, _ := strconv.ParseInt(line, 10, 64)
	t0 := time.Unix(0, nanos)
	if err := rec.waitFor(time.Minute, func() bool { return len(rec.first) == n }); err != nil {
		return nil, err
	}
	rec.mu.Lock()
	lat := make([]time.Duration, 0, n)
	for _, at := range rec.first {
		lat = append(lat, at.Sub(t0))
	}
	rec.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("route change: convergence over %d clients: p50 %v  p90 %v  p99 %v  max %v\n", n,
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	return lat, nil
}

// reconnectStorm drops and reopens every stream at once and counts what
// the server sends during quiet.
func reconnectStorm(cs []*client, rec *recorder, quiet time.Duration) (*result, error) {
	time.Sleep(200 * time.Millisecond) // let the last ACKs land
	for _, c := range cs {
		c.stop()
	}
	rec.setPhase("reconnect")
	began := time.Now()
	for _, c := range cs {
		if err := c.start(); err != nil {
			return nil, err
		}
	}
	if err := rec.waitFor(time.Minute, func() bool { return rec.nsub == len(cs) }); err != nil {
		return nil, err
	}
	fmt.Printf("reconnect storm: %d clients reconnected and re-subscribed in %v\n", len(cs), time.Since(began).Round(time.Millisecond))
	time.Sleep(quiet)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	fmt.Printf("reconnect storm: responses %d, resent unchanged resources %d (want 0), quiet wait %v\n", rec.responses, rec.resent, quiet)
	return &result{responses: rec.responses, resent: rec.resent}, nil
}

func countFull(seen map[int]map[string]bool) int {
	n := 0
	for _, types := range seen {
		if len(types) == len(loadTypes) {
			n++
		}
	}
	return n
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	if i < 0 {
		i = 0
	}
	return sorted[i].Round(time.Microsecond)
}

func report(pid, what string) time.Duration {
	cpu, rss, hwm, err := procStats(pid)
	if err != nil {
		fmt.Printf("%s: %v\n", what, err)
		return 0
	}
	fmt.Printf("%s: CPU %v, RSS %s (peak %s)\n", what, cpu, rss, hwm)
	return cpu
}
