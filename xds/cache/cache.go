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
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

var _ cachev3.Cache = (*Cache)(nil)

// Options configure a Cache.
type Options struct {
	// Mapper maps nodes to keys; nil means NodeKey.
	Mapper Mapper
	// Validate checks a snapshot's protos before it is accepted (Gantry
	// passes xds/envoy.Validate); the cache's own reference check always runs.
	Validate func(byType map[string][]types.Resource) error
}

// Cache is a cachev3.Cache of snapshots per Key.
type Cache struct {
	mapper   Mapper
	validate func(map[string][]types.Resource) error

	setMu sync.Mutex // serialises writers; reads of snapshots use mu

	mu        sync.Mutex
	snapshots map[Key]*snapshot
	watches   map[Key]map[string]map[uint64]*watch
	nextID    uint64
	history   map[historyKey][]versionTime
}

type historyKey struct {
	key     Key
	typeURL string
}

type versionTime struct {
	version string
	at      time.Time
}

const historyLen = 16

// New returns an empty cache.
func New(opts Options) *Cache {
	m := opts.Mapper
	if m == nil {
		m = MapperFunc(NodeKey)
	}
	return &Cache{
		mapper:    m,
		validate:  opts.Validate,
		snapshots: map[Key]*snapshot{},
		watches:   map[Key]map[string]map[uint64]*watch{},
		history:   map[historyKey][]versionTime{},
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
// Only the types whose version changed are pushed.
func (c *Cache) SetSnapshot(key Key, byType map[string][]types.Resource, opts SetOptions) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	at := opts.changedAt()
	prev := c.snapshotOf(key)
	next := &snapshot{types: map[string]*typeState{}}
	for _, t := range sortedTypes(byType) {
		if !knownType(t) {
			return fmt.Errorf("%s: unsupported type %q", key, t)
		}
		ts, err := newTypeState(t, byType[t], at)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		next.types[t] = keepUnchanged(prev, t, ts)
	}
	return c.commit(key, next)
}

// SetEndpoints replaces only the endpoints (EDS) of key, keeping every other
// type as it is: the fast path for EndpointSlice changes. It fails when key
// has no snapshot yet.
func (c *Cache) SetEndpoints(key Key, endpoints []types.Resource, opts SetOptions) error {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	at := opts.changedAt()
	prev := c.snapshotOf(key)
	if prev == nil {
		return fmt.Errorf("%s: no snapshot to update endpoints of", key)
	}
	ts, err := newTypeState(resource.EndpointType, endpoints, at)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	next := &snapshot{types: make(map[string]*typeState, len(prev.types)+1)}
	for t, s := range prev.types {
		next.types[t] = s
	}
	next.types[resource.EndpointType] = keepUnchanged(prev, resource.EndpointType, ts)
	return c.commit(key, next)
}

// Delete drops the snapshot of key. Nodes of that key keep their open
// watches and receive a configuration when one is set again.
func (c *Cache) Delete(key Key) {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.snapshots, key)
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

// commit validates next, stores it and answers the watches of the types
// whose version changed.
func (c *Cache) commit(key Key, next *snapshot) error {
	if sameVersions(c.snapshotOf(key), next) {
		return nil // nothing changed: already validated and served
	}
	if err := consistent(next); err != nil {
		return fmt.Errorf("%s: inconsistent snapshot: %w", key, err)
	}
	if c.validate != nil {
		if err := c.validate(next.messages()); err != nil {
			return fmt.Errorf("%s: invalid snapshot: %w", key, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.snapshots[key]
	c.snapshots[key] = next
	for _, t := range TypeOrder {
		ts := next.get(t)
		if prev != nil && prev.get(t).version == ts.version {
			continue
		}
		c.remember(key, t, ts)
		for _, id := range sortedIDs(c.watches[key][t]) {
			w := c.watches[key][t][id]
			if c.respond(w, next) {
				delete(c.watches[key][t], id)
			}
		}
	}
	return nil
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

func (c *Cache) remember(key Key, typeURL string, ts *typeState) {
	hk := historyKey{key: key, typeURL: typeURL}
	h := append(c.history[hk], versionTime{version: ts.version, at: ts.changedAt})
	if len(h) > historyLen {
		h = h[len(h)-historyLen:]
	}
	c.history[hk] = h
}

// ChangedAt returns when the input change behind a type version of key
// happened, for the versions seen recently (delta responses carry the
// type version as their system version).
func (c *Cache) ChangedAt(key Key, typeURL, version string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[historyKey{key: key, typeURL: typeURL}]
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].version == version {
			return h[i].at, true
		}
	}
	return time.Time{}, false
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
// the type's version.
func (c *Cache) Resources(key Key, typeURL string) ([]*Resource, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := c.snapshots[key].get(typeURL)
	return ts.sorted, ts.version
}

// Fetch answers a REST request with the current state.
func (c *Cache) Fetch(_ context.Context, req *cachev3.Request) (cachev3.Response, error) {
	key := c.mapper.KeyFor(req.GetNode())
	c.mu.Lock()
	snap := c.snapshots[key]
	c.mu.Unlock()
	if snap == nil {
		return nil, fmt.Errorf("%s: no configuration for this node", key)
	}
	ts := snap.get(req.GetTypeUrl())
	rs := ts.sorted
	if len(req.GetResourceNames()) > 0 {
		rs = pick(ts, req.GetResourceNames())
	}
	v := versionOf(rs)
	if v == req.GetVersionInfo() {
		return nil, types.SkipFetchError{}
	}
	return newSotwResponse(req, rs, v, responseInfo{key: key, changedAt: ts.changedAt}), nil
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

// pick returns the resources of ts named in names, sorted by name, skipping
// names that do not exist.
func pick(ts *typeState, names []string) []*Resource {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	out := make([]*Resource, 0, len(sorted))
	for i, n := range sorted {
		if i > 0 && sorted[i-1] == n {
			continue
		}
		if r, ok := ts.byName[n]; ok {
			out = append(out, r)
		}
	}
	return out
}
