package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// surfaceStatusGoldens are translate golden cases whose status is written
// to a real API server; "default" is renamed to the case name so the cases
// do not collide.
var surfaceStatusGoldens = []string{
	"grpcroute-http-conflict", "tlsroute-mixed", "tcproute-weighted", "udproute-basic",
	"backendtls-invalid", "frontend-client-validation", "backend-client-certificate",
	"gateway-addresses", "listenerset-conflicts",
}

// TestSurfaceStatusOnAPIServer writes the status that translation computes
// for every kind of the Gateway API surface to a real kube-apiserver (the
// CRDs validate it) and reads it back: GatewayClass supportedFeatures,
// ListenerSet and BackendTLSPolicy status, and route parents of GRPCRoute,
// TLSRoute, TCPRoute and UDPRoute.
func TestSurfaceStatusOnAPIServer(t *testing.T) {
	_, c := startKubeEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w := providerkube.NewStatusWriter(c, providerkube.StatusOptions{ControllerName: translate.DefaultControllerName})
	for _, name := range surfaceStatusGoldens {
		t.Run(name, func(t *testing.T) {
			set := loadRenamedGolden(t, name)
			createSet(ctx, t, c, set)
			rep := translate.Translate(set, translate.Options{}).Status
			if err := w.Write(ctx, rep); err != nil {
				t.Fatalf("write status: %v", err)
			}
			checkWrittenStatus(ctx, t, c, rep)
		})
	}
	var gc gwapiv1.GatewayClass
	if err := c.Get(ctx, types.NamespacedName{Name: "gantry"}, &gc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(translate.SupportedFeatures(), gc.Status.SupportedFeatures); diff != "" {
		t.Errorf("GatewayClass status.supportedFeatures (-want +got):\n%s", diff)
	}
}

// loadRenamedGolden parses a golden input with namespace "default"
// renamed to the case name.
func loadRenamedGolden(t *testing.T, name string) *resource.Set {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "gateway", "translate", "testdata", name+".in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "namespace: default", "namespace: "+name)
	text += "\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"
	res, err := resource.Parse(name+".in.yaml", []byte(text))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("parse: %v %v", err, res.Errors)
	}
	return res.Set
}

// createSet creates every object of set (namespaces first); objects that
// already exist (the shared GatewayClass, namespaces) are kept.
func createSet(ctx context.Context, t *testing.T, c client.Client, set *resource.Set) {
	t.Helper()
	var objs []client.Object
	add := func(o client.Object) {
		o.SetResourceVersion("")
		o.SetCreationTimestamp(metav1.Time{})
		objs = append(objs, o)
	}
	for o := range set.Namespaces.Values() {
		add(o)
	}
	for o := range set.GatewayClasses.Values() {
		add(o)
	}
	for o := range set.Gateways.Values() {
		add(o)
	}
	for o := range set.ListenerSets.Values() {
		add(o)
	}
	for o := range set.HTTPRoutes.Values() {
		add(o)
	}
	for o := range set.GRPCRoutes.Values() {
		add(o)
	}
	for o := range set.TLSRoutes.Values() {
		add(o)
	}
	for o := range set.TCPRoutes.Values() {
		add(o)
	}
	for o := range set.UDPRoutes.Values() {
		add(o)
	}
	for o := range set.BackendTLSPolicies.Values() {
		add(o)
	}
	for o := range set.Services.Values() {
		add(o)
	}
	for o := range set.Secrets.Values() {
		add(o)
	}
	for o := range set.ConfigMaps.Values() {
		add(o)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// checkWrittenStatus reads back what the writer stored.
func checkWrittenStatus(ctx context.Context, t *testing.T, c client.Client, r *status.Report) {
	t.Helper()
	for _, ls := range r.ListenerSets {
		var o gwapiv1.ListenerSet
		if err := c.Get(ctx, types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name}, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Status.Conditions) != len(ls.Status.Conditions) || len(o.Status.Listeners) != len(ls.Status.Listeners) {
			t.Errorf("ListenerSet %s/%s status %+v, want %+v", ls.Namespace, ls.Name, o.Status, ls.Status)
		}
	}
	for _, p := range r.BackendTLSPolicies {
		var o gwapiv1.BackendTLSPolicy
		if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.Status.Ancestors) != len(p.Status.Ancestors) {
			t.Errorf("BackendTLSPolicy %s/%s ancestors %+v, want %+v", p.Namespace, p.Name, o.Status.Ancestors, p.Status.Ancestors)
		}
	}
	for _, rt := range r.Routes {
		got := surfaceRouteAccepted(ctx, t, c, rt.Kind, rt.Namespace, rt.Name)
		var want []string
		for _, ps := range rt.Parents {
			for _, cond := range ps.Conditions {
				if cond.Type == string(gwapiv1.RouteConditionAccepted) {
					want = append(want, string(cond.Status)+"/"+cond.Reason)
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s/%s Accepted per parent (-want +got):\n%s", rt.Kind, rt.Namespace, rt.Name, diff)
		}
	}
}

// surfaceRouteAccepted reads the Accepted condition of each parent of a route.
func surfaceRouteAccepted(ctx context.Context, t *testing.T, c client.Client, kind, ns, name string) []string {
	t.Helper()
	key := types.NamespacedName{Namespace: ns, Name: name}
	var parents []gwapiv1.RouteParentStatus
	var err error
	switch kind {
	case "HTTPRoute":
		var o gwapiv1.HTTPRoute
		err = c.Get(ctx, key, &o)
		parents = o.Status.Parents
	case "GRPCRoute":
		var o gwapiv1.GRPCRoute
		err = c.Get(ctx, key, &o)
		parents = o.Status.Parents
	case "TLSRoute":
		var o gwapiv1.TLSRoute
		err = c.Get(ctx, key, &o)
		parents = o.Status.Parents
	case "TCPRoute":
		var o gwapiv1.TCPRoute
		err = c.Get(ctx, key, &o)
		parents = o.Status.Parents
	case "UDPRoute":
		var o gwapiv1.UDPRoute
		err = c.Get(ctx, key, &o)
		parents = o.Status.Parents
	default:
		t.Fatalf("unknown route kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range parents {
		for _, cond := range p.Conditions {
			if cond.Type == string(gwapiv1.RouteConditionAccepted) {
				out = append(out, string(cond.Status)+"/"+cond.Reason)
			}
		}
	}
	return out
}
