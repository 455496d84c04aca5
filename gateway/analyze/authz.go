package analyze

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// authzAnalyzer checks AuthorizationPolicies: targets that exist and accept
// the policy, sources that some workload can match, policies another one
// makes pointless, targets a namespace default opens, and rules that fail
// closed where they apply. Offline, mesh mTLS is assumed on (identity
// sources are what it is for); with it off every identity source fails
// closed, which the controller's status says.
type authzAnalyzer struct{}

func (authzAnalyzer) Name() string { return "authorization" }
func (authzAnalyzer) Description() string {
	return "AuthorizationPolicies target what exists, can match some workload, are not shadowed by another policy, are not opened by a namespace default, and are enforced as written"
}

func (authzAnalyzer) Run(ctx *Context) {
	if ctx.Set.AuthorizationPolicies.Len() == 0 {
		return
	}
	opts := authz.Options{MeshMTLS: true, TrustDomain: ca.DefaultTrustDomain, ControllerName: ctx.ControllerName}
	for _, st := range authz.Status(ctx.Set, opts) {
		k := key(authz.Kind, st.Namespace, st.Name)
		for _, anc := range st.Status.Ancestors {
			reportAncestor(ctx, k, anc)
		}
	}
	pols := ctx.Set.AuthorizationPolicies.Slice()
	slices.SortFunc(pols, func(a, b *securityv1alpha1.AuthorizationPolicy) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, ap := range pols {
		neverMatching(ctx, ap)
	}
	shadowedPolicies(ctx, pols)
}

// reportAncestor turns an ancestor's negative conditions into messages.
func reportAncestor(ctx *Context, k resource.Key, anc gwapiv1.PolicyAncestorStatus) {
	where := "target " + parentName(anc.AncestorRef, k.Namespace) + ": "
	if r := anc.AncestorRef; r.Kind != nil && *r.Kind == "Namespace" {
		where = "namespace default of " + string(r.Name) + ": "
	}
	for _, c := range anc.Conditions {
		switch {
		case c.Type == string(gwapiv1.PolicyConditionAccepted) && c.Status == metav1.ConditionFalse && c.Reason == string(gwapiv1.PolicyReasonTargetNotFound):
			ctx.Report(AuthzTargetNotFound, k, "%s%s", where, c.Message)
		case c.Type == string(gwapiv1.PolicyConditionAccepted) && c.Status == metav1.ConditionFalse:
			ctx.Report(AuthzNotAccepted, k, "%sAccepted=False (%s): %s", where, c.Reason, c.Message)
		case c.Type == authz.ConditionFullyEnforced && c.Status == metav1.ConditionFalse:
			ctx.Report(AuthzFailsClosed, k, "%s%s", where, c.Message)
		}
	}
}

// neverMatching reports ServiceAccount sources no Pod runs as (when the
// namespace's Pods are known) and Namespace sources naming a namespace the
// input does not have (when Namespaces are known).
func neverMatching(ctx *Context, ap *securityv1alpha1.AuthorizationPolicy) {
	idx := ctx.index()
	k := key(authz.Kind, ap.Namespace, ap.Name)
	known := map[string]bool{}
	for n := range ctx.Set.Namespaces.Values() {
		known[n.Name] = true
	}
	for i, r := range ap.Spec.Rules {
		for j, s := range r.Sources {
			where := fmt.Sprintf("rules[%d].sources[%d]: ", i, j)
			switch {
			case s.Type == securityv1alpha1.SourceServiceAccount && s.ServiceAccount != nil:
				ns := cmp.Or(s.ServiceAccount.Namespace, ap.Namespace)
				pods := idx.pods[ns]
				if len(pods) == 0 && !ctx.PodsComplete {
					continue
				}
				used := slices.ContainsFunc(pods, func(p *corev1.Pod) bool {
					return podActive(p) && cmp.Or(p.Spec.ServiceAccountName, "default") == s.ServiceAccount.Name
				})
				if !used {
					ctx.Report(AuthzNeverMatches, k, "%sno Pod in namespace %s runs as ServiceAccount %s, so this source matches no caller", where, ns, s.ServiceAccount.Name)
				}
			case s.Type == securityv1alpha1.SourceNamespace && s.Namespace != nil:
				if len(known) > 0 && !known[*s.Namespace] {
					ctx.Report(AuthzNeverMatches, k, "%snamespace %s does not exist, so this source matches no caller", where, *s.Namespace)
				}
			}
		}
	}
}

// targetID names what a policy applies to: "" for the namespace default.
func targetIDs(ap *securityv1alpha1.AuthorizationPolicy) []string {
	if len(ap.Spec.TargetRefs) == 0 {
		return []string{""}
	}
	var out []string
	for _, r := range ap.Spec.TargetRefs {
		id := string(r.Kind) + " " + ap.Namespace + "/" + string(r.Name)
		if r.SectionName != nil {
			id += " listener " + string(*r.SectionName)
		}
		out = append(out, id)
	}
	return out
}

// unconditional reports whether a rule matches every peer and request.
func unconditional(r securityv1alpha1.AuthorizationRule) bool {
	return len(r.Sources) == 0 && len(r.To) == 0
}

// shadowedPolicies reports, per target: ALLOW policies that a DENY rule
// matching everything makes pointless; ALLOW policies made redundant by an
// ALLOW rule matching everything; and targeted ALLOW policies that a
// namespace default with rules widens (the default's callers are let in
// too).
func shadowedPolicies(ctx *Context, pols []*securityv1alpha1.AuthorizationPolicy) {
	byTarget := map[string][]*securityv1alpha1.AuthorizationPolicy{}
	defaults := map[string][]*securityv1alpha1.AuthorizationPolicy{}
	var targets []string
	for _, ap := range pols {
		for _, id := range targetIDs(ap) {
			if id == "" {
				defaults[ap.Namespace] = append(defaults[ap.Namespace], ap)
				continue
			}
			if byTarget[id] == nil {
				targets = append(targets, id)
			}
			byTarget[id] = append(byTarget[id], ap)
		}
	}
	for ns, list := range defaults {
		byTarget["namespace "+ns] = list
		targets = append(targets, "namespace "+ns)
	}
	slices.Sort(targets)
	for _, id := range targets {
		ns := targetNamespace(id)
		list := byTarget[id]
		if !strings.HasPrefix(id, "namespace ") {
			list = append(slices.Clone(defaults[ns]), list...)
		}
		shadowOnTarget(ctx, id, list)
		if !strings.HasPrefix(id, "namespace ") {
			openedByDefault(ctx, id, byTarget[id], defaults[ns])
		}
	}
}

// targetNamespace reads the namespace of a target id.
func targetNamespace(id string) string {
	if ns, ok := strings.CutPrefix(id, "namespace "); ok {
		return ns
	}
	_, rest, _ := strings.Cut(id, " ")
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

func shadowOnTarget(ctx *Context, id string, list []*securityv1alpha1.AuthorizationPolicy) {
	var denyAll, allowAll *securityv1alpha1.AuthorizationPolicy
	for _, ap := range list {
		if slices.ContainsFunc(ap.Spec.Rules, unconditional) {
			if ap.Spec.Action == securityv1alpha1.ActionDeny && denyAll == nil {
				denyAll = ap
			}
			if ap.Spec.Action == securityv1alpha1.ActionAllow && allowAll == nil {
				allowAll = ap
			}
		}
	}
	for _, ap := range list {
		if ap.Spec.Action != securityv1alpha1.ActionAllow {
			continue
		}
		k := key(authz.Kind, ap.Namespace, ap.Name)
		switch {
		case denyAll != nil:
			ctx.Report(AuthzShadowed, k, "on %s, DENY policy %s/%s refuses every request first, so this ALLOW policy never lets anything through", targetName(id), denyAll.Namespace, denyAll.Name)
		case allowAll != nil && allowAll != ap:
			ctx.Report(AuthzShadowed, k, "on %s, ALLOW policy %s/%s already allows every request, so this policy changes nothing", targetName(id), allowAll.Namespace, allowAll.Name)
		}
	}
}

// openedByDefault reports a target's own ALLOW policies when a namespace
// default ALLOW policy with rules applies to it too: ALLOW policies add up,
// so the default's callers get in as well.
func openedByDefault(ctx *Context, id string, own, defaults []*securityv1alpha1.AuthorizationPolicy) {
	var opener *securityv1alpha1.AuthorizationPolicy
	for _, d := range defaults {
		if d.Spec.Action == securityv1alpha1.ActionAllow && len(d.Spec.Rules) > 0 {
			opener = d
			break
		}
	}
	if opener == nil {
		return
	}
	for _, ap := range own {
		k := key(authz.Kind, ap.Namespace, ap.Name)
		if ap.Spec.Action == securityv1alpha1.ActionAllow && !ctx.Reported(k, AuthzTargetNotFound, AuthzNotAccepted) {
			ctx.Report(AuthzOpenedByDefault, k,
				"on %s, the namespace default ALLOW policy %s/%s also applies and ALLOW policies add up: callers it allows get in even if this policy does not list them", targetName(id), opener.Namespace, opener.Name)
		}
	}
}

func targetName(id string) string {
	if id == "" {
		return "the namespace"
	}
	return id
}
