package analyze

import (
	"bytes"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/mesh/inject"
	"github.com/gantryproxy/gantry/xds/ir"
)

func irRoute(name string, m ir.RouteMatch) *ir.Route {
	parts := strings.Split(name, "/") // ns/route/rule/i/match/j
	return &ir.Route{Name: name, Match: m, Metadata: map[string]string{
		"kind": "HTTPRoute", "namespace": parts[0], "name": parts[1], "rule": parts[3],
	}}
}

// The translator orders matches by Gateway API precedence, so a strictly
// covering earlier match does not come out of it for HTTPRoutes; the
// analyzer must still find one in any table it is given.
func TestShadowedByEarlierPrefix(t *testing.T) {
	routes := []*ir.Route{
		irRoute("default/a/rule/0/match/0", ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a"}),
		irRoute("default/a/rule/1/match/0", ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a/b", Method: "GET"}),
		irRoute("default/a/rule/2/match/0", ir.RouteMatch{PathType: ir.PathPrefix, Path: "/ab"}),
		irRoute("default/b/rule/0/match/0", ir.RouteMatch{PathType: ir.PathExact, Path: "/a",
			Headers: []ir.StringMatch{{Name: "X-Env", Type: ir.MatchExact, Value: "dev"}}}),
	}
	set := &resource.Set{}
	ctx := &Context{Set: set, Result: &translate.Result{Proxies: []*ir.Proxy{{
		Name:         "gateway/default/eg",
		RouteConfigs: []*ir.RouteConfig{{Name: "rc", VirtualHosts: plist.Of([]*ir.VirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: routes}}...)}},
	}}}}
	shadowAnalyzer{}.Run(ctx)
	var got []string
	for _, m := range ctx.messages {
		got = append(got, string(m.Code)+" "+m.ObjectName()+" "+m.Message)
	}
	want := []string{
		"GTY0301 default/a rules[1].matches[0] (Prefix /a/b, method GET) is shadowed by rules[0].matches[0] (Prefix /a), which comes first and matches every request it would",
		"GTY0301 default/b rules[0].matches[0] (Exact /a, header X-Env) is shadowed by rules[0].matches[0] of HTTPRoute default/a (Prefix /a), which comes first and matches every request it would",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCovers(t *testing.T) {
	h := func(n, v string) ir.StringMatch { return ir.StringMatch{Name: n, Type: ir.MatchExact, Value: v} }
	cases := []struct {
		e, l ir.RouteMatch
		want bool
	}{
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, ir.RouteMatch{PathType: ir.PathRegex, Path: "/x.*"}, false},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, ir.RouteMatch{PathType: ir.PathExact, Path: "/x"}, true},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a/"}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a"}, true},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a"}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/abc"}, false},
		{ir.RouteMatch{PathType: ir.PathExact, Path: "/a"}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a"}, false},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Method: "GET"}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/a"}, false},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Headers: []ir.StringMatch{h("x", "1")}}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Headers: []ir.StringMatch{h("X", "1"), h("y", "2")}}, true},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Query: []ir.StringMatch{h("x", "1")}}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", Query: []ir.StringMatch{h("X", "1")}}, false},
		{ir.RouteMatch{PathType: ir.PathPrefix, Path: "/", GRPC: true}, ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}, false},
	}
	for i, c := range cases {
		if got := covers(c.e, c.l); got != c.want {
			t.Errorf("case %d: covers(%+v, %+v) = %v, want %v", i, c.e, c.l, got, c.want)
		}
	}
}

