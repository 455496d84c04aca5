package translate

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// These cases are rejected by the API server's validation (and by the YAML
// loader), so they cannot be golden files; translation must still defend
// itself when a provider hands it such objects.

func webRule(path string, filters ...gwapiv1.HTTPRouteFilter) gwapiv1.HTTPRouteRule {
	return gwapiv1.HTTPRouteRule{
		Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To(path)}}},
		Filters: filters,
		BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{
			BackendObjectReference: gwapiv1.BackendObjectReference{Name: "svc-0", Port: ptr.To(gwapiv1.PortNumber(8080))},
		}}},
	}
}

func extraRoute(name string, rules ...gwapiv1.HTTPRouteRule) *gwapiv1.HTTPRoute {
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Generation: 4},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: "gw"}}},
			Hostnames:       []gwapiv1.Hostname{"bad.example.com"},
			Rules:           rules,
		},
	}
}

func routeStatus(t *testing.T, rep *status.Report, name string) gwapiv1.RouteParentStatus {
	t.Helper()
	for _, r := range rep.Routes {
		if r.Name == name && len(r.Parents) == 1 {
			return r.Parents[0]
		}
	}
	t.Fatalf("no single-parent status for route %s", name)
	return gwapiv1.RouteParentStatus{}
}

func TestInvalidRulesAreIsolated(t *testing.T) {
	rewritePrefix := gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterURLRewrite, URLRewrite: &gwapiv1.HTTPURLRewriteFilter{
		Path: &gwapiv1.HTTPPathModifier{Type: gwapiv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr.To("/x")}}}
	redirect := gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwapiv1.HTTPRequestRedirectFilter{Hostname: ptr.To(gwapiv1.PreciseHostname("a.example.com"))}}
	exactRule := webRule("/e", rewritePrefix)
	exactRule.Matches[0].Path.Type = ptr.To(gwapiv1.PathMatchExact)
	longBackend := webRule("/t")
	longBackend.Timeouts = &gwapiv1.HTTPRouteTimeouts{Request: ptr.To(gwapiv1.Duration("1s")), BackendRequest: ptr.To(gwapiv1.Duration("5s"))}
	badDuration := webRule("/d")
	badDuration.Timeouts = &gwapiv1.HTTPRouteTimeouts{Request: ptr.To(gwapiv1.Duration("soon"))}
	badCode := webRule("/c", gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwapiv1.HTTPRequestRedirectFilter{StatusCode: ptr.To(418)}})
	ext := webRule("/ext", gwapiv1.HTTPRouteFilter{Type: gwapiv1.HTTPRouteFilterExternalAuth, ExternalAuth: &gwapiv1.HTTPExternalAuthFilter{}})
	noPort := webRule("/np")
	noPort.BackendRefs[0].Port = nil

	tests := []struct {
		name      string
		route     *gwapiv1.HTTPRoute
		condType  gwapiv1.RouteConditionType
		condOK    bool
		reason    gwapiv1.RouteConditionReason
		wantRoute bool // the route's valid part is programmed
	}{
		{name: "redirect with rewrite", route: extraRoute("r", webRule("/ok"), webRule("/both", redirect, rewritePrefix)),
			condType: gwapiv1.RouteConditionPartiallyInvalid, condOK: true, reason: gwapiv1.RouteReasonUnsupportedValue, wantRoute: true},
		{name: "only rule incompatible", route: extraRoute("r", webRule("/both", redirect, rewritePrefix)),
			condType: gwapiv1.RouteConditionAccepted, condOK: false, reason: gwapiv1.RouteReasonIncompatibleFilters},
		{name: "prefix rewrite on exact match", route: extraRoute("r", exactRule),
			condType: gwapiv1.RouteConditionAccepted, condOK: false, reason: gwapiv1.RouteReasonUnsupportedValue},
		{name: "backendRequest longer than request", route: extraRoute("r", webRule("/ok"), longBackend),
			condType: gwapiv1.RouteConditionPartiallyInvalid, condOK: true, reason: gwapiv1.RouteReasonUnsupportedValue, wantRoute: true},
		{name: "malformed duration", route: extraRoute("r", badDuration),
			condType: gwapiv1.RouteConditionAccepted, condOK: false, reason: gwapiv1.RouteReasonUnsupportedValue},
		{name: "redirect status 418", route: extraRoute("r", badCode, webRule("/ok")),
			condType: gwapiv1.RouteConditionPartiallyInvalid, condOK: true, reason: gwapiv1.RouteReasonUnsupportedValue, wantRoute: true},
		{name: "external auth", route: extraRoute("r", ext),
			condType: gwapiv1.RouteConditionAccepted, condOK: false, reason: gwapiv1.RouteReasonUnsupportedValue},
		{name: "backendRef without port", route: extraRoute("r", noPort),
			condType: gwapiv1.RouteConditionResolvedRefs, condOK: false, reason: gwapiv1.RouteReasonBackendNotFound, wantRoute: true},
	}
	base := generateRoutes(30)
	baseOut := Translate(base, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := *base
			set.HTTPRoutes = base.HTTPRoutes.Append(tt.route)
			out := Translate(&set, Options{})
			ps := routeStatus(t, out.Status, tt.route.Name)
			c := status.FindCondition(ps.Conditions, tt.condType)
			if c == nil || (c.Status == metav1.ConditionTrue) != tt.condOK || c.Reason != string(tt.reason) {
				t.Fatalf("condition %s = %+v; want ok=%v reason %s", tt.condType, c, tt.condOK, tt.reason)
			}
			if c.ObservedGeneration != 4 {
				t.Errorf("observedGeneration = %d, want 4", c.ObservedGeneration)
			}
			rc := out.Proxies[0].RouteConfigs[0]
			programmed := false
			for vh := range rc.VirtualHosts.Values() {
				if vh.Name == "bad.example.com" {
					programmed = len(vh.Routes) > 0
				}
			}
			if programmed != tt.wantRoute {
				t.Errorf("bad.example.com programmed = %v, want %v", programmed, tt.wantRoute)
			}
			// Nothing else changes: without the new virtual host, the proxy
			// is the one translated without the route.
			stripped := *out.Proxies[0]
			strippedRC := *rc
			var kept []*ir.VirtualHost
			for vh := range rc.VirtualHosts.Values() {
				if vh.Name != "bad.example.com" {
					kept = append(kept, vh)
				}
			}
			strippedRC.VirtualHosts = plist.Of(kept...)
			stripped.RouteConfigs = append(stripped.RouteConfigs[:0:0], &strippedRC)
			if !bytes.Equal(render(t, &Result{Proxies: baseOut.Proxies}), render(t, &Result{Proxies: []*ir.Proxy{&stripped}})) {
				t.Error("an invalid route changed the configuration of other routes")
			}
		})
	}
}

