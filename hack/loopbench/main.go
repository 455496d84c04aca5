// Command loopbench measures what one change costs a running `gantry serve
// -f DIR`: it writes -routes HTTPRoutes (spread over -gateways Gateways,
// one hostname and one PathPrefix rule each, backed by routes/10 Services
// with one EndpointSlice each) into a temporary folder, starts the gantry
// binary on it (plaintext xDS on loopback), connects one state-of-the-world
// ADS client as a node of the first Gateway's group (listeners, route
// configurations, clusters and endpoints), then
//
//   - changes one route's path prefix -changes times (rewriting its file)
//     and times each from the write to the RouteConfiguration holding the new
//     prefix at the client;
//   - changes one endpoint address -changes times (rewriting the file of all
//     Services and EndpointSlices, or with -services-per-file the file of
//     that Service) and times each to the ClusterLoadAssignment holding it,
//     and reports the size of the EDS response that carried it;
//   - reads the server's CPU time (/proc/<pid>/stat) around each change and
//     its RSS after start and after the changes (and with -cpu-profile
//     records the server's CPU profile of each series).
//
// It is not part of CI.
//
//	go build -o /tmp/gantry ./cmd/gantry && go run ./hack/loopbench -gantry /tmp/gantry -routes 10000 -changes 20
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gantryproxy/gantry/hack/benchserve"
)

