// Package status holds the Gateway API status that translation computes, as
// plain data. Translators fill a Report; providers write it (kube: the status
// subresource; file: logs and the admin endpoint). Conditions carry no
// LastTransitionTime: translation has no clock, so writers stamp it when a
// condition's status actually changes.
package status

import (
	"cmp"
	"slices"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Report is the status of every input object translation looked at.
// Every slice is sorted by namespace then name (routes: kind, namespace, name).
type Report struct {
	GatewayClasses     []GatewayClass `json:"gatewayClasses,omitempty"`
	Gateways           []Gateway      `json:"gateways,omitempty"`
	ListenerSets       []ListenerSet  `json:"listenerSets,omitempty"`
	Routes             []Route        `json:"routes,omitempty"`
	BackendTLSPolicies []Policy       `json:"backendTLSPolicies,omitempty"`
	// AuthorizationPolicies (security.gantry.io) hold the entries of every
	// target: Services, Gateways and listeners, or the namespace.
	AuthorizationPolicies []Policy `json:"authorizationPolicies,omitempty"`
	XMeshes               []XMesh  `json:"xmeshes,omitempty"`
}

// GatewayClass is the status of one GatewayClass.
type GatewayClass struct {
	Name       string                     `json:"name"`
	Generation int64                      `json:"generation"`
	Status     gwapiv1.GatewayClassStatus `json:"status"`
}

// Gateway is the status of one Gateway, listeners included. Addresses are
// left to the infrastructure (kube: the LoadBalancer Service).
type Gateway struct {
	Namespace  string                `json:"namespace"`
	Name       string                `json:"name"`
	Generation int64                 `json:"generation"`
	Status     gwapiv1.GatewayStatus `json:"status"`
}

// BoundAddresses are the addresses the infrastructure bound to a Gateway
// and, when they fall short of what it asked for, why.
type BoundAddresses struct {
	// Addresses become status.addresses.
	Addresses []gwapiv1.GatewayStatusAddress
	// Reason, when set (AddressNotAssigned, AddressNotUsable), turns a
	// Programmed=True condition into Programmed=False with Message.
	Reason  gwapiv1.GatewayConditionReason
	Message string
}

// ListenerSet is the status of one ListenerSet.
type ListenerSet struct {
	Namespace  string                    `json:"namespace"`
	Name       string                    `json:"name"`
	Generation int64                     `json:"generation"`
	Status     gwapiv1.ListenerSetStatus `json:"status"`
}

// Route is the status of one route of any kind (HTTPRoute, GRPCRoute,
// TLSRoute, TCPRoute, UDPRoute). Parents holds only the entries this
// controller owns; writers merge them with other controllers' entries.
type Route struct {
	Kind       string                      `json:"kind"`
	Namespace  string                      `json:"namespace"`
	Name       string                      `json:"name"`
	Generation int64                       `json:"generation"`
	Parents    []gwapiv1.RouteParentStatus `json:"parents"`
}

// Policy is the status of one policy (BackendTLSPolicy).
type Policy struct {
	Kind       string               `json:"kind"`
	Namespace  string               `json:"namespace"`
	Name       string               `json:"name"`
	Generation int64                `json:"generation"`
	Status     gwapiv1.PolicyStatus `json:"status"`
}

// Sort orders every slice of the report as documented on Report, in place.
func (r *Report) Sort() {
	slices.SortFunc(r.GatewayClasses, compareClasses)
	slices.SortFunc(r.Gateways, compareGateways)
	slices.SortFunc(r.ListenerSets, compareListenerSets)
	slices.SortFunc(r.Routes, compareRoutes)
	slices.SortFunc(r.BackendTLSPolicies, comparePolicies)
	slices.SortFunc(r.AuthorizationPolicies, comparePolicies)
	slices.SortFunc(r.XMeshes, compareXMeshes)
}

// SortShared orders every slice as Sort does without writing into any:
// a slice out of order is replaced by a sorted copy, one in order is kept
// (one pass of comparisons). For reports whose lists are shared with
// reports published before, which are never written.
func (r *Report) SortShared() {
	r.GatewayClasses = sorted(r.GatewayClasses, compareClasses)
	r.Gateways = sorted(r.Gateways, compareGateways)
	r.ListenerSets = sorted(r.ListenerSets, compareListenerSets)
	r.Routes = sorted(r.Routes, compareRoutes)
	r.BackendTLSPolicies = sorted(r.BackendTLSPolicies, comparePolicies)
	r.AuthorizationPolicies = sorted(r.AuthorizationPolicies, comparePolicies)
	r.XMeshes = sorted(r.XMeshes, compareXMeshes)
}

// sorted is s when it is in order, a sorted copy otherwise.
func sorted[T any](s []T, compare func(a, b T) int) []T {
	if slices.IsSortedFunc(s, compare) {
		return s
	}
	s = slices.Clone(s)
	slices.SortFunc(s, compare)
	return s
}

func compareClasses(a, b GatewayClass) int { return cmp.Compare(a.Name, b.Name) }

func compareGateways(a, b Gateway) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func compareListenerSets(a, b ListenerSet) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func compareRoutes(a, b Route) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func comparePolicies(a, b Policy) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func compareXMeshes(a, b XMesh) int { return cmp.Compare(a.Name, b.Name) }
