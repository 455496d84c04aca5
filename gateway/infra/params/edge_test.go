package params

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEdgeDefaultsAreSafe(t *testing.T) {
	e := Default().Edge
	if !e.NormalizePath || !e.MergeSlashes || !e.StripTrailingHostDot {
		t.Errorf("path normalization, slash merging and trailing-dot stripping must default on: %+v", e)
	}
	if e.EscapedSlashesAction != "UnescapeAndRedirect" || e.HeadersWithUnderscoresAction != "RejectRequest" {
		t.Errorf("unsafe defaults: %+v", e)
	}
	if e.HTTP2MaxConcurrentStreams != 100 || e.HTTP2InitialStreamWindowSize != 65536 ||
		e.HTTP2InitialConnectionWindowSize != 1048576 || e.MaxDownstreamConnections != 50000 {
		t.Errorf("limits: %+v", e)
	}
}

func TestEdgeKeys(t *testing.T) {
	cm := func(k, v string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{k: v}}
	}
	good := map[string]string{
		KeyNormalizePath: "false", KeyMergeSlashes: "false", KeyStripTrailingHostDot: "false",
		KeyEscapedSlashesAction: "Reject", KeyHeadersWithUnderscoresAction: "Allow",
		KeyHTTP2MaxConcurrentStreams: "10", KeyHTTP2InitialStreamWindowSize: "65535",
		KeyHTTP2InitialConnectionWindowSize: "2147483647", KeyMaxDownstreamConnections: "1000",
	}
	for k, v := range good {
		p, err := Default().Apply(cm(k, v))
		if err != nil {
			t.Errorf("%s=%s: %v", k, v, err)
			continue
		}
		if p.Edge == DefaultEdge() {
			t.Errorf("%s=%s changed nothing", k, v)
		}
	}
	bad := map[string]string{
		KeyNormalizePath: "yes", KeyEscapedSlashesAction: "unescape", KeyHeadersWithUnderscoresAction: "",
		KeyHTTP2MaxConcurrentStreams: "0", KeyHTTP2InitialStreamWindowSize: "65534",
		KeyHTTP2InitialConnectionWindowSize: "2147483648", KeyMaxDownstreamConnections: "-1",
	}
	for k, v := range bad {
		_, err := Default().Apply(cm(k, v))
		if err == nil || !strings.Contains(err.Error(), "ConfigMap ns/p: data."+k) {
			t.Errorf("%s=%q: error %v, want one naming the ConfigMap and key", k, v, err)
		}
	}
}

func TestCheckGatewayKeys(t *testing.T) {
	cm := func(name string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: data}
	}
	open := cm("class", map[string]string{KeyGatewayOverrides: "serviceType, envoyImage"})
	if err := Validate(open); err != nil {
		t.Fatalf("class with overrides: %v", err)
	}
	if err := Validate(cm("class", map[string]string{KeyGatewayOverrides: "replicas"})); err == nil {
		t.Error("gatewayOverrides naming a key that is not class-fixed was accepted")
	}
	cases := []struct {
		class *corev1.ConfigMap
		gw    map[string]string
		ok    bool
	}{
		{class: nil, gw: map[string]string{KeyReplicas: "1", KeyEscapedSlashesAction: "Reject"}, ok: true},
		{class: nil, gw: map[string]string{KeyEnvoyImage: "evil/envoy"}},
		{class: cm("class", nil), gw: map[string]string{KeyServiceType: "NodePort"}},
		{class: cm("class", nil), gw: map[string]string{KeyLoadBalancerClass: "x"}},
		{class: open, gw: map[string]string{KeyServiceType: "NodePort", KeyEnvoyImage: "mine/envoy"}, ok: true},
		{class: open, gw: map[string]string{KeyLoadBalancerClass: "x"}},
		{class: open, gw: map[string]string{KeyGatewayOverrides: "loadBalancerClass"}},
	}
	for i, c := range cases {
		err := CheckGatewayKeys(c.class, cm("gw", c.gw))
		if (err == nil) != c.ok {
			t.Errorf("case %d (%v): %v, want ok=%v", i, c.gw, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "ConfigMap ns/gw: data.") {
			t.Errorf("case %d: error %q does not name the ConfigMap and key", i, err)
		}
	}
}
