package echo

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestStandardGRPCClient calls the echo server with grpc-go's defaults (the
// protobuf codec, no options beyond plaintext): health checking, the echo
// method and server reflection.
func TestStandardGRPCClient(t *testing.T) {
	s := start(t, "delta")
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, svc := range []string{"", EchoService} {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v %v", svc, resp, err)
		}
	}
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); err == nil {
		t.Error("health of an unknown service succeeded")
	}

	in, err := structpb.NewStruct(map[string]any{"hello": "world"})
	if err != nil {
		t.Fatal(err)
	}
	out := &structpb.Struct{}
	var header metadata.MD
	ctx2 := metadata.AppendToOutgoingContext(ctx, "x-call", "7")
	if err := conn.Invoke(ctx2, EchoMethod, in, out, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	m := out.AsMap()
	if m["name"] != "delta" || m["path"] != EchoMethod || m["host"] != s.Addr() {
		t.Errorf("echo reply = %v", m)
	}
	if req, _ := m["request"].(map[string]any); req["hello"] != "world" {
		t.Errorf("echo reply request = %v", m["request"])
	}
	if h, _ := m["headers"].(map[string]any); h["x-call"] != "7" {
		t.Errorf("echo reply headers = %v", m["headers"])
	}
	if got := header.Get(HeaderName); len(got) != 1 || got[0] != "delta" {
		t.Errorf("header %s = %v", HeaderName, got)
	}

	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: EchoService},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if fd := resp.GetFileDescriptorResponse(); fd == nil || len(fd.FileDescriptorProto) == 0 {
		t.Errorf("reflection of %s: %v", EchoService, resp)
	}
}
