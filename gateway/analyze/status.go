package analyze

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// statusAnalyzer turns every negative condition in the translator's status
// into a message, so analyze reports exactly what the controller would
// write. A condition that an earlier analyzer already explained in detail
// for the same object (see statusRule.explainedBy) is left out.
type statusAnalyzer struct{}

func (statusAnalyzer) Name() string { return "status" }
func (statusAnalyzer) Description() string {
	return "every negative status condition the edge and mesh translators set (routes, listeners, Gateways, classes, policies)"
}

// statusRule maps a negative condition to a code.
type statusRule struct {
	// negative is the condition status that signals a problem.
	negative metav1.ConditionStatus
	// reasons maps a reason to a code; "" is the fallback for other reasons.
	reasons map[string]Code
	// explainedBy lists codes that, reported earlier for the same object,
	// make this condition redundant.
	explainedBy []Code
}

// Condition types that are consequences of others (Programmed) are not
// listed: they would repeat the cause.
var routeRules = map[string]statusRule{
	string(gwapiv1.RouteConditionAccepted): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		string(gwapiv1.RouteReasonNoMatchingListenerHostname): NoMatchingListenerHostname,
		string(gwapiv1.RouteReasonNoMatchingParent):           NoMatchingParent,
		string(gwapiv1.RouteReasonUnsupportedValue):           UnsupportedValue,
		string(gwapiv1.RouteReasonIncompatibleFilters):        UnsupportedValue,
		"": RouteNotAccepted,
	}, explainedBy: []Code{ParentNotFound}},
	string(gwapiv1.RouteConditionResolvedRefs): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		string(gwapiv1.RouteReasonRefNotPermitted):     RefNotPermitted,
		string(gwapiv1.RouteReasonBackendNotFound):     BackendNotFound,
		string(gwapiv1.RouteReasonInvalidKind):         InvalidBackend,
		string(gwapiv1.RouteReasonUnsupportedProtocol): InvalidBackend,
		"": BackendNotFound,
	}, explainedBy: []Code{BackendPortNotFound, BackendPortMissing}},
	string(gwapiv1.RouteConditionPartiallyInvalid): {negative: metav1.ConditionTrue, reasons: map[string]Code{"": PartiallyInvalid}},
}

var listenerRules = map[string]statusRule{
	string(gwapiv1.ListenerConditionConflicted): {negative: metav1.ConditionTrue, reasons: map[string]Code{"": ListenerConflicted}},
	string(gwapiv1.ListenerConditionAccepted): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		// A conflict is reported once, from the Conflicted condition.
		string(gwapiv1.ListenerReasonHostnameConflict): "",
		string(gwapiv1.ListenerReasonProtocolConflict): "",
		"": ListenerNotAccepted,
	}},
	string(gwapiv1.ListenerConditionResolvedRefs): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		string(gwapiv1.ListenerReasonRefNotPermitted):       RefNotPermitted,
		string(gwapiv1.ListenerReasonInvalidRouteKinds):     InvalidRouteKinds,
		string(gwapiv1.ListenerReasonInvalidCertificateRef): InvalidCertificateRef,
		"": InvalidCertificateRef,
	}, explainedBy: []Code{TLSSecretNotFound, TLSSecretMalformed, CertificateKeyMismatch}},
	string(gwapiv1.ListenerConditionOverlappingTLSConfig): {negative: metav1.ConditionTrue, reasons: map[string]Code{"": OverlappingTLSConfig}, explainedBy: []Code{CertificateCoalescing}},
}

var gatewayRules = map[string]statusRule{
	string(gwapiv1.GatewayConditionAccepted): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		// ListenersNotValid repeats the listener conditions reported above.
		string(gwapiv1.GatewayReasonListenersNotValid): "",
		"": GatewayNotAccepted,
	}, explainedBy: []Code{GatewayClassNotFound}},
	string(gwapiv1.GatewayConditionResolvedRefs): {negative: metav1.ConditionFalse, reasons: map[string]Code{
		string(gwapiv1.GatewayReasonListenersNotResolved): "",
		string(gwapiv1.GatewayReasonRefNotPermitted):      RefNotPermitted,
		"": InvalidCertificateRef,
	}},
}

var classRules = map[string]statusRule{
	string(gwapiv1.GatewayClassConditionStatusAccepted):         {negative: metav1.ConditionFalse, reasons: map[string]Code{"": GatewayClassNotAccepted}},
	string(gwapiv1.GatewayClassConditionStatusSupportedVersion): {negative: metav1.ConditionFalse, reasons: map[string]Code{"": CRDBundleTooOld}},
}

var policyRules = map[string]statusRule{
	string(gwapiv1.PolicyConditionAccepted):               {negative: metav1.ConditionFalse, reasons: map[string]Code{"": BackendTLSPolicyBad}},
	string(gwapiv1.BackendTLSPolicyConditionResolvedRefs): {negative: metav1.ConditionFalse, reasons: map[string]Code{"": BackendTLSPolicyBad}},
}

func (statusAnalyzer) Run(ctx *Context) {
	for _, st := range ctx.Reports() {
		reportStatus(ctx, st)
	}
}

