package loop

import (
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// refreshEndpoints is the EndpointSlice fast path: recompute the endpoints
// of every proxy and push only the EDS of those whose endpoints changed.
func (l *Loop) refreshEndpoints(b Event, prev *translate.Result) *translate.Result {
	next := &translate.Result{Status: prev.Status, Proxies: translate.RefreshAllEndpoints(b.Set, prev.Proxies)}
	for i, fresh := range next.Proxies {
		px := prev.Proxies[i]
		if fresh == px {
			continue // same endpoints: nothing to build or send
		}
		for _, f := range l.flavorsOf(px.Name) {
			out, err := envoy.Build(fresh, envoy.Options{Flavor: envoyFlavor(f)})
			if err != nil {
				l.log.Error("building endpoints failed; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
				continue
			}
			k := cache.Key{Group: px.Name, Flavor: f}
			if err := l.opts.Cache.SetEndpoints(k, out.Endpoints, cache.SetOptions{ChangedAt: b.ChangedAt}); err != nil {
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

// envoyFlavor is the xds/envoy flavor of a cache key's flavor.
func envoyFlavor(f string) envoy.Flavor { return envoy.Flavor(f) }