func TestFilterAndSuppression(t *testing.T) {
	msgs := []Message{
		{Code: "GTY0301", Level: Warning, Kind: "HTTPRoute", Namespace: "default", Name: "legacy-a"},
		{Code: "GTY0301", Level: Warning, Kind: "HTTPRoute", Namespace: "default", Name: "web"},
		{Code: "GTY0102", Level: Error, Kind: "HTTPRoute", Namespace: "shop", Name: "cart"},
		{Code: "GTY0504", Level: Info, Kind: "GatewayClass", Name: "other"},
	}
	sup, err := ParseSuppression("GTY0301=HTTPRoute default/legacy-*")
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []Message) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ObjectName())
		}
		return strings.Join(s, ",")
	}
	if got := names(Filter{Suppressions: []Suppression{sup}}.Apply(msgs)); got != "default/web,shop/cart,other" {
		t.Errorf("suppression: got %s", got)
	}
	if got := names(Filter{Namespace: "shop"}.Apply(msgs)); got != "shop/cart,other" {
		t.Errorf("namespace: got %s", got)
	}
	if got := names(Filter{MinLevel: Warning}.Apply(msgs)); got != "default/legacy-a,default/web,shop/cart" {
		t.Errorf("threshold: got %s", got)
	}
	all, _ := ParseSuppression("*=GatewayClass other")
	if got := names(Filter{Suppressions: []Suppression{all}}.Apply(msgs)); got != "default/legacy-a,default/web,shop/cart" {
		t.Errorf("wildcard code: got %s", got)
	}
	for _, bad := range []string{"GTY0301", "GTY0301=HTTPRoute", "=HTTPRoute a/b", "GTY0301=HTTPRoute [a"} {
		if _, err := ParseSuppression(bad); err == nil {
			t.Errorf("ParseSuppression(%q) accepted", bad)
		}
	}
	if lvl, ok := MaxLevel(msgs); !ok || lvl != Error {
		t.Errorf("MaxLevel = %v %v", lvl, ok)
	}
}

