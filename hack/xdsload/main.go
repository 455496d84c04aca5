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
//
// With -address it runs against a server that is already running (e.g.
// `make run`, group gateway/default/quickstart): the clients subscribe to
// what the group's clusters and listeners reference, the route change is
// the one you make (-change-wait), and CPU/RSS are read only with
// -server-pid.
//
//	go run ./hack/xdsload -address 127.0.0.1:18000 -clients 200 -change-wait 60s
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

// loadOptions are the flags of one run.
type loadOptions struct {
	clients    int
	deltaShare float64
	clusters   int
	// changes is how many changes to make before the reconnect storm (own
	// server only; at least the route and the endpoint change).
	changes   int
	quiet     time.Duration
	inProcess bool
	// address is a running server to load instead of starting one.
	address string
	// group is the node.cluster of the clients with -address.
	group string
	// serverPID is the running server's pid (CPU and RSS), if known.
	serverPID int
	// discoverTimeout bounds the question to a running server (default 10 s).
	discoverTimeout time.Duration
	// changeWait is how long to wait for a route change made by hand on
	// the running server (0: skip that phase).
	changeWait time.Duration
	// tls runs the own server over mTLS (as gantry serve does) and gives
	// every client a certificate; caDir is its CA folder.
	tls   bool
	caDir string
}

func main() {
	var o loadOptions
	flag.IntVar(&o.clients, "clients", 1000, "number of simulated clients")
	flag.Float64Var(&o.deltaShare, "delta", 0.5, "share of clients that use delta xDS (the rest use state of the world)")
	flag.IntVar(&o.clusters, "clusters", 50, "clusters (with endpoints) and virtual hosts in the configuration (own server only)")
	flag.DurationVar(&o.quiet, "quiet", 2*time.Second, "how long to wait for resends after the reconnect storm")
	flag.IntVar(&o.changes, "changes", 2, "own server only: changes to make before the reconnect storm, alternating route and endpoint changes (at least the first two), then report RSS")
	serveOnly := flag.Bool("serve", false, "internal: run the server side (started by xdsload itself)")
	flag.BoolVar(&o.inProcess, "inprocess", false, "run the server in this process (CPU and RSS then include the clients)")
	flag.StringVar(&o.address, "address", "", "host:port of an already running xDS server (e.g. make run) instead of starting one")
	flag.StringVar(&o.group, "group", "gateway/default/quickstart", "with -address: node.cluster of the clients (a group the server serves)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "with -address: pid of the server, to report its CPU and RSS")
	flag.DurationVar(&o.changeWait, "change-wait", 0, "with -address: wait this long for a route change you make on the server, and measure its spread (0: skip)")
	flag.BoolVar(&o.tls, "tls", false, "own server only: serve over TLS and authenticate every client by its certificate, as gantry serve does")
	flag.StringVar(&o.caDir, "ca-dir", "", "internal: the CA folder of a -tls run")
	flag.Parse()
	if *serveOnly {
		if err := serve(o.clusters, o.caDir, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "xdsload server:", err)
			os.Exit(1)
		}
		return
	}
	if _, err := measure(o); err != nil {
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

func startInProcess(clusters int, caDir string) (*child, string, error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := serve(clusters, caDir, inR, outW)
		_ = outW.Close()
		errc <- err
	}()
	c := &child{wait: func() error { return <-errc }, in: inW, out: bufio.NewScanner(outR), pid: "self"}
	line, err := c.read("addr ")
	return c, line, err
}

func startChild(clusters int, caDir string) (*child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "-serve", "-clusters", strconv.Itoa(clusters), "-ca-dir", caDir)
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
		return "", fmt.Errorf("server said %q, want prefix %q", line, prefix)
	}
	return strings.TrimPrefix(line, prefix), nil
}

// recorder is the observer: it counts clients per phase.
type recorder struct {
	mu        sync.Mutex
	phase     string
	seen      map[int]map[string]bool // initial: types received per client
	first     map[int]time.Time       // change: first route response per client
	carried   int                     // change: most resources in one such response
	nsub      int
	resent    int
	responses int
	progress  chan struct{}
}

