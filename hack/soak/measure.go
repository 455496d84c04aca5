package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
)

// rssBytes reads process_resident_memory_bytes from a /metrics page.
func rssBytes(ctx context.Context, url string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no process_resident_memory_bytes", url)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// rdsWatch is an ADS client (state of the world) subscribed to one route
// configuration; every response's payload is delivered with its arrival
// time.
type rdsWatch struct {
	conn *grpc.ClientConn
	got  chan arrival
}

type arrival struct {
	at      time.Time
	payload []byte
}

func watchRoutes(ctx context.Context, addr string, creds grpc.DialOption, group, routeConfig string) (*rdsWatch, error) {
	conn, err := grpc.NewClient(addr, creds,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
	if err != nil {
		return nil, err
	}
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	node := &corev3.Node{Id: "soak-bench", Cluster: group}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: []string{routeConfig}}
	if err := stream.Send(req); err != nil {
		_ = conn.Close()
		return nil, err
	}
	w := &rdsWatch{conn: conn, got: make(chan arrival, 64)}
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				close(w.got)
				return
			}
			at := time.Now()
			var payload []byte
			for _, r := range resp.GetResources() {
				payload = append(payload, r.GetValue()...)
			}
			w.got <- arrival{at: at, payload: payload}
			ack := &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{routeConfig},
				VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if err := stream.Send(ack); err != nil {
				close(w.got)
				return
			}
		}
	}()
	return w, nil
}

// waitFor returns the arrival time of the first response containing marker.
func (w *rdsWatch) waitFor(ctx context.Context, marker string, within time.Duration) (time.Time, error) {
	timeout := time.After(within)
	for {
		select {
		case a, ok := <-w.got:
			if !ok {
				return time.Time{}, fmt.Errorf("ADS stream closed")
			}
			if strings.Contains(string(a.payload), marker) {
				return a.at, nil
			}
		case <-timeout:
			return time.Time{}, fmt.Errorf("no route configuration with %q within %v", marker, within)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
