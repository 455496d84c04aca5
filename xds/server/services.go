package server

import (
	"context"
	"slices"
	"strings"

	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
)

// services are the gRPC services of the xDS port: ADS and the per-type
// services (LDS, RDS, CDS, EDS, SDS), each state of the world, delta and
// fetch, the streams all answered by the same stream loops.
type services struct {
	s *Server
	listenerservice.UnimplementedListenerDiscoveryServiceServer
	routeservice.UnimplementedRouteDiscoveryServiceServer
	clusterservice.UnimplementedClusterDiscoveryServiceServer
	endpointservice.UnimplementedEndpointDiscoveryServiceServer
	secretservice.UnimplementedSecretDiscoveryServiceServer
}

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

// fetch answers a one-off request with the current resources: a large
// list as a pre-encoded response that refers to its resources' bytes, as
// streams send it (encode.go).
func (s *Server) fetch(ctx context.Context, req *discoveryv3.DiscoveryRequest, typeURL string) (any, error) {
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
	out := &discoveryv3.DiscoveryResponse{VersionInfo: r.Version, TypeUrl: typeURL}
	if shared(r.Resources) {
		return &preEncoded{head: out, body: encodeList(sotwKind, r.Resources)}, nil
	}
	out.Resources = make([]*anypb.Any, len(r.Resources))
	for i, res := range r.Resources {
		out.Resources[i] = res.Any()
	}
	return out, nil
}

// A per-type service's Fetch method is answered by fetchHandler rather
// than by a method of services, since a typed method cannot return a
// pre-encoded response; services embeds the generated placeholders only
// to have the services' interfaces.

// perType are the per-type services with their type URLs.
var perType = []struct {
	desc    *grpc.ServiceDesc
	typeURL string
}{
	{desc: &listenerservice.ListenerDiscoveryService_ServiceDesc, typeURL: resource.ListenerType},
	{desc: &routeservice.RouteDiscoveryService_ServiceDesc, typeURL: resource.RouteType},
	{desc: &clusterservice.ClusterDiscoveryService_ServiceDesc, typeURL: resource.ClusterType},
	{desc: &endpointservice.EndpointDiscoveryService_ServiceDesc, typeURL: resource.EndpointType},
	{desc: &secretservice.SecretDiscoveryService_ServiceDesc, typeURL: resource.SecretType},
}

// register registers ADS and the per-type services on g.
func (s *Server) register(g *grpc.Server) {
	x := services{s: s}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, x)
	for _, p := range perType {
		d := *p.desc
		d.Methods = slices.Clone(d.Methods)
		for i, m := range d.Methods {
			if strings.HasPrefix(m.MethodName, "Fetch") {
				d.Methods[i].Handler = s.fetchHandler(p.typeURL, "/"+d.ServiceName+"/"+m.MethodName)
			}
		}
		g.RegisterService(&d, x)
	}
}

// fetchHandler answers the Fetch method (full name method) of typeURL's
// service, through the interceptors like a generated handler.
func (s *Server) fetchHandler(typeURL, method string) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, intercept grpc.UnaryServerInterceptor) (any, error) {
		req := &discoveryv3.DiscoveryRequest{}
		if err := dec(req); err != nil {
			return nil, err
		}
		handle := func(ctx context.Context, req any) (any, error) {
			return s.fetch(ctx, req.(*discoveryv3.DiscoveryRequest), typeURL)
		}
		if intercept == nil {
			return handle(ctx, req)
		}
		return intercept(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: method}, handle)
	}
}
