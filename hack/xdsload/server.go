package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

const loadGroup = "gateway/load/gw"

// config is the synthetic configuration every client receives: one
// listener using route configuration "rc" (routes), whose virtual hosts each
// send to one of n EDS clusters with two endpoints each.
func config(n int) map[string][]types.Resource {
	res := map[string][]types.Resource{
		resource.ListenerType: {xdstest.Listener("l", 10000, "rc")},
		resource.RouteType:    {routes(n, 0)},
	}
	for i := 0; i < n; i++ {
		c := fmt.Sprintf("c%d", i)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType], endpoints(i, 0))
	}
	return res
}

// routes is the route configuration "rc" of n virtual hosts; generation
// changes the first one's route.
func routes(n, generation int) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "rc"}
	for i := 0; i < n; i++ {
		vh := xdstest.Route("x", []string{fmt.Sprintf("svc%d.example.com", i)}, fmt.Sprintf("c%d", i)).VirtualHosts[0]
		vh.Name = fmt.Sprintf("vh%d", i)
		if i == 0 && generation > 0 {
			vh.Routes[0].Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/gen%d", generation)}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

// endpoints is the load assignment of cluster i; generation moves its
// second endpoint.
func endpoints(i, generation int) *endpointv3.ClusterLoadAssignment {
	return xdstest.Endpoints(fmt.Sprintf("c%d", i),
		fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1), fmt.Sprintf("10.1.%d.%d:%d", i/250, i%250+1, 8080+generation))
}

// serve runs the xDS server for the load test (over mTLS with the CA of
// caDir when it is set): it prints "addr <address>", then obeys, on in,
// "change" (one route changes: the snapshot is set again with a new route
// configuration and every other message as it was, as a control loop that
// rebuilds only what changed does), "endpoint" (one endpoint set changes,
// through the endpoint fast path), each answered with "changed <unix nanos>"
// (when the change started), "heap <phase>", "cpu <phase>|stop" and "quit".
func serve(n int, caDir string, in io.Reader, out io.Writer) error {
	key := cache.Key{Group: loadGroup, Flavor: cache.FlavorEnvoy}
	c := cache.New(cache.Options{})
	cur := config(n)
	if err := c.SetSnapshot(key, cur, cache.SetOptions{}); err != nil {
		return err
	}
	opts := server.Options{Cache: c, Insecure: caDir == ""}
	if caDir != "" {
		var err error
		if opts, err = secure(opts, caDir); err != nil {
			return err
		}
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop(context.Background())
	fmt.Fprintf(out, "addr %s\n", l.Addr())
	sc := bufio.NewScanner(in)
	gen := 0
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		start := time.Now()
		switch cmd {
		case "change":
			gen++
			cur[resource.RouteType] = []types.Resource{routes(n, gen)}
			err = c.SetSnapshot(key, cur, cache.SetOptions{ChangedAt: start})
		case "endpoint":
			gen++
			err = c.UpdateEndpoints(key, []types.Resource{endpoints(0, gen)}, nil, cache.SetOptions{ChangedAt: start})
		case "heap":
			err = writeHeap(arg)
		case "cpu":
			err = cpuProfile(arg)
		case "quit":
			return nil
		}
		if err != nil {
			return err
		}
		if cmd == "change" || cmd == "endpoint" {
			fmt.Fprintf(out, "changed %d\n", start.UnixNano())
		}
	}
	return sc.Err()
}

// procStats reads a process's CPU time (user+system) and resident memory
// (current and peak) from /proc.
func procStats(pid string) (cpu time.Duration, rss, hwm string, err error) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, "", "", err
	}
	fields := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	cpu = time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, "", "", err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = strings.TrimSpace(v)
		}
	}
	return cpu, rss, hwm, nil
}

// writeHeap writes a heap profile to $XDSLOAD_HEAP_PROFILE.<phase>, if
// the variable is set.
func writeHeap(phase string) error {
	path := os.Getenv("XDSLOAD_HEAP_PROFILE")
	if path == "" {
		return nil
	}
	path += "." + phase
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}

// cpuProfile starts a CPU profile to $XDSLOAD_CPU_PROFILE.<phase>, if the
// variable is set, or stops the running one ("stop").
func cpuProfile(phase string) error {
	path := os.Getenv("XDSLOAD_CPU_PROFILE")
	switch {
	case path == "":
		return nil
	case phase == "stop":
		pprof.StopCPUProfile()
		return nil
	}
	f, err := os.Create(path + "." + phase)
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f) // the file closes with the process
}
