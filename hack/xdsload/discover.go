package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// discover asks a running server, as one node of group, for its clusters
// and listeners and returns the endpoint and route configuration names
// they reference: what the simulated clients then subscribe to by name.
func discover(conn *grpc.ClientConn, group string, timeout time.Duration) (clusters, routes []string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, nil, err
	}
	held := map[string]types.ResourceWithTTL{}
	for i, t := range []string{resource.ClusterType, resource.ListenerType} {
		req := &discoveryv3.DiscoveryRequest{TypeUrl: t}
		if i == 0 {
			req.Node = xdstest.Node("load-discover", group, "")
		}
		if err := st.Send(req); err != nil {
			return nil, nil, err
		}
		resp, err := st.Recv()
		if err != nil {
			return nil, nil, fmt.Errorf("no %s from the server for group %q within %v (does the group exist?): %w", t, group, timeout, err)
		}
		for _, a := range resp.GetResources() {
			if err := addResource(held, a); err != nil {
				return nil, nil, err
			}
		}
	}
	if len(held) == 0 {
		return nil, nil, fmt.Errorf("the server sends group %q no clusters and no listeners (is -group right?)", group)
	}
	refs := cachev3.GetResourceReferences(held)
	return sortedSet(refs[resource.EndpointType]), sortedSet(refs[resource.RouteType]), nil
}

func addResource(held map[string]types.ResourceWithTTL, a *anypb.Any) error {
	m, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("decoding %s: %w", a.GetTypeUrl(), err)
	}
	r, ok := m.(types.Resource)
	if !ok {
		return fmt.Errorf("decoding %s: not an xDS resource", a.GetTypeUrl())
	}
	held[a.GetTypeUrl()+"/"+cachev3.GetResourceName(r)] = types.ResourceWithTTL{Resource: r}
	return nil
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
