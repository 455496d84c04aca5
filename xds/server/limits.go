package server

import (
	"context"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Limits bound what one client may make the xDS server hold. Zero fields
// take the defaults (DefaultLimits).
type Limits struct {
	// MaxRecvBytes is the largest request accepted. A DiscoveryRequest holds
	// a node (with metadata), a type, a version, a nonce and resource names:
	// a few KiB, up to a few hundred KiB for a node subscribing to thousands
	// of names, so 4 MiB leaves room without letting a client make the
	// server buffer 64 MiB messages.
	MaxRecvBytes int
	// MaxNamesPerRequest caps the resource names of one request (SotW
	// resource_names, delta subscribe plus unsubscribe).
	MaxNamesPerRequest int
	// MaxNamesPerStream caps the names a stream is subscribed to at once,
	// across types.
	MaxNamesPerStream int
	// MaxStreamsPerConnection caps the concurrent xDS streams of one client
	// connection (an Envoy or grpc-go client opens one ADS stream).
	MaxStreamsPerConnection int
}

// DefaultLimits are sized for real fleets: a Gateway's proxies subscribe to
// at most a few thousand resources, a mesh client to its namespace's.
func DefaultLimits() Limits {
	return Limits{MaxRecvBytes: 4 << 20, MaxNamesPerRequest: 10000, MaxNamesPerStream: 50000, MaxStreamsPerConnection: 16}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxRecvBytes == 0 {
		l.MaxRecvBytes = d.MaxRecvBytes
	}
	if l.MaxNamesPerRequest == 0 {
		l.MaxNamesPerRequest = d.MaxNamesPerRequest
	}
	if l.MaxNamesPerStream == 0 {
		l.MaxNamesPerStream = d.MaxNamesPerStream
	}
	if l.MaxStreamsPerConnection == 0 {
		l.MaxStreamsPerConnection = d.MaxStreamsPerConnection
	}
	return l
}

// Labels of gantry_xds_limit_rejections_total.
const (
	limitMessageSize          = "message_size"
	limitNamesPerRequest      = "names_per_request"
	limitNamesPerStream       = "names_per_stream"
	limitStreamsPerConnection = "streams_per_connection"
)

// limiter enforces Limits on every stream and counts what it refuses.
type limiter struct {
	l        Limits
	rejected *prometheus.CounterVec

	mu      sync.Mutex
	streams map[string]int // open streams per connection (peer address)
}

func newLimiter(l Limits, reg prometheus.Registerer) *limiter {
	lm := &limiter{l: l.withDefaults(), streams: map[string]int{}, rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_xds_limit_rejections_total",
		Help: "xDS streams ended by a limit, by limit (message_size, names_per_request, names_per_stream, streams_per_connection).",
	}, []string{"limit"})}
	if reg != nil {
		reg.MustRegister(lm.rejected)
	}
	for _, k := range []string{limitMessageSize, limitNamesPerRequest, limitNamesPerStream, limitStreamsPerConnection} {
		lm.rejected.WithLabelValues(k)
	}
	return lm
}

// serverOptions are the gRPC options that apply the limits. The transport
// refuses streams past twice the per-connection limit outright; below that
// the interceptor ends them with a clear error and counts them.
func (lm *limiter) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(lm.l.MaxRecvBytes),
		grpc.MaxConcurrentStreams(uint32(2 * lm.l.MaxStreamsPerConnection)),
		grpc.ChainStreamInterceptor(lm.intercept),
	}
}

