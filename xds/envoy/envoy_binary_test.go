package envoy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/gantryproxy/gantry/xds/envoy/envoytest"
)

// staticBootstrap is the static bootstrap of built resources, for `envoy
// --mode validate`.
func staticBootstrap(t *testing.T, res *Resources) *bootstrapv3.Bootstrap {
	t.Helper()
	b, err := envoytest.StaticBootstrap(envoytest.Resources{
		Listeners: res.Listeners, Routes: res.Routes, Clusters: res.Clusters, Endpoints: res.Endpoints, Secrets: res.Secrets,
	}, &corev3.Node{Id: "validate", Cluster: "gantry-validate"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envoyCases are the golden cases Envoy itself can check: Envoy flavor,
// expected to build.
func envoyCases(t *testing.T) map[string]*Resources {
	t.Helper()
	out := map[string]*Resources{}
	for _, c := range builtCases(t, FlavorEnvoy) {
		out[c.Name] = c.Resources
	}
	return out
}

// The static bootstraps are themselves valid (checked without Envoy).
func TestStaticBootstrapIsValid(t *testing.T) {
	for name, res := range envoyCases(t) {
		b := staticBootstrap(t, res)
		if err := validateMessage(b, &references{}); err != nil {
			t.Errorf("%s: bootstrap: %v", name, err)
		}
	}
}

// TestEnvoyValidate runs `envoy --mode validate` over every Envoy-flavor
// golden case. The gRPC flavor is for grpc-go (its certificate providers
// live in the gRPC bootstrap) and is not checked here.
func TestEnvoyValidate(t *testing.T) {
	bin := envoytest.Binary()
	if bin == "" {
		t.Skip("envoy binary not found: set GANTRY_ENVOY or put envoy on PATH")
	}
	dir := t.TempDir()
	for name, res := range envoyCases(t) {
		t.Run(name, func(t *testing.T) {
			js, err := protojson.Marshal(staticBootstrap(t, res))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name+".json")
			if err := os.WriteFile(path, js, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--mode", "validate", "-c", path, "--log-level", "warn")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("envoy --mode validate %s: %v\n%s", path, err, out)
			}
		})
	}
}
