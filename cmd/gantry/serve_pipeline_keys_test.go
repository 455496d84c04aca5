package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
)

const keysInputYAML = gatewayYAML + `---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: http, port: 9080, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: default, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [127.0.0.1]}]
`

func newKeysPipeline(t *testing.T) (*pipeline, *resource.Set) {
	t.Helper()
	lr, err := resource.Parse("keys.yaml", []byte(keysInputYAML))
	if err != nil || len(lr.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, lr.Errors)
	}
	c := cache.New(cache.Options{Validate: validateByType})
	p := newPipeline(pipelineOptions{cache: c, controllerName: translate.DefaultControllerName,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return p, lr.Set
}

// hasSnapshot reports whether key has a snapshot, and its listener names.
func hasSnapshot(c *cache.Cache, k cache.Key) (bool, []string) {
	for _, have := range c.Keys() {
		if have == k {
			rs, _ := c.Resources(k, resourcev3.ListenerType)
			var names []string
			for _, r := range rs {
				names = append(names, r.Name)
			}
			return true, names
		}
	}
	return false, nil
}

// TestNewKeyAnsweredAtOnce: a node of a group the last translation does
// not cover gets a configuration when it connects, not at the next
// translation: a mesh group of an unknown namespace its mesh configuration,
// any other unknown group an empty one.
func TestNewKeyAnsweredAtOnce(t *testing.T) {
	p, set := newKeysPipeline(t)
	p.process(context.Background(), providerEvent{Set: set, ChangedAt: time.Now()})

	// A known group in a new flavor.
	gw := cache.Key{Group: "gateway/default/gw", Flavor: "grpc"}
	p.addKey(gw)
	if ok, _ := hasSnapshot(p.cache, gw); !ok {
		t.Errorf("%v: no snapshot after its first node connected", gw)
	}

	// A mesh group of a namespace the inputs do not know.
	mesh := cache.Key{Group: "mesh/elsewhere", Flavor: "grpc"}
	p.addKey(mesh)
	ok, names := hasSnapshot(p.cache, mesh)
	if !ok {
		t.Fatalf("%v: no snapshot after its first node connected", mesh)
	}
	if !strings.Contains(strings.Join(names, ","), "reviews.default.svc.cluster.local:9080") {
		t.Errorf("%v: listeners %v, want the reviews Service's api_listener", mesh, names)
	}
	if ok, _ := hasSnapshot(p.cache, cache.Key{Group: mesh.Group, Flavor: cache.FlavorEnvoy}); !ok {
		t.Errorf("%v: the Envoy flavor was not built with it", mesh)
	}
	res, _, _ := p.state()
	found := false
	for _, px := range res.Proxies {
		found = found || px.Name == mesh.Group
	}
	if !found {
		t.Errorf("%v: not added to the result (the EDS fast path would skip it)", mesh)
	}

	// A group nothing produces gets an empty, valid configuration.
	none := cache.Key{Group: "gateway/nowhere/gw", Flavor: cache.FlavorEnvoy}
	p.addKey(none)
	if ok, names := hasSnapshot(p.cache, none); !ok || len(names) != 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want an empty one", none, ok, names)
	}
}

// TestKeyBeforeFirstTranslation: a node of an unknown group that connects
// before the first translation gets an empty configuration with it.
func TestKeyBeforeFirstTranslation(t *testing.T) {
	p, set := newKeysPipeline(t)
	none := cache.Key{Group: "grpc/nowhere/client", Flavor: "grpc"}
	mesh := cache.Key{Group: "mesh/elsewhere", Flavor: "grpc"}
	p.addKey(none)
	p.addKey(mesh)
	p.process(context.Background(), providerEvent{Set: set, ChangedAt: time.Now()})
	if ok, names := hasSnapshot(p.cache, none); !ok || len(names) != 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want an empty one", none, ok, names)
	}
	if ok, names := hasSnapshot(p.cache, mesh); !ok || len(names) == 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want its mesh configuration", mesh, ok, names)
	}
}

// TestE2EMeshClientOfUnknownNamespace: a proxyless client whose group is
// mesh/<ns> for a namespace no input mentions reaches a Service as soon as
// it connects, with no input change to trigger a translation.
func TestE2EMeshClientOfUnknownNamespace(t *testing.T) {
	e := startE2E(t, []string{"reviews"}, map[string]string{"reviews.yaml": meshServiceYAML("reviews")})
	conn := e.meshClient("stranger-1", "elsewhere", "reviews.default.svc.cluster.local:9080")
	start := time.Now()
	got, err := call(conn, "/reviews.Reviews/Get")
	if err != nil || got != "reviews" {
		t.Fatalf("call from mesh/elsewhere: backend %q, error %v", got, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("first call took %v; the group was not built when its node connected", d)
	}
}

// validateByType adapts xds/envoy.Validate to the cache's validation hook, so
// these tests also prove that what the pipeline hands the cache is valid.
func validateByType(byType map[string][]types.Resource) error {
	return envoy.Validate(&envoy.Resources{
		Listeners: byType[resourcev3.ListenerType],
		Routes:    byType[resourcev3.RouteType],
		Clusters:  byType[resourcev3.ClusterType],
		Endpoints: byType[resourcev3.EndpointType],
		Secrets:   byType[resourcev3.SecretType],
	})
}