func TestListenerValidation(t *testing.T) {
	certs := []gwapiv1.SecretObjectReference{{Name: "cert"}}
	tests := []struct {
		name      string
		listeners []gwapiv1.Listener
		listener  string
		condType  gwapiv1.ListenerConditionType
		condOK    bool
		reason    gwapiv1.ListenerConditionReason
	}{
		{name: "hostname conflict", listener: "b", condType: gwapiv1.ListenerConditionConflicted, condOK: true, reason: gwapiv1.ListenerReasonHostnameConflict,
			listeners: []gwapiv1.Listener{
				{Name: "a", Port: 80, Protocol: gwapiv1.HTTPProtocolType, Hostname: ptr.To(gwapiv1.Hostname("x.example.com"))},
				{Name: "b", Port: 80, Protocol: gwapiv1.HTTPProtocolType, Hostname: ptr.To(gwapiv1.Hostname("x.example.com"))},
			}},
		{name: "passthrough on HTTPS", listener: "s", condType: gwapiv1.ListenerConditionAccepted, condOK: false, reason: gwapiv1.ListenerReasonUnsupportedValue,
			listeners: []gwapiv1.Listener{{Name: "s", Port: 443, Protocol: gwapiv1.HTTPSProtocolType,
				TLS: &gwapiv1.ListenerTLSConfig{Mode: ptr.To(gwapiv1.TLSModePassthrough), CertificateRefs: certs}}}},
		{name: "HTTPS without certificates", listener: "s", condType: gwapiv1.ListenerConditionResolvedRefs, condOK: false, reason: gwapiv1.ListenerReasonInvalidCertificateRef,
			listeners: []gwapiv1.Listener{{Name: "s", Port: 443, Protocol: gwapiv1.HTTPSProtocolType}}},
		{name: "tls on HTTP", listener: "h", condType: gwapiv1.ListenerConditionAccepted, condOK: false, reason: gwapiv1.ListenerReasonUnsupportedValue,
			listeners: []gwapiv1.Listener{{Name: "h", Port: 80, Protocol: gwapiv1.HTTPProtocolType, TLS: &gwapiv1.ListenerTLSConfig{CertificateRefs: certs}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := &resource.Set{
				GatewayClasses: plist.Of(&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: gwapiv1.GatewayClassSpec{ControllerName: DefaultControllerName}}),
				Gateways: plist.Of(
					&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gw", Generation: 7},
						Spec: gwapiv1.GatewaySpec{GatewayClassName: "c", Listeners: tt.listeners}},
				),
				Secrets: plist.Of(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "cert"}, Type: corev1.SecretTypeTLS}),
			}
			out := Translate(set, Options{})
			if len(out.Status.Gateways) != 1 {
				t.Fatalf("gateway statuses: %d", len(out.Status.Gateways))
			}
			for _, ls := range out.Status.Gateways[0].Status.Listeners {
				if string(ls.Name) != tt.listener {
					continue
				}
				c := status.FindCondition(ls.Conditions, tt.condType)
				if c == nil || (c.Status == metav1.ConditionTrue) != tt.condOK || c.Reason != string(tt.reason) || c.ObservedGeneration != 7 {
					t.Fatalf("listener %s condition %s = %+v; want ok=%v reason %s", tt.listener, tt.condType, c, tt.condOK, tt.reason)
				}
				if status.IsTrue(ls.Conditions, gwapiv1.ListenerConditionProgrammed) {
					t.Error("an invalid listener is Programmed")
				}
				return
			}
			t.Fatalf("no status for listener %s", tt.listener)
		})
	}
}
