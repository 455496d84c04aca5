package cache

import (
	"sort"
	"time"

	"github.com/gantryproxy/gantry/internal/plist"
)

// Subscription is what a stream subscribes to of one type: every resource
// (Wildcard), the resources named in Names, or both.
type Subscription struct {
	Wildcard bool
	Names    *NameSet
}

// Watch is one open request of one stream for one type. It is answered at
// most once; the server opens a new one with the stream's next request.
// Everything in it is the stream's state as of that request: the cache
// reads it, and changes only Holds (see Watch).
type Watch struct {
	Key     Key
	TypeURL string
	Sub     Subscription
	// Delta selects incremental xDS.
	Delta bool
	// State of the world: Sent is the version last sent on the stream (""
	// when none), Claimed the version the node says it holds (its request's
	// version_info). A version sent is not sent again, even when the node
	// rejected it: it keeps its last good configuration until a change.
	Sent, Claimed string
	// Delta: what the node holds.
	Holds Holdings
	// Deliver receives the response. It is called at most once, with the
	// cache locked: it must not block.
	Deliver func(*Response)

	id uint64
}

// Holdings is what a delta stream's node holds of one type: the resources
// of Held (a list sorted by name, shared with the cache and every stream
// sent the same, never modified), except the names in Known, whose version
// Known gives ("" when unknown, NotHeld when the node does not hold it).
// Known is nil except after a reconnect (initial_resource_versions) or an
// unsubscription, until the next response; every response replaces the
// holdings with its Held. So a stream's state is a pointer into a shared
// list, not a map of every name it holds.
type Holdings struct {
	Held  plist.List[*Resource]
	Known map[string]string
	// Answered is set once a response was sent on the stream.
	Answered bool
}

// NotHeld in Holdings.Known marks a name the node no longer holds
// (unsubscribed) although Held lists it. No resource version is empty... of
// NUL bytes, so it cannot collide with a hash.
const NotHeld = "\x00"

// version returns the version of name the node holds.
func (h *Holdings) version(name string) (string, bool) {
	if v, ok := h.Known[name]; ok {
		return v, v != NotHeld
	}
	r, _, ok := find(h.Held, name)
	if !ok {
		return "", false
	}
	return r.Hash, true
}

// Response is the answer to a watch.
type Response struct {
	Key     Key
	TypeURL string
	// Version is the response's version_info (state of the world) or
	// system_version_info (delta).
	Version string
	// Resources are the resources the response carries: a state-of-the-world
	// response of listeners or clusters carries every subscribed one, of
	// route configurations, endpoints or secrets only those that changed
	// since the version the node claims; a delta response what changed.
	Resources []*Resource
	// Removed are the names a delta response removes.
	Removed []string
	// Held is what the node holds of the type once it applies the
	// response, sorted by name: for most streams the type's own list,
	// shared with the cache and every stream sent the same.
	Held plist.List[*Resource]
	// ChangedAt is when the input change behind this version happened.
	ChangedAt time.Time
}

// Watch opens w. It is answered at once (Deliver is called before Watch
// returns) when the node's current resources differ from what it holds;
// else it waits for a change of the type. When there is nothing to send, a
// delta watch's Holds may be replaced by an equal, shared one (after a
// reconnect: the initial versions become the shared list they match), which
// the caller reads back after cancelling. cancel is idempotent.
func (c *Cache) Watch(w *Watch) (cancel func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snap, ok := c.snapshots[w.Key]; ok && c.respond(w, snap) {
		return func() {}
	}
	c.nextID++
	w.id = c.nextID
	byType := c.watches[w.Key]
	if byType == nil {
		byType = map[string]map[uint64]*watch{}
		c.watches[w.Key] = byType
	}
	if byType[w.TypeURL] == nil {
		byType[w.TypeURL] = map[uint64]*watch{}
	}
	byType[w.TypeURL][w.id] = w
	key, typeURL, id := w.Key, w.TypeURL, w.id
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.watches[key][typeURL], id)
	}
}

// watch is the cache's name of a Watch in its tables.
type watch = Watch

