// Package server is Gantry's xDS server: ADS (state of the world and delta)
// and the per-type services (LDS, RDS, CDS, EDS, SDS) on one gRPC port,
// answered from an xds/cache.Cache. It tracks every connected proxy (node,
// group, flavor, versions sent and acknowledged, the last NACK) and exports
// Prometheus metrics.
package server

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// Options configure a Server.
type Options struct {
	Cache *cache.Cache
	// Registry receives the metrics; nil means none are registered.
	Registry prometheus.Registerer
	// Logger logs connections and NACKs; nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageSize bounds sent messages (default 64 MiB); received ones
	// are bounded by Limits.
	MaxMessageSize int
	// Limits bound requests and streams (limits.go).
	Limits Limits
	// KeepaliveTime and KeepaliveTimeout ping idle connections (defaults
	// 30 s and 10 s).
	KeepaliveTime, KeepaliveTimeout time.Duration
	// OnNewKey is called (outside any lock) when a node maps to a key that
	// no other connected node has, so the caller can build that flavor.
	OnNewKey func(cache.Key)
	// OnKeyGone is called (outside any lock) when the last connected node
	// of a key leaves, so the caller can free it.
	OnKeyGone func(cache.Key)
	// OnNACKChange is called (outside any lock) with a node's group when
	// the rejections of that group change: a node rejects a version of a
	// type, accepts a later one, or disconnects while rejecting. Rejections
	// then lists what is rejected now.
	OnNACKChange func(group string)

	// Credentials secure the transport (TLS); nil serves plaintext.
	Credentials credentials.TransportCredentials
	// Authenticator proves every client's identity before any RPC runs;
	// Authorizer decides the node group and the secrets each identity may
	// receive (auth.go). Both are required unless Insecure is set.
	Authenticator Authenticator
	Authorizer    Authorizer
	// Insecure serves every client without checking who it is: local
	// development only.
	Insecure bool
	// Register, when set, adds more services (the workload certificate
	// service) to the gRPC server, so they share the xDS port.
	Register func(*grpc.Server)
}

// Server serves xDS.
type Server struct {
	grpc      *grpc.Server
	ctx       context.Context
	cancel    context.CancelFunc
	cache     *cache.Cache
	callbacks callbacks
	tracker   *tracker
	metrics   *metrics
	limiter   *limiter
	nextID    atomic.Int64 // stream ids
	seed      maphash.Seed // of hashNames
	bodies    bodies       // shared encodings of large responses
}

// New builds a Server; call Serve to accept connections.
func New(opts Options) (*Server, error) {
	if opts.Cache == nil {
		return nil, errors.New("xds server: no cache")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = envoy.MaxSendBytes // what translation checks sizes against
	}
	if opts.KeepaliveTime == 0 {
		opts.KeepaliveTime = 30 * time.Second
	}
	if opts.KeepaliveTimeout == 0 {
		opts.KeepaliveTimeout = 10 * time.Second
	}
	m := newMetrics(opts.Registry)
	t := newTracker(trackerOptions{cache: opts.Cache, metrics: m, logger: opts.Logger, onNewKey: opts.OnNewKey, onKeyGone: opts.OnKeyGone, onNACKChange: opts.OnNACKChange})
	callbacks, authOpts, err := authentication(opts, t)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	lim := newLimiter(opts.Limits, opts.Registry)
	g := grpc.NewServer(append(slices.Concat(authOpts, lim.serverOptions()),
		grpc.MaxSendMsgSize(opts.MaxMessageSize),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: opts.KeepaliveTime, Timeout: opts.KeepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)...)
	s := &Server{grpc: g, ctx: ctx, cancel: cancel, cache: opts.Cache, callbacks: callbacks, tracker: t, metrics: m, limiter: lim, seed: maphash.MakeSeed()}
	s.register(g)
	if opts.Register != nil {
		opts.Register(g)
	}
	return s, nil
}

// Serve accepts connections on l until Stop.
func (s *Server) Serve(l net.Listener) error {
	if err := s.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("xds server: %w", err)
	}
	return nil
}

// Stop ends every stream and stops the server, waiting for in-flight sends
// until ctx is done, then closing connections hard.
func (s *Server) Stop(ctx context.Context) {
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}

// ObserveTranslation records the duration of one translation (input
// snapshot to xDS snapshots) in the translation histogram.
func (s *Server) ObserveTranslation(d time.Duration) {
	s.metrics.translation.Observe(d.Seconds())
}

// Proxies returns the state of every connected stream, sorted by node id
// then stream, with the names of the resources each holds (not their
// packed protos: see Proxy).
func (s *Server) Proxies() []Proxy { return s.tracker.proxies("") }

// Proxy returns the streams of one node id (a node may hold several),
// with the packed resources each holds.
func (s *Server) Proxy(nodeID string) []Proxy { return s.tracker.proxies(nodeID) }

// Rejections lists, sorted by group, node and type, every type a connected
// node rejected and has not accepted a later version of since.
func (s *Server) Rejections() []Rejection { return s.tracker.rejections() }

// ConnectedKeys lists the keys (group, flavor) that have a connected node.
func (s *Server) ConnectedKeys() []cache.Key { return s.tracker.keys() }
