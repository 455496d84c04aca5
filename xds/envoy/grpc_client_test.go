package envoy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/xds"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// ackRecorder notes, per type URL, the last request of a gRPC client: an
// ACK of the served version or a NACK with its message.
type ackRecorder struct {
	mu     sync.Mutex
	last   map[string]*discoveryv3.DiscoveryRequest
	nacks  []string
	lastAt time.Time
}

func (a *ackRecorder) onRequest(_ int64, req *discoveryv3.DiscoveryRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(req.GetResourceNames()) == 0 && req.GetVersionInfo() == "" {
		return nil
	}
	a.last[req.GetTypeUrl()] = req
	a.lastAt = time.Now()
	if d := req.GetErrorDetail(); d != nil {
		a.nacks = append(a.nacks, fmt.Sprintf("%s: %s", req.GetTypeUrl(), d.GetMessage()))
	}
	return nil
}

// settled reports whether every requested type was ACKed at version and
// nothing moved for a while; it returns the NACKs seen.
func (a *ackRecorder) settled(version string, want []string) (bool, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.nacks) > 0 {
		return true, a.nacks
	}
	for _, typ := range want {
		if r := a.last[typ]; r == nil || r.GetVersionInfo() != version {
			return false, nil
		}
	}
	for _, r := range a.last {
		if r.GetVersionInfo() != version {
			return false, nil
		}
	}
	return time.Since(a.lastAt) > 200*time.Millisecond, nil
}

// TestGRPCClientAcceptsGRPCFlavor serves every gRPC-flavor golden case to
// grpc-go's own xDS client (the end-to-end oracle) and requires an ACK of
// every listener, route configuration, cluster and assignment it fetches.
func TestGRPCClientAcceptsGRPCFlavor(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the grpc-go xDS client round trips")
	}
	certDir := writeProviderFiles(t)
	checked := 0
	for _, c := range builtCases(t, FlavorGRPC) {
		if len(c.Resources.Listeners) == 0 {
			continue // nothing a proxyless client can subscribe to
		}
		checked++
		res := c.Resources
		t.Run(c.Name, func(t *testing.T) { serveToGRPCClient(t, res, certDir) })
	}
	if checked < 5 {
		t.Fatalf("only %d gRPC-flavor cases with listeners", checked)
	}
}

func serveToGRPCClient(t *testing.T, res *Resources, certDir string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &ackRecorder{last: map[string]*discoveryv3.DiscoveryRequest{}}
	snapshots := cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	snap, err := cachev3.NewSnapshot("1", res.ByType())
	if err != nil {
		t.Fatal(err)
	}
	const node = "grpc-oracle"
	if err := snapshots.SetSnapshot(ctx, node, snap); err != nil {
		t.Fatal(err)
	}
	srv := serverv3.NewServer(ctx, snapshots, serverv3.CallbackFuncs{StreamRequestFunc: rec.onRequest})
	gs := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	resolver, err := xds.NewXDSResolverWithConfigForTesting(grpcBootstrap(t, lis.Addr().String(), node, certDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Listeners {
		if l.(*listenerv3.Listener).GetAddress() != nil {
			serveGRPCServer(t, lis.Addr().String(), node, certDir, l.(*listenerv3.Listener).Name)
			continue
		}
		target := "xds:///" + l.(*listenerv3.Listener).Name
		cc, err := grpc.NewClient(target, grpc.WithResolvers(resolver), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		defer cc.Close()
		cc.Connect()
	}
	want := []string{resourcev3.ListenerType, resourcev3.RouteType}
	if forwards(res) {
		// The client follows routes to clusters and their assignments.
		want = append(want, resourcev3.ClusterType, resourcev3.EndpointType)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		done, nacks := rec.settled("1", want)
		if len(nacks) > 0 {
			sort.Strings(nacks)
			t.Fatalf("grpc-go NACKed:\n%s", strings.Join(nacks, "\n"))
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var got []string
			for typ, r := range rec.last {
				got = append(got, fmt.Sprintf("%s version %q names %v", typ, r.GetVersionInfo(), r.GetResourceNames()))
			}
			sort.Strings(got)
			t.Fatalf("no complete ACK within 15s; last requests:\n%s", strings.Join(got, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveGRPCServer starts grpc-go's xDS server with a bootstrap whose server
// listener template is the listener's own name, so it subscribes to that
// listener (and its route configuration) and ACKs or NACKs them. It listens
// on loopback, so it then reports the address mismatch and does not serve:
// only the acceptance of the resources is checked here.
func serveGRPCServer(t *testing.T, xdsAddr, node, certDir, listener string) {
	t.Helper()
	var boot map[string]any
	if err := json.Unmarshal(grpcBootstrap(t, xdsAddr, node, certDir), &boot); err != nil {
		t.Fatal(err)
	}
	boot["server_listener_resource_name_template"] = listener
	data, err := json.Marshal(boot)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := xds.NewGRPCServer(grpc.Creds(creds), xds.BootstrapContentsForTesting(data))
	if err != nil {
		t.Fatalf("%s: %v", listener, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
}

// writeProviderFiles writes a certificate, key and CA for the bootstrap's
// certificate provider (the gRPC flavor names it for upstream TLS).
func writeProviderFiles(t *testing.T) string {
	t.Helper()
	tc := readCase(t, filepath.Join("testdata", "upstream-tls.ir.yaml"))
	dir := t.TempDir()
	for _, s := range tc.Proxy.Secrets {
		if len(s.Certificate) > 0 && len(s.Key) > 0 {
			for file, data := range map[string][]byte{"cert.pem": s.Certificate, "key.pem": s.Key, "ca.pem": s.Certificate} {
				if err := os.WriteFile(filepath.Join(dir, file), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			return dir
		}
	}
	t.Fatal("upstream-tls.ir.yaml has no certificate secret")
	return ""
}

func grpcBootstrap(t *testing.T, addr, node, certDir string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      addr,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{"id": node, "cluster": "grpc/test/oracle"},
		"certificate_providers": map[string]any{
			CertificateProviderInstance: map[string]any{
				"plugin_name": "file_watcher",
				"config": map[string]any{
					"certificate_file":    filepath.Join(certDir, "cert.pem"),
					"private_key_file":    filepath.Join(certDir, "key.pem"),
					"ca_certificate_file": filepath.Join(certDir, "ca.pem"),
					"refresh_interval":    "600s",
				},
			},
			SystemRootsProviderInstance: map[string]any{
				"plugin_name": "file_watcher",
				"config": map[string]any{
					"ca_certificate_file": filepath.Join(certDir, "ca.pem"),
					"refresh_interval":    "600s",
				},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forwards tells whether any route forwards to a cluster.
func forwards(res *Resources) bool {
	for _, r := range res.Routes {
		for _, vh := range r.(*routev3.RouteConfiguration).GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if rt.GetRoute() != nil {
					return true
				}
			}
		}
	}
	return false
}
