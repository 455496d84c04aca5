package loop

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/cache"
)

// TestScopedEqualsFull applies random sequences of changes (routes,
// Gateways, Services, EndpointSlices, namespaces, a re-read of every
// object) to one loop, and after every step compares what it publishes and
// what its cache serves with a new loop that translates the same Set in
// full: they must be byte-identical.
func TestScopedEqualsFull(t *testing.T) {
	seeds, steps := *equivSeeds, 40
	if testing.Short() {
		seeds = 8
	}
	paths := map[string]int{}
	defer func() {
		t.Logf("Gateway translations by path: %v", paths)
		// The route memo must take a good share of the route changes
		// (not those of worlds with AuthorizationPolicies, or of Gateways
		// with both HTTPRoutes and GRPCRoutes), or the test does not
		// exercise it.
		if !t.Failed() && 2*paths[pathMemo] < paths[pathSub] {
			t.Errorf("the route memo took %d batches, the sub-Set translation %d: the memo is not exercised", paths[pathMemo], paths[pathSub])
		}
	}()
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 14))
			w := newRandWorld(r)
			// A third of the runs hold AuthorizationPolicies on the
			// Gateways' listeners and a Service (their status follows
			// Gateways that come, go and change listeners).
			w.policies = seed%3 == 0
			inc := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
			// Half the runs with a mesh client connected in ns-a, half
			// without any.
			meshKey := cache.Key{Group: "mesh/ns-a", Flavor: cache.FlavorGRPC}
			withMesh := seed%2 == 0
			if withMesh {
				inc.addKey(meshKey)
			}
			inc.process(context.Background(), Event{Set: w.set(), Initial: true, ChangedAt: time.Now()})
			last := ""
			for step := range steps {
				what, endpointsOnly := w.mutate(r)
				set := w.set()
				inc.process(context.Background(), Event{Set: set, EndpointsOnly: endpointsOnly, ChangedAt: time.Now()})
				if paths[inc.pieces.path]++; inc.pieces.path == pathMemo && last == pathEnds {
					paths["memo after endpoints"]++
				}
				last = inc.pieces.path
				full := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
				if withMesh {
					full.addKey(meshKey)
				}
				full.process(context.Background(), Event{Set: set, Initial: true, ChangedAt: time.Now()})
				if diff := compareLoops(inc, full); diff != "" {
					t.Fatalf("step %d (%s): scoped and full translation differ: %s", step, what, diff)
				}
			}
		})
	}
}

// equivSeeds is how many random sequences TestScopedEqualsFull runs
// (go test -run TestScopedEqualsFull ./gateway/loop/ -args -equiv.seeds 2000).
var equivSeeds = flag.Int("equiv.seeds", 200, "random sequences of TestScopedEqualsFull")

// compareLoops returns "" when both loops publish the same result and
// serve the same resources under the same versions.
func compareLoops(a, b *Loop) string {
	ja, _ := json.Marshal(a.State().Result)
	jb, _ := json.Marshal(b.State().Result)
	if string(ja) != string(jb) {
		i := 0
		for i < len(ja) && i < len(jb) && ja[i] == jb[i] {
			i++
		}
		from := max(i-400, 0)
		return fmt.Sprintf("result, from byte %d\nscoped: %s\nfull:   %s", from, ja[from:min(i+300, len(ja))], jb[from:min(i+300, len(jb))])
	}
	ka, kb := a.opts.Cache.Keys(), b.opts.Cache.Keys()
	if !slices.Equal(ka, kb) {
		return fmt.Sprintf("keys %v != %v", ka, kb)
	}
	for _, k := range ka {
		for _, typ := range cache.TypeOrder {
			ra, va := a.opts.Cache.Resources(k, typ)
			rb, vb := b.opts.Cache.Resources(k, typ)
			if va != vb || len(ra) != len(rb) {
				return fmt.Sprintf("%v %s: version %s (%d) != %s (%d)", k, typ, va, len(ra), vb, len(rb))
			}
			for i := range ra {
				if ra[i].Name != rb[i].Name || ra[i].Hash != rb[i].Hash {
					return fmt.Sprintf("%v %s: %s/%s != %s/%s", k, typ, ra[i].Name, ra[i].Hash, rb[i].Name, rb[i].Hash)
				}
			}
		}
	}
	return ""
}

// randWorld is a small world of two namespaces, three Gateways (one in
// each namespace and one of a class of another controller), routes of
// every kind the mesh reads with Gateway and Service parents, Services and
// EndpointSlices.
type randWorld struct {
	gateways  map[string]*gwapiv1.Gateway
	http      map[string]*gwapiv1.HTTPRoute
	grpc      map[string]*gwapiv1.GRPCRoute
	services  map[string]*corev1.Service
	slices    map[string]*discoveryv1.EndpointSlice
	ns        []string
	next, gen int
	policies  bool
	// grant lets routes of ns-a reference Services of ns-b.
	grant bool
}

