package authz

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
)

func policy(name string, action securityv1alpha1.Action, refs []gwapiv1.LocalPolicyTargetReferenceWithSectionName, rules ...securityv1alpha1.AuthorizationRule) *securityv1alpha1.AuthorizationPolicy {
	return &securityv1alpha1.AuthorizationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 2},
		Spec:       securityv1alpha1.AuthorizationPolicySpec{Action: action, TargetRefs: refs, Rules: rules},
	}
}

func svcRef(name string) []gwapiv1.LocalPolicyTargetReferenceWithSectionName {
	return []gwapiv1.LocalPolicyTargetReferenceWithSectionName{{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Kind: "Service", Name: gwapiv1.ObjectName(name)}}}
}

func gwRef(name, section string) []gwapiv1.LocalPolicyTargetReferenceWithSectionName {
	r := gwapiv1.LocalPolicyTargetReferenceWithSectionName{LocalPolicyTargetReference: gwapiv1.LocalPolicyTargetReference{Group: gwapiv1.GroupName, Kind: "Gateway", Name: gwapiv1.ObjectName(name)}}
	if section != "" {
		s := gwapiv1.SectionName(section)
		r.SectionName = &s
	}
	return []gwapiv1.LocalPolicyTargetReferenceWithSectionName{r}
}

func fromSA(name string) securityv1alpha1.AuthorizationRule {
	return securityv1alpha1.AuthorizationRule{Sources: []securityv1alpha1.AuthorizationSource{{
		Type: securityv1alpha1.SourceServiceAccount, ServiceAccount: &securityv1alpha1.ServiceAccountSource{Name: name},
	}}}
}

var meshOpts = Options{MeshMTLS: true, TrustDomain: "td", ControllerName: "c"}

// TestMeshStages: deny rules come first; a Service's ALLOW policies and the
// namespace default form one stage; a listener of two Services checks two
// stages; no policy, no authorization.
func TestMeshStages(t *testing.T) {
	set := &resource.Set{AuthorizationPolicies: plist.Of(
		policy("default", securityv1alpha1.ActionAllow, nil, fromSA("ops")),
		policy("reviews", securityv1alpha1.ActionAllow, svcRef("reviews"), fromSA("productpage")),
		policy("no-x", securityv1alpha1.ActionDeny, svcRef("ratings"), fromSA("x")),
	)}
	p := New(set, meshOpts)
	a := p.MeshInbound("shop", []string{"reviews"})
	if a == nil || len(a.Deny) != 0 || len(a.Allow) != 1 || len(a.Allow[0].Rules) != 2 {
		t.Fatalf("reviews: %+v", a)
	}
	if got := a.Allow[0].Rules[1].Sources[0].Principal.Value; got != "spiffe://td/ns/shop/sa/productpage" {
		t.Errorf("principal %q", got)
	}
	both := p.MeshInbound("shop", []string{"ratings", "reviews"})
	if len(both.Deny) != 1 || len(both.Allow) != 2 {
		t.Fatalf("ratings+reviews: %d deny rules, %d allow stages; want 1 and 2", len(both.Deny), len(both.Allow))
	}
	if err := both.Check(); err != nil {
		t.Fatal(err)
	}
	if got := p.MeshInbound("other", []string{"reviews"}); got != nil {
		t.Errorf("another namespace got %+v", got)
	}
}

// TestFailClosed: without mesh mTLS an ALLOW identity source matches
// nothing and a DENY rule with one applies to every peer.
func TestFailClosed(t *testing.T) {
	set := &resource.Set{AuthorizationPolicies: plist.Of(
		policy("allow", securityv1alpha1.ActionAllow, nil, fromSA("a")),
		policy("deny", securityv1alpha1.ActionDeny, nil, fromSA("b")),
	)}
	a := New(set, Options{}).MeshInbound("shop", nil)
	if !a.Allow[0].Rules[0].Sources[0].Never {
		t.Errorf("allow source = %+v, want never", a.Allow[0].Rules[0].Sources[0])
	}
	if len(a.Deny[0].Sources) != 0 {
		t.Errorf("deny sources = %+v, want none (every peer)", a.Deny[0].Sources)
	}
	for _, st := range Status(set, Options{ControllerName: "c"}) {
		c := status.FindCondition(st.Status.Ancestors[0].Conditions, ConditionFullyEnforced)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonFailsClosed {
			t.Errorf("%s: FullyEnforced = %+v", st.Name, c)
		}
	}
}

