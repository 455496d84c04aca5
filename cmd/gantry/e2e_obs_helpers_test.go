package main

import (
	"context"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// quickstartGroup is the node group of examples/quickstart's Gateway.
const quickstartGroup = "gateway/default/quickstart"

// startQuickstart serves examples/quickstart with its fixed backend ports
// replaced by echo backends on free ports.
func startQuickstart(t *testing.T) *e2eEnv {
	t.Helper()
	return startE2E(t, []string{"echo-v1", "echo-v2", "echo-api"}, quickstartFiles(t))
}

// rawADS is an Envoy-like xDS client on one ADS stream: it asks for the
// listeners of group and acknowledges the first answer, or rejects it with
// nackMessage when that is set. It keeps the stream open until the test
// ends and returns once the answer was acknowledged or rejected.
func rawADS(t *testing.T, xdsAddr, nodeID, group, nackMessage string) {
	t.Helper()
	rawADSStream(t, xdsAddr, nodeID, group, nackMessage)
}

// rawADSStream is rawADS; it returns a function that closes the stream
// (the node disconnects).
func rawADSStream(t *testing.T, xdsAddr, nodeID, group, nackMessage string) context.CancelFunc {
	t.Helper()
	conn, err := grpc.NewClient(xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); _ = conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: nodeID, Cluster: group}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("%s: %v", nodeID, err)
	}
	next := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo}
	if nackMessage != "" {
		next.VersionInfo = ""
		next.ErrorDetail = &status.Status{Code: 3, Message: nackMessage}
	}
	if err := stream.Send(next); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := stream.Recv(); err != nil {
				return
			}
		}
	}()
	return cancel
}
