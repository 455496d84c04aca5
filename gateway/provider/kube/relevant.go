package kube

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// filterRelevant returns a copy of set holding only what Gantry acts on:
// GatewayClasses and XMeshes with its controllerName, their Gateways, ListenerSets and
// routes attached to those Gateways, Secrets translation may use, the Pods
// an EndpointSlice names, and the watched Namespaces. Referenced kinds (Services, EndpointSlices, ConfigMaps,
// ReferenceGrants, BackendTLSPolicies) are kept whole.
func filterRelevant(set *resource.Set, opts Options) *resource.Set {
	out := *set
	classes := map[string]bool{}
	out.GatewayClasses = set.GatewayClasses.Filter(func(c *gwapiv1.GatewayClass) bool {
		ours := string(c.Spec.ControllerName) == opts.controllerName()
		classes[c.Name] = ours
		return ours
	})
	gateways := map[types.NamespacedName]bool{}
	out.Gateways = set.Gateways.Filter(func(g *gwapiv1.Gateway) bool {
		if !classes[string(g.Spec.GatewayClassName)] {
			return false
		}
		gateways[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}] = true
		return true
	})
	listenerSets := map[types.NamespacedName]bool{}
	out.ListenerSets = set.ListenerSets.Filter(func(ls *gwapiv1.ListenerSet) bool {
		ref := ls.Spec.ParentRef
		ns := ls.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		if ref.Kind != nil && *ref.Kind != "Gateway" {
			return false
		}
		if !gateways[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}] {
			return false
		}
		listenerSets[types.NamespacedName{Namespace: ls.Namespace, Name: ls.Name}] = true
		return true
	})
	a := attachment{gateways: gateways, listenerSets: listenerSets, services: opts.IncludeServiceParents}
	out.HTTPRoutes = set.HTTPRoutes.Filter(func(r *gwapiv1.HTTPRoute) bool { return a.attached(r.Namespace, r.Spec.ParentRefs) })
	out.GRPCRoutes = set.GRPCRoutes.Filter(func(r *gwapiv1.GRPCRoute) bool { return a.attached(r.Namespace, r.Spec.ParentRefs) })
	out.TLSRoutes = set.TLSRoutes.Filter(func(r *gwapiv1.TLSRoute) bool { return a.attached(r.Namespace, r.Spec.ParentRefs) })
	out.TCPRoutes = set.TCPRoutes.Filter(func(r *gwapiv1.TCPRoute) bool { return a.attached(r.Namespace, r.Spec.ParentRefs) })
	out.UDPRoutes = set.UDPRoutes.Filter(func(r *gwapiv1.UDPRoute) bool { return a.attached(r.Namespace, r.Spec.ParentRefs) })
	out.Secrets = set.Secrets.Filter(relevantSecret)
	out.Pods = set.Pods.Filter(endpointPods(set.EndpointSlices))
	out.XMeshes = set.XMeshes.Filter(func(m *xv1alpha1.XMesh) bool { return string(m.Spec.ControllerName) == opts.controllerName() })
	if len(opts.WatchNamespaces) > 0 {
		out.Namespaces = set.Namespaces.Filter(func(n *corev1.Namespace) bool {
			return slices.Contains(opts.WatchNamespaces, n.Name)
		})
	}
	return &out
}

// attachment answers whether a route's parentRefs name one of Gantry's
// Gateways or ListenerSets (or, for mesh routes, a Service).
type attachment struct {
	gateways, listenerSets map[types.NamespacedName]bool
	services               bool
}

func (a attachment) attached(routeNS string, refs []gwapiv1.ParentReference) bool {
	for _, ref := range refs {
		group, kind, ns := gwapiv1.GroupName, "Gateway", routeNS
		if ref.Group != nil {
			group = string(*ref.Group)
		}
		if ref.Kind != nil {
			kind = string(*ref.Kind)
		}
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		name := types.NamespacedName{Namespace: ns, Name: string(ref.Name)}
		switch {
		case group == gwapiv1.GroupName && kind == "Gateway" && a.gateways[name]:
			return true
		case group == gwapiv1.GroupName && kind == "ListenerSet" && a.listenerSets[name]:
			return true
		case (group == "" || group == "core") && kind == "Service" && a.services:
			return true
		}
	}
	return false
}
