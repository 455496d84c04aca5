package loop

import (
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	discoveryv1 "k8s.io/api/discovery/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// refreshEndpoints is the EndpointSlice fast path: recompute the endpoints
// of the Services whose EndpointSlices (or Service) differ between prevSet
// and b.Set (of every Service when prevSet is unknown) and push only the
// EDS of the proxies whose endpoints changed.
func (l *Loop) refreshEndpoints(b Event, prev *translate.Result, prevSet *resource.Set) *translate.Result {
	next := &translate.Result{Status: prev.Status}
	if prevSet == nil {
		next.Proxies = translate.RefreshAllEndpoints(b.Set, prev.Proxies)
	} else {
		next.Proxies = translate.RefreshServiceEndpoints(b.Set, prev.Proxies, changedServices(prevSet, b.Set))
	}
	for i, fresh := range next.Proxies {
		px := prev.Proxies[i]
		if fresh == px {
			continue // same endpoints: nothing to build or send
		}
		for _, f := range l.flavorsOf(px.Name) {
			k := cache.Key{Group: px.Name, Flavor: f}
			eds, err := l.endpointsOf(k, px, fresh)
			if err != nil {
				l.log.Error("building endpoints failed; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
				continue
			}
			if err := l.opts.Cache.SetEndpoints(k, eds, cache.SetOptions{ChangedAt: b.ChangedAt}); err != nil {
				l.log.Error("endpoint update refused; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
				continue
			}
			l.built[k] = fresh
		}
	}
	if l.pieces != nil {
		l.pieces = l.pieces.withEndpoints(b.Set, next.Proxies)
	}
	return next
}

// endpointsOf returns the ClusterLoadAssignments of fresh, a copy of old
// with refreshed endpoints, for key k. When k's snapshot was built from old
// and old has no UDP listener (whose merged clusters span several), only
// the clusters whose endpoints changed are built; the others keep the
// snapshot's assignments. Otherwise the whole proxy is built.
func (l *Loop) endpointsOf(k cache.Key, old, fresh *ir.Proxy) ([]types.Resource, error) {
	if l.built[k] == old && !slices.ContainsFunc(old.Listeners, func(ls *ir.Listener) bool { return ls != nil && ls.UDP != nil }) {
		if eds, ok, err := l.patchEndpoints(k, old, fresh); ok || err != nil {
			return eds, err
		}
	}
	out, err := envoy.Build(fresh, envoy.Options{Flavor: envoyFlavor(k.Flavor)})
	if err != nil {
		return nil, err
	}
	return out.Endpoints, nil
}

// patchEndpoints builds the assignments of the clusters of fresh whose
// endpoints differ from old's and puts them in place of those of k's
// snapshot; false when one is not there.
func (l *Loop) patchEndpoints(k cache.Key, old, fresh *ir.Proxy) ([]types.Resource, bool, error) {
	changed := &ir.Proxy{Name: fresh.Name}
	for i, c := range fresh.Clusters {
		if c != nil && c != old.Clusters[i] && (!slices.Equal(c.Endpoints, old.Clusters[i].Endpoints) || (c.Endpoints == nil) != (old.Clusters[i].Endpoints == nil)) {
			changed.Clusters = append(changed.Clusters, c)
		}
	}
	out, err := envoy.Build(changed, envoy.Options{Flavor: envoyFlavor(k.Flavor)})
	if err != nil {
		return nil, false, err
	}
	byName := map[string]types.Resource{}
	for _, r := range out.Endpoints {
		byName[cachev3.GetResourceName(r)] = r
	}
	prev, _ := l.opts.Cache.Resources(k, resourcev3.EndpointType)
	eds := make([]types.Resource, 0, len(prev))
	for _, r := range prev {
		if n, ok := byName[r.Name]; ok {
			eds = append(eds, n)
			delete(byName, r.Name)
			continue
		}
		eds = append(eds, r.Message)
	}
	return eds, len(byName) == 0, nil
}

// envoyFlavor is the xds/envoy flavor of a cache key's flavor.
func envoyFlavor(f string) envoy.Flavor { return envoy.Flavor(f) }

// changedServices names the Services whose EndpointSlices (by their
// service label, before and after) or Service object differ between a and
// b, in a deterministic order. Unchanged lists (the same backing array)
// cost nothing; objects at the same place with the same pointer are not
// compared.
func changedServices(a, b *resource.Set) []k8stypes.NamespacedName {
	seen := map[k8stypes.NamespacedName]bool{}
	var out []k8stypes.NamespacedName
	add := func(ns, name string) {
		if k := (k8stypes.NamespacedName{Namespace: ns, Name: name}); name != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, c := range diffList("EndpointSlices", a.EndpointSlices, b.EndpointSlices) {
		for _, o := range []object{c.old, c.new} {
			if es, ok := o.(*discoveryv1.EndpointSlice); ok {
				add(es.Namespace, es.Labels[discoveryv1.LabelServiceName])
			}
		}
	}
	for _, c := range diffList("Services", a.Services, b.Services) {
		for _, o := range []object{c.old, c.new} {
			if o != nil {
				add(o.GetNamespace(), o.GetName())
			}
		}
	}
	return out
}