func reportStatus(ctx *Context, st *status.Report) {
	for _, c := range st.GatewayClasses {
		conditions(ctx, key(resource.KindGatewayClass, "", c.Name), "", c.Status.Conditions, classRules)
	}
	for _, g := range st.Gateways {
		k := key(resource.KindGateway, g.Namespace, g.Name)
		for _, l := range g.Status.Listeners {
			conditions(ctx, k, fmt.Sprintf("listener %q: ", l.Name), l.Conditions, listenerRules)
		}
		conditions(ctx, k, "", g.Status.Conditions, gatewayRules)
	}
	for _, s := range st.ListenerSets {
		k := key(resource.KindListenerSet, s.Namespace, s.Name)
		for _, l := range s.Status.Listeners {
			conditions(ctx, k, fmt.Sprintf("listener %q: ", l.Name), l.Conditions, listenerRules)
		}
		conditions(ctx, k, "", s.Status.Conditions, gatewayRules)
	}
	for _, r := range st.Routes {
		k := key(r.Kind, r.Namespace, r.Name)
		for _, p := range r.Parents {
			if ctx.missingParent(k, p.ParentRef, r.Namespace) {
				continue // reported once, as GTY0106
			}
			conditions(ctx, k, "parent "+parentName(p.ParentRef, r.Namespace)+": ", p.Conditions, routeRules)
		}
	}
	for _, p := range st.BackendTLSPolicies {
		k := key(p.Kind, p.Namespace, p.Name)
		for _, anc := range p.Status.Ancestors {
			conditions(ctx, k, "ancestor "+parentName(anc.AncestorRef, p.Namespace)+": ", anc.Conditions, policyRules)
		}
	}
}

func conditions(ctx *Context, obj resource.Key, prefix string, conds []metav1.Condition, rules map[string]statusRule) {
	type finding struct {
		code Code
		c    metav1.Condition
	}
	var found []finding
	for _, c := range conds {
		rule, ok := rules[c.Type]
		if !ok || c.Status != rule.negative {
			continue
		}
		code, ok := rule.reasons[c.Reason]
		if !ok {
			code = rule.reasons[""]
		}
		if code == "" {
			continue
		}
		c.Message = unexplained(ctx, obj, prefix, c.Message, rule.explainedBy)
		if c.Message != "" {
			found = append(found, finding{code: code, c: c})
		}
	}
	for i, f := range found {
		if repeated(i, f.c.Message, func(j int) string { return found[j].c.Message }, len(found)) {
			continue
		}
		ctx.Report(f.code, obj, "%s%s=%s (%s): %s", prefix, f.c.Type, f.c.Status, f.c.Reason, f.c.Message)
	}
}

// repeated tells whether message i of n says nothing that another does: it
// is part of a longer message, or equal to an earlier one (one problem often
// sets two conditions, such as Accepted and ResolvedRefs).
func repeated(i int, msg string, at func(int) string, n int) bool {
	for j := range n {
		other := at(j)
		if j == i || !strings.Contains(other, msg) {
			continue
		}
		if len(other) > len(msg) || j < i {
			return true
		}
	}
	return false
}

// unexplained returns what is left of a condition message once the more
// detailed messages about obj (one of codes) reported earlier are taken
// away: nothing when one of them is about the same listener (prefix),
// otherwise the parts ("part; part; ...") none of them quotes.
func unexplained(ctx *Context, obj resource.Key, prefix, msg string, codes []Code) string {
	if msg == "" {
		msg = "(no message)"
	}
	if !ctx.Reported(obj, codes...) {
		return msg
	}
	if prefix != "" && ctx.prefixed(obj, prefix, codes) {
		return ""
	}
	var keep []string
	for _, part := range strings.Split(msg, "; ") {
		if !ctx.quoted(obj, part, codes) {
			keep = append(keep, part)
		}
	}
	return strings.Join(keep, "; ")
}

// parentName is "Kind namespace/name[/section][:port]".
// markMissingParent records that route's parent ("Kind ns/name") does not
// exist.
func (c *Context) markMissingParent(route resource.Key, parent string) {
	if c.missingParents == nil {
		c.missingParents = map[resource.Key]map[string]bool{}
	}
	if c.missingParents[route] == nil {
		c.missingParents[route] = map[string]bool{}
	}
	c.missingParents[route][parent] = true
}

// missingParent tells whether p, a parentRef of route, names a parent
// reported missing.
func (c *Context) missingParent(route resource.Key, p gwapiv1.ParentReference, from string) bool {
	kind := resource.KindGateway
	if p.Kind != nil {
		kind = string(*p.Kind)
	}
	return c.missingParents[route][fmt.Sprintf("%s %s/%s", kind, refNamespace(p.Namespace, from), p.Name)]
}

func parentName(p gwapiv1.ParentReference, from string) string {
	kind := resource.KindGateway
	if p.Kind != nil {
		kind = string(*p.Kind)
	}
	s := fmt.Sprintf("%s %s/%s", kind, refNamespace(p.Namespace, from), p.Name)
	if p.SectionName != nil {
		s += "/" + string(*p.SectionName)
	}
	if p.Port != nil {
		s += fmt.Sprintf(":%d", *p.Port)
	}
	return s
}
