package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance/tests"
)

// TestDirectDialTests: the suite's tests that reach the Gateway without the
// injectable clients are found in its source, through its helpers too, and
// tests that only use the injectable clients are not.
func TestDirectDialTests(t *testing.T) {
	got := directDialTests(t, tests.ConformanceTests)
	for name, want := range map[string]string{
		"TCPRouteMultipleRoutesAttachment":  "opens TCP connections to the Gateway",
		"UDPRouteMultipleRoutesAttachment":  "dials the Gateway", // through udpEchoSendOnce in another file
		"UDPRoute":                          "sends DNS queries to the Gateway",
		"HTTPRouteRequestMirror":            "reads mirrored requests from the backends' logs",
		"HTTPRouteBackendProtocolWebSocket": "opens WebSocket connections to the Gateway",
		"HTTPRouteSimpleSameNamespace":      "",
		"GatewayStaticAddresses":            "",
		"ListenerSetProtocolConflict":       "",
	} {
		if got[name] != want {
			t.Errorf("%s: direct dialer %q, want %q", name, got[name], want)
		}
	}
	if len(got) == 0 || len(got) == len(tests.ConformanceTests) {
		t.Errorf("%d of %d tests use a direct dialer", len(got), len(tests.ConformanceTests))
	}
}

func TestConformanceTestName(t *testing.T) {
	for in, want := range map[string]string{
		"TestConformance/HTTPRouteSimpleSameNamespace":     "TestConformance/HTTPRouteSimpleSameNamespace",
		"TestConformance/HTTPRouteSimpleSameNamespace/a/b": "TestConformance/HTTPRouteSimpleSameNamespace",
		"TestConformance": "TestConformance",
	} {
		if got := conformanceTestName(in); got != want {
			t.Errorf("conformanceTestName(%q) = %q, want %q", in, got, want)
		}
	}
}
