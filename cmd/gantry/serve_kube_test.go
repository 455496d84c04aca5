package main

import (
	"context"
	"fmt"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/internal/echo"
	"github.com/gantryproxy/gantry/test/envtest"
)

// TestKubeE2E runs gantry serve's Kubernetes wiring against a real API
// server: a proxyless gRPC client connected to the xDS server follows an
// HTTPRoute change made through the API server; status (accepted and
// rejected), the Envoy fleet and the load-balancer address come back.
func TestKubeE2E(t *testing.T) {
	env, c := startKubeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	logs := &syncBuffer{}
	// The API server refuses loopback endpoints: EndpointSlices name
	// documentation addresses (192.0.2.0/24) and the client's dialer maps
	// them to the echo servers on 127.0.0.1.
	dialMap := map[string]string{}
	for i, n := range []string{"v1", "v2"} {
		s, err := echo.Listen("127.0.0.1:0", n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		dialMap[ip+":8080"] = s.Addr()
		createBackend(t, c, n, ip)
	}
	const ctrl = "gantryproxy.io/e2e-kube"
	envtest.Create(t, c,
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry-e2e"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: ctrl}},
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "gantry-e2e",
			Listeners: []gwapiv1.Listener{
				{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
				{Name: "bad-kinds", Port: 8081, Protocol: gwapiv1.HTTPProtocolType,
					AllowedRoutes: &gwapiv1.AllowedRoutes{Kinds: []gwapiv1.RouteGroupKind{{Kind: "NoSuchRoute"}}}},
			}}},
		e2eRoute("r", "v1", ""),
		e2eRoute("rejected", "v1", "no-such-listener"),
	)

	o := &serveOptions{
		provider: "kube", controllerName: ctrl, xdsServiceAddress: "gantry.gantry-system.svc:18000",
		xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{namespace: "default", caSecret: "gantry-ca", serverNames: []string{"127.0.0.1"}},
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := newKubeWiring(env.Config, o, log)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := newControlPlane(o, w.sink, log)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cp.run(runCtx, w) }()
	t.Cleanup(func() {
		stop()
		<-done
		if t.Failed() {
			out := logs.String()
			if len(out) > 20000 {
				out = "...\n" + out[len(out)-20000:]
			}
			t.Logf("control plane logs:\n%s", out)
		}
	})

	conn := kubeXDSClient(t, cp, "gateway/default/gw", "a.example.com", dialMap)
	kubeEventually(t, "the route through the API server", func() error { return expectBackend(conn, "v1") })

	// Change the route through the API server: the client follows.
	patch := []byte(`{"spec":{"rules":[{"backendRefs":[{"name":"v2","port":8080}]}]}}`)
	if err := c.Patch(ctx, e2eRoute("r", "", ""), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	kubeEventually(t, "the HTTPRoute change at the client", func() error { return expectBackend(conn, "v2") })

	kubeEventually(t, "route status", func() error {
		if err := routeAccepted(ctx, c, "r", ctrl, metav1.ConditionTrue); err != nil {
			return err
		}
		return routeAccepted(ctx, c, "rejected", ctrl, metav1.ConditionFalse)
	})
	kubeEventually(t, "GatewayClass and Gateway status", func() error { return classAndGatewayStatus(ctx, c) })
	name := infrakube.ResourceName("gw")
	kubeEventually(t, "the Envoy fleet", func() error {
		var dep appsv1.Deployment
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &dep)
	})
	checkLoadBalancerAddress(t, ctx, c, name)
}

// classAndGatewayStatus checks what translation reported for the e2e
// GatewayClass and Gateway, as written by the status writer.
func classAndGatewayStatus(ctx context.Context, c client.Client) error {
	var gc gwapiv1.GatewayClass
	if err := c.Get(ctx, types.NamespacedName{Name: "gantry-e2e"}, &gc); err != nil {
		return err
	}
	if cd := meta.FindStatusCondition(gc.Status.Conditions, "Accepted"); cd == nil || cd.Status != metav1.ConditionTrue {
		return fmt.Errorf("GatewayClass Accepted = %+v", cd)
	}
	var gw gwapiv1.Gateway
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "gw"}, &gw); err != nil {
		return err
	}
	if cd := meta.FindStatusCondition(gw.Status.Conditions, "Accepted"); cd == nil || cd.Status != metav1.ConditionTrue || cd.ObservedGeneration != gw.Generation {
		return fmt.Errorf("Gateway Accepted = %+v", cd)
	}
	for _, l := range gw.Status.Listeners {
		if l.Name != "bad-kinds" {
			continue
		}
		if cd := meta.FindStatusCondition(l.Conditions, "ResolvedRefs"); cd == nil || cd.Status != metav1.ConditionFalse || cd.Reason != "InvalidRouteKinds" {
			return fmt.Errorf("listener bad-kinds ResolvedRefs = %+v, want False/InvalidRouteKinds", cd)
		}
		return nil
	}
	return fmt.Errorf("no status for listener bad-kinds in %+v", gw.Status.Listeners)
}

// checkLoadBalancerAddress writes a load-balancer ingress into the fleet's
// Service status and waits for it in the Gateway's status.addresses.
func checkLoadBalancerAddress(t *testing.T, ctx context.Context, c client.Client, name string) {
	t.Helper()
	var svc corev1.Service
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.9"}}
	if err := c.Status().Update(ctx, &svc); err != nil {
		t.Fatal(err)
	}
	kubeEventually(t, "the load-balancer address in Gateway status", func() error {
		var gw gwapiv1.Gateway
		if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "gw"}, &gw); err != nil {
			return err
		}
		if len(gw.Status.Addresses) != 1 || gw.Status.Addresses[0].Value != "203.0.113.9" {
			return fmt.Errorf("status.addresses = %+v", gw.Status.Addresses)
		}
		return nil
	})
}

