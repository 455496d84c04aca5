package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestE2EStandaloneMTLS runs gantry serve standalone with its default
// security (mTLS with the CA of --ca-dir): a proxyless gRPC client with the
// Gateway fleet's certificate is routed; one with a certificate of another
// identity, or none, gets no configuration and the refusals are counted.
func TestE2EStandaloneMTLS(t *testing.T) {
	e := startE2EWith(t, e2eBackends, e2eFiles(), identityOptions{caDir: filepath.Join(t.TempDir(), "ca"), serverNames: []string{"127.0.0.1"}})
	addr := e.cp.xdsLn.Addr().String()
	client := func(nodeID string, creds *bootstrap.Credentials) *grpc.ClientConn {
		t.Helper()
		boot, err := bootstrap.GRPC(bootstrap.Options{Group: e2eGroup, NodeID: nodeID, XDSAddress: addr, Credentials: creds})
		if err != nil {
			t.Fatal(err)
		}
		return xdsClientConn(t, boot, "a.example.com")
	}
	fleet := client("fleet", clientFiles(t, e.cp, e2eGroup))
	if got, err := call(fleet, "/anything"); err != nil || got != "fallback" {
		t.Fatalf("the fleet's client over mTLS: %q, %v", got, err)
	}

	other := client("other", clientFiles(t, e.cp, "mesh/default"))
	none, err := bootstrap.GRPC(bootstrap.Options{Group: e2eGroup, NodeID: "none", XDSAddress: addr})
	if err != nil {
		t.Fatal(err)
	}
	plain := xdsClientConn(t, none, "a.example.com")
	for name, conn := range map[string]*grpc.ClientConn{"another identity": other, "no credentials": plain} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := conn.Invoke(ctx, "/anything", []byte("{}"), new([]byte), grpc.ForceCodec(rawCodec{}))
		cancel()
		if err == nil {
			t.Errorf("%s: routed", name)
		}
	}
	e.eventually(t, "refusals counted", func() error {
		mfs, err := e.cp.registry.Gather()
		if err != nil {
			return err
		}
		for _, mf := range mfs {
			if mf.GetName() == "gantry_xds_denied_total" {
				var group float64
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "group" {
						group = m.GetCounter().GetValue()
					}
				}
				if group > 0 {
					return nil
				}
			}
		}
		return errors.New("gantry_xds_denied_total{reason=group} is still 0")
	})
	if logs := e.logs.String(); !strings.Contains(logs, "ns/default/sa/default") || !strings.Contains(logs, "not authorized") {
		t.Errorf("the refusal is not logged with the identity:\n%s", logs)
	}
}

// TestE2EGroupFreedWhenEmpty: a group nothing defines, asked for by a
// node, exists while the node is connected and is freed when it leaves;
// the Gateway's own group stays.
func TestE2EGroupFreedWhenEmpty(t *testing.T) {
	e := startE2E(t, e2eBackends, e2eFiles())
	conn, err := grpc.NewClient(e.cp.xdsLn.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	made := cache.Key{Group: "gateway/default/made-up", Flavor: cache.FlavorGRPC}
	node := &corev3.Node{Id: "n", Cluster: made.Group, Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{cache.FlavorMetadataKey: structpb.NewStringValue(cache.FlavorGRPC)}}}
	if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(e.cp.cache.Keys(), made) {
		t.Fatalf("no snapshot for the connected node's group: %v", e.cp.cache.Keys())
	}
	cancel()
	e.eventually(t, "the empty group freed", func() error {
		if slices.Contains(e.cp.cache.Keys(), made) {
			return errors.New("still in the cache")
		}
		return nil
	})
	if !slices.Contains(e.cp.cache.Keys(), cache.Key{Group: e2eGroup, Flavor: cache.FlavorEnvoy}) {
		t.Errorf("the Gateway's own group was freed too: %v", e.cp.cache.Keys())
	}
}
