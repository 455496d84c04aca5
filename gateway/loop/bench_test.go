package loop

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/cache"
)

// benchWorld is n HTTPRoutes spread over gateways Gateways (one HTTP
// listener each), one hostname and one PathPrefix rule per route, backed by
// n/10 Services (at least one) with one EndpointSlice of two addresses each.
func benchWorld(n, gateways int) *resource.Set {
	set := &resource.Set{GatewayClasses: plist.Of(
		&gwapiv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: "gantry"},
			Spec:       gwapiv1.GatewayClassSpec{ControllerName: translate.DefaultControllerName},
		},
	)}
	for g := range gateways {
		set.Gateways = set.Gateways.Append(&gwapiv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "gw-" + strconv.Itoa(g), Namespace: "default"},
			Spec: gwapiv1.GatewaySpec{GatewayClassName: "gantry", Listeners: []gwapiv1.Listener{
				{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
			}},
		})
	}
	services := max(n/10, 1)
	svcs, eps := make([]*corev1.Service, services), make([]*discoveryv1.EndpointSlice, services)
	for s := range services {
		svcs[s], eps[s] = benchService(s), benchSlice(s, 1)
	}
	routes := make([]*gwapiv1.HTTPRoute, n)
	for i := range n {
		routes[i] = benchRoute(i, i%gateways, i%services, "/p")
	}
	set.Services, set.EndpointSlices, set.HTTPRoutes = plist.Of(svcs...), plist.Of(eps...), plist.Of(routes...)
	return set
}

func benchService(s int) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-" + strconv.Itoa(s), Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)}}},
	}
}

func benchSlice(s, gen int) *discoveryv1.EndpointSlice {
	port, name := int32(8080), "http"
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-" + strconv.Itoa(s) + "-1", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "svc-" + strconv.Itoa(s)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{fmt.Sprintf("10.%d.%d.1", s/250, s%250)}},
			{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", s/250, s%250, 2+gen%250)}},
		},
	}
}

func benchRoute(i, gw, svc int, prefix string) *gwapiv1.HTTPRoute {
	pt := gwapiv1.PathMatchPathPrefix
	port := gwapiv1.PortNumber(8080)
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "r-" + strconv.Itoa(i), Namespace: "default", Generation: 1},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: gwapiv1.ObjectName("gw-" + strconv.Itoa(gw))}}},
			Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname("r-" + strconv.Itoa(i) + ".example.com")},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches:     []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: &pt, Value: &prefix}}},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: gwapiv1.ObjectName("svc-" + strconv.Itoa(svc)), Port: &port}}}},
			}},
		},
	}
}

// withRoute returns set with route i replaced (a new object, as a provider
// hands over); the other objects are shared.
func withRoute(set *resource.Set, i int, r *gwapiv1.HTTPRoute) *resource.Set {
	out := *set
	out.HTTPRoutes = set.HTTPRoutes.Splice(i, i+1, r)
	return &out
}

func withSlice(set *resource.Set, s int, es *discoveryv1.EndpointSlice) *resource.Set {
	out := *set
	out.EndpointSlices = set.EndpointSlices.Splice(s, s+1, es)
	return &out
}

type benchShape struct{ routes, gateways int }

// services is how many Services the world of the shape has.
func (sh benchShape) services() int { return max(sh.routes/10, 1) }

var benchShapes = []benchShape{{1000, 1}, {10000, 1}, {30000, 1}, {10000, 100}, {30000, 300}}

func benchLoop(b *testing.B, set *resource.Set) *Loop {
	l := New(Options{Cache: cache.New(cache.Options{}), ControllerName: translate.DefaultControllerName})
	l.process(context.Background(), Event{Set: set, Initial: true, ChangedAt: time.Now()})
	if v := l.State(); v.Result == nil || len(v.Result.Proxies) == 0 {
		b.Fatal("no proxy after the first batch")
	}
	return l
}

// BenchmarkRouteChange is the loop's work (translation, build, snapshot)
// for one changed HTTPRoute: one op is one batch.
func BenchmarkRouteChange(b *testing.B) { benchChanges(b, routeChange) }

