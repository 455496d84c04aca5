package loop

import (
	"fmt"
	"slices"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	discoveryv1 "k8s.io/api/discovery/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

// maxCompared is how many objects of b's EndpointSlices and Services that
// are not those of the previous Set (the same pointer) the endpoint fast
// path compares by content to find the changed Services; beyond it, it
// recomputes every Service's endpoints (a few microseconds per object
// either way, the recomputation without a diff).
const maxCompared = 64

// refreshEndpoints is the EndpointSlice fast path: recompute the endpoints
// of ec's Services, those whose EndpointSlices (or Service) differ between
// prevSet and b.Set (of every Service when ec.all is set: prevSet is
// unknown or more than maxCompared of the objects are new; see
// endpointChanges) and push only the EDS of the proxies whose endpoints
// changed.
func (l *Loop) refreshEndpoints(b Event, prev *translate.Result, prevSet *resource.Set, ec endpointChange) *translate.Result {
	next := &translate.Result{Status: prev.Status}
	if ec.all {
		// Unknown, or a provider that made every object anew (a re-read
		// file): comparing them would cost more than recomputing.
		next.Proxies = translate.RefreshAllEndpoints(b.Set, prev.Proxies)
		l.endpoints = nil
	} else {
		next.Proxies = l.refreshServices(b.Set, prevSet, prev.Proxies, ec)
	}
	for i, fresh := range next.Proxies {
		px := prev.Proxies[i]
		if fresh == px {
			continue // same endpoints: nothing to build or send
		}
		for _, f := range l.flavorsOf(px.Name) {
			k := cache.Key{Group: px.Name, Flavor: f}
			if err := l.pushEndpoints(k, px, fresh, b.ChangedAt); err != nil {
				l.log.Error("endpoint update failed; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
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

// pushEndpoints puts the ClusterLoadAssignments of fresh, a copy of old
// with refreshed endpoints, in k's snapshot. When k's snapshot was built
// from old and old has no UDP listener (whose merged clusters span
// several), only the clusters whose endpoints changed are built and
// replaced; the others keep the snapshot's assignments. Otherwise the
// whole proxy is built and its assignments replace the snapshot's.
func (l *Loop) pushEndpoints(k cache.Key, old, fresh *ir.Proxy, changedAt time.Time) error {
	opts := cache.SetOptions{ChangedAt: changedAt}
	if l.built[k] == old && !slices.ContainsFunc(old.Listeners, func(ls *ir.Listener) bool { return ls != nil && ls.UDP != nil }) {
		upsert, ok, err := l.patchEndpoints(k, old, fresh)
		if err == nil && ok {
			return l.opts.Cache.UpdateEndpoints(k, upsert, nil, opts)
		}
		if err != nil { // the whole group's build below decides
			l.log.Warn("building the changed endpoints alone failed; building every endpoint of the group", "group", k.Group, "flavor", k.Flavor, "error", err)
		}
	}
	out, err := envoy.Build(fresh, envoy.Options{Flavor: envoyFlavor(k.Flavor)})
	if err != nil {
		return fmt.Errorf("building endpoints: %w", err)
	}
	return l.opts.Cache.SetEndpoints(k, out.Endpoints, opts)
}

// patchEndpoints builds the assignments of the clusters of fresh whose
// endpoints differ from old's (an endpoint refresh keeps the clusters'
// positions, and the lists share the chunks it did not reach); false when
// the lists differ in length or one of them is not in k's snapshot.
func (l *Loop) patchEndpoints(k cache.Key, old, fresh *ir.Proxy) ([]types.Resource, bool, error) {
	if old.Clusters.Len() != fresh.Clusters.Len() {
		return nil, false, nil
	}
	var changed []*ir.Cluster
	var secrets []string
	for was, c := range plist.Differ(old.Clusters, fresh.Clusters) {
		if c != nil && (!slices.Equal(c.Endpoints, was.Endpoints) || (c.Endpoints == nil) != (was.Endpoints == nil)) {
			changed = append(changed, c)
			if c.TLS != nil {
				secrets = append(secrets, c.TLS.ValidationSecret, c.TLS.ClientCertificateSecret)
			}
		}
	}
	changedProxy := &ir.Proxy{Name: fresh.Name, Clusters: plist.Of(changed...)}
	// The SDS secrets the clusters name, for the build to check them.
	for _, s := range fresh.Secrets {
		if s != nil && slices.Contains(secrets, s.Name) {
			changedProxy.Secrets = append(changedProxy.Secrets, s)
		}
	}
	out, err := envoy.Build(changedProxy, envoy.Options{Flavor: envoyFlavor(k.Flavor)})
	if err != nil {
		return nil, false, err
	}
	for _, r := range out.Endpoints {
		if _, found := l.opts.Cache.Resource(k, resourcev3.EndpointType, cachev3.GetResourceName(r)); !found {
			return nil, false, nil
		}
	}
	return out.Endpoints, true, nil
}

// envoyFlavor is the xds/envoy flavor of a cache key's flavor.
func envoyFlavor(f string) envoy.Flavor { return envoy.Flavor(f) }

// endpointChanges names the Services whose EndpointSlices (or Service)
// differ between prevSet and next, with the changed objects; all (and no
// names) when prevSet is unknown or more than maxCompared of next's
// EndpointSlices and Services are new objects.
func endpointChanges(prevSet, next *resource.Set) endpointChange {
	if prevSet == nil || freshObjects(prevSet.EndpointSlices, next.EndpointSlices)+freshObjects(prevSet.Services, next.Services) > maxCompared {
		return endpointChange{all: true}
	}
	services, changes := changedServices(prevSet, next)
	return endpointChange{services: services, changes: changes}
}

// endpointChange is what endpointChanges found.
type endpointChange struct {
	services []k8stypes.NamespacedName
	changes  []change
	all      bool
}

// refreshServices recomputes the clusters of ec's Services in ps from the
// loop's endpoint index, moved to set by ec's changes (built from set when
// it indexes another Set), or from set when set cannot be indexed.
func (l *Loop) refreshServices(set, prevSet *resource.Set, ps []*ir.Proxy, ec endpointChange) []*ir.Proxy {
	l.endpoints = l.endpoints.advance(prevSet, set, ec.changes)
	if l.endpoints == nil {
		l.endpoints = newEndpointIndex(set)
	}
	if l.endpoints == nil {
		return translate.RefreshServiceEndpoints(set, ps, ec.services)
	}
	return translate.RefreshServiceEndpointsOf(l.endpoints.in, ps, ec.services)
}

// changedServices names the Services whose EndpointSlices (by their
// service label, before and after) or Service object differ between a and
// b, in a deterministic order, with the changed objects. The runs of the
// lists a and b share cost nothing; objects at the same place with the
// same pointer are not compared.
func changedServices(a, b *resource.Set) ([]k8stypes.NamespacedName, []change) {
	seen := map[k8stypes.NamespacedName]bool{}
	var out []k8stypes.NamespacedName
	add := func(ns, name string) {
		if k := (k8stypes.NamespacedName{Namespace: ns, Name: name}); name != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	changes := diffKind(&endpointSliceKind, a, b)
	for _, c := range changes {
		for _, o := range []object{c.old, c.new} {
			if es, ok := o.(*discoveryv1.EndpointSlice); ok {
				add(es.Namespace, es.Labels[discoveryv1.LabelServiceName])
			}
		}
	}
	svcChanges := diffKind(&serviceKind, a, b)
	for _, c := range svcChanges {
		for _, o := range []object{c.old, c.new} {
			if o != nil {
				add(o.GetNamespace(), o.GetName())
			}
		}
	}
	return out, append(changes, svcChanges...)
}

// The kinds the endpoint fast path diffs.
var (
	endpointSliceKind, _ = resource.KindOf(resource.KindEndpointSlice)
	serviceKind, _       = resource.KindOf(resource.KindService)
)

// freshObjects counts the objects of b that are not in a (by pointer);
// the runs of the lists a and b share are not looked at.
func freshObjects[T comparable](a, b plist.List[T]) int {
	n := 0
	if a.Len() == b.Len() {
		for range plist.Differ(a, b) {
			n++
		}
		return n
	}
	had := make(map[T]bool, a.Len())
	for o := range a.Values() {
		had[o] = true
	}
	for o := range b.Values() {
		if !had[o] {
			n++
		}
	}
	return n
}
