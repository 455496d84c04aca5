package loop

import (
	"slices"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/internal/plist"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
)

// endpointsOnly processes an EndpointSlice-only batch without translating:
// the changed Services' clusters get their new endpoints in every proxy
// (only their assignments are built and sent), and, when mesh groups are
// built and the change reaches what the mesh derives from endpoints (the
// gRPC servers' inbound listeners of the slices' namespace), only the
// server side of those namespaces' groups is recomputed and those groups
// rebuilt. False when the change reaches further (meshtranslate.EndpointReach
// says when): the batch is then translated in full.
func (l *Loop) endpointsOnly(b Event, prev *translate.Result, prevSet *resource.Set) (*translate.Result, bool) {
	ec := endpointChanges(prevSet, b.Set)
	if !hasMeshProxy(prev) {
		return l.refreshEndpoints(b, prev, prevSet, ec), true
	}
	if ec.all {
		// Too many new objects to name the changed Services: compare the
		// whole Sets' mesh facts.
		if meshEndpointsChanged(prevSet, b.Set) {
			return nil, false
		}
		return l.refreshEndpoints(b, prev, prevSet, ec), true
	}
	reach := meshtranslate.ReachOfEndpoints(prevSet, b.Set, ec.services, l.meshOptions(nil))
	if reach.All {
		return nil, false
	}
	res := l.refreshEndpoints(b, prev, prevSet, ec)
	if len(reach.Namespaces) > 0 {
		l.refreshServerSide(b, res, reach.Namespaces)
	}
	return res, true
}

// refreshServerSide recomputes the server side of the mesh groups of
// namespaces in res (in place: res is the fast path's new result) and
// rebuilds the groups that changed.
func (l *Loop) refreshServerSide(b Event, res *translate.Result, namespaces []string) {
	fresh := meshtranslate.RefreshServerSide(b.Set, res.Proxies, namespaces, l.meshOptions(nil))
	changed := false
	for i, px := range fresh {
		if px == res.Proxies[i] {
			continue
		}
		changed = true
		for _, f := range l.flavorsOf(px.Name) {
			if l.patchServerSide(cache.Key{Group: px.Name, Flavor: f}, res.Proxies[i], px, b.ChangedAt) {
				continue
			}
			// A mesh group has no Gateway status to mark; build logs why
			// it keeps the previous configuration.
			_, _ = l.build(px, f, b.ChangedAt)
		}
	}
	res.Proxies = fresh
	if changed && l.pieces != nil {
		l.pieces = l.pieces.withEndpoints(b.Set, fresh)
	}
}

// patchServerSide puts what the server side of fresh (old with its server
// side recomputed) gives in k's snapshot in place of what old's gave: in
// the gRPC flavor the gRPC server listeners, in the Envoy flavor the
// sidecar's inbound capture listener and the clusters it adds. Only those
// are built and sent. False, with nothing changed, when k's snapshot was
// not built from old, the server side's route table comes or goes, or a
// build or the cache refuses; the group is then built whole.
func (l *Loop) patchServerSide(k cache.Key, old, fresh *ir.Proxy, changedAt time.Time) bool {
	if l.built[k] != old || hasInboundTable(old) != hasInboundTable(fresh) {
		return false
	}
	before, err := programmed.Build(serverSide(old), envoyFlavor(k.Flavor))
	if err != nil {
		return false
	}
	after, err := programmed.Build(serverSide(fresh), envoyFlavor(k.Flavor))
	if err != nil {
		return false
	}
	opts := cache.SetOptions{ChangedAt: changedAt}
	var listeners []types.Resource
	switch k.Flavor {
	case cache.FlavorGRPC:
		listeners = after.Listeners
	case cache.FlavorEnvoy:
		// The sub-proxy's outbound capture listener holds no Service.
		listeners = named(after.Listeners, ir.InboundListenerName)
		if len(listeners) != 1 || l.opts.Cache.Update(k, resourcev3.ClusterType, after.Clusters, nil, opts) != nil {
			return false
		}
	default:
		return false
	}
	if l.opts.Cache.Update(k, resourcev3.ListenerType, listeners, gone(before.Listeners, after.Listeners), opts) != nil {
		return false
	}
	if removed := gone(before.Clusters, after.Clusters); len(removed) > 0 && l.opts.Cache.Update(k, resourcev3.ClusterType, nil, removed, opts) != nil {
		return false
	}
	l.built[k] = fresh
	return true
}

// serverSide is px with its server side alone: the gRPC server listeners,
// their route table, the sidecar settings, secrets and telemetry.
func serverSide(px *ir.Proxy) *ir.Proxy {
	sub := *px
	sub.Listeners = serverListeners(px)
	sub.RouteConfigs = slices.DeleteFunc(slices.Clone(px.RouteConfigs), func(rc *ir.RouteConfig) bool { return rc.Name != meshtranslate.InboundRouteConfig })
	sub.Clusters = plist.List[*ir.Cluster]{}
	return &sub
}

// named is the resources of list called name.
func named(list []types.Resource, name string) []types.Resource {
	return slices.DeleteFunc(slices.Clone(list), func(r types.Resource) bool { return cachev3.GetResourceName(r) != name })
}

// gone names the resources of before that after does not hold.
func gone(before, after []types.Resource) []string {
	var out []string
	for _, r := range before {
		n := cachev3.GetResourceName(r)
		if !slices.ContainsFunc(after, func(a types.Resource) bool { return cachev3.GetResourceName(a) == n }) {
			out = append(out, n)
		}
	}
	return out
}

// serverListeners are px's gRPC server listeners.
func serverListeners(px *ir.Proxy) []*ir.Listener {
	var out []*ir.Listener
	for _, ls := range px.Listeners {
		if ls.GRPCServer {
			out = append(out, ls)
		}
	}
	return out
}

func hasInboundTable(px *ir.Proxy) bool {
	return slices.ContainsFunc(px.RouteConfigs, func(rc *ir.RouteConfig) bool { return rc.Name == meshtranslate.InboundRouteConfig })
}