type options struct {
	gantry          string
	routes          int
	gateways        int
	changes         int
	perFile         int
	servicesPerFile int
	heapProfile     string
	cpuProfile      string
	allocProfile    string
	settle, timeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.gantry, "gantry", "", "gantry binary (default: go build ./cmd/gantry into a temporary folder)")
	flag.IntVar(&o.routes, "routes", 1000, "number of HTTPRoutes")
	flag.IntVar(&o.gateways, "gateways", 1, "number of Gateways the routes are spread over")
	flag.IntVar(&o.changes, "changes", 20, "route changes, then as many endpoint changes")
	flag.IntVar(&o.perFile, "per-file", 1000, "routes per file (a change rewrites one file)")
	flag.IntVar(&o.servicesPerFile, "services-per-file", 0, "Services (each with its EndpointSlice) per file; 0 puts them all in services.yaml")
	flag.DurationVar(&o.settle, "settle", 500*time.Millisecond, "wait after each change's answer before the next (the debounce must have closed)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for the first configuration and for each change")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write the server's heap profile (after a GC) at the end to this file, and after start to this file with .start appended")
	flag.StringVar(&o.cpuProfile, "cpu-profile", "", "write the server's CPU profile of the endpoint changes to this file (the route changes' to this file with .routes appended)")
	flag.StringVar(&o.allocProfile, "alloc-profile", "", "write the server's allocation profiles before and after each series to this file with .routes/.endpoints and .before/.after appended (compare with go tool pprof -diff_base)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loopbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "loopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.gantry == "" {
		if o.gantry, err = benchserve.Build(dir); err != nil {
			return err
		}
	}
	w := &world{dir: filepath.Join(dir, "config"), routes: o.routes, gateways: o.gateways, perFile: o.perFile, servicesPerFile: o.servicesPerFile}
	if err := w.writeAll(); err != nil {
		return err
	}
	srv, err := benchserve.Start(o.gantry, w.dir, dir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	start := time.Now()
	c, err := benchserve.Connect(srv.XDS, "loopbench", "gateway/default/gw-0", "", o.timeout)
	if err != nil {
		return fmt.Errorf("%w (server log: %s)", err, srv.LogTail())
	}
	defer c.Close()
	fmt.Printf("routes %d, gateways %d: first configuration at the client after %v\n", o.routes, o.gateways, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // let the start-up garbage go
	_, rssStart, err := srv.Stats()
	if err != nil {
		return err
	}
	if o.heapProfile != "" {
		if err := srv.HeapProfile(o.heapProfile + ".start"); err != nil {
			return err
		}
	}
	routes, err := profiled(o, srv, "routes", func() (*series, error) {
		return measureChanges(o, srv, c, func(k int) (string, error) { return w.changeRoute(k) })
	})
	if err != nil {
		return fmt.Errorf("route change: %w", err)
	}
	eps, err := profiled(o, srv, "endpoints", func() (*series, error) {
		return measureChanges(o, srv, c, func(k int) (string, error) { return w.changeEndpoint(k) })
	})
	if err != nil {
		return fmt.Errorf("endpoint change: %w", err)
	}
	time.Sleep(2 * time.Second)
	_, rssEnd, err := srv.Stats()
	if err != nil {
		return err
	}
	if o.heapProfile != "" {
		if err := srv.HeapProfile(o.heapProfile); err != nil {
			return err
		}
	}
	routes.print("one route changed")
	eps.print("one endpoint changed")
	fmt.Printf("server RSS: %.0f MB after start -> %.0f MB after %d route and %d endpoint changes\n", rssStart, rssEnd, o.changes, o.changes)
	return nil
}

// series is what one kind of change cost, change by change.
type series struct {
	latency []time.Duration
	cpu     []time.Duration
	bytes   []int
}

func (s *series) print(what string) {
	l := slices.Clone(s.latency)
	slices.Sort(l)
	var cpu time.Duration
	for _, c := range s.cpu {
		cpu += c
	}
	var size int
	for _, b := range s.bytes {
		size += b
	}
	n := len(l)
	fmt.Printf("%s (%d): client p50 %v, p99 %v, max %v; server CPU %v per change; response %d bytes on average\n",
		what, n, pct(l, 50), pct(l, 99), l[n-1].Round(time.Millisecond), (cpu / time.Duration(n)).Round(100*time.Microsecond), size/n)
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(time.Millisecond)
}

// measureChanges applies o.changes changes with change (which returns what
// the answer must hold) and times each at the client.
func measureChanges(o options, srv *benchserve.Server, c *benchserve.Client, change func(k int) (string, error)) (*series, error) {
	s := &series{}
	for k := range o.changes {
		cpu0, _, err := srv.Stats()
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		want, err := change(k)
		if err != nil {
			return nil, err
		}
		at, size, err := c.WaitFor(want, "", o.timeout)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w (server log: %s)", k, err, srv.LogTail())
		}
		time.Sleep(o.settle)
		cpu1, _, err := srv.Stats()
		if err != nil {
			return nil, err
		}
		s.latency = append(s.latency, at.Sub(t0))
		s.cpu = append(s.cpu, cpu1-cpu0)
		s.bytes = append(s.bytes, size)
	}
	return s, nil
}

// profiled runs measure, the series name ("routes" or "endpoints"), with
// the profiles the options ask for: the server's CPU profile while it runs
// (-cpu-profile; the route changes' with .routes appended), its allocation
// profiles before and after (-alloc-profile, with .name appended).
func profiled(o options, s *benchserve.Server, name string, measure func() (*series, error)) (*series, error) {
	run := measure
	if o.cpuProfile != "" {
		path := o.cpuProfile
		if name == "routes" {
			path += ".routes"
		}
		run = func() (*series, error) { return cpuProfiled(o, s, path, measure) }
	}
	if o.allocProfile == "" {
		return run()
	}
	return allocProfiled(s, o.allocProfile+"."+name, run)
}

// cpuProfiled runs measure while the server records a CPU profile into
// path for about as long as measure takes.
func cpuProfiled(o options, s *benchserve.Server, path string, measure func() (*series, error)) (*series, error) {
	seconds := int((time.Duration(o.changes)*(o.settle+300*time.Millisecond))/time.Second) + 1
	done := make(chan error, 1)
	go func() { done <- s.Fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), path) }()
	res, err := measure()
	if perr := <-done; err == nil && perr != nil {
		err = fmt.Errorf("cpu profile: %w", perr)
	}
	return res, err
}

// allocProfiled records the server's cumulative allocation profile (after
// a collection) into base.before and base.after, around measure.
func allocProfiled(s *benchserve.Server, base string, measure func() (*series, error)) (*series, error) {
	if err := s.Fetch("/debug/pprof/heap?gc=1", base+".before"); err != nil {
		return nil, fmt.Errorf("allocation profile: %w", err)
	}
	res, err := measure()
	if err != nil {
		return nil, err
	}
	if err := s.Fetch("/debug/pprof/heap?gc=1", base+".after"); err != nil {
		return nil, fmt.Errorf("allocation profile: %w", err)
	}
	return res, nil
}
