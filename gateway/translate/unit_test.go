package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

func TestIntersectHost(t *testing.T) {
	tests := []struct {
		name, listener, route, want string
	}{
		{name: "no listener hostname", listener: "", route: "a.example.com", want: "a.example.com"},
		{name: "equal", listener: "a.example.com", route: "a.example.com", want: "a.example.com"},
		{name: "different exact", listener: "a.example.com", route: "b.example.com", want: ""},
		{name: "wildcard listener, exact route", listener: "*.example.com", route: "a.example.com", want: "a.example.com"},
		{name: "wildcard listener, deep route", listener: "*.example.com", route: "a.b.example.com", want: "a.b.example.com"},
		{name: "wildcard listener, bare suffix", listener: "*.example.com", route: "example.com", want: ""},
		{name: "exact listener, wildcard route", listener: "a.example.com", route: "*.example.com", want: "a.example.com"},
		{name: "exact listener, unrelated wildcard", listener: "a.example.com", route: "*.other.com", want: ""},
		{name: "narrower route wildcard", listener: "*.example.com", route: "*.a.example.com", want: "*.a.example.com"},
		{name: "narrower listener wildcard", listener: "*.a.example.com", route: "*.example.com", want: "*.a.example.com"},
		{name: "disjoint wildcards", listener: "*.a.com", route: "*.b.com", want: ""},
		{name: "suffix is not a label", listener: "*.example.com", route: "badexample.com", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := intersectHost(tt.listener, tt.route); got != tt.want {
				t.Errorf("intersectHost(%q, %q) = %q, want %q", tt.listener, tt.route, got, tt.want)
			}
		})
	}
}

func TestCoveringHosts(t *testing.T) {
	tests := map[string][]string{
		"a.b.c":   {"a.b.c", "*.b.c", "*.c", "*"},
		"*.b.c":   {"*.b.c", "*.c", "*"},
		"*":       {"*"},
		"example": {"example", "*"},
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if diff := cmp.Diff(want, coveringHosts(in)); diff != "" {
				t.Error(diff)
			}
		})
	}
}

func TestEndpointHealth(t *testing.T) {
	tr, fa := ptr.To(true), ptr.To(false)
	tests := []struct {
		name   string
		c      discoveryv1.EndpointConditions
		want   ir.HealthStatus
		wantOK bool
	}{
		{name: "unset means ready", c: discoveryv1.EndpointConditions{}, want: ir.Healthy, wantOK: true},
		{name: "ready", c: discoveryv1.EndpointConditions{Ready: tr, Serving: tr}, want: ir.Healthy, wantOK: true},
		{name: "terminating but serving", c: discoveryv1.EndpointConditions{Ready: fa, Serving: tr, Terminating: tr}, want: ir.Draining, wantOK: true},
		{name: "terminating not serving", c: discoveryv1.EndpointConditions{Ready: fa, Serving: fa, Terminating: tr}, wantOK: false},
		{name: "not ready", c: discoveryv1.EndpointConditions{Ready: fa}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := endpointHealth(tt.c)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("endpointHealth = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCompileMatch(t *testing.T) {
	prefix, exact, regex := gwapiv1.PathMatchPathPrefix, gwapiv1.PathMatchExact, gwapiv1.PathMatchRegularExpression
	tests := []struct {
		name    string
		in      gwapiv1.HTTPRouteMatch
		want    ir.RouteMatch
		wantErr bool
	}{
		{name: "default", in: gwapiv1.HTTPRouteMatch{}, want: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}},
		{name: "prefix trailing slash", in: gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: ptr.To("/a/b/")}},
			want: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a/b"}},
		{name: "exact", in: gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &exact, Value: ptr.To("/x/")}},
			want: ir.RouteMatch{PathType: ir.PathExact, Path: "/x/"}},
		{name: "regex", in: gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &regex, Value: ptr.To("/v[0-9]+")}},
			want: ir.RouteMatch{PathType: ir.PathRegex, Path: "/v[0-9]+"}},
		{name: "bad regex", in: gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &regex, Value: ptr.To("(")}}, wantErr: true},
		{name: "relative path", in: gwapiv1.HTTPRouteMatch{Path: &gwapiv1.HTTPPathMatch{Type: &prefix, Value: ptr.To("a")}}, wantErr: true},
		{name: "duplicate header names keep the first", in: gwapiv1.HTTPRouteMatch{Headers: []gwapiv1.HTTPHeaderMatch{
			{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}}},
			want: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Headers: []ir.StringMatch{{Name: "X-A", Type: ir.MatchExact, Value: "1"}}}},
		{name: "method and query", in: gwapiv1.HTTPRouteMatch{Method: ptr.To(gwapiv1.HTTPMethodPut),
			QueryParams: []gwapiv1.HTTPQueryParamMatch{{Name: "q", Value: "1"}, {Name: "Q", Value: "2"}}},
			want: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Method: "PUT",
				Query: []ir.StringMatch{{Name: "q", Type: ir.MatchExact, Value: "1"}, {Name: "Q", Type: ir.MatchExact, Value: "2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, prob := compileMatch(&tt.in)
			if (prob != nil) != tt.wantErr {
				t.Fatalf("problem = %v, wantErr %v", prob, tt.wantErr)
			}
			if prob == nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Error(diff)
				}
			}
		})
	}
}