// startKubeEnv starts an API server for one test, or skips outside CI
// when the binaries are unavailable.
func startKubeEnv(t *testing.T) (*envtest.Env, client.Client) {
	t.Helper()
	env := envtest.StartT(t)
	scheme, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return env, c
}

// TestKubeLeaderOnlyWrites: with --leader-elect only the Lease holder
// writes status; when it stops, the other replica takes over and writes.
func TestKubeLeaderOnlyWrites(t *testing.T) {
	env, c := startKubeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ctrl = "gantryproxy.io/e2e-leader"
	envtest.Create(t, c,
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry-leader"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: ctrl}},
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw"}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: "gantry-leader",
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}},
		e2eRoute("r", "", ""),
	)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func(id string) (stop func()) {
		o := &serveOptions{
			provider: "kube", controllerName: ctrl, leaderElect: true, leaderElectionNamespace: "default",
			xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
			identity: identityOptions{namespace: "default", caSecret: "gantry-ca"},
		}
		w, err := newKubeWiring(env.Config, o, log.With("replica", id))
		if err != nil {
			t.Fatal(err)
		}
		w.identity = id
		cp, err := newControlPlane(o, w.sink, log)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- cp.run(runCtx, w) }()
		var once sync.Once
		stop = func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return stop
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs:\n%s", logs.String())
		}
	})
	holder := func(want string) func() error {
		return func() error {
			var l coordinationv1.Lease
			if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "gantry-controller"}, &l); err != nil {
				return err
			}
			if got := ptr.Deref(l.Spec.HolderIdentity, ""); got != want {
				return fmt.Errorf("lease held by %q, want %q", got, want)
			}
			return nil
		}
	}

	stopA := start("a")
	kubeEventually(t, "replica a leads", holder("a"))
	kubeEventually(t, "status from the leader", func() error { return routeAccepted(ctx, c, "r", ctrl, metav1.ConditionTrue) })
	start("b")
	stopA()
	kubeEventually(t, "replica b leads", holder("b"))
	patch := []byte(`{"spec":{"hostnames":["b.example.com"]}}`)
	if err := c.Patch(ctx, e2eRoute("r", "", ""), client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	// routeAccepted checks observedGeneration: only a writing leader passes.
	kubeEventually(t, "status from the new leader", func() error { return routeAccepted(ctx, c, "r", ctrl, metav1.ConditionTrue) })
}

// expectBackend calls the client once and checks who answered.
func expectBackend(conn *grpc.ClientConn, want string) error {
	got, err := call(conn, "/anything")
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("answered by %q, want %q", got, want)
	}
	return nil
}

// createBackend makes Service name (port 8080) and its EndpointSlice with
// one endpoint, ip:8080.
func createBackend(t *testing.T, c client.Client, name, ip string) {
	t.Helper()
	const port = 8080
	envtest.Create(t, c,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "grpc", Port: 8080, TargetPort: intstr.FromInt(port), AppProtocol: ptr.To("kubernetes.io/h2c")}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To(int32(port))}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Zone: ptr.To("z1"), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		})
}

func e2eRoute(name, backend, section string) *gwapiv1.HTTPRoute {
	ref := gwapiv1.ParentReference{Name: "gw"}
	if section != "" {
		ref.SectionName = ptr.To(gwapiv1.SectionName(section))
	}
	r := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: gwapiv1.HTTPRouteSpec{
		CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{ref}},
		Hostnames:       []gwapiv1.Hostname{"a.example.com"},
	}}
	if backend != "" {
		r.Spec.Rules = []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
			BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(backend), Port: ptr.To(gwapiv1.PortNumber(8080))}}}}}}
	}
	return r
}

// routeAccepted checks the route's Accepted condition from controller ctrl.
func routeAccepted(ctx context.Context, c client.Client, name, ctrl string, want metav1.ConditionStatus) error {
	var r gwapiv1.HTTPRoute
	if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: name}, &r); err != nil {
		return err
	}
	for _, p := range r.Status.Parents {
		if string(p.ControllerName) != ctrl {
			continue
		}
		for _, cd := range p.Conditions {
			if cd.Type == "Accepted" {
				if cd.Status != want || cd.ObservedGeneration != r.Generation {
					return fmt.Errorf("route %s Accepted = %s (%s, generation %d of %d), want %s", name, cd.Status, cd.Reason, cd.ObservedGeneration, r.Generation, want)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("route %s: no Accepted condition from %s in %+v", name, ctrl, r.Status.Parents)
}

// kubeEventually retries check for up to 20 s.
func kubeEventually(t *testing.T, what string, check func() error) {
	t.Helper()
	retryFor(t, 20*time.Second, what, check)
}

// kubeXDSClient connects a proxyless gRPC client (gRPC flavor, node group
// group) to xds:///target through the xDS server at addr.
func kubeXDSClient(t *testing.T, cp *controlPlane, group, target string, dialMap map[string]string) *grpc.ClientConn {
	t.Helper()
	creds := clientFiles(t, cp, group)
	dial := func(ctx context.Context, a string) (net.Conn, error) {
		if real, ok := dialMap[a]; ok {
			a = real
		}
		if !strings.HasPrefix(a, "127.0.0.1:") {
			return nil, fmt.Errorf("test dialer: %s is not loopback", a)
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", a)
	}
	boot, err := bootstrap.GRPC(bootstrap.Options{Group: group, NodeID: "kube-e2e", XDSAddress: cp.xdsLn.Addr().String(), Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	return xdsClientConn(t, boot, target, grpc.WithContextDialer(dial))
}
