package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/xds/cache"
)

// Identity is who an xDS client proved to be: a Kubernetes ServiceAccount
// (spiffe://<trust domain>/ns/<Namespace>/sa/<ServiceAccount>).
type Identity struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// Method is how it was proven: "mtls" (a client certificate of the
	// mesh CA) or "token" (a reviewed ServiceAccount token).
	Method string `json:"method"`
}

func (id Identity) String() string { return "ns/" + id.Namespace + "/sa/" + id.ServiceAccount }

// Authenticator proves the identity of the caller of an RPC from its
// context (the TLS peer, the request metadata). An error that is not a gRPC
// status is sent as Unauthenticated.
type Authenticator interface {
	Authenticate(ctx context.Context) (Identity, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context) (Identity, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context) (Identity, error) { return f(ctx) }

// Authorizer decides what an identity may receive.
type Authorizer interface {
	// AuthorizeGroup returns nil when id may receive the configuration of
	// the node group, or the reason it may not.
	AuthorizeGroup(id Identity, group string) error
	// AuthorizeSecret returns nil when id, already allowed group, may
	// receive the secret name of that group, or the reason it may not. An
	// empty name stands for every secret of the group (a wildcard
	// subscription).
	AuthorizeSecret(id Identity, group, name string) error
}

// Reasons of gantry_xds_denied_total.
const (
	deniedUnauthenticated = "unauthenticated"
	deniedGroup           = "group"
	deniedSecret          = "secret"
)

// identityKey carries the authenticated Identity in an RPC's context.
type identityKey struct{}

// IdentityFrom returns the identity the server authenticated for the RPC of
// ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// authenticator runs an Authenticator on every RPC before its handler.
type authenticator struct {
	auth   Authenticator
	denied *prometheus.CounterVec
	logger *slog.Logger
}

func (a *authenticator) authenticate(ctx context.Context) (context.Context, error) {
	id, err := a.auth.Authenticate(ctx)
	if err == nil {
		return context.WithValue(ctx, identityKey{}, id), nil
	}
	a.denied.WithLabelValues(deniedUnauthenticated).Inc()
	addr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	a.logger.Warn("xDS client refused: no valid identity", "peer", addr, "error", err)
	if _, ok := status.FromError(err); ok {
		return nil, err
	}
	return nil, status.Errorf(codes.Unauthenticated, "xDS: %v", err)
}

func (a *authenticator) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
}

func (a *authenticator) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// identityStream is a server stream whose context carries the identity.
type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// guard wraps the tracker's callbacks: a request is tracked (and so creates
// its group) and answered only once its identity may receive the group it
// names, and the secrets it asks for.
type guard struct {
	*tracker
	authz  Authorizer
	mapper cache.Mapper
	denied *prometheus.CounterVec

	mu      sync.Mutex
	streams map[int64]*guardedStream
}

type guardedStream struct {
	id    Identity
	key   cache.Key
	typed map[string]bool // types requested on this stream
}

var _ callbacks = (*guard)(nil)

func newGuard(t *tracker, authz Authorizer, mapper cache.Mapper, denied *prometheus.CounterVec) *guard {
	return &guard{tracker: t, authz: authz, mapper: mapper, denied: denied, streams: map[int64]*guardedStream{}}
}

// opened records the identity of a new stream.
func (g *guard) opened(ctx context.Context, id int64) error {
	ident, ok := IdentityFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "xDS: stream without an authenticated identity")
	}
	g.mu.Lock()
	g.streams[id] = &guardedStream{id: ident, typed: map[string]bool{}}
	g.mu.Unlock()
	return nil
}

func (g *guard) closed(id int64) {
	g.mu.Lock()
	delete(g.streams, id)
	g.mu.Unlock()
}

// check authorizes one request of a stream: its node's group (which may not
// change on the stream) and, for secrets, the names it subscribes to (wildcard
// when it names none the first time or names "*").
func (g *guard) check(id int64, node *corev3.Node, typeURL string, names []string, wildcard bool) error {
	g.mu.Lock()
	st := g.streams[id]
	if st == nil {
		g.mu.Unlock()
		return status.Error(codes.Unauthenticated, "xDS: stream without an authenticated identity")
	}
	first := !st.typed[typeURL]
	st.typed[typeURL] = true
	prev := st.key
	g.mu.Unlock()
	if node == nil && prev.Group == "" {
		return status.Error(codes.InvalidArgument, "xDS: the first request of a stream must carry the node")
	}
	key := prev
	if node != nil {
		key = g.mapper.KeyFor(node)
	}
	if prev.Group != "" && key != prev {
		return status.Errorf(codes.InvalidArgument, "xDS: node group changed from %q to %q on an open stream", prev.Group, key.Group)
	}
	if prev.Group == "" {
		if err := g.authz.AuthorizeGroup(st.id, key.Group); err != nil {
			return g.deny(deniedGroup, st.id, key.Group, "", err)
		}
		g.mu.Lock()
		st.key = key
		g.mu.Unlock()
	}
	if typeURL != resource.SecretType {
		return nil
	}
	return g.authorizeSecrets(st.id, key.Group, names, wildcard && first)
}

