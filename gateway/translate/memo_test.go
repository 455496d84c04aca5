package translate

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

func memoRoute(i int, host, path, svc string) *gwapiv1.HTTPRoute {
	pt := gwapiv1.PathMatchPathPrefix
	port := gwapiv1.PortNumber(80)
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "r-" + strconv.Itoa(i), Namespace: "default"},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
			Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(host)},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &pt, Value: &path}}},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName(svc), Port: &port}}}},
			}},
		},
	}
}

func memoWorld() *resource.Set {
	set := &resource.Set{
		GatewayClasses: plist.Of(&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}),
		Gateways: plist.Of(
			&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: "gw", Namespace: "default"}, Spec: gwapiv1.GatewaySpec{
				GatewayClassName: "gantry", Listeners: []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}},
		),
	}
	for s := range 3 {
		set.Services = set.Services.Append(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc-" + strconv.Itoa(s), Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	}
	for i := range 20 {
		set.HTTPRoutes = set.HTTPRoutes.Append(memoRoute(i, "r"+strconv.Itoa(i)+".example.com", "/", "svc-"+strconv.Itoa(i%2)))
	}
	set.HTTPRoutes = set.HTTPRoutes.Append(memoRoute(20, "*.example.com", "/w", "svc-0"))
	return set
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMemoRoutesKeepsPointers holds Memo.Routes to what the xDS build's
// memo relies on: the result equals a full translation; the unchanged
// virtual hosts, routes, clusters and listeners are the very pointers of
// the previous result; the changed ones are new; and nothing handed out
// before is modified.
func TestMemoRoutesKeepsPointers(t *testing.T) {
	set := memoWorld()
	before, memo := TranslateMemo(set, Options{})
	oldJSON := jsonOf(t, before)
	next := *set
	old := set.HTTPRoutes.At(7)
	next.HTTPRoutes = set.HTTPRoutes.Splice(7, 8, memoRoute(7, "r7.example.com", "/changed", "svc-2")) // a new cluster too
	up, ok := memo.Routes(&next, []types.NamespacedName{{Namespace: "default", Name: "gw"}}, []RouteChange{{Old: old, New: next.HTTPRoutes.At(7)}})
	if !ok {
		t.Fatal("the memo did not take a route change")
	}
	full := Translate(&next, Options{})
	if got, want := jsonOf(t, up.Proxies), jsonOf(t, full.Proxies); got != want {
		t.Fatalf("proxy\n got %s\nwant %s", got, want)
	}
	if got := jsonOf(t, before); got != oldJSON {
		t.Fatal("the previous result was modified")
	}
	p0, p1 := before.Proxies[0], up.Proxies[0]
	if p0.Listeners[0] != p1.Listeners[0] {
		t.Error("the unchanged listener is a new pointer")
	}
	if p0.RouteConfigs[0] == p1.RouteConfigs[0] {
		t.Error("the changed route table is the same pointer")
	}
	vhs := map[string]*ir.VirtualHost{}
	for _, vh := range p0.RouteConfigs[0].VirtualHosts.All() {
		vhs[vh.Name] = vh
	}
	for _, vh := range p1.RouteConfigs[0].VirtualHosts.All() {
		same := vhs[vh.Name] == vh
		if changed := vh.Name == "r7.example.com"; same == changed {
			t.Errorf("virtual host %s: same pointer %v, changed %v", vh.Name, same, changed)
		}
		if vh.Name == "r8.example.com" && vh.Routes[0] != vhs[vh.Name].Routes[0] {
			t.Error("an unchanged route is a new pointer")
		}
	}
	clusters := map[string]*ir.Cluster{}
	for c := range p0.Clusters.Values() {
		clusters[c.Name] = c
	}
	for c := range p1.Clusters.Values() {
		if o := clusters[c.Name]; o != nil && o != c {
			t.Errorf("cluster %s is a new pointer", c.Name)
		}
	}
	if p1.Clusters.Len() != 3 {
		t.Errorf("clusters %d, want 3", p1.Clusters.Len())
	}
}

// TestMemoRoutesDeclines: the memo refuses (and is left as it was) when
// other inputs changed or a Gateway needs translating whole.
func TestMemoRoutesDeclines(t *testing.T) {
	set := memoWorld()
	_, memo := TranslateMemo(set, Options{})
	gws := []types.NamespacedName{{Namespace: "default", Name: "gw"}}
	next := *set
	changed := set.Services.At(0).DeepCopy()
	changed.Spec.Ports[0].Port = 81
	next.Services = set.Services.Splice(0, 1, changed)
	if _, ok := memo.Routes(&next, gws, nil); ok {
		t.Error("the memo took a changed Service")
	}
	same := *set
	same.Services = set.Services.Splice(0, 1, set.Services.At(0).DeepCopy()) // equal content: the same input
	if _, ok := memo.Routes(&same, gws, nil); !ok {
		t.Error("the memo refused an equal copy of a Service")
	}
	withPod := *set
	withPod.Pods = plist.Of(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}})
	if _, ok := memo.Routes(&withPod, gws, nil); !ok {
		t.Error("the memo refused a Pod, which Gateways do not read")
	}
	_, memo = TranslateMemo(set, Options{})
	if _, ok := memo.Routes(set, []types.NamespacedName{{Namespace: "default", Name: "absent"}}, nil); !ok {
		t.Error("a Gateway that does not exist needs no translation")
	}
	sub := &Memo{set: set, gateways: map[nsName]*gatewayMemo{}}
	if _, ok := sub.Routes(set, gws, nil); ok {
		t.Error("an incomplete memo took a Gateway it does not hold")
	}
}

