package loop

import (
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
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
