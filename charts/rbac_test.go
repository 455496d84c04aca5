package charts

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// writeVerbs are the verbs that change the cluster.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// writeAllowed lists, per "group/resource", the write verbs the controller may
// hold. Anything else (Secrets, Pods, Gateway API specs, RBAC ...) is read only
// or not granted at all.
var writeAllowed = map[string][]string{
	"apps/deployments":                         {"create", "update", "patch", "delete"},
	"/services":                                {"create", "update", "patch", "delete"},
	"/configmaps":                              {"create", "update", "patch", "delete"},
	"/serviceaccounts":                         {"create", "update", "patch", "delete"},
	"/events":                                  {"create", "patch"},
	"events.k8s.io/events":                     {"create", "patch"},
	"coordination.k8s.io/leases":               {"create", "update", "patch"},
	"gateway.networking.k8s.io/*/status":       {"update", "patch"},
	"gateway.networking.k8s.io/gatewayclasses": nil,
	// Gantry's own policies' status.
	"security.gantry.io/authorizationpolicies/status": {"update", "patch"},
	// XMesh (experimental group): its status only.
	"gateway.networking.x-k8s.io/xmeshes/status": {"update", "patch"},
	// xDS clients' tokens are reviewed.
	"authentication.k8s.io/tokenreviews": {"create"},
	// The injection webhook's caBundle, of its one configuration only
	// (checked by TestWebhookConfiguration).
	"admissionregistration.k8s.io/mutatingwebhookconfigurations": {"update"},
}

// checkCARole checks the CA Role: the CA Secret (create, and get/update of
// that name only) and cert-manager CertificateRequests only when
// certManager is set; nothing else.
func checkCARole(t *testing.T, r *rendered, secret string, certManager bool) {
	t.Helper()
	role := typedObject[*rbacv1.Role](t, r, "Role", releaseNS, "gantry-ca")
	checkBinding(t, typedObject[*rbacv1.RoleBinding](t, r, "RoleBinding", releaseNS, "gantry-ca").Subjects, "CA RoleBinding")
	var crs bool
	for _, rule := range role.Rules {
		switch {
		case slices.Equal(rule.Resources, []string{"secrets"}) && slices.Equal(rule.Verbs, []string{"create"}) && len(rule.ResourceNames) == 0:
		case slices.Equal(rule.Resources, []string{"secrets"}) && slices.Equal(rule.ResourceNames, []string{secret}) && slices.Equal(rule.Verbs, []string{"get", "update"}):
		case slices.Equal(rule.APIGroups, []string{"cert-manager.io"}) && slices.Equal(rule.Resources, []string{"certificaterequests"}):
			crs = true
		default:
			t.Errorf("CA Role: unexpected rule %+v", rule)
		}
	}
	if crs != certManager {
		t.Errorf("CA Role grants CertificateRequests = %v, want %v (only with the cert-manager issuer)", crs, certManager)
	}
}

// forbiddenVerbs are never granted on anything.
var forbiddenVerbs = []string{"*", "escalate", "bind", "impersonate", "deletecollection"}

// ruleProblems lists wildcards, non-resource URLs, forbidden verbs and write
// verbs outside writeAllowed. where names the role in the messages.
func ruleProblems(where string, rules []rbacv1.PolicyRule, leasesAllowed bool) []string {
	var out []string
	if len(rules) == 0 {
		out = append(out, where+": no rules")
	}
	for i, rule := range rules {
		if len(rule.NonResourceURLs) > 0 {
			out = append(out, fmt.Sprintf("%s rule %d: nonResourceURLs %v", where, i, rule.NonResourceURLs))
		}
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
			for _, v := range list {
				if strings.Contains(v, "*") {
					out = append(out, fmt.Sprintf("%s rule %d: wildcard %q in %+v", where, i, v, rule))
				}
			}
		}
		for _, verb := range rule.Verbs {
			if slices.Contains(forbiddenVerbs, verb) {
				out = append(out, fmt.Sprintf("%s rule %d: verb %q", where, i, verb))
			}
		}
		for _, group := range rule.APIGroups {
			for _, res := range rule.Resources {
				out = append(out, writeProblems(where, group, res, rule.Verbs, leasesAllowed)...)
			}
		}
	}
	return out
}

func writeProblems(where, group, res string, verbs []string, leasesAllowed bool) []string {
	var out []string
	key := group + "/" + res
	if group == "gateway.networking.k8s.io" && strings.HasSuffix(res, "/status") {
		key = group + "/*/status"
	}
	if key == "coordination.k8s.io/leases" && !leasesAllowed {
		out = append(out, where+": Leases may only be granted by the leader-election Role in the release namespace")
	}
	if strings.HasSuffix(res, "/status") && group != "gateway.networking.k8s.io" && group != "security.gantry.io" && writeAllowed[key] == nil {
		out = append(out, fmt.Sprintf("%s: status of %s is not Gantry's to write", where, key))
	}
	allowed := writeAllowed[key]
	for _, verb := range verbs {
		if slices.Contains(writeVerbs, verb) && !slices.Contains(allowed, verb) {
			out = append(out, fmt.Sprintf("%s: %q on %s is outside the allow-list", where, verb, key))
		}
	}
	return out
}

