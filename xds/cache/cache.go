// Package cache holds the xDS configuration of every node group as
// immutable snapshots and answers the xDS server's watches from them.
//
// Versions are content hashes: a resource's version is the hash of its
// deterministic marshal, and a response's version is the hash of the names and
// hashes it carries. A node that reconnects, a restarted control plane, or a
// change to something else therefore sends nothing to a node whose resources
// did not change. Each resource is marshalled once per snapshot and the bytes
// are shared by every response that carries it.
//
// State of the world: a request is answered with the resources it names that
// exist (a subset is answered with that subset), or all of them for a
// wildcard. A response is sent only when its version differs from the last
// one sent on that stream, so a NACK does not trigger a resend: the node keeps
// its last good configuration until the snapshot changes.
package cache

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Options configure a Cache.
type Options struct {
	// Mapper maps nodes to keys; nil means NodeKey.
	Mapper Mapper
	// Validate, when set, checks a snapshot's protos before it is accepted;
	// the cache's own reference check always runs. gantry serve leaves it
	// unset: its loop hands over only what xds/envoy has built and validated.
	Validate func(byType map[string][]types.Resource) error
}

// Cache holds the snapshots per Key and answers the server's watches.
type Cache struct {
	mapper   Mapper
	validate func(map[string][]types.Resource) error

	setMu sync.Mutex // serialises writers; reads of snapshots use mu

	mu        sync.Mutex
	pool      *pool // written under setMu
	snapshots map[Key]*snapshot
	watches   map[Key]map[string]map[uint64]*watch
	nextID    uint64

	views map[viewsKey][]view
	sets  nameSets
	diffs map[viewsKey]listDiff // of wildcard subscriptions (diff.go)
	since map[viewsKey]sinceMemo
}

// New returns an empty cache.
func New(opts Options) *Cache {
	m := opts.Mapper
	if m == nil {
		m = MapperFunc(NodeKey)
	}
	return &Cache{
		mapper:    m,
		validate:  opts.Validate,
		pool:      newPool(),
		snapshots: map[Key]*snapshot{},
		watches:   map[Key]map[string]map[uint64]*watch{},
		views:     map[viewsKey][]view{},
		diffs:     map[viewsKey]listDiff{},
		since:     map[viewsKey]sinceMemo{},
	}
}

// SetOptions carry information about a change.
type SetOptions struct {
	// ChangedAt is when the input change behind this snapshot happened; it
	// starts the convergence clock. Zero means now.
	ChangedAt time.Time
}

// changedAt is ChangedAt, or now when it is zero.
func (o SetOptions) changedAt() time.Time {
	if o.ChangedAt.IsZero() {
		return time.Now()
	}
	return o.ChangedAt
}

// SetSnapshot replaces the configuration of key. byType is keyed by type URL
// (listeners, routes, clusters, endpoints, secrets). An invalid or
// inconsistent snapshot is refused with an error and the previous one kept.
// Only the types whose version changed are pushed, and of route
// configurations, endpoints and secrets only the resources that changed.
// A message already held (the same pointer) is not marshalled again.
func (c *Cache) SetSnapshot(key Key, byType map[string][]types.Resource, opts SetOptions) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	at := opts.changedAt()
	prev := c.snapshotOf(key)
	next := &snapshot{types: map[string]*typeState{}}
	fresh := map[string][]*Resource{}
	for _, t := range sortedTypes(byType) {
		if !knownType(t) {
			c.dropFresh(fresh)
			return fmt.Errorf("%s: unsupported type %q", key, t)
		}
		if old := prev.get(t); prev != nil && old.sameMessages(byType[t]) {
			next.types[t] = old // the same messages: nothing to intern
			continue
		}
		var f []*Resource
		rs, err := c.pool.internAll(t, byType[t], &f)
		fresh[t] = f
		if err != nil {
			c.dropFresh(fresh)
			return fmt.Errorf("%s: %w", key, err)
		}
		if old := prev.get(t); old.sameList(rs) && prev != nil {
			next.types[t] = old // nothing of this type changed
			continue
		}
		ts, err := newTypeStateFrom(prev.get(t), t, rs, at)
		if err != nil {
			c.dropFresh(fresh)
			return fmt.Errorf("%s: %w", key, err)
		}
		next.types[t] = keepUnchanged(prev, t, ts)
	}
	err := c.commit(key, next, consistentSince(prev))
	if err != nil {
		c.dropFresh(fresh)
	}
	return err
}

