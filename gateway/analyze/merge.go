package analyze

import (
	"github.com/gantryproxy/gantry/gateway/resource"
)

// Overlay returns the Set that base would become with top applied: every
// object of top, plus the objects of base that top does not redefine (same
// Kind, namespace and name). Neither input is modified. Sources come from
// top (objects read from the cluster have none).
func Overlay(base, top *resource.Set) *resource.Set {
	objs := append(Objects(top), Objects(base)...)
	set, _, _ := resource.BuildSet(objs) // duplicates: the first (top) wins
	for k := range set.Sources {
		if _, ok := top.SourceOf(k); !ok {
			delete(set.Sources, k)
		}
	}
	return set
}

// Objects lists every object of set with its key and source.
func Objects(set *resource.Set) []resource.Object {
	if set == nil {
		return nil
	}
	var out []resource.Object
	add := func(kind, ns, name string, v any) {
		k := resource.Key{Kind: kind, Namespace: ns, Name: name}
		src, _ := set.SourceOf(k)
		out = append(out, resource.Object{Key: k, Source: src, Value: v})
	}
	for _, o := range set.GatewayClasses {
		add(kindGatewayClass, "", o.Name, o)
	}
	for _, o := range set.Gateways {
		add(kindGateway, o.Namespace, o.Name, o)
	}
	for _, o := range set.ListenerSets {
		add(kindListenerSet, o.Namespace, o.Name, o)
	}
	for _, o := range set.HTTPRoutes {
		add(kindHTTPRoute, o.Namespace, o.Name, o)
	}
	for _, o := range set.GRPCRoutes {
		add(kindGRPCRoute, o.Namespace, o.Name, o)
	}
	for _, o := range set.TLSRoutes {
		add(kindTLSRoute, o.Namespace, o.Name, o)
	}
	for _, o := range set.TCPRoutes {
		add(kindTCPRoute, o.Namespace, o.Name, o)
	}
	for _, o := range set.UDPRoutes {
		add(kindUDPRoute, o.Namespace, o.Name, o)
	}
	for _, o := range set.ReferenceGrants {
		add(kindRefGrant, o.Namespace, o.Name, o)
	}
	for _, o := range set.BackendTLSPolicies {
		add(kindBackendTLS, o.Namespace, o.Name, o)
	}
	for _, o := range set.Services {
		add(kindService, o.Namespace, o.Name, o)
	}
	for _, o := range set.EndpointSlices {
		add("EndpointSlice", o.Namespace, o.Name, o)
	}
	for _, o := range set.Secrets {
		add(kindSecret, o.Namespace, o.Name, o)
	}
	for _, o := range set.ConfigMaps {
		add("ConfigMap", o.Namespace, o.Name, o)
	}
	for _, o := range set.Namespaces {
		add(kindNamespace, "", o.Name, o)
	}
	for _, o := range set.Pods {
		add("Pod", o.Namespace, o.Name, o)
	}
	return out
}
