package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// loadTypes are the types every simulated client subscribes to, in the
// order an Envoy asks for them.
var loadTypes = []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}

// observer receives what clients see.
type observer interface {
	// received is called for every response: carried counts its
	// resources, resent those whose content the client already held.
	received(client int, typeURL string, at time.Time, carried, resent int)
	// subscribed is called once a (re)connected client sent its requests.
	subscribed(client int)
}

// client is one simulated Envoy: an ADS stream (state of the world or
// delta) subscribing to clusters and listeners by wildcard and to endpoints
// and routes by name, acknowledging every response.
type client struct {
	clientOptions

	mu       sync.Mutex
	versions map[string]string            // SotW: type -> last version
	names    map[string]map[string]string // delta: type -> name -> version
	cancel   context.CancelFunc
	done     chan struct{}
}

// clientOptions describe one simulated client.
type clientOptions struct {
	id    int
	delta bool
	// group is the node.cluster the client sends.
	group string
	// clusters and routes are the endpoint and route configuration names
	// it subscribes to.
	clusters, routes []string
	conn             *grpc.ClientConn
	obs              observer
}

func newClient(o clientOptions) *client {
	return &client{clientOptions: o, versions: map[string]string{}, names: map[string]map[string]string{}}
}

func (c *client) subscription(typeURL string) []string {
	switch typeURL {
	case resource.EndpointType:
		return c.clusters
	case resource.RouteType:
		return c.routes
	}
	return nil
}

// start opens a stream, sending what the client holds (a reconnect after
// the first time), and serves it in the background until stop.
func (c *client) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	node := xdstest.Node(fmt.Sprintf("load-%d", c.id), c.group, "")
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(c.conn)
	if c.delta {
		st, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			cancel()
			return err
		}
		go c.runDelta(st, node)
		return nil
	}
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		return err
	}
	go c.runSotw(st, node)
	return nil
}

// stop ends the stream (if one is open) and waits for its goroutine.
func (c *client) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
}

func (c *client) runSotw(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, node *corev3.Node) {
	defer close(c.done)
	c.mu.Lock()
	for i, t := range loadTypes {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: c.subscription(t), VersionInfo: c.versions[t]}
		if i == 0 {
			req.Node = node
		}
		if err := st.Send(req); err != nil {
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	c.obs.subscribed(c.id)
	for {
		resp, err := st.Recv()
		if err != nil {
			return
		}
		at := time.Now()
		t := resp.GetTypeUrl()
		c.mu.Lock()
		resent := 0
		if resp.GetVersionInfo() == c.versions[t] {
			resent = len(resp.GetResources())
			if resent == 0 {
				resent = 1 // an empty resend is still a resend
			}
		}
		c.versions[t] = resp.GetVersionInfo()
		c.mu.Unlock()
		c.obs.received(c.id, t, at, len(resp.GetResources()), resent)
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: t, ResourceNames: c.subscription(t),
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
			return
		}
	}
}

func (c *client) runDelta(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient, node *corev3.Node) {
	defer close(c.done)
	c.mu.Lock()
	for i, t := range loadTypes {
		held := map[string]string{}
		for n, v := range c.names[t] {
			held[n] = v
		}
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResourceNamesSubscribe: c.subscription(t), InitialResourceVersions: held}
		if i == 0 {
			req.Node = node
		}
		if err := st.Send(req); err != nil {
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	c.obs.subscribed(c.id)
	for {
		resp, err := st.Recv()
		if err != nil {
			return
		}
		at := time.Now()
		t := resp.GetTypeUrl()
		c.mu.Lock()
		if c.names[t] == nil {
			c.names[t] = map[string]string{}
		}
		resent := 0
		for _, r := range resp.GetResources() {
			if c.names[t][r.GetName()] == r.GetVersion() {
				resent++
			}
			c.names[t][r.GetName()] = r.GetVersion()
		}
		for _, n := range resp.GetRemovedResources() {
			delete(c.names[t], n)
		}
		c.mu.Unlock()
		c.obs.received(c.id, t, at, len(resp.GetResources()), resent)
		if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: t, ResponseNonce: resp.GetNonce()}); err != nil {
			return
		}
	}
}
