package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// headerAuth trusts an "x-identity: <ns>/<sa>" header: a stand-in for the
// certificate and token authenticators, which have their own tests.
var headerAuth = AuthenticatorFunc(func(ctx context.Context) (Identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("x-identity")
	if len(v) != 1 {
		return Identity{}, errors.New("no credentials")
	}
	ns, sa, _ := strings.Cut(v[0], "/")
	return Identity{Namespace: ns, ServiceAccount: sa, Method: "test"}, nil
})

// ownerAuthz lets ns/<name> receive gateway/<ns>/<name>, and a secret only
// when named "<ns>/<sa>" after the identity, or "public".
type ownerAuthz struct{}

func (ownerAuthz) AuthorizeGroup(id Identity, group string) error {
	if group != "gateway/"+id.Namespace+"/"+id.ServiceAccount {
		return errors.New("not the owner")
	}
	return nil
}

func (ownerAuthz) AuthorizeSecret(id Identity, _, name string) error {
	if name != "public" && name != id.Namespace+"/"+id.ServiceAccount {
		return errors.New("not the owner of the key")
	}
	return nil
}

func withIdentity(ns, sa string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-identity", ns+"/"+sa)
}

func secret(name string) types.Resource {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "cert of " + name}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "key of " + name}},
	}}}
}

type keyLog struct {
	mu         sync.Mutex
	news, gone []cache.Key
}

func (k *keyLog) onNew(key cache.Key)  { k.mu.Lock(); k.news = append(k.news, key); k.mu.Unlock() }
func (k *keyLog) onGone(key cache.Key) { k.mu.Lock(); k.gone = append(k.gone, key); k.mu.Unlock() }
func (k *keyLog) counts() (int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.news), len(k.gone)
}

func startGuarded(t *testing.T) (*fixture, *keyLog) {
	t.Helper()
	kl := &keyLog{}
	f := startWith(t, Options{Authenticator: headerAuth, Authorizer: ownerAuthz{}, OnNewKey: kl.onNew, OnKeyGone: kl.onGone})
	res := xdstest.Simple("svc", 8080, "127.0.0.1:1")
	res[resource.SecretType] = []types.Resource{secret("default/eg"), secret("default/other"), secret("public")}
	f.set(t, res)
	return f, kl
}

// streamErr opens an ADS stream with ctx, sends req and returns what the
// server answered: a response, or the error that ended the stream.
func (f *fixture) streamErr(t *testing.T, ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server already ended fails Send with io.EOF; Recv then
	// returns the status it ended with.
	_ = st.Send(req)
	return st.Recv()
}

func wantCode(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %q", err, p)
		}
	}
}

func TestAuthRefusesClientWithoutIdentity(t *testing.T) {
	f, kl := startGuarded(t)
	resp, err := f.streamErr(t, context.Background(), &discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.ClusterType})
	if resp != nil {
		t.Fatalf("a client without credentials was sent %v", resp)
	}
	wantCode(t, err, codes.Unauthenticated, "no credentials")
	if got := metricValue(t, f.reg, "gantry_xds_denied_total", "unauthenticated"); got != 1 {
		t.Errorf("denied{unauthenticated} = %v, want 1", got)
	}
	if n, _ := kl.counts(); n != 0 {
		t.Errorf("a refused client created %d groups", n)
	}
}

func TestAuthRefusesAnotherGroup(t *testing.T) {
	f, kl := startGuarded(t)
	// ns default / sa intruder claims the group of Gateway default/eg.
	resp, err := f.streamErr(t, withIdentity("default", "intruder"), &discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.ClusterType})
	if resp != nil {
		t.Fatalf("a client claiming another group was sent %v", resp)
	}
	wantCode(t, err, codes.PermissionDenied, "ns/default/sa/intruder", `"gateway/default/eg"`)
	if got := metricValue(t, f.reg, "gantry_xds_denied_total", "group"); got != 1 {
		t.Errorf("denied{group} = %v, want 1", got)
	}
	if n, _ := kl.counts(); n != 0 {
		t.Errorf("a refused client created %d groups", n)
	}
	if ps := f.srv.Proxies(); len(ps) != 0 {
		t.Errorf("refused stream still tracked: %+v", ps)
	}
}

func TestAuthServesOwnGroupAndFreesIt(t *testing.T) {
	f, kl := startGuarded(t)
	ctx, cancel := context.WithCancel(withIdentity("default", "eg"))
	resp, err := f.streamErr(t, ctx, &discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.ClusterType})
	if err != nil || len(resp.GetResources()) != 1 {
		t.Fatalf("own group: %v %v", resp, err)
	}
	waitFor(t, func() bool { n, _ := kl.counts(); return n == 1 })
	if ps := f.srv.Proxies(); len(ps) != 1 || ps[0].Identity == nil || ps[0].Identity.String() != "ns/default/sa/eg" || ps[0].Identity.Method != "test" {
		t.Errorf("proxy state does not show the identity: %+v", ps)
	}
	cancel()
	waitFor(t, func() bool { _, g := kl.counts(); return g == 1 })
	if kl.gone[0] != group {
		t.Errorf("freed %v, want %v", kl.gone[0], group)
	}
}

func TestAuthSecretsOnlyToTheirOwner(t *testing.T) {
	f, _ := startGuarded(t)
	node := xdstest.Node("n", group.Group, "")
	resp, err := f.streamErr(t, withIdentity("default", "eg"), &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: []string{"default/eg", "public"}})
	if err != nil || len(resp.GetResources()) != 2 {
		t.Fatalf("own secrets: %v %v", resp, err)
	}
	for _, names := range [][]string{{"public", "default/other"}, nil, {"*"}} {
		resp, err = f.streamErr(t, withIdentity("default", "eg"), &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.SecretType, ResourceNames: names})
		if resp != nil {
			t.Fatalf("%v: another identity's key was sent: %v", names, resp)
		}
		wantCode(t, err, codes.PermissionDenied, "ns/default/sa/eg", "secret")
	}
	if got := metricValue(t, f.reg, "gantry_xds_denied_total", "secret"); got != 3 {
		t.Errorf("denied{secret} = %v, want 3", got)
	}
}

func TestAuthDeltaSecretsAndGroup(t *testing.T) {
	f, _ := startGuarded(t)
	ctx, cancel := context.WithTimeout(withIdentity("default", "eg"), 5*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.SecretType, ResourceNamesSubscribe: []string{"default/eg"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil || len(resp.GetResources()) != 1 {
		t.Fatalf("own secret over delta: %v %v", resp, err)
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resource.SecretType, ResourceNamesSubscribe: []string{"default/other"}, ResponseNonce: resp.Nonce}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	wantCode(t, err, codes.PermissionDenied, `secret "default/other"`)
}

func TestAuthGroupCannotChangeOnAStream(t *testing.T) {
	f, _ := startGuarded(t)
	ctx, cancel := context.WithTimeout(withIdentity("default", "eg"), 5*time.Second)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(f.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", group.Group, ""), TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", "gateway/default/other", ""), TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	wantCode(t, err, codes.InvalidArgument, "gateway/default/other")
}

func TestNewRequiresAuthOrInsecure(t *testing.T) {
	_, err := New(Options{Cache: cache.New(cache.Options{})})
	if err == nil || !strings.Contains(err.Error(), "Insecure") {
		t.Fatalf("New without authentication: %v", err)
	}
}