func TestCompareEntries(t *testing.T) {
	e := func(pt ir.PathMatchType, path, method string, headers, query int) *routeEntry {
		m := ir.RouteMatch{PathType: pt, Path: path, Method: method}
		for i := 0; i < headers; i++ {
			m.Headers = append(m.Headers, ir.StringMatch{Name: "h"})
		}
		for i := 0; i < query; i++ {
			m.Query = append(m.Query, ir.StringMatch{Name: "q"})
		}
		return &routeEntry{route: &ir.Route{Match: m}, ns: "ns", name: "r"}
	}
	tests := []struct {
		name          string
		first, second *routeEntry
	}{
		{name: "exact before prefix", first: e(ir.PathExact, "/a", "", 0, 0), second: e(ir.PathPrefix, "/a/b/c", "", 0, 0)},
		{name: "longer prefix first", first: e(ir.PathPrefix, "/a/b", "", 0, 0), second: e(ir.PathPrefix, "/a", "GET", 3, 3)},
		{name: "method first", first: e(ir.PathPrefix, "/a", "GET", 0, 0), second: e(ir.PathPrefix, "/a", "", 5, 5)},
		{name: "more headers first", first: e(ir.PathPrefix, "/a", "", 2, 0), second: e(ir.PathPrefix, "/a", "", 1, 9)},
		{name: "more query first", first: e(ir.PathPrefix, "/a", "", 1, 2), second: e(ir.PathPrefix, "/a", "", 1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := compareEntries(tt.first, tt.second); c >= 0 {
				t.Errorf("compare = %d, want < 0", c)
			}
			if c := compareEntries(tt.second, tt.first); c <= 0 {
				t.Errorf("reverse compare = %d, want > 0", c)
			}
		})
	}
}

// TestRefreshEndpoints: the EDS fast path gives the same endpoints as a full
// translation of the new Set, and leaves the old proxy alone.
func TestRefreshEndpoints(t *testing.T) {
	set := generateRoutes(20)
	old := Translate(set, Options{}).Proxies[0]
	oldFirst := old.Clusters.At(0).Endpoints[0]

	changed := *set
	changed.EndpointSlices = plist.List[*discoveryv1.EndpointSlice]{}
	for i, es := range set.EndpointSlices.All() {
		c := es.DeepCopy()
		if i == 0 {
			c.Endpoints = c.Endpoints[:1]
			c.Endpoints[0].Addresses = []string{"192.0.2.1"}
		}
		changed.EndpointSlices = changed.EndpointSlices.Append(c)
	}
	got := RefreshEndpoints(&changed, old)
	want := Translate(&changed, Options{}).Proxies[0]
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RefreshEndpoints differs from a full translation (-want +got):\n%s", diff)
	}
	if old.Clusters.At(0).Endpoints[0] != oldFirst {
		t.Error("RefreshEndpoints modified its input proxy")
	}
	if RefreshEndpoints(&resource.Set{}, nil) != nil {
		t.Error("RefreshEndpoints(nil) should be nil")
	}
}

