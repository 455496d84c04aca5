package main

import (
	"slices"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
)

// wanted reports whether a connected node asked for k.
func (p *pipeline) wanted(k cache.Key) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flavors[k.Group][k.Flavor]
}

// dropKey frees a key whose last node left: it is no longer built, and its
// snapshot is deleted unless it is the Envoy flavor of a group the inputs
// define (built anyway). A node that connected again meanwhile keeps it.
// Groups therefore exist only while an authorized node holds them: made-up
// groups do not accumulate.
func (p *pipeline) dropKey(k cache.Key) {
	if p.connected != nil && slices.Contains(p.connected(), k) {
		return
	}
	p.mu.Lock()
	delete(p.flavors[k.Group], k.Flavor)
	if len(p.flavors[k.Group]) == 0 {
		delete(p.flavors, k.Group)
	}
	live := false
	if p.result != nil {
		live = slices.ContainsFunc(p.result.Proxies, func(px *ir.Proxy) bool { return px.Name == k.Group })
	}
	p.mu.Unlock()
	if live && k.Flavor == cache.FlavorEnvoy {
		return
	}
	p.cache.Delete(k)
	delete(p.built, k)
}
