package envoy

import (
	"sort"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Cluster and endpoint lists in the Builder. Translation hands over the
// same IR cluster list (the same slice) while no cluster changed; the
// Builder then hands out the same list of protos, which validation and the
// size check recognise without looking at its elements. A list that is
// not sorted by name is not kept (build sorts a copy of it).

// protoList is the protos built from one IR cluster list, in order.
type protoList struct {
	irs     []*ir.Cluster
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
func (s *Builder) reuse(l *protoList, irs []*ir.Cluster) []types.Resource {
	if l.protos == nil || !sameSlice(l.irs, irs) {
		return nil
	}
	l.gen = s.gen
	s.used += len(l.entries)
	return l.protos[:len(l.protos):len(l.protos)]
}

// keep makes l the list built from irs through memo, when it is sorted by
// name.
func (s *Builder) keep(l *protoList, memo map[*ir.Cluster]*protoEntry, irs []*ir.Cluster, protos []types.Resource, names map[string]bool) {
	*l = protoList{}
	if !sort.SliceIsSorted(protos, func(i, j int) bool { return resourceName(protos[i]) < resourceName(protos[j]) }) {
		return
	}
	entries := make([]*protoEntry, 0, len(protos))
	for _, c := range irs {
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
// the IR list is the same.
func (s *Builder) irClusters(b *builder) ([]types.Resource, map[string]bool, error) {
	if out := s.reuse(&s.clusterList, b.proxy.Clusters); out != nil {
		return out, s.clusterList.names, nil
	}
	out, names, err := b.irClusters(len(b.proxy.Clusters))
	if err != nil {
		return nil, nil, err
	}
	s.keep(&s.clusterList, s.clusters, b.proxy.Clusters, out, names)
	return out[:len(out):len(out)], names, nil
}

// irLoadAssignments is b.irLoadAssignments, the same list as the previous
// build's when the IR list is the same.
func (s *Builder) irLoadAssignments(b *builder) ([]types.Resource, error) {
	if out := s.reuse(&s.loadList, b.proxy.Clusters); out != nil {
		return out, nil
	}
	out, err := b.irLoadAssignments(len(b.proxy.Clusters))
	if err != nil {
		return nil, err
	}
	s.keep(&s.loadList, s.loads, b.proxy.Clusters, out, nil)
	return out[:len(out):len(out)], nil
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
