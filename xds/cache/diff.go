package cache

import "github.com/gantryproxy/gantry/internal/plist"

// listDiff is what a node holding from must be sent (and told removed) to
// hold to. Streams of one subscription move together from one shared list
// to the next, so the diff is computed by the first and reused by the rest.
type listDiff struct {
	from, to plist.List[*Resource]
	send     []*Resource
	removed  []string
}

// diffShared is the diff from a delta node's held list to the list it
// subscribes to, memoised per subscription. Called with c.mu held. The
// held list is a list the node was sent for this subscription (what a
// response or a watch left it holding), so a name in from and not in to is
// one that went away, not one the node stopped subscribing to: the server
// marks those in Holdings.Known, which takes the other path.
func (c *Cache) diffShared(w *Watch, from, to plist.List[*Resource]) ([]*Resource, []string) {
	var memo *listDiff
	vk := viewsKey{key: w.Key, typeURL: w.TypeURL}
	if w.Sub.Wildcard || w.Sub.Names == nil {
		d := c.diffs[vk]
		memo = &d
		defer func() { c.diffs[vk] = d }()
	} else {
		memo = &w.Sub.Names.diff
	}
	if !plist.Same(memo.from, from) || !plist.Same(memo.to, to) {
		send, removed := diffLists(from, to)
		*memo = listDiff{from: from, to: to, send: send, removed: removed}
	}
	return memo.send, memo.removed
}

// diffLists compares two lists sorted by name: the resources of to that
// from does not hold as they are, and the names of from that to lacks.
// Chunks the lists share are skipped and resources unchanged between them
// are the same pointers (differ), so it costs what changed between them.
func diffLists(from, to plist.List[*Resource]) (send []*Resource, removed []string) {
	differ(from, to, func(old, cur *Resource) {
		switch {
		case cur == nil:
			removed = append(removed, old.Name)
		case old == nil || old.Hash != cur.Hash:
			send = append(send, cur)
		}
	})
	return send, removed
}
