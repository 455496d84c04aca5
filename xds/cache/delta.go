package cache

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// DeltaResource is r as a delta response carries it (name, version and the
// packed resource), made once and shared by every response and stream:
// a response of 10,000 resources then allocates no wrapper per resource.
// Callers must not modify it. A resource whose bytes are in parts gets
// one made anew each time, as Any does.
func (r *Resource) DeltaResource() *discoveryv3.Resource {
	if r.any == nil {
		return &discoveryv3.Resource{Name: r.Name, Version: r.Hash, Resource: r.Any()}
	}
	if d := r.delta.Load(); d != nil {
		return d
	}
	d := &discoveryv3.Resource{Name: r.Name, Version: r.Hash, Resource: r.any}
	if r.delta.CompareAndSwap(nil, d) {
		return d
	}
	return r.delta.Load()
}