// TestRefreshAllEndpoints: proxies whose endpoints did not change come back
// as the same pointer; the others as RefreshEndpoints gives them.
func TestRefreshAllEndpoints(t *testing.T) {
	set := generateRoutes(20)
	a := Translate(set, Options{}).Proxies[0]
	es0 := set.EndpointSlices.At(0)
	svc0 := es0.Namespace + "/" + es0.Labels[discoveryv1.LabelServiceName] + "/"
	b := *a // a proxy without the changed slice's Service
	b.Name += "-b"
	b.Clusters = a.Clusters.Filter(func(c *ir.Cluster) bool { return !strings.HasPrefix(c.Name, svc0) })
	if b.Clusters.Len() == a.Clusters.Len() || b.Clusters.Len() == 0 {
		t.Fatalf("no cluster of %s among %d", svc0, a.Clusters.Len())
	}
	changed := *set
	first := set.EndpointSlices.At(0).DeepCopy()
	first.Endpoints[0].Addresses = []string{"192.0.2.1"}
	changed.EndpointSlices = set.EndpointSlices.Splice(0, 1, first)

	same := RefreshAllEndpoints(set, []*ir.Proxy{a, &b})
	if same[0] != a || same[1] != &b {
		t.Error("unchanged endpoints gave new proxies")
	}
	got := RefreshAllEndpoints(&changed, []*ir.Proxy{a, &b})
	if got[1] != &b {
		t.Error("a proxy without the changed Service was refreshed")
	}
	if diff := cmp.Diff(RefreshEndpoints(&changed, a), got[0]); got[0] == a || diff != "" {
		t.Errorf("the proxy with the changed Service: same pointer %v, diff from RefreshEndpoints:\n%s", got[0] == a, diff)
	}
}

func TestTranslateEmpty(t *testing.T) {
	for _, set := range []*resource.Set{nil, {}} {
		res := Translate(set, Options{})
		if res == nil || res.Status == nil || len(res.Proxies) != 0 {
			t.Errorf("Translate(%v) = %+v, want an empty result", set, res)
		}
	}
}

func TestCompareJoined(t *testing.T) {
	tests := []struct {
		a1, a2, b1, b2 string
	}{
		{"a", "x", "b", "a"},
		{"a-b", "x", "a", "x"}, // "a-b/x" < "a/x": '-' sorts before '/'
		{"a", "b", "a", "c"},
		{"a", "b", "a", "bb"},
		{"ab", "c", "a", "bc"}, // "ab/c" < "a/bc" is false: 'b' > '/'
	}
	for _, tt := range tests {
		want := strings.Compare(tt.a1+"/"+tt.a2, tt.b1+"/"+tt.b2)
		if got := compareJoined(tt.a1, tt.a2, tt.b1, tt.b2); got != want {
			t.Errorf("compareJoined(%q,%q,%q,%q) = %d, want %d", tt.a1, tt.a2, tt.b1, tt.b2, got, want)
		}
		if got := compareJoined(tt.b1, tt.b2, tt.a1, tt.a2); got != -want {
			t.Errorf("reverse of %v = %d, want %d", tt, got, -want)
		}
	}
	if compareJoined("a", "b", "a", "b") != 0 {
		t.Error("equal names compare non-zero")
	}
}

// TestScopedRefreshSharesClusterList: refreshing one Service's endpoints
// replaces its cluster in the proxy's persistent cluster list and shares
// every other chunk, so an endpoint change does not copy a list of every
// cluster; the result equals a full refresh.
func TestScopedRefreshSharesClusterList(t *testing.T) {
	set := generateRoutes(200)
	p := Translate(set, Options{}).Proxies[0]
	// Clusters of other proxies' kinds after the Services' (sorted by name)
	// make the list long enough for several chunks.
	for i := range 1000 {
		p.Clusters = p.Clusters.Append(&ir.Cluster{Name: fmt.Sprintf("zz-other/pad-%04d/80", i)})
	}
	if n := len(p.Clusters.Chunks()); n < 3 {
		t.Fatalf("%d clusters in %d chunks: too few to tell a copy from a splice", p.Clusters.Len(), n)
	}
	changed := *set
	es := set.EndpointSlices.At(set.EndpointSlices.Len() / 2).DeepCopy()
	es.Endpoints[0].Addresses = []string{"192.0.2.1"}
	changed.EndpointSlices = set.EndpointSlices.Splice(set.EndpointSlices.Len()/2, set.EndpointSlices.Len()/2+1, es)
	svc := types.NamespacedName{Namespace: es.Namespace, Name: es.Labels[discoveryv1.LabelServiceName]}
	got := RefreshServiceEndpoints(&changed, []*ir.Proxy{p}, []types.NamespacedName{svc})[0]
	if got == p {
		t.Fatal("the changed Service's proxy was not refreshed")
	}
	before, after := p.Clusters.Chunks(), got.Clusters.Chunks()
	shared := 0
	for i := range min(len(before), len(after)) {
		if len(before[i]) > 0 && len(after[i]) > 0 && &before[i][0] == &after[i][0] {
			shared++
		}
	}
	if shared < len(before)-2 {
		t.Errorf("the refresh shares %d of %d chunks of the cluster list, want all but the changed one", shared, len(before))
	}
	if diff := cmp.Diff(RefreshEndpoints(&changed, p), got); diff != "" {
		t.Errorf("scoped refresh differs from a full one:\n%s", diff)
	}
}
