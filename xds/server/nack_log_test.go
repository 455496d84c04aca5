package server

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) nackLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "NACK") {
			out = append(out, line)
		}
	}
	return out
}

// TestPersistentNACKLoggedOnce: a node that keeps rejecting the same
// configuration (repeating its NACK on the stream, and reconnecting to NACK
// it again, as a client does after a stream error) gives one warning and one
// NACK count per (node, type, version), not one per request or stream; a new
// rejected version, or another node, is logged and counted again.
func TestPersistentNACKLoggedOnce(t *testing.T) {
	logs := &lockedBuffer{}
	f := startWith(t, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c, reg := f.cache, f.reg
	if err := c.SetSnapshot(group, xdstest.Simple("svc", 8080, "127.0.0.1:1"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}

	// nackStream opens a stream as nodeID, receives EDS and NACKs it
	// repeats times with the same nonce; it returns the version it NACKed.
	nackStream := func(nodeID string, repeats int) string {
		t.Helper()
		send, resps, cancel := f.sotwStream(t)
		defer cancel()
		send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node(nodeID, group.Group, ""), TypeUrl: resource.EndpointType})
		var got *discoveryv3.DiscoveryResponse
		select {
		case got = <-resps:
		case <-time.After(3 * time.Second):
			t.Fatal("no EDS response")
		}
		for range repeats {
			send(&discoveryv3.DiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: got.Nonce,
				ErrorDetail: &status.Status{Code: 3, Message: "locality without an ID"}})
		}
		if extra := recvAll(resps, 200*time.Millisecond); len(extra) != 0 {
			t.Fatalf("NACKed configuration re-sent %d times", len(extra))
		}
		return got.VersionInfo
	}
	check := func(what string, wantLines int) {
		t.Helper()
		if got := len(logs.nackLines()); got != wantLines {
			t.Errorf("%s: %d NACK warnings, want %d:\n%s", what, got, wantLines, strings.Join(logs.nackLines(), "\n"))
		}
		if got := metricValue(t, reg, "gantry_xds_nacks_total", "ClusterLoadAssignment"); got != float64(wantLines) {
			t.Errorf("%s: nacks metric = %v, want %d", what, got, wantLines)
		}
	}

	v1 := nackStream("grpc-1", 20)
	check("one stream repeating its NACK", 1)
	for range 5 {
		if v := nackStream("grpc-1", 3); v != v1 {
			t.Fatalf("reconnect got version %s, want %s", v, v1)
		}
	}
	check("five reconnects rejecting the same version", 1)

	nackStream("grpc-2", 3)
	check("another node", 2)

	if err := c.SetSnapshot(group, xdstest.Simple("svc", 8080, "127.0.0.1:2"), cache.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := nackStream("grpc-1", 3); v == v1 {
		t.Fatal("the new snapshot did not change the EDS version")
	}
	check("a new version rejected", 3)
}
