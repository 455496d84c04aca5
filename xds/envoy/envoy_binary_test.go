package envoy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// staticBootstrap turns built resources into a bootstrap with everything
// static, for `envoy --mode validate`: route configurations inlined into
// their managers, EDS clusters made static with their assignment, SDS
// references pointing at static secrets. API listeners are left out (Envoy
// servers do not take them).
func staticBootstrap(t *testing.T, res *Resources) *bootstrapv3.Bootstrap {
	t.Helper()
	routes := map[string]*routev3.RouteConfiguration{}
	for _, r := range res.Routes {
		rc := r.(*routev3.RouteConfiguration)
		routes[rc.Name] = rc
	}
	cla := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, e := range res.Endpoints {
		c := e.(*endpointv3.ClusterLoadAssignment)
		cla[c.ClusterName] = c
	}
	sr := &bootstrapv3.Bootstrap_StaticResources{}
	for _, r := range res.Listeners {
		l := proto.Clone(r).(*listenerv3.Listener)
		if l.ApiListener != nil {
			continue
		}
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				if f.Name == hcmFilterName {
					f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: inlineRoutes(t, f.GetTypedConfig().GetValue(), routes)}
				}
			}
			staticSDS(t, fc.TransportSocket, &tlsv3.DownstreamTlsContext{})
		}
		sr.Listeners = append(sr.Listeners, l)
	}
	for _, r := range res.Clusters {
		c := proto.Clone(r).(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_EDS {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
			c.EdsClusterConfig = nil
			c.LoadAssignment = cla[c.Name]
			if c.LoadAssignment == nil {
				c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
			}
		}
		staticSDS(t, c.TransportSocket, &tlsv3.UpstreamTlsContext{})
		sr.Clusters = append(sr.Clusters, c)
	}
	for _, s := range res.Secrets {
		sr.Secrets = append(sr.Secrets, s.(*tlsv3.Secret))
	}
	return &bootstrapv3.Bootstrap{
		Node:            &corev3.Node{Id: "validate", Cluster: "gantry-validate"},
		StaticResources: sr,
	}
}

func inlineRoutes(t *testing.T, raw []byte, routes map[string]*routev3.RouteConfiguration) *anypb.Any {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	if err := proto.Unmarshal(raw, hcm); err != nil {
		t.Fatal(err)
	}
	if rds := hcm.GetRds(); rds != nil {
		rc := routes[rds.RouteConfigName]
		if rc == nil {
			t.Fatalf("manager names missing route config %q", rds.RouteConfigName)
		}
		hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
	}
	return mustAny(hcm)
}

// staticSDS drops the ADS source of every SDS reference in a TLS transport
// socket, which makes it name a static secret.
func staticSDS(t *testing.T, ts *corev3.TransportSocket, ctx proto.Message) {
	t.Helper()
	if ts == nil {
		return
	}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		t.Fatal(err)
	}
	var common *tlsv3.CommonTlsContext
	switch c := ctx.(type) {
	case *tlsv3.DownstreamTlsContext:
		common = c.GetCommonTlsContext()
	case *tlsv3.UpstreamTlsContext:
		common = c.GetCommonTlsContext()
	}
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		s.SdsConfig = nil
	}
	if s := common.GetValidationContextSdsSecretConfig(); s != nil {
		s.SdsConfig = nil
	}
	if s := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); s != nil {
		s.SdsConfig = nil
	}
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}
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

// envoyBinary is $GANTRY_ENVOY or envoy on PATH.
func envoyBinary() string {
	if p := os.Getenv("GANTRY_ENVOY"); p != "" {
		return p
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return ""
	}
	return p
}

// TestEnvoyValidate runs `envoy --mode validate` over every Envoy-flavor
// golden case. The gRPC flavor is for grpc-go (its certificate providers
// live in the gRPC bootstrap) and is not checked here.
func TestEnvoyValidate(t *testing.T) {
	bin := envoyBinary()
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
