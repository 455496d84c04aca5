package programmed

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// proxy is an HTTP listener whose one route table holds routes (each with
// a header value of valueBytes) and optionally a route Envoy refuses.
func proxy(routes, valueBytes int, bad bool) *ir.Proxy {
	vh := &ir.VirtualHost{Name: "*", Domains: []string{"*"}}
	for i := 0; i < routes; i++ {
		vh.Routes = append(vh.Routes, &ir.Route{
			Name:           fmt.Sprintf("default/r/rule/%d/match/0", i),
			Match:          ir.RouteMatch{PathType: ir.PathPrefix, Path: fmt.Sprintf("/p%d", i)},
			DirectResponse: &ir.DirectResponse{Status: 200},
			RequestHeaders: &ir.HeaderMutation{Set: []ir.Header{{Name: "x-v", Value: strings.Repeat("v", valueBytes)}}},
		})
	}
	if bad {
		vh.Routes = append(vh.Routes, &ir.Route{Name: "default/bad/rule/0/match/0", Match: ir.RouteMatch{PathType: ir.PathPrefix, Path: "/"},
			DirectResponse: &ir.DirectResponse{Status: 200}, RequestHeaders: &ir.HeaderMutation{Set: []ir.Header{{Name: "Host", Value: "x"}}}})
	}
	return &ir.Proxy{
		Name: "gateway/default/gw",
		Listeners: []*ir.Listener{{Name: "default/gw/80", Address: "0.0.0.0", Port: 80, Protocol: ir.ProtocolHTTP,
			FilterChains: []*ir.FilterChain{{Name: "default/gw/80", HTTP: &ir.HTTPConnectionManager{RouteConfigName: "default/gw/80"}}}}},
		RouteConfigs: []*ir.RouteConfig{{Name: "default/gw/80", VirtualHosts: plist.Of([]*ir.VirtualHost{vh}...)}},
	}
}

func report() *status.Report {
	ok := func(typ gwapiv1.GatewayConditionType) metav1.Condition {
		return status.Condition(typ, true, gwapiv1.GatewayReasonProgrammed, "", 3)
	}
	return &status.Report{Gateways: []status.Gateway{
		{Namespace: "default", Name: "gw", Generation: 3, Status: gwapiv1.GatewayStatus{
			Conditions: []metav1.Condition{ok(gwapiv1.GatewayConditionAccepted), ok(gwapiv1.GatewayConditionProgrammed)},
			Listeners: []gwapiv1.ListenerStatus{{Name: "http", Conditions: []metav1.Condition{
				status.Condition(gwapiv1.ListenerConditionProgrammed, true, gwapiv1.ListenerReasonProgrammed, "", 3)}}},
		}},
		{Namespace: "default", Name: "other", Generation: 1, Status: gwapiv1.GatewayStatus{
			Conditions: []metav1.Condition{ok(gwapiv1.GatewayConditionProgrammed)}}},
	}}
}

func TestBuildReasons(t *testing.T) {
	if _, err := Build(proxy(10, 10, false), envoy.FlavorEnvoy); err != nil {
		t.Fatalf("a small valid proxy: %v", err)
	}
	_, err := Build(proxy(1, 10, true), envoy.FlavorEnvoy)
	if err == nil || Reason(err) != ReasonBuildFailed || !strings.Contains(err.Error(), "default/bad/rule/0/match/0") {
		t.Errorf("a Host edit: %v (%s)", err, Reason(err))
	}
	// 600 routes of ~8 KiB: about 5 MiB, past grpc-go's 4 MiB, within Envoy's 64 MiB.
	big := proxy(600, 8<<10, false)
	if _, err := Build(big, envoy.FlavorEnvoy); err != nil {
		t.Errorf("Envoy flavor of 5 MiB: %v", err)
	}
	_, err = Build(big, envoy.FlavorGRPC)
	if err == nil || Reason(err) != ReasonTooLarge || !strings.Contains(err.Error(), "route config") {
		t.Errorf("gRPC flavor of 5 MiB: %v (%s)", err, Reason(err))
	}
}

func TestMarkOnlyThatGateway(t *testing.T) {
	rep := report()
	Mark(rep, translate.ProxyName("default", "gw"), ReasonTooLarge, "route config too large")
	gw := rep.Gateways[0].Status
	c := status.FindCondition(gw.Conditions, gwapiv1.GatewayConditionProgrammed)
	if c.Status != metav1.ConditionFalse || c.Reason != string(ReasonTooLarge) || !strings.Contains(c.Message, "route config too large") || c.ObservedGeneration != 3 {
		t.Errorf("Gateway Programmed = %+v", c)
	}
	if l := status.FindCondition(gw.Listeners[0].Conditions, gwapiv1.ListenerConditionProgrammed); l.Status != metav1.ConditionFalse {
		t.Errorf("listener Programmed = %+v", l)
	}
	if !status.IsTrue(gw.Conditions, gwapiv1.GatewayConditionAccepted) {
		t.Error("Accepted changed")
	}
	if !status.IsTrue(rep.Gateways[1].Status.Conditions, gwapiv1.GatewayConditionProgrammed) {
		t.Error("another Gateway was marked")
	}
}

func TestCheckMarksTranslatedResult(t *testing.T) {
	res := &translate.Result{Proxies: []*ir.Proxy{proxy(1, 10, true)}, Status: report()}
	Check(res)
	if status.IsTrue(res.Status.Gateways[0].Status.Conditions, gwapiv1.GatewayConditionProgrammed) {
		t.Error("a proxy that does not build is still Programmed=True")
	}
	res = &translate.Result{Proxies: []*ir.Proxy{proxy(1, 10, false)}, Status: report()}
	Check(res)
	if !status.IsTrue(res.Status.Gateways[0].Status.Conditions, gwapiv1.GatewayConditionProgrammed) {
		t.Error("a valid proxy lost Programmed=True")
	}
}

// TestRejected: a proxy's NACK turns the Gateway and its listeners
// Programmed=False with reason Rejected and a bounded message naming the
// node, the type and the error; another Gateway is left alone.
func TestRejected(t *testing.T) {
	rep := report()
	detail := strings.Repeat("é", 400) // 800 bytes, cut on a rune boundary
	Rejected(rep, "gateway/default/gw", "envoy-1", "Listener", detail, 2)
	c := status.FindCondition(rep.Gateways[0].Status.Conditions, gwapiv1.GatewayConditionProgrammed)
	if c.Status != metav1.ConditionFalse || c.Reason != string(ReasonRejected) {
		t.Fatalf("Programmed = %s/%s, want False/Rejected", c.Status, c.Reason)
	}
	for _, want := range []string{`"envoy-1"`, "Listener", "éé", "(and 2 more rejections)"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if len(c.Message) > maxDetail+200 || !utf8.ValidString(c.Message) {
		t.Errorf("message not bounded or not UTF-8 (%d bytes)", len(c.Message))
	}
	if l := rep.Gateways[0].Status.Listeners[0].Conditions[0]; l.Status != metav1.ConditionFalse || l.Reason != string(ReasonRejected) {
		t.Errorf("listener Programmed = %s/%s, want False/Rejected", l.Status, l.Reason)
	}
	if !status.IsTrue(rep.Gateways[1].Status.Conditions, gwapiv1.GatewayConditionProgrammed) {
		t.Error("another Gateway was marked")
	}
}
