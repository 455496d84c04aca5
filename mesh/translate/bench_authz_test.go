package translate

import (
	"fmt"
	"strconv"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// withPolicies adds, to a generated mesh, a default deny per namespace and
// one ALLOW policy per Service admitting the ServiceAccount of the Service
// before it.
func withPolicies(set *resource.Set, namespaces int) *resource.Set {
	out := *set
	out.AuthorizationPolicies = plist.List[*securityv1alpha1.AuthorizationPolicy]{}
	for i := 0; i < namespaces; i++ {
		out.AuthorizationPolicies = out.AuthorizationPolicies.Append(&securityv1alpha1.AuthorizationPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns" + strconv.Itoa(i), Name: "default-deny"},
			Spec:       securityv1alpha1.AuthorizationPolicySpec{Action: securityv1alpha1.ActionAllow},
		})
	}
	for i, svc := range set.Services.All() {
		out.AuthorizationPolicies = out.AuthorizationPolicies.Append(&securityv1alpha1.AuthorizationPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name},
			Spec: securityv1alpha1.AuthorizationPolicySpec{
				Action: securityv1alpha1.ActionAllow,
				TargetRefs: []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{
					Kind: "Service", Name: gwapiv1.ObjectName(svc.Name)}}},
				Rules: []securityv1alpha1.AuthorizationRule{{Sources: []securityv1alpha1.AuthorizationSource{{
					Type: securityv1alpha1.SourceServiceAccount, ServiceAccount: &securityv1alpha1.ServiceAccountSource{Name: "sa" + strconv.Itoa(i+1)},
				}}}},
			},
		})
	}
	return &out
}

// BenchmarkTranslateAuthz is BenchmarkTranslate with mTLS and a policy per
// Service and a default deny per namespace.
func BenchmarkTranslateAuthz(b *testing.B) {
	for _, sz := range meshBenchSizes {
		set := withPolicies(generateMesh(sz.services, sz.namespaces), sz.namespaces)
		b.Run(fmt.Sprintf("services=%d/namespaces=%d", sz.services, sz.namespaces), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if r := Translate(set, Options{MTLS: &MTLS{}}); len(r.Proxies) != sz.namespaces {
					b.Fatalf("%d proxies", len(r.Proxies))
				}
			}
		})
	}
}

// TestGeneratedPoliciesApply keeps the benchmark input honest: every
// workload's inbound listener carries its Service's allow stage.
func TestGeneratedPoliciesApply(t *testing.T) {
	res := Translate(withPolicies(generateMesh(100, 10), 10), Options{MTLS: &MTLS{}})
	n := 0
	for _, l := range res.Proxies[0].Listeners {
		if !l.GRPCServer || l.Address == "0.0.0.0" || l.Address == "::" {
			continue
		}
		a := l.FilterChains[0].Authorization
		if a == nil || len(a.Allow) != 1 || len(a.Allow[0].Rules) != 1 {
			t.Fatalf("%s: %+v", l.Name, a)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("%d workload listeners, want 10", n)
	}
	for _, p := range res.Status.AuthorizationPolicies {
		if p.Status.Ancestors[0].Conditions[0].Status != metav1.ConditionTrue {
			t.Fatalf("%s/%s: %+v", p.Namespace, p.Name, p.Status.Ancestors[0].Conditions)
		}
	}
}
