package loop

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
	"github.com/gantryproxy/gantry/xds/server"
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

func newKeysLoop(t *testing.T) (*Loop, *resource.Set) {
	t.Helper()
	lr, err := resource.Parse("keys.yaml", []byte(keysInputYAML))
	if err != nil || len(lr.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, lr.Errors)
	}
	c := cache.New(cache.Options{Validate: validateByType})
	p := New(Options{Cache: c, ControllerName: translate.DefaultControllerName,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
	p, set := newKeysLoop(t)
	p.process(context.Background(), Event{Set: set, ChangedAt: time.Now()})

	// A known group in a new flavor.
	gw := cache.Key{Group: "gateway/default/gw", Flavor: "grpc"}
	p.addKey(gw)
	if ok, _ := hasSnapshot(p.opts.Cache, gw); !ok {
		t.Errorf("%v: no snapshot after its first node connected", gw)
	}

	// A mesh group of a namespace the inputs do not know.
	mesh := cache.Key{Group: "mesh/elsewhere", Flavor: "grpc"}
	p.addKey(mesh)
	ok, names := hasSnapshot(p.opts.Cache, mesh)
	if !ok {
		t.Fatalf("%v: no snapshot after its first node connected", mesh)
	}
	if !strings.Contains(strings.Join(names, ","), "reviews.default.svc.cluster.local:9080") {
		t.Errorf("%v: listeners %v, want the reviews Service's api_listener", mesh, names)
	}
	if ok, _ := hasSnapshot(p.opts.Cache, cache.Key{Group: mesh.Group, Flavor: cache.FlavorEnvoy}); !ok {
		t.Errorf("%v: the Envoy flavor was not built with it", mesh)
	}
	res := p.State().Result
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
	if ok, names := hasSnapshot(p.opts.Cache, none); !ok || len(names) != 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want an empty one", none, ok, names)
	}
}

// TestKeyBeforeFirstTranslation: a node of an unknown group that connects
// before the first translation gets an empty configuration with it.
func TestKeyBeforeFirstTranslation(t *testing.T) {
	p, set := newKeysLoop(t)
	none := cache.Key{Group: "grpc/nowhere/client", Flavor: "grpc"}
	mesh := cache.Key{Group: "mesh/elsewhere", Flavor: "grpc"}
	p.addKey(none)
	p.addKey(mesh)
	p.process(context.Background(), Event{Set: set, ChangedAt: time.Now()})
	if ok, names := hasSnapshot(p.opts.Cache, none); !ok || len(names) != 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want an empty one", none, ok, names)
	}
	if ok, names := hasSnapshot(p.opts.Cache, mesh); !ok || len(names) == 0 {
		t.Errorf("%v: snapshot %v with listeners %v, want its mesh configuration", mesh, ok, names)
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

const gatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gantry}
spec: {controllerName: gantryproxy.io/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: gantry
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`

const routesYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: a, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [a.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: api, port: 8080}]
  - backendRefs: [{name: fallback, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: b, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [b.example.com]
  rules:
  - backendRefs: [{name: bee, port: 8080}]
`

// fakeServer is the xDS server's view, for tests.
type fakeServer struct {
	connected  func() []cache.Key
	rejections func() []server.Rejection
}

func (fakeServer) ObserveTranslation(time.Duration) {}

func (f fakeServer) ConnectedKeys() []cache.Key {
	if f.connected == nil {
		return nil
	}
	return f.connected()
}

func (f fakeServer) Rejections() []server.Rejection {
	if f.rejections == nil {
		return nil
	}
	return f.rejections()
}
