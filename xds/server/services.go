package server

import (
	"context"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// services are the gRPC services of the xDS port: ADS and the per-type
// services (LDS, RDS, CDS, EDS, SDS), each state of the world, delta and
// fetch, all answered by the same stream loops.
type services struct{ s *Server }

func (x services) StreamAggregatedResources(ss sotwServer) error {
	return x.s.streamSotw(ss, resource.AnyType)
}

func (x services) DeltaAggregatedResources(ss deltaServer) error {
	return x.s.streamDelta(ss, resource.AnyType)
}

func (x services) StreamListeners(ss sotwServer) error {
	return x.s.streamSotw(ss, resource.ListenerType)
}
func (x services) StreamRoutes(ss sotwServer) error { return x.s.streamSotw(ss, resource.RouteType) }
func (x services) StreamClusters(ss sotwServer) error {
	return x.s.streamSotw(ss, resource.ClusterType)
}
func (x services) StreamEndpoints(ss sotwServer) error {
	return x.s.streamSotw(ss, resource.EndpointType)
}
func (x services) StreamSecrets(ss sotwServer) error { return x.s.streamSotw(ss, resource.SecretType) }

func (x services) DeltaListeners(ss deltaServer) error {
	return x.s.streamDelta(ss, resource.ListenerType)
}
func (x services) DeltaRoutes(ss deltaServer) error { return x.s.streamDelta(ss, resource.RouteType) }
func (x services) DeltaClusters(ss deltaServer) error {
	return x.s.streamDelta(ss, resource.ClusterType)
}
func (x services) DeltaEndpoints(ss deltaServer) error {
	return x.s.streamDelta(ss, resource.EndpointType)
}
func (x services) DeltaSecrets(ss deltaServer) error {
	return x.s.streamDelta(ss, resource.SecretType)
}

func (x services) FetchListeners(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	return x.s.fetch(ctx, req, resource.ListenerType)
}
func (x services) FetchRoutes(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	return x.s.fetch(ctx, req, resource.RouteType)
}
func (x services) FetchClusters(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	return x.s.fetch(ctx, req, resource.ClusterType)
}
func (x services) FetchEndpoints(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	return x.s.fetch(ctx, req, resource.EndpointType)
}
func (x services) FetchSecrets(ctx context.Context, req *discoveryv3.DiscoveryRequest) (*discoveryv3.DiscoveryResponse, error) {
	return x.s.fetch(ctx, req, resource.SecretType)
}

// fetch answers a one-off request with the current resources.
func (s *Server) fetch(ctx context.Context, req *discoveryv3.DiscoveryRequest, typeURL string) (*discoveryv3.DiscoveryResponse, error) {
	if req == nil {
		return nil, status.Errorf(codes.Unavailable, "empty request")
	}
	req.TypeUrl = typeURL
	if err := s.callbacks.OnFetchRequest(ctx, req); err != nil {
		return nil, err
	}
	r, err := s.cache.Fetch(req.GetNode(), typeURL, req.GetResourceNames(), req.GetVersionInfo())
	if err != nil {
		return nil, err
	}
	out := &discoveryv3.DiscoveryResponse{VersionInfo: r.Version, TypeUrl: typeURL, Resources: make([]*anypb.Any, len(r.Resources))}
	for i, res := range r.Resources {
		out.Resources[i] = res.Any()
	}
	return out, nil
}