func memoSlice(svc, addr string) *discoveryv1.EndpointSlice {
	port, name := int32(80), "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}}},
	}
}

// TestMemoAfterEndpoints: after an EndpointSlice change refreshed the
// proxies, the memo takes the refresh and a route change then gives what a
// full translation gives (the new route's cluster with the new endpoints).
func TestMemoAfterEndpoints(t *testing.T) {
	set := memoWorld()
	set.EndpointSlices = plist.Of(memoSlice("svc-0", "10.0.0.1"), memoSlice("svc-2", "10.0.2.1"))
	before, memo := TranslateMemo(set, Options{})
	eps := *set
	eps.EndpointSlices = plist.Of(memoSlice("svc-0", "10.0.0.9"), memoSlice("svc-2", "10.0.2.9"))
	fresh := RefreshServiceEndpoints(&eps, before.Proxies, []types.NamespacedName{{Namespace: "default", Name: "svc-0"}, {Namespace: "default", Name: "svc-2"}})
	if memo = memo.Endpoints(&eps, fresh); memo == nil {
		t.Fatal("the memo did not take an endpoint refresh")
	}
	next := eps
	old := eps.HTTPRoutes.At(3)
	next.HTTPRoutes = eps.HTTPRoutes.Splice(3, 4, memoRoute(3, "r3.example.com", "/x", "svc-2"))
	up, ok := memo.Routes(&next, []types.NamespacedName{{Namespace: "default", Name: "gw"}}, []RouteChange{{Old: old, New: next.HTTPRoutes.At(3)}})
	if !ok {
		t.Fatal("the memo declined a route change after the refresh")
	}
	if got, want := jsonOf(t, up.Proxies), jsonOf(t, Translate(&next, Options{}).Proxies); got != want {
		t.Fatalf("proxy\n got %s\nwant %s", got, want)
	}
	svc := eps
	port81 := eps.Services.At(1).DeepCopy()
	port81.Spec.Ports[0].Port = 81
	svc.Services = eps.Services.Splice(1, 2, port81)
	memo = memo.Endpoints(&svc, fresh) // recorded, applied on the next use
	later := svc
	old = svc.HTTPRoutes.At(3)
	later.HTTPRoutes = svc.HTTPRoutes.Splice(3, 4, memoRoute(3, "r3.example.com", "/y", "svc-2"))
	if _, ok := memo.Routes(&later, []types.NamespacedName{{Namespace: "default", Name: "gw"}}, []RouteChange{{Old: old, New: later.HTTPRoutes.At(3)}}); ok {
		t.Error("the memo took a Service change as an endpoint refresh")
	}
}

// TestSpliceEqualsDeleteInsert checks splice, the one-pass edit of a route
// table's virtual hosts, against deleting and inserting one host at a
// time: hosts dropped and added at the start, the end, the same position,
// and a host replaced by one of its name, in lists of one chunk and of
// several.
func TestSpliceEqualsDeleteInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	byName := func(v *ir.VirtualHost, n string) int { return cmp.Compare(v.Name, n) }
	for step := range 500 {
		var old []*ir.VirtualHost
		for i := range []int{rng.IntN(12), rng.IntN(700)}[step%2] {
			old = append(old, &ir.VirtualHost{Name: fmt.Sprintf("h%05d", 10*i)})
		}
		var drops []int
		for i := range old {
			if rng.IntN(4) == 0 {
				drops = append(drops, i)
			}
		}
		want := slices.Clone(old)
		for _, i := range slices.Backward(drops) {
			want = slices.Delete(want, i, i+1)
		}
		var adds []hostAt
		taken := map[string]bool{}
		for _, v := range want {
			taken[v.Name] = true
		}
		for range rng.IntN(4) {
			vh := &ir.VirtualHost{Name: fmt.Sprintf("h%05d", rng.IntN(10*len(old)+10))}
			if taken[vh.Name] {
				continue
			}
			taken[vh.Name] = true
			at, _ := slices.BinarySearchFunc(old, vh.Name, byName)
			adds = append(adds, hostAt{at: at, vh: vh})
			i, _ := slices.BinarySearchFunc(want, vh.Name, byName)
			want = slices.Insert(want, i, vh)
		}
		rng.Shuffle(len(drops), func(i, j int) { drops[i], drops[j] = drops[j], drops[i] })
		list := plist.Of(old...)
		if got := splice(list, drops, adds).Slice(); !slices.Equal(got, want) {
			t.Fatalf("step %d: splice gave %v, want %v", step, hostNames(got), hostNames(want))
		}
		if !slices.Equal(list.Slice(), old) {
			t.Fatalf("step %d: splice changed its input", step)
		}
	}
}

func hostNames(vhs []*ir.VirtualHost) []string {
	var out []string
	for _, v := range vhs {
		out = append(out, v.Name)
	}
	return out
}
