package cache

// listDiff is what a node holding from must be sent (and told removed) to
// hold to. Streams of one subscription move together from one shared list
// to the next, so the diff is computed by the first and reused by the rest.
type listDiff struct {
	from, to []*Resource
	send     []*Resource
	removed  []string
}

// sameList reports whether a and b are the same list (the same backing
// array and length). Lists are shared and never modified, and a memo keeps
// its lists alive, so identity cannot be confused by reuse of memory.
func sameList(a, b []*Resource) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// diffShared is the diff from a delta node's held list to the list it
// subscribes to, memoised per subscription. Called with c.mu held. The
// held list is a list the node was sent for this subscription (what a
// response or a watch left it holding), so a name in from and not in to is
// one that went away, not one the node stopped subscribing to: the server
// marks those in Holdings.Known, which takes the other path.
func (c *Cache) diffShared(w *Watch, from, to []*Resource) ([]*Resource, []string) {
	var memo *listDiff
	vk := viewsKey{key: w.Key, typeURL: w.TypeURL}
	if w.Sub.Wildcard || w.Sub.Names == nil {
		d := c.diffs[vk]
		memo = &d
		defer func() { c.diffs[vk] = d }()
	} else {
		memo = &w.Sub.Names.diff
	}
	if !sameList(memo.from, from) || !sameList(memo.to, to) {
		send, removed := diffLists(from, to)
		*memo = listDiff{from: from, to: to, send: send, removed: removed}
	}
	return memo.send, memo.removed
}

// diffLists compares two lists sorted by name: the resources of to that
// from does not hold as they are, and the names of from that to lacks.
// Resources unchanged between the lists are the same pointers, so most
// steps compare pointers, not names.
func diffLists(from, to []*Resource) (send []*Resource, removed []string) {
	i, j := 0, 0
	for i < len(to) || j < len(from) {
		switch {
		case i < len(to) && j < len(from) && to[i] == from[j]:
			i++
			j++
		case j == len(from) || i < len(to) && to[i].Name < from[j].Name:
			send = append(send, to[i])
			i++
		case i == len(to) || from[j].Name < to[i].Name:
			removed = append(removed, from[j].Name)
			j++
		default: // the same name
			if to[i].Hash != from[j].Hash {
				send = append(send, to[i])
			}
			i++
			j++
		}
	}
	return send, removed
}
