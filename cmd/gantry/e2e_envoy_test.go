package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // the bootstrap's HttpProtocolOptions
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gantryproxy/gantry/internal/echo"
	"github.com/gantryproxy/gantry/xds/cache"
)

// envoyBinary is $GANTRY_ENVOY or envoy on PATH; the test skips without one.
func envoyBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GANTRY_ENVOY"); p != "" {
		return p
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		t.Skip("no Envoy binary: set GANTRY_ENVOY or put envoy on PATH to run the end-to-end tests through a real Envoy")
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// envoyBootstrap is an ADS bootstrap for node id in the e2e group.
func envoyBootstrap(id, xdsAddr string, adminPort int) string {
	host, port, _ := net.SplitHostPort(xdsAddr)
	return fmt.Sprintf(`{
  "node": {"id": %q, "cluster": %q},
  "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": %d}}},
  "dynamic_resources": {
    "ads_config": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [{"envoy_grpc": {"cluster_name": "gantry-xds"}}]},
    "cds_config": {"ads": {}, "resource_api_version": "V3"},
    "lds_config": {"ads": {}, "resource_api_version": "V3"}
  },
  "static_resources": {"clusters": [{
    "name": "gantry-xds", "type": "STATIC", "connect_timeout": "1s",
    "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      "explicit_http_config": {"http2_protocol_options": {}}}},
    "load_assignment": {"cluster_name": "gantry-xds", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": %q, "port_value": %s}}}}]}]}
  }]}
}`, id, e2eGroup, adminPort, host, port)
}

// The bootstrap the Envoy test uses parses and validates as Envoy's
// Bootstrap proto, so the Envoy test fails only for real reasons.
func TestEnvoyBootstrapValid(t *testing.T) {
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal([]byte(envoyBootstrap("envoy-1", "127.0.0.1:18000", 19999)), b); err != nil {
		t.Fatal(err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if b.GetNode().GetCluster() != e2eGroup || len(b.GetStaticResources().GetClusters()) != 1 {
		t.Fatalf("bootstrap: %v", b)
	}
}

// startEnvoy runs Envoy with an ADS bootstrap for node id in the e2e group.
func startEnvoy(t *testing.T, bin, xdsAddr, id string) {
	t.Helper()
	bootstrap := envoyBootstrap(id, xdsAddr, freePort(t))
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, []byte(bootstrap), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", path, "--disable-hot-restart", "--log-level", "warn",
		"--base-id", strconv.Itoa(freePort(t)))
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting envoy: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("envoy logs:\n%s", logs.String())
		}
	})
}

// httpCall sends GET path with Host host through Envoy and returns the
// backend name (or the status when no backend answered).
func httpCall(port int, host, path string, kv ...string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if name := resp.Header.Get(echo.HeaderName); name != "" {
		return name, nil
	}
	return "", fmt.Errorf("%s%s: status %d without %s", host, path, resp.StatusCode, echo.HeaderName)
}

func TestE2EEnvoy(t *testing.T) {
	bin := envoyBinary(t)
	port := freePort(t)
	files := e2eFiles()
	files["gateway.yaml"] = strings.Replace(gatewayYAML, "port: 80,", fmt.Sprintf("port: %d,", port), 1)
	e := startE2E(t, e2eBackends, files)
	startEnvoy(t, bin, e.cp.xdsLn.Addr().String(), "envoy-1")
	e.eventually(t, "Envoy to serve a.example.com", func() error {
		_, err := httpCall(port, "a.example.com", "/")
		return err
	})
	t.Run("host and path/header matching with precedence", func(t *testing.T) {
		cases := []struct {
			host, path string
			kv         []string
			want       string
		}{
			{host: "a.example.com", path: "/anything", want: "fallback"},
			{host: "b.example.com", path: "/anything", want: "bee"},
			{host: "a.example.com", path: "/exact", want: "exact"},
			{host: "a.example.com", path: "/api/users", want: "api"},
			{host: "a.example.com", path: "/apix", want: "fallback"},
			{host: "a.example.com", path: "/other", kv: []string{"x-version", "v2"}, want: "v2"},
			{host: "a.example.com", path: "/api/users", kv: []string{"x-version", "v2"}, want: "api"},
		}
		for _, tc := range cases {
			if got, err := httpCall(port, tc.host, tc.path, tc.kv...); err != nil || got != tc.want {
				t.Errorf("%s%s %v -> %q, %v; want %s", tc.host, tc.path, tc.kv, got, err, tc.want)
			}
		}
	})
	t.Run("weighted split", func(t *testing.T) {
		counts := map[string]int{}
		for i := 0; i < 1000; i++ {
			got, err := httpCall(port, "w.example.com", "/x")
			if err != nil {
				t.Fatal(err)
			}
			counts[got]++
		}
		if counts["w80"] < 700 || counts["w80"] > 900 {
			t.Errorf("split = %v, want about 800/200", counts)
		}
	})
	t.Run("NACK is recorded, last good config kept, no resend loop", func(t *testing.T) {
		testRejected(t, e, nackCase{
			node: "envoy-1", flavor: cache.FlavorEnvoy,
			// RE2 refuses "(": proto validation only checks it is not empty.
			breakAction: func(act *routev3.RouteAction) {
				act.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
					Pattern:      &matcherv3.RegexMatcher{Regex: "("},
					Substitution: "/",
				}
			},
			stillServes: func() error {
				if got, err := httpCall(port, "a.example.com", "/api/users"); err != nil || got != "api" {
					return fmt.Errorf("/api/users -> %q, %v; want api", got, err)
				}
				return nil
			},
		})
	})
	t.Run("live update and endpoints going away", func(t *testing.T) {
		e.write(t, "routes.yaml", movedRoutesYAML())
		e.eventually(t, "/moved routed to bee", func() error {
			if got, err := httpCall(port, "a.example.com", "/moved"); err != nil || got != "bee" {
				return fmt.Errorf("/moved -> %q, %v", got, err)
			}
			return nil
		})
		e.write(t, "backend-exact.yaml", backendYAML("exact", true))
		e.eventually(t, "/exact without endpoints fails", func() error {
			if got, err := httpCall(port, "a.example.com", "/exact"); err == nil {
				return fmt.Errorf("/exact still served by %s", got)
			}
			return nil
		})
		if st := typeState(t, e, "envoy-1", "type.googleapis.com/envoy.config.listener.v3.Listener"); st.State != "ACK" {
			t.Errorf("Envoy listener state %s, want ACK", st.State)
		}
	})
}
