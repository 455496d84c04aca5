package params

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestKeysSortedAndKnown(t *testing.T) {
	if !slices.IsSorted(Keys) {
		t.Fatalf("Keys not sorted: %v", Keys)
	}
	for _, k := range Keys {
		if !IsKey(k) {
			t.Errorf("IsKey(%q) = false", k)
		}
		// Every listed key is one Apply understands.
		if _, err := Default().set(k, "x"); err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("key %s is listed but Apply does not know it", k)
		}
	}
	if IsKey("replica") || IsKey("ca.crt") {
		t.Error("IsKey accepts a key that is not a parameter")
	}
}

func TestApplyLayersAndValidates(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{
		KeyReplicas: "3", KeyServiceType: "NodePort", KeyExternalTrafficPolicy: "Local", KeyLoadBalancerClass: "lb",
		KeyDrainSeconds: "20", KeyEnvoyImage: "img", KeyServiceAnnotations: "a: b\n",
	}}
	p, err := Default().Apply(cm)
	if err != nil {
		t.Fatal(err)
	}
	if p.Replicas != 3 || p.ServiceType != corev1.ServiceTypeNodePort || p.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		p.LoadBalancerClass != "lb" || p.DrainSeconds != 20 || p.EnvoyImage != "img" || p.ServiceAnnotations["a"] != "b" {
		t.Errorf("Apply = %+v", p)
	}
	for key, val := range map[string]string{
		KeyReplicas: "many", KeyServiceType: "ExternalName", KeyExternalTrafficPolicy: "Nearest", KeyDrainSeconds: "-1",
		KeyServiceAnnotations: "[1, 2]", KeyEnvoyImage: "", "rbac": "admin",
	} {
		bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{key: val}}
		if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "ConfigMap ns/p: data."+key) {
			t.Errorf("%s=%q: error = %v, want one naming ConfigMap ns/p: data.%s", key, val, err, key)
		}
	}
	bin := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, BinaryData: map[string][]byte{"replicas": []byte("1")}}
	if err := Validate(bin); err == nil || !strings.Contains(err.Error(), "binaryData.replicas") {
		t.Errorf("binaryData: error = %v", err)
	}
}

func TestRefs(t *testing.T) {
	ns := gwapiv1.Namespace("sys")
	if n, name, err := ClassRef(&gwapiv1.ParametersReference{Kind: "ConfigMap", Name: "p", Namespace: &ns}); err != nil || n != "sys" || name != "p" {
		t.Errorf("ClassRef = %q %q %v", n, name, err)
	}
	for _, ref := range []gwapiv1.ParametersReference{
		{Kind: "ConfigMap", Name: "p"},
		{Group: "example.net", Kind: "ConfigMap", Name: "p", Namespace: &ns},
		{Kind: "Secret", Name: "p", Namespace: &ns},
	} {
		if _, _, err := ClassRef(&ref); err == nil || !strings.Contains(err.Error(), "spec.parametersRef") {
			t.Errorf("ClassRef(%+v) error = %v", ref, err)
		}
	}
	gw := &gwapiv1.Gateway{}
	if _, ok, err := GatewayRef(gw); ok || err != nil {
		t.Errorf("GatewayRef without a ref = %v %v", ok, err)
	}
	gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{ParametersRef: &gwapiv1.LocalParametersReference{Kind: "ConfigMap", Name: "p"}}
	if name, ok, err := GatewayRef(gw); !ok || err != nil || name != "p" {
		t.Errorf("GatewayRef = %q %v %v", name, ok, err)
	}
	gw.Spec.Infrastructure.ParametersRef.Group = "example.net"
	if _, _, err := GatewayRef(gw); err == nil || !strings.Contains(err.Error(), "spec.infrastructure.parametersRef") {
		t.Errorf("GatewayRef of another group: error = %v", err)
	}
}