// respond answers w from snap if there is something new for it and reports
// whether it did. Called with c.mu held.
func (c *Cache) respond(w *Watch, snap *snapshot) bool {
	ts := snap.get(w.TypeURL)
	var r *Response
	if w.Delta {
		r = c.deltaFor(w, ts)
	} else {
		r = c.sotwFor(w, ts)
	}
	if r == nil {
		return false
	}
	r.Key, r.TypeURL, r.ChangedAt = w.Key, w.TypeURL, ts.changedAt
	w.Deliver(r)
	return true
}

// subscribed returns the resources of ts that w subscribes to, as a type
// state of their own (ts itself when w subscribes to all of it). Called
// with c.mu held.
func (c *Cache) subscribed(w *Watch, ts *typeState) *typeState {
	switch {
	case w.Sub.Wildcard:
		return ts
	case w.Sub.Names == nil:
		return emptyType
	}
	return w.Sub.Names.pickOf(ts)
}

// sotwFor is the state-of-the-world response of w, or nil.
func (c *Cache) sotwFor(w *Watch, ts *typeState) *Response {
	p := c.subscribed(w, ts)
	last := w.Sent
	if last == "" {
		last = w.Claimed
	}
	if last == p.version {
		return nil
	}
	var send []*Resource
	if held, ok := c.viewOf(w.Key, w.TypeURL, w.Claimed); ok && partialType(w.TypeURL) {
		send = c.changedSinceView(viewsKey{key: w.Key, typeURL: w.TypeURL}, w.Claimed, held, p.list)
	} else {
		send = p.slice()
	}
	c.rememberView(w.Key, w.TypeURL, p.version, p.list)
	return &Response{Version: p.version, Resources: send, Held: p.list}
}

// deltaFor is the incremental response of w, or nil.
func (c *Cache) deltaFor(w *Watch, ts *typeState) *Response {
	h := &w.Holds
	p := c.subscribed(w, ts)
	var send []*Resource
	var removed []string
	switch {
	case h.Held.Len() == 0 && len(h.Known) == 0:
		send = p.slice() // the node holds nothing: all of it, shared
	case h.Known == nil:
		send, removed = c.diffShared(w, h.Held, p.list)
	case w.Sub.Wildcard:
		send, removed = diffAll(h, ts)
	default:
		send, removed = diffNamed(h, ts, w.Sub.Names.Names())
	}
	first := w.Sub.Wildcard && !h.Answered && h.Held.Len() == 0 && len(h.Known) == 0
	if len(send) == 0 && len(removed) == 0 && !first {
		// The node holds what it subscribes to, as it is: keep that as
		// the shared list rather than the stream's own versions.
		*h = Holdings{Held: p.list, Answered: h.Answered}
		return nil
	}
	return &Response{Version: ts.version, Resources: send, Removed: removed, Held: p.list}
}

// diffAll compares what a wildcard subscriber holds with ts: what to send
// and what to remove.
func diffAll(h *Holdings, ts *typeState) (send []*Resource, removed []string) {
	held := newCursor(h.Held)
	gone := func(r *Resource) {
		if _, over := h.Known[r.Name]; !over {
			removed = append(removed, r.Name)
		}
	}
	known := 0 // names of Known that ts holds
	for r := range ts.list.Values() {
		for ; !held.done() && held.peek().Name < r.Name; held.next() {
			gone(held.peek())
		}
		v, ok := "", false
		if !held.done() && held.peek().Name == r.Name {
			v, ok = held.peek().Hash, true
			held.next()
		}
		if kv, over := h.Known[r.Name]; over {
			v, ok = kv, kv != NotHeld
			known++
		}
		if !ok || v != r.Hash {
			send = append(send, r)
		}
	}
	for ; !held.done(); held.next() {
		gone(held.peek())
	}
	if known < len(h.Known) { // some name of Known is not in ts: look for it
		for n, v := range h.Known {
			if _, ok := ts.lookup(n); !ok && v != NotHeld {
				removed = append(removed, n)
			}
		}
	}
	sort.Strings(removed)
	return send, removed
}

// diffNamed compares what a subscriber of names (sorted) holds with ts.
func diffNamed(h *Holdings, ts *typeState, names []string) (send []*Resource, removed []string) {
	in := newSeeker(ts.list)
	for _, n := range names {
		r, exists := in.find(n)
		v, had := h.version(n)
		switch {
		case exists && (!had || v != r.Hash):
			send = append(send, r)
		case !exists && had:
			removed = append(removed, n)
		}
	}
	return send, removed
}
