package cache

// A view is what a state-of-the-world stream holds of one type after a
// response: a list of resources sorted by name, shared by every stream that
// was sent the same version (for most streams, the type's own list). The
// cache remembers the last views sent per key and type, so a stream's state
// is one entry (the version it was last sent) instead of a map of every
// name it holds: what a node holds follows from the version it claims.

// maxViews is how many recent versions are remembered per key and type. A
// node whose version was forgotten gets its whole subscribed set.
const maxViews = 8

type viewsKey struct {
	key     Key
	typeURL string
}

type view struct {
	version string
	held    []stamp
}

// stamp is what a view keeps of a resource: its name and content hash. A
// view never keeps the resource itself, so a version that no snapshot holds
// any more frees its messages and bytes (a 10,000-route configuration is
// tens of megabytes of protos) while streams can still be answered relative
// to it.
type stamp struct{ name, hash string }

func stampsOf(rs []*Resource) []stamp {
	out := make([]stamp, len(rs))
	for i, r := range rs {
		out[i] = stamp{name: r.Name, hash: r.Hash}
	}
	return out
}

// rememberView records what a version holds. Called with c.mu held.
func (c *Cache) rememberView(key Key, typeURL, version string, held []*Resource) {
	vk := viewsKey{key: key, typeURL: typeURL}
	vs := c.views[vk]
	for _, v := range vs {
		if v.version == version {
			return
		}
	}
	vs = append(vs, view{version: version, held: stampsOf(held)})
	if len(vs) > maxViews {
		vs = append(vs[:0:0], vs[len(vs)-maxViews:]...)
	}
	c.views[vk] = vs
}

// viewOf returns what a version holds, if it is remembered. Called with c.mu
// held.
func (c *Cache) viewOf(key Key, typeURL, version string) ([]stamp, bool) {
	for _, v := range c.views[viewsKey{key: key, typeURL: typeURL}] {
		if v.version == version {
			return v.held, true
		}
	}
	return nil, false
}

// changedSince returns the resources of rs that held (both sorted by name)
// does not hold as they are.
func changedSince(held []stamp, rs []*Resource) []*Resource {
	var out []*Resource
	i := 0
	for _, r := range rs {
		for i < len(held) && held[i].name < r.Name {
			i++
		}
		if i < len(held) && held[i].name == r.Name && held[i].hash == r.Hash {
			continue
		}
		out = append(out, r)
	}
	return out
}
