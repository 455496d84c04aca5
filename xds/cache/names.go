package cache

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// InternNames replaces, in place, each name of names that the node's
// snapshot holds a resource of typeURL by that resource's own name string.
// The strings are equal, so nothing the protocol sees changes; a stream's
// subscription then shares its name strings with the cache instead of
// holding its own copy of every name it subscribes to. Names the snapshot
// does not hold are left as they are.
func (c *Cache) InternNames(node *corev3.Node, typeURL string, names []string) {
	if len(names) == 0 {
		return
	}
	key := c.mapper.KeyFor(node)
	c.mu.Lock()
	snap := c.snapshots[key] // snapshots are replaced, never modified
	c.mu.Unlock()
	ts := snap.get(typeURL)
	for i, n := range names {
		if r, ok := ts.lookup(n); ok {
			names[i] = r.Name
		}
	}
}