func (lm *limiter) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	conn := "unknown"
	if p, ok := peer.FromContext(ss.Context()); ok && p.Addr != nil {
		conn = p.Addr.String()
	}
	lm.mu.Lock()
	if lm.streams[conn] >= lm.l.MaxStreamsPerConnection {
		lm.mu.Unlock()
		lm.rejected.WithLabelValues(limitStreamsPerConnection).Inc()
		return status.Errorf(codes.ResourceExhausted, "xds: more than %d concurrent streams on one connection", lm.l.MaxStreamsPerConnection)
	}
	lm.streams[conn]++
	lm.mu.Unlock()
	defer func() {
		lm.mu.Lock()
		if lm.streams[conn]--; lm.streams[conn] == 0 {
			delete(lm.streams, conn)
		}
		lm.mu.Unlock()
	}()
	ls := &limitedStream{ServerStream: ss, lm: lm, counts: map[string]int{}}
	ls.ctx = context.WithValue(ss.Context(), limitsKey{}, ls)
	err := handler(srv, ls)
	if limitErr := ls.limitErr(); limitErr != nil {
		// The xDS library ends a stream whose receive failed as if the
		// client had closed it; the client is told which limit it hit.
		return limitErr
	}
	return err
}

// limitedStream checks each request of one stream as it is received.
// State-of-the-world requests name the whole subscription, so their names
// are counted here; a delta request adds and removes names, so the delta
// stream loop, which keeps the subscription, reports its size (subscribed).
type limitedStream struct {
	grpc.ServerStream
	lm  *limiter
	ctx context.Context
	mu  sync.Mutex
	// counts is the number of names the stream subscribes to per type URL.
	counts map[string]int
	total  int
	// err is the limit that ended the stream.
	err error
}

type limitsKey struct{}

// Context is the stream's context, which carries the stream's limits.
func (s *limitedStream) Context() context.Context { return s.ctx }

// subscribedLimit tells the limits of the stream of ctx (if any) that it
// now subscribes to n names of typeURL; it fails when the stream's names
// exceed the limit.
func subscribedLimit(ctx context.Context, typeURL string, n int) error {
	s, ok := ctx.Value(limitsKey{}).(*limitedStream)
	if !ok {
		return nil
	}
	if err := s.subscribed(typeURL, n); err != nil {
		return s.fail(err)
	}
	return nil
}

func (s *limitedStream) limitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *limitedStream) fail(err error) error {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	return err
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		if status.Code(err) == codes.ResourceExhausted {
			s.lm.rejected.WithLabelValues(limitMessageSize).Inc()
			return s.fail(err)
		}
		return err
	}
	var err error
	if r, ok := m.(*sotwRecv); ok {
		m = r.req
	}
	switch r := m.(type) {
	case *discoveryv3.DiscoveryRequest:
		err = s.check(r.GetTypeUrl(), r.GetResourceNames(), nil, true)
	case *discoveryv3.DeltaDiscoveryRequest:
		err = s.check(r.GetTypeUrl(), r.GetResourceNamesSubscribe(), r.GetResourceNamesUnsubscribe(), false)
	}
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// check counts one request's names: a state-of-the-world request (replace)
// names the type's whole subscription; a delta request's names are only
// bounded here, and counted by the stream loop.
func (s *limitedStream) check(typeURL string, subscribe, unsubscribe []string, replace bool) error {
	l := s.lm.l
	if n := len(subscribe) + len(unsubscribe); n > l.MaxNamesPerRequest {
		s.lm.rejected.WithLabelValues(limitNamesPerRequest).Inc()
		return status.Errorf(codes.ResourceExhausted, "xds: %s request names %d resources, more than %d", typeURL, n, l.MaxNamesPerRequest)
	}
	if replace {
		return s.subscribed(typeURL, len(subscribe))
	}
	return nil
}

// subscribed records that the stream subscribes to n names of typeURL and
// fails when its names, across types, exceed the limit.
func (s *limitedStream) subscribed(typeURL string, n int) error {
	s.mu.Lock()
	s.total += n - s.counts[typeURL]
	s.counts[typeURL] = n
	total := s.total
	s.mu.Unlock()
	if l := s.lm.l; total > l.MaxNamesPerStream {
		s.lm.rejected.WithLabelValues(limitNamesPerStream).Inc()
		return status.Errorf(codes.ResourceExhausted, "xds: stream subscribes to %d resources, more than %d", total, l.MaxNamesPerStream)
	}
	return nil
}