// SetEndpoints replaces every endpoint set (EDS) of key, keeping every other
// type as it is. Only the endpoint sets whose content changed are pushed.
// It fails when key has no snapshot yet.
func (c *Cache) SetEndpoints(key Key, endpoints []types.Resource, opts SetOptions) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	prev := c.snapshotOf(key)
	if prev == nil {
		return fmt.Errorf("%s: no snapshot to update endpoints of", key)
	}
	var fresh []*Resource
	rs, err := c.pool.internAll(resource.EndpointType, endpoints, &fresh)
	if err == nil {
		var ts *typeState
		if ts, err = newTypeStateFrom(prev.get(resource.EndpointType), resource.EndpointType, rs, opts.changedAt()); err == nil {
			next := prev.withType(resource.EndpointType, keepUnchanged(prev, resource.EndpointType, ts))
			err = c.commit(key, next, consistent)
		}
	}
	if err != nil {
		c.pool.dropUnused(resource.EndpointType, fresh)
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// UpdateEndpoints is the endpoint fast path: it puts in (or replaces) the
// endpoint sets (ClusterLoadAssignments) in upsert and takes out those named
// in remove, keeping everything else of key. Only those are marshalled,
// checked and pushed: a state-of-the-world EDS response carries the changed
// endpoint sets alone, a delta response the same. It fails when key has no
// snapshot yet.
func (c *Cache) UpdateEndpoints(key Key, upsert []types.Resource, remove []string, opts SetOptions) error {
	return c.Update(key, resource.EndpointType, upsert, remove, opts)
}

// Update changes some resources of one type of key: the resources in
// upsert are put in (replacing those of the same name) and the names in
// remove taken out; the rest of the snapshot stays as it is. The cost
// follows the change: only upsert is marshalled, and only the references
// the change could break are checked (an EDS cluster whose endpoints are
// removed, a listener whose route configuration is removed, a new listener
// or cluster whose target is missing). The Validate option, when set, still
// checks the whole snapshot. It fails when key has no snapshot yet.
func (c *Cache) Update(key Key, typeURL string, upsert []types.Resource, remove []string, opts SetOptions) error {
	if !knownType(typeURL) {
		return fmt.Errorf("%s: unsupported type %q", key, typeURL)
	}
	c.setMu.Lock()
	defer c.setMu.Unlock()
	prev := c.snapshotOf(key)
	if prev == nil {
		return fmt.Errorf("%s: no snapshot to update %s of", key, shortType(typeURL))
	}
	var fresh []*Resource
	rs, err := c.pool.internAll(typeURL, upsert, &fresh)
	if err == nil {
		err = duplicates(typeURL, rs)
	}
	if err == nil {
		next := prev.withType(typeURL, prev.get(typeURL).with(rs, remove, opts.changedAt()))
		err = c.commit(key, next, func(s *snapshot) error { return consistentChange(s, typeURL, rs, remove) })
	}
	if err != nil {
		c.pool.dropUnused(typeURL, fresh)
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// duplicates refuses a list that names a resource twice.
func duplicates(typeURL string, rs []*Resource) error {
	seen := make(map[string]bool, len(rs))
	for _, r := range rs {
		if seen[r.Name] {
			return fmt.Errorf("%s %q: duplicate name", shortType(typeURL), r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

func (c *Cache) dropFresh(fresh map[string][]*Resource) {
	for t, rs := range fresh {
		c.pool.dropUnused(t, rs)
	}
}

// Delete drops the snapshot of key. Nodes of that key keep their open
// watches and receive a configuration when one is set again.
func (c *Cache) Delete(key Key) {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.mu.Lock()
	prev := c.snapshots[key]
	delete(c.snapshots, key)
	for _, t := range TypeOrder {
		delete(c.views, viewsKey{key: key, typeURL: t})
		delete(c.diffs, viewsKey{key: key, typeURL: t})
		delete(c.since, viewsKey{key: key, typeURL: t})
	}
	c.mu.Unlock()
	if prev != nil {
		for t, ts := range prev.types {
			for r := range ts.list.Values() {
				c.pool.release(t, r)
			}
		}
	}
}

// keepUnchanged returns the previous type state when the content is the
// same, so its change time (and shared marshalled bytes) are kept.
func keepUnchanged(prev *snapshot, typeURL string, ts *typeState) *typeState {
	if prev != nil {
		if old, ok := prev.types[typeURL]; ok && old.version == ts.version {
			return old
		}
	}
	return ts
}

func (c *Cache) snapshotOf(key Key) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshots[key]
}

// commit checks next (check is the reference check: the whole snapshot, or
// what one change could break), stores it, moves the shared resources'
// references from the previous snapshot to it, and answers the watches of
// the types whose version changed.
func (c *Cache) commit(key Key, next *snapshot, check func(*snapshot) error) error {
	prev := c.snapshotOf(key)
	if sameVersions(prev, next) {
		return nil // nothing changed: already validated and served
	}
	if err := check(next); err != nil {
		return fmt.Errorf("inconsistent snapshot: %w", err)
	}
	if c.validate != nil {
		if err := c.validate(next.messages()); err != nil {
			return fmt.Errorf("invalid snapshot: %w", err)
		}
	}
	c.account(prev, next)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snapshots[key] = next
	for _, t := range TypeOrder {
		ts := next.get(t)
		if prev != nil && prev.get(t).version == ts.version {
			continue
		}
		for _, id := range sortedIDs(c.watches[key][t]) {
			w := c.watches[key][t][id]
			if c.respond(w, next) {
				delete(c.watches[key][t], id)
			}
		}
	}
	return nil
}

// account moves pool references from prev's type states to next's, for the
// types whose state changed; a resource in both keeps its count. It walks
// only what the two lists do not share (differ), so an update of k
// resources costs O(k) here.
func (c *Cache) account(prev, next *snapshot) {
	for _, t := range TypeOrder {
		old, cur := prev.get(t), next.get(t)
		if old == cur {
			continue
		}
		differ(old.list, cur.list, func(gone, kept *Resource) {
			if kept != nil {
				c.pool.retain(kept)
			}
			if gone != nil {
				c.pool.release(t, gone)
			}
		})
	}
}

// sameVersions reports whether two snapshots hold the same content.
func sameVersions(a, b *snapshot) bool {
	if a == nil || b == nil {
		return false
	}
	for _, t := range TypeOrder {
		if a.get(t).version != b.get(t).version {
			return false
		}
	}
	return true
}

// KeyFor maps a node to its key.
func (c *Cache) KeyFor(node *corev3.Node) Key {
	return c.mapper.KeyFor(node)
}

// Keys lists the keys that have a snapshot, sorted.
func (c *Cache) Keys() []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]Key, 0, len(c.snapshots))
	for k := range c.snapshots {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Group != keys[j].Group {
			return keys[i].Group < keys[j].Group
		}
		return keys[i].Flavor < keys[j].Flavor
	})
	return keys
}

// Resources returns the resources of one type of key, sorted by name, and
// the type's version. The slice is made once per version of the type
// (O(resources) on the first call after a change) and shared: do not
// modify it. To find one resource, use Resource.
func (c *Cache) Resources(key Key, typeURL string) ([]*Resource, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := c.snapshots[key].get(typeURL)
	return ts.slice(), ts.version
}

// Resource returns the resource of typeURL named name in the snapshot of
// key: a binary search, whatever the size of the type.
func (c *Cache) Resource(key Key, typeURL, name string) (*Resource, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshots[key].get(typeURL).lookup(name)
}

// Fetch answers a one-off (REST-style) request of a node: the resources
// of typeURL named in names (every one when names is empty), or
// types.SkipFetchError when they are the version the node claims.
func (c *Cache) Fetch(node *corev3.Node, typeURL string, names []string, claimed string) (*Response, error) {
	key := c.mapper.KeyFor(node)
	c.mu.Lock()
	snap := c.snapshots[key]
	c.mu.Unlock()
	if snap == nil {
		return nil, fmt.Errorf("%s: no configuration for this node", key)
	}
	ts := snap.get(typeURL)
	p := ts
	if len(names) > 0 {
		sorted := append([]string(nil), names...)
		sort.Strings(sorted)
		p = pickSorted(ts, slices.Compact(sorted))
	}
	if p.version == claimed {
		return nil, types.SkipFetchError{}
	}
	return &Response{Key: key, TypeURL: typeURL, Version: p.version, Resources: p.slice(), Held: p.list, ChangedAt: ts.changedAt}, nil
}

func sortedTypes(m map[string][]types.Resource) []string {
	out := make([]string, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func sortedIDs(m map[uint64]*watch) []uint64 {
	out := make([]uint64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