var randNS = []string{"ns-a", "ns-b"}

func newRandWorld(r *rand.Rand) *randWorld {
	w := &randWorld{gateways: map[string]*gwapiv1.Gateway{}, http: map[string]*gwapiv1.HTTPRoute{}, grpc: map[string]*gwapiv1.GRPCRoute{},
		services: map[string]*corev1.Service{}, slices: map[string]*discoveryv1.EndpointSlice{}, ns: []string{"ns-a"}}
	for i := range 3 {
		w.putGateway(r, i)
	}
	for i := range 3 {
		w.putService(r, i)
	}
	w.putService(r, 4) // named by few routes: its cluster is often made anew
	for range 14 {
		w.putHTTP(r, "")
	}
	for range 3 {
		w.putGRPC(r, "")
	}
	return w
}

func (w *randWorld) set() *resource.Set {
	s := &resource.Set{GatewayClasses: plist.Of(
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: translate.DefaultControllerName}},
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: "example.com/other"}},
	)}
	s.Gateways = plist.Of(values(w.gateways)...)
	s.HTTPRoutes = plist.Of(values(w.http)...)
	s.GRPCRoutes = plist.Of(values(w.grpc)...)
	s.Services = plist.Of(values(w.services)...)
	s.EndpointSlices = plist.Of(values(w.slices)...)
	for _, n := range w.ns {
		s.Namespaces = s.Namespaces.Append(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	if w.policies {
		s.AuthorizationPolicies = plist.Of(randPolicies()...)
	}
	if w.grant {
		s.ReferenceGrants = plist.Of(&gwapiv1beta1.ReferenceGrant{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns-b", Name: "from-a"},
			Spec: gwapiv1beta1.ReferenceGrantSpec{
				From: []gwapiv1beta1.ReferenceGrantFrom{{Group: gwapiv1.GroupName, Kind: "HTTPRoute", Namespace: "ns-a"}},
				To:   []gwapiv1beta1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
			},
		})
	}
	return s
}

// randPolicies target gw-0's listener "all" (present in some worlds only),
// gw-1 as a whole and Service svc-0, and add a namespace default in ns-a.
func randPolicies() []*securityv1alpha1.AuthorizationPolicy {
	section := gwapiv1.SectionName("all")
	cidr := "10.0.0.0/8"
	rule := []securityv1alpha1.AuthorizationRule{{Sources: []securityv1alpha1.AuthorizationSource{{Type: securityv1alpha1.SourceCIDR, CIDR: &cidr}}}}
	ref := func(kind, name string, section *gwapiv1.SectionName) []gwapiv1.LocalPolicyTargetReferenceWithSectionName {
		group := gwapiv1.Group(gwapiv1.GroupName)
		if kind == "Service" {
			group = ""
		}
		return []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
			Group: group, Kind: gwapiv1.Kind(kind), Name: gwapiv1.ObjectName(name)}, SectionName: section}}
	}
	policy := func(ns, name string, refs []gwapiv1.LocalPolicyTargetReferenceWithSectionName) *securityv1alpha1.AuthorizationPolicy {
		return &securityv1alpha1.AuthorizationPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: securityv1alpha1.AuthorizationPolicySpec{Action: securityv1alpha1.ActionAllow, TargetRefs: refs, Rules: rule}}
	}
	return []*securityv1alpha1.AuthorizationPolicy{
		policy("ns-a", "gw-0-all", ref("Gateway", "gw-0", &section)),
		policy("ns-b", "gw-1", ref("Gateway", "gw-1", nil)),
		policy("ns-a", "svc-0", ref("Service", "svc-0", nil)),
		policy("ns-a", "default", nil),
	}
}

// values lists a map's values in key order.
func values[T any](m map[string]T) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func pick[T any](r *rand.Rand, m map[string]T) (string, bool) {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	if len(keys) == 0 {
		return "", false
	}
	return keys[r.IntN(len(keys))], true
}

// mutate applies one or two random changes and says what they were and
// whether only EndpointSlices changed.
func (w *randWorld) mutate(r *rand.Rand) (string, bool) {
	n := 1 + r.IntN(2)
	var whats []string
	onlySlices := true
	for range n {
		what := w.mutateOne(r)
		whats = append(whats, what)
		onlySlices = onlySlices && what == "slice"
	}
	return fmt.Sprint(whats), onlySlices
}

