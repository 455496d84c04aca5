package benchserve

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// Client is one state-of-the-world ADS client: listeners and clusters by
// wildcard, then the route configurations and endpoints they name.
type Client struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	st     discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient

	mu       sync.Mutex
	received []answer
	woke     chan struct{}
	err      error
}

// answer is one response: when it arrived, its size and its resources'
// bytes.
type answer struct {
	at    time.Time
	size  int
	typ   string
	bytes [][]byte
}

// Connect opens an ADS stream as node id of group (flavor: the node's
// flavor metadata, "" for Envoy) and waits until it holds every type.
func Connect(addr, id, group, flavor string, timeout time.Duration) (*Client, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	c := &Client{conn: conn, cancel: cancel, st: st, woke: make(chan struct{}, 1)}
	node := xdstest.Node(id, group, flavor)
	held := map[string]types.ResourceWithTTL{}
	for i, t := range []string{resource.ListenerType, resource.ClusterType} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t}
		if i == 0 {
			req.Node = node
		}
		if err := st.Send(req); err != nil {
			c.Close()
			return nil, err
		}
		resp, err := c.recvWithin(timeout)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("no %s within %v: %w", t, timeout, err)
		}
		for _, a := range resp.GetResources() {
			m, err := a.UnmarshalNew()
			if err != nil {
				return nil, err
			}
			held[cachev3.GetResourceName(m.(types.Resource))] = types.ResourceWithTTL{Resource: m.(types.Resource)}
		}
		if err := c.ack(resp, nil); err != nil {
			return nil, err
		}
	}
	refs := cachev3.GetResourceReferences(held)
	for _, t := range []string{resource.RouteType, resource.EndpointType} {
		var names []string
		for n := range refs[t] {
			names = append(names, n)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: names}); err != nil {
			return nil, err
		}
	}
	go c.recvLoop(refs)
	seen := map[string]bool{}
	if _, _, err := c.wait(timeout, func(a answer) bool {
		seen[a.typ] = true
		return seen[resource.RouteType] && seen[resource.EndpointType]
	}); err != nil {
		c.Close()
		return nil, fmt.Errorf("route configurations and endpoints: %w", err)
	}
	return c, nil
}

func (c *Client) recvWithin(timeout time.Duration) (*discoveryv3.DiscoveryResponse, error) {
	type r struct {
		resp *discoveryv3.DiscoveryResponse
		err  error
	}
	ch := make(chan r, 1)
	go func() { resp, err := c.st.Recv(); ch <- r{resp, err} }()
	select {
	case x := <-ch:
		return x.resp, x.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("timed out")
	}
}

// ack acknowledges resp, subscribed to names (nil: wildcard).
func (c *Client) ack(resp *discoveryv3.DiscoveryResponse, names []string) error {
	return c.st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(),
		ResponseNonce: resp.GetNonce(), ResourceNames: names})
}

func (c *Client) recvLoop(refs map[string]map[string]bool) {
	for {
		resp, err := c.st.Recv()
		at := time.Now()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			c.wake()
			return
		}
		a := answer{at: at, size: proto.Size(resp), typ: resp.GetTypeUrl()}
		for _, r := range resp.GetResources() {
			a.bytes = append(a.bytes, r.GetValue())
		}
		var names []string
		for n := range refs[resp.GetTypeUrl()] {
			names = append(names, n)
		}
		_ = c.ack(resp, names)
		c.mu.Lock()
		c.received = append(c.received, a)
		c.mu.Unlock()
		c.wake()
	}
}

func (c *Client) wake() {
	select {
	case c.woke <- struct{}{}:
	default:
	}
}

// WaitFor waits for the first response (from now on) of type typ ("":
// any) holding want, and returns when it arrived and its size.
func (c *Client) WaitFor(want, typ string, timeout time.Duration) (time.Time, int, error) {
	return c.wait(timeout, func(a answer) bool {
		if typ != "" && a.typ != typ {
			return false
		}
		for _, b := range a.bytes {
			if bytes.Contains(b, []byte(want)) {
				return true
			}
		}
		return false
	})
}

func (c *Client) wait(timeout time.Duration, ok func(answer) bool) (time.Time, int, error) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		rs, err := c.received, c.err
		c.received = nil // each answer is looked at once
		c.mu.Unlock()
		for _, a := range rs {
			if ok(a) {
				return a.at, a.size, nil
			}
		}
		if err != nil {
			return time.Time{}, 0, err
		}
		select {
		case <-c.woke:
		case <-deadline:
			return time.Time{}, 0, fmt.Errorf("no answer within %v", timeout)
		}
	}
}

// Close ends the stream.
func (c *Client) Close() {
	c.cancel()
	c.conn.Close()
}
