package cache

import "github.com/gantryproxy/gantry/internal/plist"

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
	held    []chunk
}

// stamp is what a view keeps of a resource: its name and content hash. A
// view never keeps the resource itself, so a version that no snapshot holds
// any more frees its messages and bytes (a 10,000-route configuration is
// tens of megabytes of protos) while streams can still be answered relative
// to it.
type stamp struct{ name, hash string }

// chunk is a run of a view's stamps, in name order, never modified. A run
// ends after a resource whose name is a cut point (about one in chunkCut,
// decided by the name alone: resource.go) or at maxChunk stamps. Since the
// runs follow the names, a new version shares with the view remembered
// before it every run in which no resource changed: one endpoint set
// changed among 10,000 costs a new run and a list of runs, not 10,000
// stamps.
type chunk []stamp

const (
	cutBits  = 6
	chunkCut = 1 << cutBits
	maxChunk = 4 * chunkCut
)

// chunksOf returns the stamps of rs (sorted by name) as runs, sharing those
// of prev (the runs of another view) that hold the same stamps.
func chunksOf(rs plist.List[*Resource], prev []chunk) []chunk {
	out := make([]chunk, 0, len(prev)+1)
	run := make([]*Resource, 0, min(rs.Len(), maxChunk))
	j := 0
	end := func() {
		for j < len(prev) && prev[j][0].name < run[0].Name {
			j++
		}
		if j < len(prev) && prev[j].holds(run) {
			out = append(out, prev[j])
		} else {
			out = append(out, runOf(run))
		}
		run = run[:0]
	}
	for r := range rs.Values() {
		if run = append(run, r); r.cut || len(run) == maxChunk {
			end()
		}
	}
	if len(run) > 0 {
		end()
	}
	return out
}

// runOf is the stamps of run.
func runOf(run []*Resource) chunk {
	c := make(chunk, len(run))
	for i, r := range run {
		c[i] = stamp{name: r.Name, hash: r.Hash}
	}
	return c
}

// holds reports whether c is the stamps of run.
func (c chunk) holds(run []*Resource) bool {
	if len(c) != len(run) {
		return false
	}
	for i, r := range run {
		if c[i].name != r.Name || c[i].hash != r.Hash {
			return false
		}
	}
	return true
}

// rememberView records what a version holds. Called with c.mu held.
func (c *Cache) rememberView(key Key, typeURL, version string, held plist.List[*Resource]) {
	vk := viewsKey{key: key, typeURL: typeURL}
	vs := c.views[vk]
	for _, v := range vs {
		if v.version == version {
			return
		}
	}
	var prev []chunk
	if len(vs) > 0 {
		prev = vs[len(vs)-1].held
	}
	vs = append(vs, view{version: version, held: chunksOf(held, prev)})
	if len(vs) > maxViews {
		vs = append(vs[:0:0], vs[len(vs)-maxViews:]...)
	}
	c.views[vk] = vs
}

// viewOf returns what a version holds, if it is remembered. Called with c.mu
// held.
func (c *Cache) viewOf(key Key, typeURL, version string) ([]chunk, bool) {
	for _, v := range c.views[viewsKey{key: key, typeURL: typeURL}] {
		if v.version == version {
			return v.held, true
		}
	}
	return nil, false
}

// changedSince returns the resources of rs that held (both sorted by name)
// does not hold as they are.
func changedSince(held []chunk, rs plist.List[*Resource]) []*Resource {
	var out []*Resource
	c, i := 0, 0
	for r := range rs.Values() {
		for c < len(held) && held[c][len(held[c])-1].name < r.Name {
			c, i = c+1, 0 // the whole run is before r
		}
		for c < len(held) && held[c][i].name < r.Name {
			i++
		}
		if c < len(held) && held[c][i].name == r.Name && held[c][i].hash == r.Hash {
			continue
		}
		out = append(out, r)
	}
	return out
}

// sinceMemo is the last answer of changedSinceView for a key and type.
type sinceMemo struct {
	version string
	list    plist.List[*Resource]
	send    []*Resource
}

// changedSinceView returns the resources of rs that held, the remembered
// view of version, does not hold as they are: changedSince,
// memoised per key and type, so the streams of a change that claim the
// same version and subscribe to the same list (answered one after the
// other) share one comparison and one answer instead of a walk of the list
// each. Called with c.mu held.
func (c *Cache) changedSinceView(vk viewsKey, version string, held []chunk, rs plist.List[*Resource]) []*Resource {
	if m, ok := c.since[vk]; ok && m.version == version && plist.Same(m.list, rs) {
		return m.send
	}
	send := changedSince(held, rs)
	c.since[vk] = sinceMemo{version: version, list: rs, send: send}
	return send
}