func (w *randWorld) mutateOne(r *rand.Rand) string {
	w.gen++
	switch op := r.IntN(28); {
	case op >= 24: // endpoints, then often a route: the memo after an endpoint refresh
		w.putSlice(r, []string{"svc-4", "svc-0"}[r.IntN(2)])
		return "slice"
	case op >= 20 && op < 23:
		k, _ := pick(r, w.http)
		w.putHTTP(r, k)
		return "http route " + k
	case op == 23:
		w.grant = !w.grant
		return "reference grant"
	case op < 6:
		k, _ := pick(r, w.http)
		w.putHTTP(r, k)
		return "http route " + k
	case op < 8:
		w.putHTTP(r, "")
		return "new http route"
	case op < 9:
		if k, ok := pick(r, w.http); ok {
			delete(w.http, k)
		}
		return "http route removed"
	case op < 11:
		k, _ := pick(r, w.grpc)
		w.putGRPC(r, k)
		return "grpc route " + k
	case op < 13:
		i := r.IntN(4)
		if _, ok := w.gateways["gw-"+strconv.Itoa(i)]; ok && r.IntN(3) == 0 {
			delete(w.gateways, "gw-"+strconv.Itoa(i))
			return "gateway removed"
		}
		w.putGateway(r, i)
		return "gateway " + strconv.Itoa(i)
	case op < 15:
		k, _ := pick(r, w.slices)
		w.putSlice(r, k)
		return "slice"
	case op < 16:
		return w.moveSlice(r)
	case op < 17:
		w.putService(r, r.IntN(4))
		return "service"
	case op < 18:
		if len(w.ns) == 1 {
			w.ns = append(w.ns, "ns-b")
		} else {
			w.ns = w.ns[:1]
		}
		return "namespace"
	default:
		w.reread()
		return "re-read"
	}
}

func (w *randWorld) putGateway(r *rand.Rand, i int) {
	ns := randNS[i%2]
	class := "gantry"
	if i == 2 {
		class = "other"
	}
	ls := []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}
	if r.IntN(2) == 0 {
		h := gwapiv1.Hostname(fmt.Sprintf("*.h%d.example.com", r.IntN(2)))
		ls[0].Hostname = &h
	}
	if r.IntN(2) == 0 {
		from := gwapiv1.NamespacesFromAll
		ls = append(ls, gwapiv1.Listener{Name: "all", Port: 8080, Protocol: gwapiv1.HTTPProtocolType,
			AllowedRoutes: &gwapiv1.AllowedRoutes{Namespaces: &gwapiv1.RouteNamespaces{From: &from}}})
	}
	name := "gw-" + strconv.Itoa(i)
	w.gateways[name] = &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: int64(w.gen)},
		Spec:       gwapiv1.GatewaySpec{GatewayClassName: gwapiv1.ObjectName(class), Listeners: ls},
	}
}

func (w *randWorld) putService(r *rand.Rand, i int) {
	name := "svc-" + strconv.Itoa(i)
	ns := randNS[i%2]
	port := int32(8080 + r.IntN(2))
	w.services[name] = &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.96.0.%d", 10+i),
			Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromInt32(9000)}}},
	}
	w.putSlice(r, name)
}

func (w *randWorld) putSlice(r *rand.Rand, svc string) {
	s := w.services[svc]
	if s == nil {
		return
	}
	port, pname := int32(9000), "http"
	var eps []discoveryv1.Endpoint
	for range 1 + r.IntN(3) {
		ready := r.IntN(4) != 0
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.1.%d.%d", r.IntN(2), 1+r.IntN(4))},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	w.slices[svc] = &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: s.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port}},
		Endpoints:   eps,
	}
}

// moveSlice removes a Service's EndpointSlice, or gives it the label of
// another Service (of its namespace or not): the endpoint fast path must
// refresh both the Service it left and the one it joined.
func (w *randWorld) moveSlice(r *rand.Rand) string {
	k, ok := pick(r, w.slices)
	if !ok {
		return "slice"
	}
	if r.IntN(2) == 0 {
		delete(w.slices, k)
		return "slice"
	}
	es := w.slices[k].DeepCopy()
	es.Labels[discoveryv1.LabelServiceName] = "svc-" + strconv.Itoa(r.IntN(4))
	w.slices[k] = es
	return "slice"
}

