package analyze

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

const gatewayGroup = gwapiv1.GroupName

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

// flattenRoutes flattens every route of the Set, kind by kind in the order
// of resource's table, each kind in Set order.
func flattenRoutes(set *resource.Set) []route {
	out := []route{}
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		k.Each(set, func(o metav1.Object) {
			if rt, ok := flattenRoute(k.Kind, o); ok {
				out = append(out, rt)
			}
		})
	}
	return out
}

// flattenRoute is the part of one route the analyzers look at. Every route
// kind of resource's table has its case (TestEveryRouteKindFlattened).
func flattenRoute(kind string, o metav1.Object) (route, bool) {
	var parents []gwapiv1.ParentReference
	var rules [][]gwapiv1.BackendRef
	switch r := o.(type) {
	case *gwapiv1.HTTPRoute:
		parents = r.Spec.ParentRefs
		rules = backendRefLists(r.Spec.Rules, func(x gwapiv1.HTTPRouteRule) []gwapiv1.BackendRef {
			return embedded(x.BackendRefs, func(b gwapiv1.HTTPBackendRef) gwapiv1.BackendRef { return b.BackendRef })
		})
	case *gwapiv1.GRPCRoute:
		parents = r.Spec.ParentRefs
		rules = backendRefLists(r.Spec.Rules, func(x gwapiv1.GRPCRouteRule) []gwapiv1.BackendRef {
			return embedded(x.BackendRefs, func(b gwapiv1.GRPCBackendRef) gwapiv1.BackendRef { return b.BackendRef })
		})
	case *gwapiv1.TLSRoute:
		parents = r.Spec.ParentRefs
		rules = backendRefLists(r.Spec.Rules, func(x gwapiv1.TLSRouteRule) []gwapiv1.BackendRef { return x.BackendRefs })
	case *gwapiv1.TCPRoute:
		parents = r.Spec.ParentRefs
		rules = backendRefLists(r.Spec.Rules, func(x gwapiv1.TCPRouteRule) []gwapiv1.BackendRef { return x.BackendRefs })
	case *gwapiv1.UDPRoute:
		parents = r.Spec.ParentRefs
		rules = backendRefLists(r.Spec.Rules, func(x gwapiv1.UDPRouteRule) []gwapiv1.BackendRef { return x.BackendRefs })
	default:
		return route{}, false
	}
	rt := route{key: key(kind, o.GetNamespace(), o.GetName()), parentRefs: parents}
	for _, refs := range rules {
		var rr routeRule
		for _, b := range refs {
			rr.backendRefs = append(rr.backendRefs, weightedRef{ref: b.BackendObjectReference, weight: b.Weight})
		}
		rt.rules = append(rt.rules, rr)
	}
	return rt, true
}

func embedded[T any](in []T, get func(T) gwapiv1.BackendRef) []gwapiv1.BackendRef {
	out := make([]gwapiv1.BackendRef, 0, len(in))
	for _, b := range in {
		out = append(out, get(b))
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
	kind := resource.KindService
	if ref.Kind != nil {
		kind = string(*ref.Kind)
	}
	return (group == "" || group == "core") && kind == resource.KindService
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
	for o := range s.Services.Values() {
		idx.services[nsName{o.Namespace, o.Name}] = o
	}
	for o := range s.Secrets.Values() {
		idx.secrets[nsName{o.Namespace, o.Name}] = o
	}
	for o := range s.Gateways.Values() {
		idx.gateways[nsName{o.Namespace, o.Name}] = o
	}
	for o := range s.ListenerSets.Values() {
		idx.lsets[nsName{o.Namespace, o.Name}] = o
	}
	for o := range s.GatewayClasses.Values() {
		idx.classes[o.Name] = o
	}
	for o := range s.Pods.Values() {
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