func TestParseLevelAndFormat(t *testing.T) {
	for s, want := range map[string]Level{"info": Info, "Warning": Warning, "ERROR": Error} {
		if got, err := ParseLevel(s); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseLevel("fatal"); err == nil {
		t.Error("ParseLevel accepted fatal")
	}
	if _, err := ParseFormat("table"); err == nil {
		t.Error("ParseFormat accepted table")
	}
	var buf bytes.Buffer
	if err := Write(&buf, nil, FormatJSON); err != nil || buf.String() != "[]\n" {
		t.Errorf("empty json = %q, %v", buf.String(), err)
	}
	buf.Reset()
	if err := Write(&buf, nil, FormatLog); err != nil || buf.Len() != 0 {
		t.Errorf("empty log = %q, %v", buf.String(), err)
	}
}

func TestSelectUnknownAnalyzer(t *testing.T) {
	if _, err := Select([]string{"status", "nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Select: %v", err)
	}
	got, err := Select([]string{"status", "weights"})
	if err != nil || len(got) != 2 || got[0].Name() != "weights" {
		t.Errorf("Select keeps run order: %v %v", got, err)
	}
}

func TestOverlayFilesWin(t *testing.T) {
	svc := func(ns, name, sel string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": sel}}}
	}
	base := &resource.Set{Services: plist.Of(svc("default", "web", "cluster"), svc("default", "db", "cluster"))}
	top := &resource.Set{
		Services: plist.Of(svc("default", "web", "file")),
		Sources:  map[resource.Key]resource.Source{{Kind: "Service", Namespace: "default", Name: "web"}: {File: "web.yaml", Line: 1}},
	}
	got := Overlay(base, top)
	if got.Services.Len() != 2 {
		t.Fatalf("got %d services", got.Services.Len())
	}
	for s := range got.Services.Values() {
		want := map[string]string{"web": "file", "db": "cluster"}[s.Name]
		if s.Spec.Selector["app"] != want {
			t.Errorf("%s: selector %s, want %s", s.Name, s.Spec.Selector["app"], want)
		}
	}
	if src, ok := got.SourceOf(resource.Key{Kind: "Service", Namespace: "default", Name: "web"}); !ok || src.File != "web.yaml" {
		t.Errorf("source of the file's object: %v %v", src, ok)
	}
	if _, ok := got.SourceOf(resource.Key{Kind: "Service", Namespace: "default", Name: "db"}); ok {
		t.Error("cluster object got a source")
	}
	if base.Services.At(0).Spec.Selector["app"] != "cluster" || base.Services.Len() != 2 {
		t.Error("Overlay modified its input")
	}
}

func TestAnalyzeDeterministic(t *testing.T) {
	set := &resource.Set{Namespaces: plist.Of(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{inject.NamespaceLabel: inject.NamespaceEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{inject.NamespaceLabel: inject.NamespaceEnabled}}},
	), Pods: plist.Of(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "z"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "y"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "x"}},
	)}
	msgs, err := Analyze(set, Options{Now: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, m := range msgs {
		lines = append(lines, m.String())
	}
	want := "Warning [GTY0601] (Namespace a) 2 of 2 Pods have no gantry-proxy container: x, y\n" +
		"Warning [GTY0601] (Namespace b) 1 of 1 Pods have no gantry-proxy container: z"
	if got := strings.Join(lines, "\n"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A Service backendRef without a port cannot be loaded (the CRD's rule
// rejects it) but may exist in clusters with older CRDs; the analyzer must
// still name it.
func TestBackendPortMissing(t *testing.T) {
	route := &gwapiv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
	route.Spec.Rules = []gwapiv1.HTTPRouteRule{{BackendRefs: []gwapiv1.HTTPBackendRef{
		{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{Name: "web"}}},
	}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "metrics", Port: 9090}},
	}}
	set := &resource.Set{HTTPRoutes: plist.Of(route), Services: plist.Of(svc)}
	msgs, err := Analyze(set, Options{Analyzers: []string{"backend-ports"}, Now: goldenNow})
	if err != nil {
		t.Fatal(err)
	}
	want := "Error [GTY0403] (HTTPRoute default/web) rules[0].backendRefs[0]: Service default/web: port is required: the Service has several ports, so the target is ambiguous (ports: 80/http, 9090/metrics)"
	if len(msgs) != 1 || msgs[0].String() != want {
		t.Errorf("got %v\nwant %s", msgs, want)
	}
}

// A route with a wildcard hostname that loses one host to a more specific
// route still serves its other hosts: not reported. Lost everywhere: reported.
func TestShadowedOnlyWhenEverywhere(t *testing.T) {
	root := ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"}
	a := irRoute("default/a/rule/0/match/0", root)
	b := irRoute("default/b/rule/0/match/0", root)
	vhosts := func(second []*ir.Route) *translate.Result {
		return &translate.Result{Proxies: []*ir.Proxy{{Name: "gateway/default/eg", RouteConfigs: []*ir.RouteConfig{{
			Name: "rc",
			VirtualHosts: plist.Of([]*ir.VirtualHost{
				{Name: "foo.example.com", Domains: []string{"foo.example.com"}, Routes: []*ir.Route{a, b}},
				{Name: "wildcard", Domains: []string{"*.example.com"}, Routes: second},
			}...),
		}}}}}
	}
	for _, c := range []struct {
		name   string
		second []*ir.Route
		want   int
	}{
		{name: "serves the wildcard host", second: []*ir.Route{b}, want: 0},
		{name: "lost on both hosts", second: []*ir.Route{a, b}, want: 1},
	} {
		ctx := &Context{Set: &resource.Set{}, Result: vhosts(c.second)}
		shadowAnalyzer{}.Run(ctx)
		if len(ctx.messages) != c.want {
			t.Errorf("%s: %d messages, want %d: %v", c.name, len(ctx.messages), c.want, ctx.messages)
		}
	}
}

// TestEveryRouteKindFlattened fails when a route kind of resource's table
// has no case in flattenRoute: analyzers would not see its routes.
func TestEveryRouteKindFlattened(t *testing.T) {
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		set := &resource.Set{}
		k.Put(set, []any{k.Named("ns", "r")})
		got := flattenRoutes(set)
		if len(got) != 1 || got[0].key != key(k.Kind, "ns", "r") {
			t.Errorf("route kind %s: flattened to %+v; add its case to flattenRoute", k.Kind, got)
		}
	}
}
