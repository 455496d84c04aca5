package inject

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryproxy/gantry/mesh/ca/kubeca"
	"github.com/gantryproxy/gantry/mesh/identity"
)

func TestCaptureArgsRefuses(t *testing.T) {
	cases := map[string]struct {
		annotations map[string]string
		want        string
	}{
		"not a CIDR":      {annotations: map[string]string{IncludeOutboundCIDRs: "10.0.0.0/8,ten"}, want: `annotation traffic.gantry.io/include-outbound-cidrs "10.0.0.0/8,ten": "ten" is not an IP address or CIDR`},
		"bad prefix":      {annotations: map[string]string{ExcludeOutboundCIDRs: "10.0.0.0/33"}, want: `annotation traffic.gantry.io/exclude-outbound-cidrs "10.0.0.0/33": "10.0.0.0/33" is not a CIDR`},
		"host bits":       {annotations: map[string]string{ExcludeOutboundCIDRs: "10.1.2.3/8"}, want: `"10.1.2.3/8" has host bits set`},
		"port zero":       {annotations: map[string]string{ExcludeOutboundPorts: "0"}, want: `annotation traffic.gantry.io/exclude-outbound-ports "0": "0" is not a port`},
		"port too large":  {annotations: map[string]string{ExcludeInboundPorts: "80,65536"}, want: `"65536" is not a port`},
		"port name":       {annotations: map[string]string{IncludeInboundPorts: "http"}, want: `annotation traffic.gantry.io/include-inbound-ports "http"`},
		"backward range":  {annotations: map[string]string{ExcludeOutboundPorts: "90-80"}, want: "the range ends before it starts"},
		"star in exclude": {annotations: map[string]string{ExcludeInboundPorts: "*"}, want: `"*" (all) is allowed only alone in an include list`},
		"unknown":         {annotations: map[string]string{"traffic.gantry.io/exclude-outbound-port": "80"}, want: "annotation traffic.gantry.io/exclude-outbound-port: unknown"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := CaptureArgs(tc.annotations)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CaptureArgs(%v) error %v, want %q", tc.annotations, err, tc.want)
			}
			// The webhook refuses such a pod, naming it and the annotation.
			pod := &corev1.Pod{}
			pod.Name, pod.Namespace, pod.Annotations = "web", "shop", tc.annotations
			_, _, err = Patch(pod, "", map[string]string{NamespaceLabel: NamespaceEnabled}, Config{})
			if err == nil || !strings.Contains(err.Error(), "pod web: annotation traffic.gantry.io/") {
				t.Fatalf("Patch error %v", err)
			}
		})
	}
}

func TestCaptureArgsDefaults(t *testing.T) {
	got, err := CaptureArgs(map[string]string{"other": "x", IncludeInboundPorts: " 8080, 9090 ", IncludeOutboundCIDRs: ""})
	if err != nil {
		t.Fatal(err)
	}
	// An empty include list captures nothing, as the flag does.
	want := []string{"capture", "--proxy-uid=1337", "--proxy-gid=1337", "--outbound-port=15001", "--inbound-port=15006",
		"--include-outbound-cidrs=", "--include-inbound-ports=8080, 9090"}
	if !slices.Equal(got, want) {
		t.Fatalf("CaptureArgs = %v, want %v", got, want)
	}
}

// TestSharedNames keeps the names injection shares with the rest of Gantry
// equal to their sources.
func TestSharedNames(t *testing.T) {
	if BundleConfigMap != kubeca.BundleConfigMap || BundleKey != kubeca.BundleKey {
		t.Errorf("trust bundle %s/%s, gantry serve publishes %s/%s", BundleConfigMap, BundleKey, kubeca.BundleConfigMap, kubeca.BundleKey)
	}
	if DefaultAudience != identity.DefaultAudience {
		t.Errorf("token audience %q, gantry serve accepts %q", DefaultAudience, identity.DefaultAudience)
	}
}