// routeChange replaces the n-th route (modulo the routes) with one of a
// new path.
func routeChange(set *resource.Set, n int, sh benchShape) Event {
	i := n % sh.routes
	set = withRoute(set, i, benchRoute(i, i%sh.gateways, i%sh.services(), "/p"+strconv.Itoa(n)))
	return Event{Set: set, ChangedAt: time.Now()}
}

// BenchmarkTranslateRouteChange is the loop's translate stage alone
// ((*Loop).translate: the diff, the scope, the Gateways' translation and
// the merge of statuses, mesh included) for one changed HTTPRoute among n
// on one Gateway; no build, no cache. One op is one batch.
//
// hosts=1 gives every route the same hostname (and a path of its own), so
// that one virtual host holds every route and precedence orders them all.
func BenchmarkTranslateRouteChange(b *testing.B) {
	for _, oneHost := range []bool{false, true} {
		for _, n := range []int{1000, 10000, 30000} {
			name := fmt.Sprintf("routes=%d", n)
			if oneHost {
				name += "/hosts=1"
			}
			b.Run(name, func(b *testing.B) { benchTranslate(b, n, oneHost) })
		}
	}
}

func benchTranslate(b *testing.B, n int, oneHost bool) {
	sh := benchShape{routes: n, gateways: 1}
	route := func(i int, prefix string) *gwapiv1.HTTPRoute {
		r := benchRoute(i, 0, i%sh.services(), prefix)
		if oneHost {
			r.Spec.Hostnames = []gwapiv1.Hostname{"example.com"}
			r.Spec.Rules[0].Matches[0].Path.Value = ptrTo("/r" + strconv.Itoa(i) + prefix)
		}
		return r
	}
	set := benchWorld(n, 1)
	routes := make([]*gwapiv1.HTTPRoute, set.HTTPRoutes.Len())
	for i := range routes {
		routes[i] = route(i, "/p")
	}
	set.HTTPRoutes = plist.Of(routes...)
	l := benchLoop(b, set)
	b.ReportAllocs()
	defer benchcpu.Report(b)()
	i := 0
	for b.Loop() {
		i++
		set = withRoute(set, i%n, route(i%n, "/p"+strconv.Itoa(i)))
		if l.translate(set) == nil {
			b.Fatal("no result")
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// BenchmarkEndpointChange is the loop's work for one changed EndpointSlice
// (one address replaced): the endpoint fast path.
func BenchmarkEndpointChange(b *testing.B) {
	benchChanges(b, func(set *resource.Set, n int, sh benchShape) Event {
		s := n % sh.services()
		set = withSlice(set, s, benchSlice(s, n))
		return Event{Set: set, EndpointsOnly: true, ChangedAt: time.Now()}
	})
}

// benchChanges runs one sub-benchmark per shape; each op is the batch of
// the event that change makes from the previous op's Set.
func benchChanges(b *testing.B, change func(set *resource.Set, n int, sh benchShape) Event) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("routes=%d/gateways=%d", sh.routes, sh.gateways), func(b *testing.B) {
			set := benchWorld(sh.routes, sh.gateways)
			l := benchLoop(b, set)
			b.ReportAllocs()
			defer benchcpu.Report(b)()
			n := 0
			for b.Loop() {
				n++
				ev := change(set, n, sh)
				set = ev.Set
				l.process(context.Background(), ev)
			}
		})
	}
}

// BenchmarkHeapAfterChanges reports the live heap (after a full GC) once
// the first batch is served and again after 200 route changes: memory must
// follow the configuration, not the number of changes.
func BenchmarkHeapAfterChanges(b *testing.B) {
	for _, sh := range benchShapes[:2] {
		b.Run(fmt.Sprintf("routes=%d/gateways=%d", sh.routes, sh.gateways), func(b *testing.B) {
			for b.Loop() {
				set := benchWorld(sh.routes, sh.gateways)
				l := benchLoop(b, set)
				start := liveHeap()
				for n := range 200 {
					ev := routeChange(set, n, sh)
					set = ev.Set
					l.process(context.Background(), ev)
				}
				after := liveHeap()
				b.ReportMetric(start/1e6, "MB-start")
				b.ReportMetric(after/1e6, "MB-after-200")
				runtime.KeepAlive(l)
			}
		})
	}
}

func liveHeap() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}