func (r *recorder) received(id int, typeURL string, at time.Time, carried, resent int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.phase {
	case "initial":
		if r.seen[id] == nil {
			r.seen[id] = map[string]bool{}
		}
		r.seen[id][typeURL] = true
	case "change", "endpoint":
		want := loadTypes[3] // routes
		if r.phase == "endpoint" {
			want = loadTypes[1] // endpoints
		}
		if _, ok := r.first[id]; !ok && typeURL == want {
			r.first[id] = at
			r.carried = max(r.carried, carried)
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
	r.phase, r.nsub, r.carried = p, 0, 0
	clear(r.first)
	r.mu.Unlock()
}

// result is what a run measured.
type result struct {
	// convergence is sorted, one entry per client.
	convergence []time.Duration
	// endpointConvergence is the same for one endpoint change (own server
	// only), and endpointCarried the most resources an EDS response of it
	// carried.
	endpointConvergence []time.Duration
	endpointCarried     int
	// responses and resent are counted after the reconnect storm.
	responses, resent int
}

// target is the server under load and what its clients subscribe to.
type target struct {
	srv      *child // nil with -address
	addr     string
	pid      string // "" when unknown
	group    string
	clusters []string
	routes   []string
}

// startTarget starts the load tool's own server, or discovers what a
// running one (-address) serves to the group.
func startTarget(o loadOptions) (*target, error) {
	if o.address != "" {
		conn, err := grpc.NewClient(o.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		if o.discoverTimeout <= 0 {
			o.discoverTimeout = 10 * time.Second
		}
		clusters, routes, err := discover(conn, o.group, o.discoverTimeout)
		if err != nil {
			return nil, fmt.Errorf("-address %s: %w", o.address, err)
		}
		tg := &target{addr: o.address, group: o.group, clusters: clusters, routes: routes}
		if o.serverPID > 0 {
			tg.pid = strconv.Itoa(o.serverPID)
		}
		return tg, nil
	}
	start := startChild
	if o.inProcess {
		start = startInProcess
	}
	srv, addr, err := start(o.clusters, o.caDir)
	if err != nil {
		return nil, err
	}
	tg := &target{srv: srv, addr: addr, pid: srv.pid, group: loadGroup, routes: []string{"rc"}}
	for i := 0; i < o.clusters; i++ {
		tg.clusters = append(tg.clusters, fmt.Sprintf("c%d", i))
	}
	return tg, nil
}

func measure(o loadOptions) (*result, error) {
	cleanup, err := withCA(&o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	creds, err := dialCreds(o.caDir)
	if err != nil {
		return nil, err
	}
	tg, err := startTarget(o)
	if err != nil {
		return nil, err
	}
	if tg.srv != nil {
		defer func() {
			fmt.Fprintln(tg.srv.in, "quit")
			_ = tg.srv.wait()
		}()
	}
	n := o.clients
	rec := &recorder{phase: "initial", seen: map[int]map[string]bool{}, first: map[int]time.Time{}, progress: make(chan struct{}, 1)}
	deltas := int(float64(n)*o.deltaShare + 0.5)
	cs, closeAll, err := newClients(tg, creds, n, deltas, rec)
	defer closeAll()
	if err != nil {
		return nil, err
	}
	pid := tg.pid
	if pid == "" {
		pid = "unknown (give -server-pid for CPU and RSS)"
	}
	fmt.Printf("xdsload: %d clients (%d state of the world, %d delta) of group %s, %d endpoint and %d route names, server pid %s at %s, mTLS %v\n",
		n, n-deltas, deltas, tg.group, len(tg.clusters), len(tg.routes), pid, tg.addr, o.tls)
	_, rssStart := report(tg.pid, "server at start")
	if err := initialSync(cs, rec); err != nil {
		return nil, err
	}
	cpu0, rss0 := report(tg.pid, "server after initial sync")
	if rssStart > 0 && rss0 > 0 {
		fmt.Printf("memory per client: %.0f kB of RSS (%d clients added %d kB)\n", float64(rss0-rssStart)/float64(n), n, rss0-rssStart)
	}
	if tg.srv != nil {
		fmt.Fprintln(tg.srv.in, "heap initial")
	}
	var lat []time.Duration
	switch {
	case tg.srv != nil:
		lat, _, err = serverChange(tg.srv, rec, n, "change", false)
	case o.changeWait > 0:
		lat, err = externalChange(rec, n, o.changeWait)
	default:
		fmt.Println("route change: skipped (with -address, give -change-wait and change a route on the server)")
	}
	if err != nil {
		return nil, err
	}
	cpu1, _ := report(tg.pid, "server after the change")
	if lat != nil && tg.pid != "" {
		fmt.Printf("server CPU for the change: %v\n", cpu1-cpu0)
	}
	var epLat []time.Duration
	epCarried := 0
	if tg.srv != nil {
		if epLat, epCarried, cpu1, err = endpointChanges(tg, rec, n, o.changes, cpu1); err != nil {
			return nil, err
		}
		fmt.Fprintln(tg.srv.in, "cpu storm")
	}
	res, err := reconnectStorm(cs, rec, o.quiet)
	if err != nil {
		return nil, err
	}
	res.convergence, res.endpointConvergence, res.endpointCarried = lat, epLat, epCarried
	cpu2, _ := report(tg.pid, "server after the reconnect storm")
	if tg.srv != nil {
		fmt.Fprintln(tg.srv.in, "cpu stop")
		fmt.Fprintln(tg.srv.in, "heap storm")
	}
	if tg.pid != "" {
		fmt.Printf("server CPU for the reconnect storm: %v\n", cpu2-cpu1)
	}
	return res, nil
}

// externalChange waits for a route change made on a running server and
// returns, sorted, each client's arrival time after the first client's:
// the spread of the push (the change's start is not known here; the
// server's gantry_xds_convergence_seconds measures from it).
func externalChange(rec *recorder, n int, wait time.Duration) ([]time.Duration, error) {
	rec.setPhase("change")
	fmt.Printf("route change: waiting up to %v for a route change on the server (edit a route file of the running gantry serve)\n", wait)
	if err := rec.waitFor(wait, func() bool { return len(rec.first) == n }); err != nil {
		rec.mu.Lock()
		got := len(rec.first)
		rec.mu.Unlock()
		return nil, fmt.Errorf("route change: %d of %d clients received a new route configuration within %v: %w", got, n, wait, err)
	}
	rec.mu.Lock()
	var t0 time.Time
	for _, at := range rec.first {
		if t0.IsZero() || at.Before(t0) {
			t0 = at
		}
	}
	lat := make([]time.Duration, 0, n)
	for _, at := range rec.first {
		lat = append(lat, at.Sub(t0))
	}
	rec.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("route change: spread over %d clients after the first: p50 %v  p90 %v  p99 %v  max %v\n", n,
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	return lat, nil
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

// serverChange asks the server for one change (command "change": one route;
// "endpoint": one endpoint set) and returns, sorted, how long each client
// took to receive the changed type, and the most resources one of those
// responses carried.
func serverChange(srv *child, rec *recorder, n int, command string, quiet bool) ([]time.Duration, int, error) {
	phase, what := "change", "route change"
	if command == "endpoint" {
		phase, what = "endpoint", "endpoint change"
	}
	rec.setPhase(phase)
	fmt.Fprintln(srv.in, command)
	line, err := srv.read("changed ")
	if err != nil {
		return nil, 0, err
	}
	nanos, _ := strconv.ParseInt(line, 10, 64)
	t0 := time.Unix(0, nanos)
	if err := rec.waitFor(time.Minute, func() bool { return len(rec.first) == n }); err != nil {
		return nil, 0, err
	}
	rec.mu.Lock()
	lat := make([]time.Duration, 0, n)
	for _, at := range rec.first {
		lat = append(lat, at.Sub(t0))
	}
	carried := rec.carried
	rec.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if quiet {
		return lat, carried, nil
	}
	fmt.Printf("%s: convergence over %d clients: p50 %v  p90 %v  p99 %v  max %v; largest response %d resources\n", what, n,
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond), carried)
	return lat, carried, nil
}

// newClients makes n clients of tg (the first deltas of them delta), each
// on its own connection; closeAll stops them and closes the connections.
func newClients(tg *target, creds grpc.DialOption, n, deltas int, rec *recorder) (cs []*client, closeAll func(), err error) {
	var conns []*grpc.ClientConn
	closeAll = func() {
		for _, c := range cs {
			c.stop()
		}
		for _, conn := range conns {
			_ = conn.Close()
		}
	}
	for i := range n {
		conn, err := grpc.NewClient(tg.addr, creds)
		if err != nil {
			return cs, closeAll, err
		}
		conns = append(conns, conn)
		cs = append(cs, newClient(clientOptions{id: i, delta: i < deltas, group: tg.group, clusters: tg.clusters, routes: tg.routes, conn: conn, obs: rec}))
	}
	return cs, closeAll, nil
}

// endpointChanges makes the endpoint change on the own server, then the
// further changes up to total, and returns the endpoint change's
// convergence and largest response, and the server's CPU time after.
func endpointChanges(tg *target, rec *recorder, n, total int, cpu time.Duration) ([]time.Duration, int, time.Duration, error) {
	lat, carried, err := serverChange(tg.srv, rec, n, "endpoint", false)
	if err != nil {
		return nil, 0, cpu, err
	}
	next, _ := report(tg.pid, "server after the endpoint change")
	fmt.Printf("server CPU for the endpoint change: %v\n", next-cpu)
	next, err = moreChanges(tg, rec, n, total, next)
	return lat, carried, next, err
}

// moreChanges makes changes up to total (the route and endpoint changes
// above count as two), alternating the two kinds and waiting for every
// client each time, then reports the server's RSS: what clients cost must
// not grow with the number of changes.
func moreChanges(tg *target, rec *recorder, n, total int, cpu time.Duration) (time.Duration, error) {
	if total <= 2 {
		return cpu, nil
	}
	fmt.Fprintln(tg.srv.in, "cpu changes")
	for i := 2; i < total; i++ {
		kind := "change"
		if i%2 == 1 {
			kind = "endpoint"
		}
		if _, _, err := serverChange(tg.srv, rec, n, kind, true); err != nil {
			return cpu, fmt.Errorf("change %d: %w", i+1, err)
		}
	}
	fmt.Fprintln(tg.srv.in, "cpu stop")
	next, _ := report(tg.pid, fmt.Sprintf("server after %d changes", total))
	fmt.Printf("server CPU for %d more changes: %v\n", total-2, next-cpu)
	fmt.Fprintln(tg.srv.in, "heap changes")
	return next, nil
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

// report prints and returns the server's CPU time and RSS (kB).
func report(pid, what string) (time.Duration, int) {
	if pid == "" {
		return 0, 0
	}
	cpu, rss, hwm, err := procStats(pid)
	if err != nil {
		fmt.Printf("%s: %v\n", what, err)
		return 0, 0
	}
	fmt.Printf("%s: CPU %v, RSS %s (peak %s)\n", what, cpu, rss, hwm)
	kb, _ := strconv.Atoi(strings.TrimSuffix(rss, " kB"))
	return cpu, kb
}
