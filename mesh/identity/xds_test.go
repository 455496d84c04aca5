package identity

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

const serverName = "gantry.gantry-system.svc"

// xdsFixture is a TLS xDS server holding two Gateways' groups (each with
// its listener key) and the mesh group of namespace shop (with the keys of
// two ServiceAccounts, to prove each goes only to its owner).
type xdsFixture struct {
	ca   *ca.CA
	addr string
}

func secretRes(name string) types.Resource {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "key of " + name}},
	}}}
}

func startXDS(t testing.TB, tokens *TokenReviewer) *xdsFixture {
	t.Helper()
	c, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cch := cache.New(cache.Options{})
	for group, secrets := range map[string][]string{
		"gateway/shop/web": {"shop/web-tls"},
		"gateway/shop/api": {"shop/api-tls"},
		"mesh/shop":        {ca.BundleSecret, "mesh/shop/reviews", "mesh/shop/ratings"},
	} {
		res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
		for _, s := range secrets {
			res[resource.SecretType] = append(res[resource.SecretType], secretRes(s))
		}
		if err := cch.SetSnapshot(cache.Key{Group: group, Flavor: cache.FlavorEnvoy}, res, cache.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	authn := &Authenticator{TrustDomain: c.TrustDomain(), Tokens: tokens}
	srv, err := server.New(server.Options{
		Cache:         cch,
		Credentials:   credentials.NewTLS(ServerTLS(c, ca.Identity{Namespace: "gantry-system", ServiceAccount: "gantry"}, []string{serverName})),
		Authenticator: authn.ForXDS(),
		Authorizer:    policy.ForXDS(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return &xdsFixture{ca: c, addr: l.Addr().String()}
}

// clientCert issues a client certificate for ns/sa from c.
func clientCert(t testing.TB, c *ca.CA, ns, sa string) *tls.Certificate {
	t.Helper()
	w, err := c.Certificate(ca.Identity{Namespace: ns, ServiceAccount: sa})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &cert
}

// ask opens an ADS stream (with cert and/or token), sends one request for
// typeURL of group and returns the response or the error that ended it.
func (f *xdsFixture) ask(t testing.TB, cert *tls.Certificate, token, group, typeURL string, names ...string) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	cfg, err := ClientTLS(f.ca.Bundle(), serverName, cert)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server already ended fails Send with io.EOF; Recv then
	// returns the status it ended with.
	_ = st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group, ""), TypeUrl: typeURL, ResourceNames: names})
	return st.Recv()
}

func wantRefused(t *testing.T, what string, resp *discoveryv3.DiscoveryResponse, err error, code codes.Code, parts ...string) {
	t.Helper()
	if resp != nil {
		t.Errorf("%s: sent %d resources", what, len(resp.GetResources()))
		return
	}
	if status.Code(err) != code {
		t.Errorf("%s: %v, want %s", what, err, code)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name %q", what, err, p)
		}
	}
}

func wantServed(t *testing.T, what string, resp *discoveryv3.DiscoveryResponse, err error, n int) {
	t.Helper()
	if err != nil || len(resp.GetResources()) != n {
		t.Errorf("%s: %d resources, %v; want %d", what, len(resp.GetResources()), err, n)
	}
}

func TestXDSOverMTLS(t *testing.T) {
	f := startXDS(t, nil)
	fleet := clientCert(t, f.ca, "shop", kube.ResourceName("web"))
	resp, err := f.ask(t, fleet, "", "gateway/shop/web", resource.SecretType, "shop/web-tls")
	wantServed(t, "fleet: own listener key", resp, err, 1)
	resp, err = f.ask(t, fleet, "", "gateway/shop/api", resource.SecretType, "shop/api-tls")
	wantRefused(t, "fleet: another Gateway's key", resp, err, codes.PermissionDenied, "ns/shop/sa/gantry-web", `"gateway/shop/api"`)
	resp, err = f.ask(t, fleet, "", "gateway/shop/api", resource.ListenerType)
	wantRefused(t, "fleet: another Gateway's group", resp, err, codes.PermissionDenied)

	reviews := clientCert(t, f.ca, "shop", "reviews")
	resp, err = f.ask(t, reviews, "", "mesh/shop", resource.SecretType, "mesh/shop/reviews", ca.BundleSecret)
	wantServed(t, "sidecar: own key and the bundle", resp, err, 2)
	resp, err = f.ask(t, reviews, "", "mesh/shop", resource.SecretType, "mesh/shop/ratings")
	wantRefused(t, "sidecar: another ServiceAccount's key", resp, err, codes.PermissionDenied, `"mesh/shop/ratings"`)
	resp, err = f.ask(t, reviews, "", "mesh/shop", resource.SecretType)
	wantRefused(t, "sidecar: every secret of the mesh group", resp, err, codes.PermissionDenied, "wildcard")
	resp, err = f.ask(t, reviews, "", "gateway/shop/web", resource.ListenerType)
	wantRefused(t, "sidecar: a Gateway's group", resp, err, codes.PermissionDenied)

	resp, err = f.ask(t, nil, "", "gateway/shop/web", resource.ListenerType)
	wantRefused(t, "no credentials", resp, err, codes.Unauthenticated, "no credentials")

	other, err := ca.New(ca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = f.ask(t, clientCert(t, other, "shop", kube.ResourceName("web")), "", "gateway/shop/web", resource.ListenerType)
	wantRefused(t, "certificate of another CA", resp, err, codes.Unavailable)
	resp, err = f.ask(t, nil, "a-token", "gateway/shop/web", resource.ListenerType)
	wantRefused(t, "token where tokens are not accepted", resp, err, codes.Unauthenticated, "not accepted")
}