// parents picks one to three parentRefs: Gateways (one that does not
// exist, one in the other namespace, one of another class, with and
// without a section) and Services.
func (w *randWorld) parents(r *rand.Rand, grpc bool) []gwapiv1.ParentReference {
	var out []gwapiv1.ParentReference
	for range 1 + r.IntN(3) {
		var ref gwapiv1.ParentReference
		switch r.IntN(7) {
		case 0, 1:
			ref = gwapiv1.ParentReference{Name: gwapiv1.ObjectName("gw-" + strconv.Itoa(r.IntN(3)))}
		case 6: // gw-3 (in ns-b) takes HTTPRoutes only
			if grpc {
				continue
			}
			ns := gwapiv1.Namespace("ns-b")
			ref = gwapiv1.ParentReference{Name: "gw-3", Namespace: &ns}
		case 2:
			ns := gwapiv1.Namespace(randNS[r.IntN(2)])
			ref = gwapiv1.ParentReference{Name: "gw-1", Namespace: &ns}
		case 3:
			sec := gwapiv1.SectionName([]string{"http", "all"}[r.IntN(2)])
			ref = gwapiv1.ParentReference{Name: "gw-0", SectionName: &sec}
		default:
			group, kind := gwapiv1.Group(""), gwapiv1.Kind("Service")
			ns := gwapiv1.Namespace(randNS[r.IntN(2)])
			ref = gwapiv1.ParentReference{Group: &group, Kind: &kind, Name: gwapiv1.ObjectName("svc-" + strconv.Itoa(r.IntN(4))), Namespace: &ns}
		}
		if !slices.ContainsFunc(out, func(o gwapiv1.ParentReference) bool { return reflect.DeepEqual(o, ref) }) {
			out = append(out, ref)
		}
	}
	return out
}

func (w *randWorld) backend(r *rand.Rand) gwapiv1.BackendObjectReference {
	port := gwapiv1.PortNumber(8080 + r.IntN(2))
	svc := r.IntN(4)
	if r.IntN(8) == 0 {
		svc = 4
	}
	return gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName("svc-" + strconv.Itoa(svc)), Port: &port}
}

func (w *randWorld) putHTTP(r *rand.Rand, name string) {
	if name == "" {
		w.next++
		name = "http-" + strconv.Itoa(w.next)
	}
	var hosts []gwapiv1.Hostname
	for range r.IntN(3) {
		h := gwapiv1.Hostname([]string{"a.h0.example.com", "b.h0.example.com", "*.h0.example.com", "a.h1.example.com", "*.example.com"}[r.IntN(5)])
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	var rules []gwapiv1.HTTPRouteRule
	for range 1 + r.IntN(2) {
		rules = append(rules, w.httpRule(r))
	}
	w.http[name] = &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: randNS[r.IntN(2)], Generation: int64(w.gen),
			CreationTimestamp: metav1.Unix(int64(r.IntN(3)), 0)},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: w.parents(r, false)},
			Hostnames:       hosts,
			Rules:           rules,
		},
	}
}

// httpRule is one rule of one or two matches (exact or prefix paths that
// overlap between routes, so precedence decides), a backend (missing,
// in the other namespace, with or without a ReferenceGrant) and, at
// times, a filter that is invalid with exact paths (the rule is dropped,
// the route rejected when no rule is left).
func (w *randWorld) httpRule(r *rand.Rand) gwapiv1.HTTPRouteRule {
	var rule gwapiv1.HTTPRouteRule
	for range 1 + r.IntN(2) {
		pt := []gwapiv1.PathMatchType{gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchExact}[r.IntN(2)]
		path := []string{"/", "/0", "/0/1", "/1"}[r.IntN(4)]
		rule.Matches = append(rule.Matches, gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &pt, Value: &path}})
	}
	be := w.backend(r)
	if r.IntN(4) == 0 {
		ns := gwapiv1.Namespace("ns-b")
		be.Namespace = &ns
	}
	rule.BackendRefs = []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: be}}}
	if r.IntN(6) == 0 {
		prefix := "/x"
		rule.Filters = []gwapiv1.HTTPRouteFilter{{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwapiv1.HTTPURLRewriteFilter{
			Path: &gwapiv1.HTTPPathModifier{Type: gwapiv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: &prefix}}}}
	}
	return rule
}

func (w *randWorld) putGRPC(r *rand.Rand, name string) {
	if name == "" {
		w.next++
		name = "grpc-" + strconv.Itoa(w.next)
	}
	svc := "pkg.S" + strconv.Itoa(r.IntN(2))
	w.grpc[name] = &gwapiv1.GRPCRoute{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: randNS[r.IntN(2)], Generation: int64(w.gen)},
		Spec: gwapiv1.GRPCRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: w.parents(r, true)},
			Rules: []gwapiv1.GRPCRouteRule{{
				Matches:     []gwapiv1.GRPCRouteMatch{{Method: &gwapiv1.GRPCMethodMatch{Service: &svc}}},
				BackendRefs: []gwapiv1.GRPCBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: w.backend(r)}}},
			}},
		},
	}
}

// reread replaces every object by an equal copy, as the file provider
// does when it reads the folder again.
func (w *randWorld) reread() {
	for k, v := range w.gateways {
		w.gateways[k] = v.DeepCopy()
	}
	for k, v := range w.http {
		w.http[k] = v.DeepCopy()
	}
	for k, v := range w.grpc {
		w.grpc[k] = v.DeepCopy()
	}
	for k, v := range w.services {
		w.services[k] = v.DeepCopy()
	}
	for k, v := range w.slices {
		w.slices[k] = v.DeepCopy()
	}
}
