// Command meshbench measures what one endpoint change costs a running
// `gantry serve -f DIR` serving a mesh: it writes -services Services
// spread over -namespaces namespaces (one file per namespace: Services,
// EndpointSlices of two addresses, a producer HTTPRoute per tenth Service)
// into a temporary folder, starts the gantry binary on it (plaintext xDS on
// loopback), connects one state-of-the-world ADS client (gRPC flavor, as a
// proxyless gRPC client) as a node of each of -connected namespaces' groups
// (mesh/ns-<n>; listeners, clusters, and the route configurations and
// endpoints they name), then changes one EndpointSlice address -changes
// times, alternately of a Service in a connected namespace (whose group
// also serves its gRPC servers' listeners) and in a namespace without a
// client, and for each change
//
//   - times, for every client, the write of the file to the
//     ClusterLoadAssignment holding the new address: every connected group
//     holds every Service, so every client must get it;
//   - reads the server's CPU time (/proc/<pid>/stat) from the write until
//     -settle after the last client got it;
//
// and reports the server's RSS after start and after the changes.
//
// It is not part of CI.
//
//	go build -o /tmp/gantry ./cmd/gantry && go run ./hack/meshbench -gantry /tmp/gantry
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/hack/benchserve"
)

type options struct {
	gantry                          string
	services, namespaces, connected int
	changes                         int
	settle, timeout                 time.Duration
	heapProfile                     string
}

func main() {
	var o options
	flag.StringVar(&o.gantry, "gantry", "", "gantry binary (default: go build ./cmd/gantry into a temporary folder)")
	flag.IntVar(&o.services, "services", 1000, "number of Services")
	flag.IntVar(&o.namespaces, "namespaces", 100, "number of namespaces the Services are spread over")
	flag.IntVar(&o.connected, "connected", 10, "namespaces with a connected client (one each)")
	flag.IntVar(&o.changes, "changes", 20, "endpoint changes (half in connected namespaces, half in others)")
	flag.DurationVar(&o.settle, "settle", 500*time.Millisecond, "wait after each change's last answer before the next (the debounce must have closed)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for the first configuration and for each change")
	flag.StringVar(&o.heapProfile, "heap-profile", "", "write the server's heap profile (after a GC) at the end to this file")
	flag.Parse()
	if o.connected < 1 || 3*o.connected > o.namespaces || o.services < 2*o.namespaces {
		fmt.Fprintln(os.Stderr, "meshbench: need 1 <= -connected <= -namespaces / 3 and -services >= 2 x -namespaces")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "meshbench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	dir, err := os.MkdirTemp("", "meshbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.gantry == "" {
		if o.gantry, err = benchserve.Build(dir); err != nil {
			return err
		}
	}
	w := &world{dir: filepath.Join(dir, "config"), services: o.services, namespaces: o.namespaces}
	if err := w.writeAll(); err != nil {
		return err
	}
	srv, err := benchserve.Start(o.gantry, w.dir, dir)
	if err != nil {
		return err
	}
	defer srv.Stop()
	start := time.Now()
	var clients []*benchserve.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range o.connected {
		ns := connectedNS(o, i)
		c, err := benchserve.Connect(srv.XDS, "meshbench-"+strconv.Itoa(ns), "mesh/ns-"+strconv.Itoa(ns), "grpc", o.timeout)
		if err != nil {
			return fmt.Errorf("client of mesh/ns-%d: %w (server log: %s)", ns, err, srv.LogTail())
		}
		clients = append(clients, c)
	}
	fmt.Printf("services %d, namespaces %d, connected %d: every client configured after %v\n",
		o.services, o.namespaces, o.connected, time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // let the start-up garbage go
	_, rssStart, err := srv.Stats()
	if err != nil {
		return err
	}
	byWhere := map[bool]*series{true: {}, false: {}}
	for k := range o.changes {
		inConnected := k%2 == 0
		ns := connectedNS(o, k/2%o.connected)
		if !inConnected {
			ns = (ns + 1) % o.namespaces // connectedNS leaves the next namespace without a client
		}
		s := ns + o.namespaces*(k/2%(o.services/o.namespaces))
		if err := measure(o, srv, clients, byWhere[inConnected], func() (string, error) { return w.changeEndpoint(s, k) }); err != nil {
			return fmt.Errorf("change %d (svc-%d): %w", k, s, err)
		}
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
	byWhere[true].print("endpoint of a Service in a connected namespace")
	byWhere[false].print("endpoint of a Service in a namespace without a client")
	fmt.Printf("server RSS: %.0f MB after start -> %.0f MB after %d changes\n", rssStart, rssEnd, o.changes)
	return nil
}

// connectedNS is the namespace of the i-th client: spread evenly, so the
// namespace after each has no client, and off the namespaces whose first
// Service has a route (n % 10 == 5 with the defaults), so every group
// holds the changed Services' clusters.
func connectedNS(o options, i int) int {
	return i*o.namespaces/o.connected + o.namespaces/o.connected/2
}

// series is what the changes of one kind cost.
type series struct {
	// each is every client's latency of every change; last is, per
	// change, the latency of the last client to get it.
	each, last []time.Duration
	cpu        []time.Duration
}

func (s *series) print(what string) {
	if len(s.last) == 0 {
		return
	}
	var cpu time.Duration
	for _, c := range s.cpu {
		cpu += c
	}
	each, last := slices.Clone(s.each), slices.Clone(s.last)
	slices.Sort(each)
	slices.Sort(last)
	fmt.Printf("%s (%d changes): every client p50 %v, p99 %v; last client of each change p50 %v, p99 %v, max %v; server CPU %v per change\n",
		what, len(last), pct(each, 50), pct(each, 99), pct(last, 50), pct(last, 99), last[len(last)-1].Round(time.Millisecond),
		(cpu / time.Duration(len(s.cpu))).Round(time.Millisecond))
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)].Round(time.Millisecond)
}

// measure applies one change (which returns the address the answer must
// hold) and times it at every client.
func measure(o options, srv *benchserve.Server, clients []*benchserve.Client, s *series, change func() (string, error)) error {
	cpu0, _, err := srv.Stats()
	if err != nil {
		return err
	}
	t0 := time.Now()
	want, err := change()
	if err != nil {
		return err
	}
	lat := make([]time.Duration, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, _, err := c.WaitFor(want, resource.EndpointType, o.timeout)
			lat[i], errs[i] = at.Sub(t0), err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("client %d: %w (server log: %s)", i, err, srv.LogTail())
		}
	}
	time.Sleep(o.settle)
	cpu1, _, err := srv.Stats()
	if err != nil {
		return err
	}
	s.each = append(s.each, lat...)
	s.last = append(s.last, slices.Max(lat))
	s.cpu = append(s.cpu, cpu1-cpu0)
	return nil
}
