package kube

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// stripConfigMap keeps what translation and the fleet read, and the key
// names of everything else.
func TestStripConfigMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     map[string]string
		binary   map[string][]byte
		wantData map[string]string
		wantBin  int
	}{
		{name: "ca bundle", data: map[string]string{"ca.crt": "pem", "other": "x"}, wantData: map[string]string{"ca.crt": "pem", "other": "x"}},
		{name: "parameters", data: map[string]string{"replicas": "2"}, wantData: map[string]string{"replicas": "2"}},
		{name: "parameters with a typo", data: map[string]string{"replicas": "2", "drainSecs": "3"}, binary: map[string][]byte{"x": []byte("y")},
			wantData: map[string]string{"replicas": "2", "drainSecs": "3"}, wantBin: 1},
		{name: "unrelated", data: map[string]string{"app.json": "{...}", "replica": "2"}, binary: map[string][]byte{"blob": []byte("zzz")},
			wantData: map[string]string{"app.json": "", "replica": ""}, wantBin: 1},
		{name: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: tc.data, BinaryData: tc.binary}
			out, err := stripConfigMap(in)
			if err != nil {
				t.Fatal(err)
			}
			cm := out.(*corev1.ConfigMap)
			if !maps.Equal(cm.Data, tc.wantData) {
				t.Errorf("data = %v, want %v", cm.Data, tc.wantData)
			}
			if len(cm.BinaryData) != tc.wantBin {
				t.Errorf("binaryData = %v, want %d keys", cm.BinaryData, tc.wantBin)
			}
			if tc.name == "unrelated" && len(cm.BinaryData["blob"]) != 0 {
				t.Errorf("binary value kept for an unrelated ConfigMap")
			}
		})
	}
}

// TestEveryWatchedKindIsRead puts one object of every kind of resource's
// table that is not WatchNever into a fake API server and reads them back
// the way the provider does: the scheme knows each kind and its list, and
// each lands in the Set under its key.
func TestEveryWatchedKindIsRead(t *testing.T) {
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	want := map[resource.Key]bool{}
	for _, k := range resource.Kinds() {
		if k.Watch == resource.WatchNever {
			continue
		}
		o := k.Named("ns", "x").(client.Object)
		objs = append(objs, o)
		want[resource.Key{Kind: k.Kind, Namespace: o.GetNamespace(), Name: "x"}] = true
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	b := &builder{reader: c, scheme: scheme}
	set := &resource.Set{}
	for _, k := range watchedKinds() {
		if err := b.load(context.Background(), k, set); err != nil {
			t.Errorf("load %s: %v", k.Kind, err)
		}
	}
	got := map[resource.Key]bool{}
	set.Each(func(k resource.Key, _ metav1.Object) { got[k] = true })
	if !maps.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
}

// TestStatusKindsHaveEntries checks that the status writer can reach the
// entries of every route and policy kind of the table.
func TestStatusKindsHaveEntries(t *testing.T) {
	for _, k := range sweepKinds() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("kind %s: %v: add its case to routeParents or policyAncestors", k.Kind, r)
				}
			}()
			hasEntryOf(newObject(k), k.Role, "c")
		}()
	}
}

// TestEveryRouteKindFiltered fails when filterRelevant does not filter a
// route kind of resource's table by its parents: routes of other
// controllers' Gateways would reach translation.
func TestEveryRouteKindFiltered(t *testing.T) {
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		set := &resource.Set{
			GatewayClasses: plist.Of(gatewayClass("c", DefaultControllerName)),
			Gateways:       plist.Of(&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gw"}, Spec: gwapiv1.GatewaySpec{GatewayClassName: "c"}}),
		}
		var routes []any
		for _, parent := range []string{"gw", "elsewhere"} {
			route := k.Named("ns", parent)
			if err := json.Unmarshal([]byte(`{"spec":{"parentRefs":[{"name":"`+parent+`"}]}}`), route); err != nil {
				t.Fatalf("%s: %v", k.Kind, err)
			}
			routes = append(routes, route)
		}
		k.Put(set, routes)
		var kept []string
		k.Each(filterRelevant(set, Options{}), func(o metav1.Object) { kept = append(kept, o.GetName()) })
		if !slices.Equal(kept, []string{"gw"}) {
			t.Errorf("%s: filterRelevant kept %v, want only the route of Gantry's Gateway [gw]", k.Kind, kept)
		}
	}
}