func checkRules(t *testing.T, where string, rules []rbacv1.PolicyRule, leasesAllowed bool) {
	t.Helper()
	for _, p := range ruleProblems(where, rules, leasesAllowed) {
		t.Error(p)
	}
}

// grants reports whether rules allow verb on group/resource.
func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

type need struct{ group, resource, verb string }

// kindNeeds are what the kube provider and status writer need on the kinds
// of resource's table of one scope: get, list and watch on every watched
// kind, update and patch on the status of every kind whose status Gantry
// writes.
func kindNeeds(namespaced bool) []need {
	var out []need
	for _, k := range resource.Kinds() {
		if k.Namespaced != namespaced || k.Watch == resource.WatchNever {
			continue
		}
		for _, verb := range []string{"get", "list", "watch"} {
			out = append(out, need{k.Group, k.Resource, verb})
		}
		if k.Status {
			out = append(out, need{k.Group, k.Resource + "/status", "update"}, need{k.Group, k.Resource + "/status", "patch"})
		}
	}
	return out
}

// namespacedNeeds are what the controller needs on namespaced objects, cluster
// wide or in each watched namespace, besides kindNeeds(true).
var namespacedNeeds = []need{
	{"apps", "deployments", "create"},
	{"apps", "deployments", "delete"},
	{"", "services", "patch"},
	{"", "serviceaccounts", "create"},
	{"", "configmaps", "update"},
}

// clusterNeeds are granted by the ClusterRole whatever the watch scope,
// besides kindNeeds(false).
var clusterNeeds = []need{
	{"authentication.k8s.io", "tokenreviews", "create"},
}

func checkNeeds(t *testing.T, where string, rules []rbacv1.PolicyRule, needs []need) {
	t.Helper()
	for _, n := range needs {
		if !grants(rules, n.group, n.resource, n.verb) {
			t.Errorf("%s does not grant %s on %s/%s", where, n.verb, n.group, n.resource)
		}
	}
}

// checkRBAC checks every Role and ClusterRole of r, and that the bindings name
// the controller's ServiceAccount. watch is the controller.watchNamespaces value.
func checkRBAC(t *testing.T, r *rendered, watch []string) {
	t.Helper()
	cr := typedObject[*rbacv1.ClusterRole](t, r, "ClusterRole", "", "gantry")
	checkRules(t, "ClusterRole gantry", cr.Rules, false)
	checkNeeds(t, "ClusterRole gantry", cr.Rules, append(kindNeeds(false), clusterNeeds...))
	if len(watch) == 0 {
		checkNeeds(t, "ClusterRole gantry", cr.Rules, append(kindNeeds(true), namespacedNeeds...))
	} else if grants(cr.Rules, "", "secrets", "list") || grants(cr.Rules, "apps", "deployments", "create") {
		t.Errorf("ClusterRole grants namespaced access cluster wide although watchNamespaces=%v", watch)
	}
	for _, ns := range watch {
		role := typedObject[*rbacv1.Role](t, r, "Role", ns, "gantry")
		checkRules(t, "Role "+ns+"/gantry", role.Rules, false)
		checkNeeds(t, "Role "+ns+"/gantry", role.Rules, append(kindNeeds(true), namespacedNeeds...))
		checkBinding(t, typedObject[*rbacv1.RoleBinding](t, r, "RoleBinding", ns, "gantry").Subjects, "Role "+ns)
	}
	le := typedObject[*rbacv1.Role](t, r, "Role", releaseNS, "gantry-leader-election")
	checkRules(t, "Role gantry-leader-election", le.Rules, true)
	if !grants(le.Rules, "coordination.k8s.io", "leases", "update") {
		t.Errorf("leader-election Role does not grant update on leases: %+v", le.Rules)
	}
	checkBinding(t, typedObject[*rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", "", "gantry").Subjects, "ClusterRoleBinding")
	checkBinding(t, typedObject[*rbacv1.RoleBinding](t, r, "RoleBinding", releaseNS, "gantry-leader-election").Subjects, "leader-election RoleBinding")
	if got := len(r.ofKind("Role")); got != len(watch)+2 {
		t.Errorf("%d Roles, want %d (one per watched namespace + leader election + CA)", got, len(watch)+2)
	}
}

func checkBinding(t *testing.T, subjects []rbacv1.Subject, where string) {
	t.Helper()
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: "gantry", Namespace: releaseNS}
	if len(subjects) != 1 || subjects[0] != want {
		t.Errorf("%s subjects = %+v, want [%+v]", where, subjects, want)
	}
}

// TestRBACCheckerCatches makes sure the checks above can fail.
func TestRBACCheckerCatches(t *testing.T) {
	bad := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"}},
		{APIGroups: []string{"*"}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"update"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"deletecollection"}},
		{APIGroups: []string{""}, Resources: []string{"pods/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"httproutes"}, Verbs: []string{"update"}},
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
	}
	for i, rule := range bad {
		if p := ruleProblems("bad", []rbacv1.PolicyRule{rule}, false); len(p) == 0 {
			t.Errorf("rule %d %+v passed the RBAC check", i, rule)
		}
	}
	good := []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "create"}}}
	if p := ruleProblems("good", good, false); len(p) != 0 {
		t.Errorf("allowed rule rejected: %v", p)
	}
}
