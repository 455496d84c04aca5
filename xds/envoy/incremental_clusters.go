package envoy

import (
	"fmt"
	"iter"
	"slices"
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Cluster and endpoint lists in the Builder. Translation hands over the
// same IR cluster list (the same version of the persistent list) while no
// cluster changed; the
// Builder then hands out the same list of protos, which validation and the
// size check recognise without looking at its elements. A list that is
// not sorted by name is not kept (build sorts a copy of it).

// protoList is the protos built from one IR cluster list, in order.
type protoList struct {
	irs     plist.List[*ir.Cluster]
	protos  []types.Resource
	entries []*protoEntry
	names   map[string]bool // clusters: the names, for the checks that follow
	gen     uint64          // the latest build that used it
}

// sameSlice reports whether a and b are the same slice: the same length
// and, unless empty, the same first element.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// reuse returns l's protos when irs is the list they were built from, with
// a capacity that makes an append copy them; nil otherwise.
func (s *Builder) reuse(l *protoList, irs plist.List[*ir.Cluster]) []types.Resource {
	if l.protos == nil || !plist.Same(l.irs, irs) {
		return nil
	}
	l.gen = s.gen
	s.used += len(l.entries)
	return l.protos[:len(l.protos):len(l.protos)]
}

// keep makes l the list built from irs through memo, when it is sorted by
// name.
func (s *Builder) keep(l *protoList, memo map[*ir.Cluster]*protoEntry, irs plist.List[*ir.Cluster], protos []types.Resource, names map[string]bool) {
	*l = protoList{}
	if !sort.SliceIsSorted(protos, func(i, j int) bool { return resourceName(protos[i]) < resourceName(protos[j]) }) {
		return
	}
	entries := make([]*protoEntry, 0, len(protos))
	for c := range irs.Values() {
		if e := memo[c]; e != nil {
			entries = append(entries, e)
		}
	}
	*l = protoList{irs: irs, protos: protos[:len(protos):len(protos)], entries: entries, names: names, gen: s.gen}
}

// sorted reports whether list is a kept list the current build used (and
// so sorted by name).
func (s *Builder) sorted(list []types.Resource) bool {
	for _, l := range []*protoList{&s.clusterList, &s.loadList} {
		if l.gen == s.gen && l.protos != nil && sameSlice(l.protos, list) {
			return true
		}
	}
	return false
}

// irClusters is b.irClusters, the same list as the previous build's when
// the IR list is the same, or that list edited where it differs.
func (s *Builder) irClusters(b *builder) ([]types.Resource, map[string]bool, error) {
	l := &s.clusterList
	if out := s.reuse(l, b.proxy.Clusters); out != nil {
		return out, l.names, nil
	}
	names := l.names // edit may drop l
	build := func(c *ir.Cluster) (types.Resource, error) {
		if c.Name == "" {
			return nil, fmt.Errorf("cluster with an empty name")
		}
		if names[c.Name] || c.Name == InvalidBackendCluster {
			return nil, fmt.Errorf("cluster %s: duplicate or reserved name", c.Name)
		}
		names[c.Name] = true
		pc, err := b.clusterOf(c)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		return pc, nil
	}
	forget := func(c *ir.Cluster) { delete(names, c.Name) }
	if out, ok, err := s.edit(l, b.proxy.Clusters, s.clusters, build, forget, b.flavor == FlavorGRPC); ok || err != nil {
		return out, names, err
	}
	out, fresh, err := b.irClusters(b.proxy.Clusters.Len())
	if err != nil {
		return nil, nil, err
	}
	s.keep(l, s.clusters, b.proxy.Clusters, out, fresh)
	return out[:len(out):len(out)], fresh, nil
}

// irLoadAssignments is b.irLoadAssignments, the same list as the previous
// build's when the IR list is the same, or that list edited where it
// differs.
func (s *Builder) irLoadAssignments(b *builder) ([]types.Resource, error) {
	l := &s.loadList
	if out := s.reuse(l, b.proxy.Clusters); out != nil {
		return out, nil
	}
	build := func(c *ir.Cluster) (types.Resource, error) {
		cla, err := b.loadAssignmentOf(c)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: endpoints: %w", c.Name, err)
		}
		return cla, nil
	}
	if out, ok, err := s.edit(l, b.proxy.Clusters, s.loads, build, func(*ir.Cluster) {}, true); ok || err != nil {
		return out, err
	}
	out, err := b.irLoadAssignments(b.proxy.Clusters.Len())
	if err != nil {
		return nil, err
	}
	s.keep(l, s.loads, b.proxy.Clusters, out, nil)
	return out[:len(out):len(out)], nil
}

// edit makes l the list built from irs by editing the previous one: the
// IR clusters kept at both ends (the same pointers) keep their protos,
// those between leave (forget) and are built. It declines (false) when l
// holds nothing, or a cluster of either list is nil or, with
// originalDst, original-destination (left out of the list, so that
// positions would not match), or the edited list is not sorted by name.
// One new list of protos is made; the rest costs the changed clusters.
func (s *Builder) edit(l *protoList, irs plist.List[*ir.Cluster], memo map[*ir.Cluster]*protoEntry, build func(*ir.Cluster) (types.Resource, error), forget func(*ir.Cluster), originalDst bool) ([]types.Resource, bool, error) {
	if l.protos == nil || len(l.protos) != l.irs.Len() {
		return nil, false, nil
	}
	head, tail := plist.KeptEnds(l.irs, irs)
	left := l.irs.Range(head, l.irs.Len()-tail)
	joined := irs.Range(head, irs.Len()-tail)
	for _, list := range []iter.Seq2[int, *ir.Cluster]{left, joined} {
		for _, c := range list {
			if c == nil || (c.OriginalDestination && originalDst) {
				*l = protoList{}
				return nil, false, nil
			}
		}
	}
	for _, c := range left {
		forget(c)
	}
	out := make([]types.Resource, irs.Len())
	copy(out, l.protos[:head])
	copy(out[irs.Len()-tail:], l.protos[l.irs.Len()-tail:])
	entries := make([]*protoEntry, 0, irs.Len()-tail-head)
	for i, c := range joined {
		msg, err := build(c)
		if err != nil {
			return nil, false, err
		}
		out[i] = msg
		entries = append(entries, memo[c])
	}
	from, to := max(head-1, 0), min(irs.Len()-tail+1, len(out))
	if !sort.SliceIsSorted(out[from:to], func(i, j int) bool { return resourceName(out[from+i]) < resourceName(out[from+j]) }) {
		*l = protoList{}
		return out, true, nil
	}
	s.used += len(l.entries) - (l.irs.Len() - tail - head)
	l.entries = slices.Replace(l.entries, head, l.irs.Len()-tail, entries...)
	l.irs, l.protos, l.gen = irs, out, s.gen
	return out, true, nil
}

// keptEnds returns how many elements of b, from the start and from the
// end, are those of a at the same position.
func keptEnds[T comparable](a, b []T) (head, tail int) {
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	return head, tail
}

// markLists marks the entries of the lists the current build used.
func (s *Builder) markLists() {
	for _, l := range []*protoList{&s.clusterList, &s.loadList} {
		if l.gen != s.gen {
			continue
		}
		for _, e := range l.entries {
			e.gen = s.gen
		}
	}
}
