package loop

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
)

// endpointIndex is the Services and EndpointSlices of one Set by Service,
// which the endpoint fast path reads instead of scanning the Set. It is
// built once from a Set, then moved to each next Set of endpoint-only
// batches by the changes the fast path diffs anyway, so that a change costs
// the changed objects, not the Set. Only the loop goroutine uses it.
type endpointIndex struct {
	// services and slices are the lists of the Set it indexes (compared by
	// identity, plist.Same: Sets are never modified once handed over).
	services plist.List[*corev1.Service]
	slices   plist.List[*discoveryv1.EndpointSlice]
	in       translate.ServiceInputs
}

// newEndpointIndex indexes set; nil when set names a Service or an
// EndpointSlice twice (the Set's order then decides, which the index does
// not keep: the fast path scans the Set instead).
func newEndpointIndex(set *resource.Set) *endpointIndex {
	x := &endpointIndex{services: set.Services, slices: set.EndpointSlices, in: translate.ServiceInputs{
		Services: make(map[k8stypes.NamespacedName]*corev1.Service, set.Services.Len()),
		Slices:   make(map[k8stypes.NamespacedName][]*discoveryv1.EndpointSlice, set.EndpointSlices.Len()),
	}}
	for s := range set.Services.Values() {
		if !x.putService(s) {
			return nil
		}
	}
	for es := range set.EndpointSlices.Values() {
		if !x.putSlice(es) {
			return nil
		}
	}
	return x
}

// advance moves x from prev to next, which differ by changes (of
// EndpointSlices and Services only); nil when x does not index prev or a
// change names an object twice.
func (x *endpointIndex) advance(prev, next *resource.Set, changes []change) *endpointIndex {
	if x == nil || prev == nil || !plist.Same(x.services, prev.Services) || !plist.Same(x.slices, prev.EndpointSlices) {
		return nil
	}
	for _, c := range changes {
		switch o := c.old.(type) {
		case *corev1.Service:
			delete(x.in.Services, key(o))
		case *discoveryv1.EndpointSlice:
			x.dropSlice(o)
		}
	}
	for _, c := range changes {
		ok := true
		switch o := c.new.(type) {
		case *corev1.Service:
			ok = x.putService(o)
		case *discoveryv1.EndpointSlice:
			ok = x.putSlice(o)
		}
		if !ok {
			return nil
		}
	}
	x.services, x.slices = next.Services, next.EndpointSlices
	return x
}

func key(o object) k8stypes.NamespacedName {
	return k8stypes.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}
}

func sliceService(es *discoveryv1.EndpointSlice) k8stypes.NamespacedName {
	return k8stypes.NamespacedName{Namespace: es.Namespace, Name: es.Labels[discoveryv1.LabelServiceName]}
}

// putService adds s; false when a Service of its name is there.
func (x *endpointIndex) putService(s *corev1.Service) bool {
	k := key(s)
	if x.in.Services[k] != nil {
		return false
	}
	x.in.Services[k] = s
	return true
}

// putSlice adds es under its Service (none without a service label);
// false when a slice of its name is there.
func (x *endpointIndex) putSlice(es *discoveryv1.EndpointSlice) bool {
	k := sliceService(es)
	if k.Name == "" {
		return true
	}
	if slices.ContainsFunc(x.in.Slices[k], func(o *discoveryv1.EndpointSlice) bool { return o.Name == es.Name }) {
		return false
	}
	x.in.Slices[k] = append(slices.Clip(x.in.Slices[k]), es)
	return true
}

// dropSlice removes the slice of es's name from its Service's list (by
// name: the index may hold an older copy of equal content).
func (x *endpointIndex) dropSlice(es *discoveryv1.EndpointSlice) {
	k := sliceService(es)
	list := slices.DeleteFunc(slices.Clone(x.in.Slices[k]), func(o *discoveryv1.EndpointSlice) bool { return o.Name == es.Name })
	if len(list) == 0 {
		delete(x.in.Slices, k)
		return
	}
	x.in.Slices[k] = list
}