// authorizeSecrets checks each secret name; a wildcard (or "*") asks for
// every secret of the group.
func (g *guard) authorizeSecrets(id Identity, group string, names []string, wildcard bool) error {
	if wildcard || slices.Contains(names, "*") {
		names = append([]string{""}, names...)
	}
	for _, n := range names {
		if n == "*" {
			continue
		}
		if err := g.authz.AuthorizeSecret(id, group, n); err != nil {
			return g.deny(deniedSecret, id, group, n, err)
		}
	}
	return nil
}

// deny counts and logs a refusal and returns the PermissionDenied status
// sent to the client.
func (g *guard) deny(reason string, id Identity, group, secret string, err error) error {
	g.denied.WithLabelValues(reason).Inc()
	what := fmt.Sprintf("group %q", group)
	if reason == deniedSecret {
		what = fmt.Sprintf("secret %q of group %q", secret, group)
		if secret == "" {
			what = fmt.Sprintf("every secret (wildcard) of group %q", group)
		}
	}
	g.logger.Warn("xDS client refused: not authorized", "identity", id.String(), "method", id.Method, "group", group, "secret", secret, "error", err)
	return status.Errorf(codes.PermissionDenied, "xDS: identity %s may not receive %s: %v", id, what, err)
}

// OnStreamOpen authenticates a state-of-the-world stream.
func (g *guard) OnStreamOpen(ctx context.Context, id int64, typeURL string) error {
	if err := g.opened(ctx, id); err != nil {
		return err
	}
	return g.tracker.OnStreamOpen(ctx, id, typeURL)
}

// OnStreamClosed forgets the stream.
func (g *guard) OnStreamClosed(id int64, node *corev3.Node) {
	g.closed(id)
	g.tracker.OnStreamClosed(id, node)
}

// OnStreamRequest authorizes a request before it is tracked or answered.
func (g *guard) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	if err := g.check(id, req.GetNode(), req.GetTypeUrl(), req.GetResourceNames(), len(req.GetResourceNames()) == 0); err != nil {
		return err
	}
	return g.tracker.OnStreamRequest(id, req)
}

// OnDeltaStreamOpen authenticates a delta stream.
func (g *guard) OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error {
	if err := g.opened(ctx, id); err != nil {
		return err
	}
	return g.tracker.OnDeltaStreamOpen(ctx, id, typeURL)
}

// OnDeltaStreamClosed forgets the stream.
func (g *guard) OnDeltaStreamClosed(id int64, node *corev3.Node) {
	g.closed(id)
	g.tracker.OnDeltaStreamClosed(id, node)
}

// OnStreamDeltaRequest authorizes a delta request before it is tracked or
// answered.
func (g *guard) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	subs := req.GetResourceNamesSubscribe()
	if err := g.check(id, req.GetNode(), req.GetTypeUrl(), subs, len(subs) == 0); err != nil {
		return err
	}
	return g.tracker.OnStreamDeltaRequest(id, req)
}

// OnFetchRequest authorizes a REST-style fetch like a one-request stream.
func (g *guard) OnFetchRequest(ctx context.Context, req *discoveryv3.DiscoveryRequest) error {
	ident, ok := IdentityFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "xDS: request without an authenticated identity")
	}
	key := g.mapper.KeyFor(req.GetNode())
	if err := g.authz.AuthorizeGroup(ident, key.Group); err != nil {
		return g.deny(deniedGroup, ident, key.Group, "", err)
	}
	if req.GetTypeUrl() != resource.SecretType {
		return nil
	}
	return g.authorizeSecrets(ident, key.Group, req.GetResourceNames(), len(req.GetResourceNames()) == 0)
}

// authentication returns the callbacks and gRPC options that make the
// server authenticate and authorize every client, or t alone when
// opts.Insecure. It fails when neither is configured.
func authentication(opts Options, t *tracker) (callbacks, []grpc.ServerOption, error) {
	var gopts []grpc.ServerOption
	if opts.Credentials != nil {
		gopts = append(gopts, grpc.Creds(opts.Credentials))
	}
	if opts.Insecure {
		return t, gopts, nil
	}
	if opts.Authenticator == nil || opts.Authorizer == nil {
		return nil, nil, errors.New("xds server: an Authenticator and an Authorizer are required; set Insecure to serve every client unchecked (local development only)")
	}
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_xds_denied_total",
		Help: "xDS requests refused, by reason: unauthenticated (no valid identity), group (identity may not receive the node group it claims), secret (identity may not receive a secret it asks for).",
	}, []string{"reason"})
	if opts.Registry != nil {
		if err := opts.Registry.Register(denied); err != nil {
			return nil, nil, fmt.Errorf("xds server: %w", err)
		}
	}
	for _, r := range []string{deniedUnauthenticated, deniedGroup, deniedSecret} {
		denied.WithLabelValues(r)
	}
	a := &authenticator{auth: opts.Authenticator, denied: denied, logger: opts.Logger}
	gopts = append(gopts, grpc.ChainStreamInterceptor(a.stream), grpc.ChainUnaryInterceptor(a.unary))
	return newGuard(t, opts.Authorizer, opts.Cache, denied), gopts, nil
}
