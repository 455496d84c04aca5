package translate

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// nsName names a namespaced object.
type nsName struct{ ns, name string }

// index is the lookup view of one resource.Set, built once per translation.
// Every list in it is sorted so that ranging over it is deterministic.
type index struct {
	set            *resource.Set
	classes        map[string]*gwapiv1.GatewayClass
	gateways       []*gwapiv1.Gateway // sorted by namespace, name
	services       map[nsName]*corev1.Service
	slices         map[nsName][]*discoveryv1.EndpointSlice // by Service, sorted by name
	secrets        map[nsName]*corev1.Secret
	namespaces     map[string]*corev1.Namespace
	grants         map[string][]*gwapiv1beta1.ReferenceGrant // by namespace, sorted by name
	routes         []route                                   // every route of every kind, sorted
	endpointsCache map[string][]ir.Endpoint
	// authz indexes the AuthorizationPolicies on first use (authz.go).
	authz        *authz.Policies
	clusterCache map[servicePortKey]*ir.Cluster
	// tlsx holds ConfigMaps, BackendTLSPolicies and CA bundles (built on use).
	tlsx *tlsExtras
	// lsets lists ListenerSets by parent Gateway (built on use).
	lsets map[nsName][]*gwapiv1.ListenerSet
}

func byMeta(a, b metav1.Object) int {
	return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}

func sortedCopy[T metav1.Object](in []T) []T {
	out := slices.Clone(in)
	slices.SortStableFunc(out, func(a, b T) int { return byMeta(a, b) })
	return out
}

// sortedList is sortedCopy of a Set's list.
func sortedList[T metav1.Object](in plist.List[T]) []T {
	out := in.Slice()
	slices.SortStableFunc(out, func(a, b T) int { return byMeta(a, b) })
	return out
}

func newIndex(set *resource.Set) *index {
	if set == nil {
		set = &resource.Set{}
	}
	x := &index{
		set:            set,
		classes:        map[string]*gwapiv1.GatewayClass{},
		gateways:       sortedList(set.Gateways),
		services:       map[nsName]*corev1.Service{},
		slices:         map[nsName][]*discoveryv1.EndpointSlice{},
		secrets:        map[nsName]*corev1.Secret{},
		namespaces:     map[string]*corev1.Namespace{},
		grants:         map[string][]*gwapiv1beta1.ReferenceGrant{},
		endpointsCache: map[string][]ir.Endpoint{},
	}
	for _, c := range sortedList(set.GatewayClasses) {
		if _, dup := x.classes[c.Name]; !dup {
			x.classes[c.Name] = c
		}
	}
	for _, s := range sortedList(set.Services) {
		x.services[nsName{s.Namespace, s.Name}] = s
	}
	x.slices = indexSlices(set)
	for _, s := range sortedList(set.Secrets) {
		x.secrets[nsName{s.Namespace, s.Name}] = s
	}
	for _, n := range sortedList(set.Namespaces) {
		x.namespaces[n.Name] = n
	}
	for _, g := range sortedList(set.ReferenceGrants) {
		x.grants[g.Namespace] = append(x.grants[g.Namespace], g)
	}
	x.routes = collectRoutes(set)
	return x
}

// indexSlices lists the EndpointSlices by Service, sorted by name.
func indexSlices(set *resource.Set) map[nsName][]*discoveryv1.EndpointSlice {
	out := map[nsName][]*discoveryv1.EndpointSlice{}
	for _, es := range sortedList(set.EndpointSlices) {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		k := nsName{es.Namespace, svc}
		out[k] = append(out[k], es)
	}
	return out
}

// collectRoutes lists the routes of every route kind of resource's table, in
// table order, each kind sorted by namespace/name.
func collectRoutes(set *resource.Set) []route {
	var out []route
	for _, k := range resource.KindsWith(resource.RoleRoute) {
		var objs []metav1.Object
		k.Each(set, func(o metav1.Object) { objs = append(objs, o) })
		slices.SortStableFunc(objs, byMeta)
		for _, o := range objs {
			if r, ok := routeOf(o); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

// refGrant is one side of a cross-namespace reference.
type refGrant struct {
	fromGroup, fromKind, fromNamespace string
	toGroup, toKind, toNamespace       string
	toName                             string
}

// allowed reports whether a reference is in the same namespace or permitted
// by a ReferenceGrant in the target namespace.
func (x *index) allowed(r refGrant) bool {
	if r.fromNamespace == r.toNamespace {
		return true
	}
	for _, g := range x.grants[r.toNamespace] {
		if grantAllows(g, r) {
			return true
		}
	}
	return false
}

func grantAllows(g *gwapiv1beta1.ReferenceGrant, r refGrant) bool {
	from := false
	for _, f := range g.Spec.From {
		if string(f.Group) == r.fromGroup && string(f.Kind) == r.fromKind && string(f.Namespace) == r.fromNamespace {
			from = true
			break
		}
	}
	if !from {
		return false
	}
	for _, t := range g.Spec.To {
		if string(t.Group) != r.toGroup || string(t.Kind) != r.toKind {
			continue
		}
		if t.Name == nil || *t.Name == "" || string(*t.Name) == r.toName {
			return true
		}
	}
	return false
}

// namespaceLabels returns the labels of namespace ns (none if unknown).
func (x *index) namespaceLabels(ns string) map[string]string {
	if n := x.namespaces[ns]; n != nil {
		return n.Labels
	}
	return nil
}