// TestGatewayTargets: a Gateway-wide policy reaches every chain; a
// sectionName policy only its listener's own chain or, on an HTTP port
// shared by two listeners, the listener's virtual hosts (never the other
// listener's, nor the shared chain); identity sources need the listener to
// verify client certificates.
func TestGatewayTargets(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eg"}, Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{
		{Name: "a", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		{Name: "b", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		{Name: "tls", Port: 443, Protocol: gwapiv1.HTTPSProtocolType},
	}}}
	cidr := "10.0.0.0/8"
	fromCIDR := securityv1alpha1.AuthorizationRule{Sources: []securityv1alpha1.AuthorizationSource{{Type: securityv1alpha1.SourceCIDR, CIDR: &cidr}}}
	set := &resource.Set{Gateways: plist.Of(gw), AuthorizationPolicies: plist.Of(
		policy("all", securityv1alpha1.ActionAllow, gwRef("eg", ""), fromCIDR),
		policy("only-a", securityv1alpha1.ActionAllow, gwRef("eg", "a"), fromCIDR),
		policy("only-tls", securityv1alpha1.ActionAllow, gwRef("eg", "tls"), fromSA("x")),
		policy("missing", securityv1alpha1.ActionAllow, gwRef("eg", "nope"), fromCIDR),
	)}
	p := New(set, meshOpts)
	shared := p.Gateway(GatewayChain{Namespace: "shop", Gateway: "eg", Listeners: []string{"a", "b"}, HTTP: true})
	if len(shared.Allow) != 1 || len(shared.Allow[0].Rules) != 1 || shared.Allow[0].Rules[0].Name != "shop/all/rule/0" {
		t.Fatalf("shared chain: %+v", shared)
	}
	hostsA := p.GatewayListener(GatewayChain{Namespace: "shop", Gateway: "eg", Listeners: []string{"a", "b"}, HTTP: true}, "a")
	if len(hostsA.Allow) != 1 || hostsA.Allow[0].Name != "gateway/shop/eg/a" || len(hostsA.Allow[0].Rules) != 2 ||
		hostsA.Allow[0].Rules[0].Name != "shop/all/rule/0" || hostsA.Allow[0].Rules[1].Name != "shop/only-a/rule/0" {
		t.Fatalf("listener a's hosts: %+v", hostsA)
	}
	if b := p.GatewayListener(GatewayChain{Namespace: "shop", Gateway: "eg", Listeners: []string{"a", "b"}, HTTP: true}, "b"); b != nil {
		t.Fatalf("listener b's hosts got their own authorization: %+v", b)
	}
	tls := p.Gateway(GatewayChain{Namespace: "shop", Gateway: "eg", Listeners: []string{"tls"}, HTTP: true})
	if len(tls.Allow) != 1 || len(tls.Allow[0].Rules) != 2 || !tls.Allow[0].Rules[1].Sources[0].Never {
		t.Fatalf("tls chain: %+v", tls)
	}
	reasons := map[string]string{}
	for _, st := range Status(set, meshOpts) {
		c := status.FindCondition(st.Status.Ancestors[0].Conditions, gwapiv1.PolicyConditionAccepted)
		reasons[st.Name] = c.Reason
		if c.ObservedGeneration != 2 {
			t.Errorf("%s: observedGeneration %d", st.Name, c.ObservedGeneration)
		}
	}
	want := map[string]string{"all": "Accepted", "only-a": "Accepted", "only-tls": "Accepted", "missing": "TargetNotFound"}
	for k, v := range want {
		if reasons[k] != v {
			t.Errorf("%s: reason %q, want %q", k, reasons[k], v)
		}
	}
}

// TestInvalidLeftOut: a policy the API server would refuse (read from a
// file) is reported Invalid and compiled nowhere.
func TestInvalidLeftOut(t *testing.T) {
	bad := "a b"
	set := &resource.Set{AuthorizationPolicies: plist.Of(
		policy("deny-nothing", securityv1alpha1.ActionDeny, nil),
		policy("bad-header", securityv1alpha1.ActionAllow, nil, securityv1alpha1.AuthorizationRule{To: []securityv1alpha1.RequestMatch{{
			Headers: []securityv1alpha1.HeaderMatch{{Name: gwapiv1.HTTPHeaderName(bad), Value: &bad}},
		}}}),
	)}
	if a := New(set, meshOpts).MeshInbound("shop", nil); a != nil {
		t.Fatalf("invalid policies compiled: %+v", a)
	}
	for _, st := range Status(set, meshOpts) {
		c := st.Status.Ancestors[0].Conditions[0]
		if c.Reason != string(gwapiv1.PolicyReasonInvalid) || !strings.Contains(c.Message, "spec") {
			t.Errorf("%s: %+v", st.Name, c)
		}
	}
}

