package echo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// The echo service users' own gRPC clients call with the standard protobuf
// codec: rpc Echo(google.protobuf.Struct) returns (google.protobuf.Struct).
const (
	// EchoService is the full name of the echo service.
	EchoService = "gantry.echo.v1.Echo"
	// EchoMethod is the full method name of its one RPC.
	EchoMethod = "/" + EchoService + "/Echo"
)

// standardPrefixes are the gRPC services a grpc.Server answers; any other
// gRPC path gets the JSON reply of serveGRPC, so a route probe may call any
// path.
var standardPrefixes = []string{
	"/" + EchoService + "/",
	"/" + healthpb.Health_ServiceDesc.ServiceName + "/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func isStandardGRPC(path string) bool {
	for _, p := range standardPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// newGRPCServer serves grpc.health.v1 (SERVING for "" and EchoService),
// EchoService and server reflection (so grpcurl can list and call them).
func newGRPCServer(name string) (*grpc.Server, error) {
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus(EchoService, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: EchoService,
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: echoHandler(name)}},
		Metadata:    echoProtoFile,
	}, nil)
	if err := registerEchoFile(); err != nil {
		return nil, err
	}
	reflection.RegisterV1(s)
	return s, nil
}

// echoHandler answers Echo with the request's fields under "request" and
// what the server saw: name, path (the method), authority, headers, peer.
func echoHandler(name string) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := &structpb.Struct{}
		if err := dec(in); err != nil {
			return nil, err
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderName, name))
		md, _ := metadata.FromIncomingContext(ctx)
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		headers := map[string]any{}
		for _, k := range keys {
			headers[k] = strings.Join(md.Get(k), ",")
		}
		authority := ""
		if v := md.Get(":authority"); len(v) > 0 {
			authority = v[0]
		}
		from := ""
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			from = p.Addr.String()
		}
		out, err := structpb.NewStruct(map[string]any{
			"name": name, "path": EchoMethod, "host": authority, "peer": from, "headers": headers,
		})
		if err != nil {
			return nil, fmt.Errorf("echo: reply: %w", err)
		}
		out.Fields["request"] = structpb.NewStructValue(in)
		return out, nil
	}
}

// echoProtoFile is the name of the descriptor reflection serves.
const echoProtoFile = "gantry/echo/v1/echo.proto"

// registerEchoFile registers the echo service's descriptor, built from a
// FileDescriptorProto (no generated code), in the global registry, where
// server reflection finds it; once per process.
var registerEchoFile = sync.OnceValue(func() error {
	str := func(s string) *string { return &s }
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       str(echoProtoFile),
		Package:    str("gantry.echo.v1"),
		Dependency: []string{"google/protobuf/struct.proto"},
		Syntax:     str("proto3"),
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: str("Echo"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: str("Echo"), InputType: str(".google.protobuf.Struct"), OutputType: str(".google.protobuf.Struct"),
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		return fmt.Errorf("echo: descriptor: %w", err)
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		return fmt.Errorf("echo: register descriptor: %w", err)
	}
	return nil
})
