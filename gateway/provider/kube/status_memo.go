package kube

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// routeWrites remembers, per route, the parent entries the writer last
// wrote (or found already written), so that a route whose entries are the
// same slice as then is not read again: the loop hands out an unchanged
// route's Parents as the same slice in every report and never modifies a
// slice it handed out. A write's cost then follows the change, not the
// number of routes. A sweep (periodic, or after Forget) checks every route
// again, which also repairs entries someone else changed meanwhile.
type routeWrites map[resource.Key]writtenRoute

type writtenRoute struct {
	first      *gwapiv1.RouteParentStatus
	n          int
	generation int64
}

func writtenOf(r status.Route) (writtenRoute, bool) {
	if len(r.Parents) == 0 {
		return writtenRoute{}, false
	}
	return writtenRoute{first: &r.Parents[0], n: len(r.Parents), generation: r.Generation}, true
}

// unchanged reports whether r is what was last written for key.
func (m routeWrites) unchanged(key resource.Key, r status.Route) bool {
	w, ok := writtenOf(r)
	return ok && m[key] == w
}

// record remembers r as written for key.
func (m routeWrites) record(key resource.Key, r status.Route) {
	if w, ok := writtenOf(r); ok {
		m[key] = w
	}
}

// keepOnly forgets the routes that are not in owned.
func (m routeWrites) keepOnly(owned map[resource.Key]bool) {
	if len(m) <= len(owned) {
		return
	}
	for k := range m {
		if !owned[k] {
			delete(m, k)
		}
	}
}