// TestMeshWildcard: on a listener of several workloads, each Service's
// stage and DENY rules are scoped to its addresses and the namespace
// default covers every other address.
func TestMeshWildcard(t *testing.T) {
	set := &resource.Set{AuthorizationPolicies: plist.Of(
		policy("default", securityv1alpha1.ActionAllow, nil),
		policy("reviews", securityv1alpha1.ActionAllow, svcRef("reviews"), fromSA("productpage")),
		policy("no-x", securityv1alpha1.ActionDeny, svcRef("ratings"), fromSA("x")),
	)}
	a := New(set, meshOpts).MeshWildcard("shop", map[string][]string{"reviews": {"10.0.0.1"}, "ratings": {"10.0.0.2"}, "details": {"10.0.0.3"}})
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	if len(a.Deny) != 1 || a.Deny[0].Destinations[0] != "10.0.0.2" {
		t.Errorf("deny = %+v, want the ratings rule scoped to 10.0.0.2", a.Deny)
	}
	if len(a.Allow) != 2 {
		t.Fatalf("allow = %+v, want the reviews stage and the namespace stage", a.Allow)
	}
	if r := a.Allow[0]; r.Name != "service/shop/reviews" || r.ExceptDestinations || r.Destinations[0] != "10.0.0.1" || len(r.Rules) != 1 {
		t.Errorf("reviews stage = %+v", r)
	}
	if n := a.Allow[1]; n.Name != "namespace/shop" || !n.ExceptDestinations || len(n.Destinations) != 1 || len(n.Rules) != 0 {
		t.Errorf("namespace stage = %+v, want no rules, every address but reviews'", n)
	}
}

// TestNamespaceDefaultStatus: a namespace default with an identity source
// is fully enforced in the mesh alone, and fails closed once a Gateway of
// the namespace (which verifies no mesh identity) is in scope.
func TestNamespaceDefaultStatus(t *testing.T) {
	set := &resource.Set{AuthorizationPolicies: plist.Of(
		policy("default", securityv1alpha1.ActionAllow, nil, fromSA("ops")),
	)}
	enforced := func() string {
		c := status.FindCondition(Status(set, meshOpts)[0].Status.Ancestors[0].Conditions, ConditionFullyEnforced)
		return c.Reason
	}
	if got := enforced(); got != ReasonEnforced {
		t.Errorf("mesh only: %s, want %s", got, ReasonEnforced)
	}
	set.Gateways = plist.Of(&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eg"},
		Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}})
	if got := enforced(); got != ReasonFailsClosed {
		t.Errorf("with a Gateway in the namespace: %s, want %s", got, ReasonFailsClosed)
	}
}

// TestListenerSetSharesPort: a Gateway's only HTTP listener on a port that
// a ListenerSet's HTTP listener shares is targeted alone: Accepted, left
// out of the shared chain, applied to the listener's virtual hosts.
func TestListenerSetSharesPort(t *testing.T) {
	gw := &gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "eg"}, Spec: gwapiv1.GatewaySpec{Listeners: []gwapiv1.Listener{
		{Name: "solo", Port: 8080, Protocol: gwapiv1.HTTPProtocolType},
	}}}
	ls := &gwapiv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "more"}, Spec: gwapiv1.ListenerSetSpec{
		ParentRef: gwapiv1.ParentGatewayReference{Name: "eg"},
		Listeners: []gwapiv1.ListenerEntry{{Name: "x", Port: 8080, Protocol: gwapiv1.HTTPProtocolType}},
	}}
	cidr := "10.0.0.0/8"
	set := &resource.Set{Gateways: plist.Of(gw), ListenerSets: plist.Of(ls), AuthorizationPolicies: plist.Of(
		policy("solo", securityv1alpha1.ActionAllow, gwRef("eg", "solo"), securityv1alpha1.AuthorizationRule{
			Sources: []securityv1alpha1.AuthorizationSource{{Type: securityv1alpha1.SourceCIDR, CIDR: &cidr}}}),
	)}
	conds := Status(set, meshOpts)[0].Status.Ancestors[0].Conditions
	if c := status.FindCondition(conds, gwapiv1.PolicyConditionAccepted); c == nil || c.Reason != string(gwapiv1.PolicyReasonAccepted) {
		t.Fatalf("sharing its port with a ListenerSet: %+v", conds)
	}
	if c := status.FindCondition(conds, ConditionFullyEnforced); c == nil || c.Reason != ReasonEnforced {
		t.Fatalf("sharing its port with a ListenerSet: %+v", conds)
	}
	chain := GatewayChain{Namespace: "shop", Gateway: "eg", Listeners: []string{"solo", ""}, HTTP: true}
	p := New(set, meshOpts)
	if a := p.Gateway(chain); a != nil {
		t.Fatalf("the shared chain got %+v", a)
	}
	if a := p.GatewayListener(chain, ""); a != nil {
		t.Fatalf("the ListenerSet's listener got %+v", a)
	}
	a := p.GatewayListener(chain, "solo")
	if a == nil || len(a.Deny) != 0 || len(a.Allow) != 1 || len(a.Allow[0].Rules) != 1 || a.Allow[0].Rules[0].Sources[0].CIDR != cidr {
		t.Fatalf("solo's hosts: %+v", a)
	}
}
