package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/xds"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// TestQuickstartExample serves examples/quickstart (its fixed backend ports
// replaced by echo backends on free ports) and checks every rule the README
// promises through a proxyless gRPC client bootstrapped by `gantry bootstrap
// --grpc`'s generator.
func TestQuickstartExample(t *testing.T) {
	e := startQuickstart(t)

	cfg, err := bootstrap.GRPC(bootstrap.Options{
		Group: quickstartGroup, NodeID: "quickstart-client", XDSAddress: e.cp.xdsLn.Addr().String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	dial := func(target string) *grpc.ClientConn {
		r, err := xds.NewXDSResolverWithConfigForTesting(cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient("xds:///"+target, grpc.WithResolvers(r), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	app, api := dial("app.example.com:8080"), dial("api.example.com:8080")

	tests := []struct {
		conn *grpc.ClientConn
		path string
		kv   []string
		want string
	}{
		{app, "/v2/items", nil, "echo-v2"},
		{app, "/some/page", []string{"x-canary", "true"}, "echo-v2"},
		{api, "/api/users", nil, "echo-api"},
		{api, "/healthz", nil, "echo-api"},
	}
	for _, tc := range tests {
		got, err := call(tc.conn, tc.path, tc.kv...)
		if err != nil || got != tc.want {
			t.Errorf("%s %v: served by %q (%v), want %q", tc.path, tc.kv, got, err, tc.want)
		}
	}

	counts := map[string]int{}
	for i := range 200 {
		got, err := call(app, fmt.Sprintf("/split/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		counts[got]++
	}
	// 90/10: P(fewer than 150 on echo-v1) and P(no echo-v2) are both below 1e-9.
	if counts["echo-v1"] < 150 || counts["echo-v2"] == 0 || counts["echo-v1"]+counts["echo-v2"] != 200 {
		data, _ := json.Marshal(counts)
		t.Errorf("weighted split 90/10 over 200 calls gave %s", data)
	}
}
