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

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

const loadGroup = "gateway/load/gw"

// config is the synthetic configuration every client receives: one
// listener using route configuration "rc", whose virtual hosts each send
// to one of n EDS clusters with two endpoints each. generation changes one
// route, which changes only RDS.
func config(n, generation int) map[string][]types.Resource {
	rc := &routev3.RouteConfiguration{Name: "rc"}
	res := map[string][]types.Resource{
		resource.ListenerType: {xdstest.Listener("l", 10000, "rc")},
	}
	for i := 0; i < n; i++ {
		c := fmt.Sprintf("c%d", i)
		vh := xdstest.Route("x", []string{fmt.Sprintf("svc%d.example.com", i)}, c).VirtualHosts[0]
		vh.Name = fmt.Sprintf("vh%d", i)
		if i == 0 && generation > 0 {
			vh.Routes[0].Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: fmt.Sprintf("/gen%d", generation)}
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
		res[resource.ClusterType] = append(res[resource.ClusterType], xdstest.Cluster(c))
		res[resource.EndpointType] = append(res[resource.EndpointType],
			xdstest.Endpoints(c, fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250+1), fmt.Sprintf("10.1.%d.%d:8080", i/250, i%250+1)))
	}
	res[resource.RouteType] = []types.Resource{rc}
	return res
}

// serve runs the xDS server for the load test (over mTLS with the CA of
// caDir when it is set): it prints "addr <address>",
// then obeys "change" (apply the next route change, print "changed <unix
// nanos>" with the time the change started) and "quit" on in.
func serve(n int, caDir string, in io.Reader, out io.Writer) error {
	c := cache.New(cache.Options{})
	if err := c.SetSnapshot(cache.Key{Group: loadGroup, Flavor: cache.FlavorEnvoy}, config(n, 0), cache.SetOptions{}); err != nil {
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
		switch cmd {
		case "change":
			gen++
			start := time.Now()
			if err := c.SetSnapshot(cache.Key{Group: loadGroup, Flavor: cache.FlavorEnvoy}, config(n, gen), cache.SetOptions{ChangedAt: start}); err != nil {
				return err
			}
			fmt.Fprintf(out, "changed %d\n", start.UnixNano())
		case "heap":
			if err := writeHeap(arg); err != nil {
				return err
			}
		case "quit":
			return nil
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
