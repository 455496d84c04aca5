package analyze

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// Kinds as they appear in messages and resource.Key.
const (
	kindGateway      = "Gateway"
	kindGatewayClass = "GatewayClass"
	kindListenerSet  = "ListenerSet"
	kindHTTPRoute    = "HTTPRoute"
	kindGRPCRoute    = "GRPCRoute"
	kindTLSRoute     = "TLSRoute"
	kindTCPRoute     = "TCPRoute"
	kindUDPRoute     = "UDPRoute"
	kindService      = "Service"
	kindSecret       = "Secret"
	kindNamespace    = "Namespace"
	kindRefGrant     = "ReferenceGrant"
	kindBackendTLS   = "BackendTLSPolicy"
	gatewayGroup     = gwapiv1.GroupName
)

type nsName struct{ ns, name string }

func (n nsName) String() string { return n.ns + "/" + n.name }

// route is the part of any route kind the analyzers look at.
type route struct {
	key        resource.Key
	parentRefs []gwapiv1.ParentReference
	rules      []routeRule
}

type routeRule struct {
	backendRefs []weightedRef
}

type weightedRef struct {
	ref    gwapiv1.BackendObjectReference
	weight *int32
}

// routes returns every route of the Set, flattened once per Context.
func (c *Context) routes() []route {
	if c.routeList == nil {
		c.routeList = flattenRoutes(c.Set)
	}
	return c.routeList
}

// flattenRoutes flattens every route kind, in Set order.
func flattenRoutes(set *resource.Set) []route {
	out := []route{}
	for _, r := range set.HTTPRoutes {
		rt := route{key: key(kindHTTPRoute, r.Namespace, r.Name), parentRefs: r.Spec.ParentRefs}
		for _, rule := range r.Spec.Rules {
			var rr routeRule
			for _, b := range rule.BackendRefs {
				rr.backendRefs = append(rr.backendRefs, weightedRef{ref: b.BackendObjectReference, weight: b.Weight})
			}
			rt.rules = append(rt.rules, rr)
		}
		out = append(out, rt)
	}
	for _, r := range set.GRPCRoutes {
		rt := route{key: key(kindGRPCRoute, r.Namespace, r.Name), parentRefs: r.Spec.ParentRefs}
		for _, rule := range r.Spec.Rules {
			var rr routeRule
			for _, b := range rule.BackendRefs {
				rr.backendRefs = append(rr.backendRefs, weightedRef{ref: b.BackendObjectReference, weight: b.Weight})
			}
			rt.rules = append(rt.rules, rr)
		}
		out = append(out, rt)
	}
	add := func(kind, ns, name string, parents []gwapiv1.ParentReference, rules [][]gwapiv1.BackendRef) {
		rt := route{key: key(kind, ns, name), parentRefs: parents}
		for _, refs := range rules {
			var rr routeRule
			for _, b := range refs {
				rr.backendRefs = append(rr.backendRefs, weightedRef{ref: b.BackendObjectReference, weight: b.Weight})
			}
			rt.rules = append(rt.rules, rr)
		}
		out = append(out, rt)
	}
	for _, r := range set.TLSRoutes {
		add(kindTLSRoute, r.Namespace, r.Name, r.Spec.ParentRefs, backendRefLists(r.Spec.Rules, func(x gwapiv1.TLSRouteRule) []gwapiv1.BackendRef { return x.BackendRefs }))
	}
	for _, r := range set.TCPRoutes {
		add(kindTCPRoute, r.Namespace, r.Name, r.Spec.ParentRefs, backendRefLists(r.Spec.Rules, func(x gwapiv1.TCPRouteRule) []gwapiv1.BackendRef { return x.BackendRefs }))
	}
	for _, r := range set.UDPRoutes {
		add(kindUDPRoute, r.Namespace, r.Name, r.Spec.ParentRefs, backendRefLists(r.Spec.Rules, func(x gwapiv1.UDPRouteRule) []gwapiv1.BackendRef { return x.BackendRefs }))
	}
	return out
}

func backendRefLists[R any](rules []R, get func(R) []gwapiv1.BackendRef) [][]gwapiv1.BackendRef {
	out := make([][]gwapiv1.BackendRef, 0, len(rules))
	for _, r := range rules {
		out = append(out, get(r))
	}
	return out
}

func key(kind, ns, name string) resource.Key {
	return resource.Key{Kind: kind, Namespace: ns, Name: name}
}

// isService tells whether a backend reference points at a core Service.
func isService(ref gwapiv1.BackendObjectReference) bool {
	group := ""
	if ref.Group != nil {
		group = string(*ref.Group)
	}
	kind := kindService
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return (group == "" || group == "core") && kind == kindService
}

// refNamespace is ref's namespace, defaulting to the referrer's.
func refNamespace(ns *gwapiv1.Namespace, from string) string {
	if ns != nil && *ns != "" {
		return string(*ns)
	}
	return from
}

// index holds lookups built once per Context.
type index struct {
	services map[nsName]*corev1.Service
	secrets  map[nsName]*corev1.Secret
	gateways map[nsName]*gwapiv1.Gateway
	lsets    map[nsName]*gwapiv1.ListenerSet
	classes  map[string]*gwapiv1.GatewayClass
	pods     map[string][]*corev1.Pod
}

func (c *Context) index() *index {
	if c.idx != nil {
		return c.idx
	}
	s := c.Set
	idx := &index{
		services: map[nsName]*corev1.Service{},
		secrets:  map[nsName]*corev1.Secret{},
		gateways: map[nsName]*gwapiv1.Gateway{},
		lsets:    map[nsName]*gwapiv1.ListenerSet{},
		classes:  map[string]*gwapiv1.GatewayClass{},
		pods:     map[string][]*corev1.Pod{},
	}
	for _, o := range s.Services {
		idx.services[nsName{o.Namespace, o.Name}] = o
	}
	for _, o := range s.Secrets {
		idx.secrets[nsName{o.Namespace, o.Name}] = o
	}
	for _, o := range s.Gateways {
		idx.gateways[nsName{o.Namespace, o.Name}] = o
	}
	for _, o := range s.ListenerSets {
		idx.lsets[nsName{o.Namespace, o.Name}] = o
	}
	for _, o := range s.GatewayClasses {
		idx.classes[o.Name] = o
	}
	for _, o := range s.Pods {
		idx.pods[o.Namespace] = append(idx.pods[o.Namespace], o)
	}
	c.idx = idx
	return idx
}

// servicePorts lists a Service's ports for messages: "80/http, 443".
func servicePorts(svc *corev1.Service) string {
	out := ""
	for i, p := range svc.Spec.Ports {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprint(p.Port)
		if p.Name != "" {
			out += "/" + p.Name
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
