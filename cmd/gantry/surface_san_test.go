package main

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gantryproxy/gantry/xds/envoy"
)

// TestSurfaceBackendTLSSANTypes: a BackendTLSPolicy's Hostname and URI
// subjectAltNames reach the Envoy cluster as DNS and URI matchers, and the
// gRPC flavor as the untyped match_subject_alt_names grpc-go reads.
func TestSurfaceBackendTLSSANTypes(t *testing.T) {
	const name = "backendtls-system-san"
	proxy := goldenProxy(t, name)
	const uri = "spiffe://cluster.local/ns/default/sa/api"
	wantTyped := []string{"DNS api.upstream.example", "URI " + uri}
	wantPlain := []string{"api.upstream.example", uri}
	for _, fl := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
		r, err := envoy.Build(proxy, envoy.Options{Flavor: fl})
		if err != nil {
			t.Fatalf("%s: %v", fl, err)
		}
		vc := upstreamValidation(t, r, "default/api/443")
		var typed, plain []string
		for _, m := range vc.GetMatchTypedSubjectAltNames() {
			typed = append(typed, m.GetSanType().String()+" "+m.GetMatcher().GetExact())
		}
		//lint:ignore SA1019 the gRPC flavor sets the field grpc-go reads
		for _, m := range vc.GetMatchSubjectAltNames() {
			plain = append(plain, m.GetExact())
		}
		switch fl {
		case envoy.FlavorEnvoy:
			if diff := cmp.Diff(wantTyped, typed); diff != "" || plain != nil {
				t.Errorf("envoy flavor: typed SAN matchers (-want +got):\n%s\nuntyped: %v", diff, plain)
			}
		case envoy.FlavorGRPC:
			if diff := cmp.Diff(wantPlain, plain); diff != "" || typed != nil {
				t.Errorf("grpc flavor: match_subject_alt_names (-want +got):\n%s\ntyped: %v", diff, typed)
			}
		}
	}
}

// upstreamValidation returns the validation context of a cluster's
// upstream TLS (inline or the default of a combined context).
func upstreamValidation(t *testing.T, r *envoy.Resources, cluster string) *tlsv3.CertificateValidationContext {
	t.Helper()
	for _, res := range r.Clusters {
		c := res.(*clusterv3.Cluster)
		if c.Name != cluster {
			continue
		}
		if c.GetTransportSocket() == nil {
			t.Fatalf("cluster %s has no transport socket", cluster)
		}
		utc := &tlsv3.UpstreamTlsContext{}
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(utc); err != nil {
			t.Fatalf("cluster %s: %v", cluster, err)
		}
		ctx := utc.GetCommonTlsContext()
		if vc := ctx.GetValidationContext(); vc != nil {
			return vc
		}
		if vc := ctx.GetCombinedValidationContext().GetDefaultValidationContext(); vc != nil {
			return vc
		}
		t.Fatalf("cluster %s: no validation context", cluster)
	}
	t.Fatalf("no cluster %s", cluster)
	return nil
}
