// Package probe sends requests through the xDS routing of a node group with
// grpc-go's xDS client, the proxyless data plane, and reports for each one
// the route that matched, the cluster and backend that answered and the
// status. The route is resolved from the route configuration the xDS server
// sends the group (every node of a group receives the same resources): the
// probe asks for it on its own ADS stream, as the bootstrap's node, and
// matches the call as grpc-go does. The backend is the x-echo-name header of
// a `gantry echo` reply, or the peer address; the cluster is the one whose
// endpoints hold that address.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

// HeaderBackend is the reply header that names an echo backend.
const HeaderBackend = "x-echo-name"

// Options describe the requests to send.
type Options struct {
	// Bootstrap is the gRPC xDS bootstrap (JSON) of the probe's node.
	Bootstrap []byte
	// Authority is host[:port], the target a client dials (xds:///<authority>).
	Authority string
	// Path is the request path; for gRPC it is the full method name.
	Path string
	// Headers are request metadata, in order.
	Headers []Header
	// Count is how many requests to send (at least 1).
	Count int
	// Timeout bounds each request, and the wait for the configuration.
	Timeout time.Duration
}

// Header is one request header.
type Header struct{ Name, Value string }

// Result is the outcome of one request.
type Result struct {
	Seq         int    `json:"seq"`
	VirtualHost string `json:"virtualHost,omitempty"`
	Route       string `json:"route,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	Backend     string `json:"backend,omitempty"`
	Peer        string `json:"peer,omitempty"`
	Status      string `json:"status"`
	Message     string `json:"message,omitempty"`
	LatencyMS   int64  `json:"latencyMs"`
}

// OK reports whether the request succeeded.
func (r Result) OK() bool { return r.Status == "OK" }

// Run sends o.Count requests and calls each with every result, in order.
func Run(ctx context.Context, o Options, each func(Result)) error {
	if o.Count < 1 {
		o.Count = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if !strings.HasPrefix(o.Path, "/") {
		o.Path = "/" + o.Path
	}
	server, node, err := parseBootstrap(o.Bootstrap)
	if err != nil {
		return err
	}
	channel, calls, err := bootstrapCreds(o.Bootstrap)
	if err != nil {
		return err
	}
	dialOpts, err := adsDialOptions(server, channel, calls)
	if err != nil {
		return err
	}
	adsConn, err := grpc.NewClient(server, dialOpts...)
	if err != nil {
		return fmt.Errorf("probe: xDS server %s: %w", server, err)
	}
	defer adsConn.Close()
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cfg, ads, err := fetchConfig(cctx, adsConn, node, o.Authority)
	if err != nil {
		return withHint(err, server)
	}
	if err := ads.fetchEndpoints(cfg, allClusters(cfg.routes)); err != nil {
		return err
	}
	conn, err := dial(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	md := metadata.MD{}
	for _, h := range o.Headers {
		md.Append(strings.ToLower(h.Name), h.Value)
	}
	for i := 1; i <= o.Count; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		each(send(ctx, conn, cfg, o, md, i))
	}
	return nil
}

// withHint adds what to check when the xDS server cannot be reached.
func withHint(err error, server string) error {
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.Unavailable {
		return fmt.Errorf("%w (is `gantry serve` running with --xds-address %s?)", err, server)
	}
	return err
}

func dial(o Options) (*grpc.ClientConn, error) {
	r, err := xds.NewXDSResolverWithConfigForTesting(o.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("probe: xDS resolver: %w", err)
	}
	conn, err := grpc.NewClient("xds:///"+o.Authority, grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("probe: dial xds:///%s: %w", o.Authority, err)
	}
	return conn, nil
}

// send makes request seq and describes it.
func send(ctx context.Context, conn *grpc.ClientConn, cfg *groupConfig, o Options, md metadata.MD, seq int) Result {
	res := Result{Seq: seq}
	if vh := matchVirtualHost(cfg.routes, o.Authority); vh != nil {
		res.VirtualHost = vh.GetName()
		if r := matchRoute(vh, o.Path, md); r != nil {
			res.Route = r.GetName()
		}
	}
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), o.Timeout)
	defer cancel()
	var hdr, trl metadata.MD
	var p peer.Peer
	var reply []byte
	began := time.Now()
	err := conn.Invoke(ctx, o.Path, []byte{}, &reply, grpc.ForceCodec(bytesCodec{}),
		grpc.Header(&hdr), grpc.Trailer(&trl), grpc.Peer(&p), grpc.WaitForReady(true))
	res.LatencyMS = time.Since(began).Milliseconds()
	st := status.Convert(err)
	res.Status, res.Message = st.Code().String(), st.Message()
	if p.Addr != nil {
		res.Peer = p.Addr.String()
		res.Cluster = cfg.clusterOf(res.Peer, allClusters(cfg.routes))
	}
	res.Backend = backendName(hdr, trl, reply)
	return res
}

// backendName reads the echo backend's name from the reply header, trailer
// or JSON body.
func backendName(hdr, trl metadata.MD, reply []byte) string {
	for _, md := range []metadata.MD{hdr, trl} {
		if v := md.Get(HeaderBackend); len(v) > 0 {
			return v[0]
		}
	}
	var body struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(reply, &body) == nil {
		return body.Name
	}
	return ""
}

// bytesCodec sends an empty message (a valid encoding of any protobuf
// message) and keeps the reply as bytes, so any path can be probed.
type bytesCodec struct{}

var _ encoding.Codec = bytesCodec{}

func (bytesCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("probe: codec: %T", v)
	}
	return b, nil
}

func (bytesCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("probe: codec: %T", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}

func (bytesCodec) Name() string { return "proto" }
