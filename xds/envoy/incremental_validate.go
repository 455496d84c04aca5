package envoy

import (
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// nameSet is the names of one kind of resource of a Builder's latest
// build, in order, and as a set.
type nameSet struct {
	list []string
	set  map[string]bool
}

// namesOf returns the set of the names of list, whether it has all the
// names of the previous build (grown: none went away; the names kept were
// already checked for duplicates and empty names), and false for ok when
// a name is empty or repeated. The names kept at both
// ends are found by comparing them with the previous build's, and the set
// and list are edited where they differ.
func (s *Builder) namesOf(kind int, list []types.Resource) (set map[string]bool, grown, ok bool) {
	prev := &s.names[kind]
	if prev.set == nil {
		next := nameSet{list: make([]string, 0, len(list)), set: make(map[string]bool, len(list))}
		for _, res := range list {
			name := resourceName(res)
			if name == "" || next.set[name] {
				return nil, false, false
			}
			next.list = append(next.list, name)
			next.set[name] = true
		}
		*prev = next
		return next.set, false, true
	}
	head, tail := 0, 0
	for head < len(list) && head < len(prev.list) && resourceName(list[head]) == prev.list[head] {
		head++
	}
	for tail < len(list)-head && tail < len(prev.list)-head && resourceName(list[len(list)-1-tail]) == prev.list[len(prev.list)-1-tail] {
		tail++
	}
	if head+tail == len(list) && len(list) == len(prev.list) {
		return prev.set, true, true
	}
	left := slices.Clone(prev.list[head : len(prev.list)-tail])
	for _, name := range left {
		delete(prev.set, name)
	}
	joined := make([]string, 0, len(list)-head-tail)
	for _, res := range list[head : len(list)-tail] {
		name := resourceName(res)
		if name == "" || prev.set[name] {
			return nil, false, false
		}
		prev.set[name] = true
		joined = append(joined, name)
	}
	prev.list = slices.Replace(prev.list, head, len(prev.list)-tail, joined...)
	grown = true
	for _, name := range left {
		grown = grown && prev.set[name]
	}
	return prev.set, grown, true
}

// validateIncremental is Validate for a Builder's output: the memoized
// resources (s.checked) were validated when they were built and only
// their references are checked; name sets are edited where the names
// change. While no name went away since the previous (validated) build,
// the resources kept at both ends of each list (the same pointers) are
// not looked at, nor is a list that is the same slice, and a route
// configuration checks only the references its hosts added. Any problem
// is errIncremental: Build then names it.
func (s *Builder) validateIncremental(r *Resources) error {
	kinds := []struct {
		kind string
		list []types.Resource
		want func(types.Resource) bool
	}{
		{kind: "listener", list: r.Listeners, want: is[*listenerv3.Listener]},
		{kind: "route config", list: r.Routes, want: is[*RouteConfiguration]},
		{kind: "cluster", list: r.Clusters, want: is[*clusterv3.Cluster]},
		{kind: "endpoints", list: r.Endpoints, want: is[*endpointv3.ClusterLoadAssignment]},
		{kind: "secret", list: r.Secrets, want: is[*tlsv3.Secret]},
	}
	names := make(map[string]map[string]bool, len(kinds))
	kept := true // no name went away
	for i, k := range kinds {
		if s.names[i].set != nil && sameSlice(k.list, s.valid[i]) {
			names[k.kind] = s.names[i].set // the list validated last
			continue
		}
		set, grown, ok := s.namesOf(i, k.list)
		if !ok {
			return errIncremental
		}
		names[k.kind] = set
		kept = kept && grown
	}
	has := func(ref reference) bool { return names[ref.kind][ref.name] }
	exist := func(list []reference) bool {
		for _, ref := range list {
			if !has(ref) {
				return false
			}
		}
		return true
	}
	refs := &references{}
	var configs []*configEntry
	for i, k := range kinds {
		list := k.list
		if kept && sameSlice(s.valid[i], list) {
			continue
		}
		if kept {
			head, tail := keptEnds(s.valid[i], list) // validated against fewer names
			list = list[head : len(list)-tail]
		}
		for _, res := range list {
			if !k.want(res) {
				return errIncremental
			}
			c := s.checked[res]
			switch {
			case c == nil:
				if err := validateMessage(res, refs); err != nil {
					return errIncremental
				}
			case c.config != nil:
				if !c.config.refsExist(kept, has) {
					return errIncremental
				}
				configs = append(configs, c.config)
			case !exist(c.refs):
				return errIncremental
			}
		}
	}
	if !exist(refs.list) {
		return errIncremental
	}
	for _, e := range configs {
		e.verified, e.unverified = true, e.unverified[:0]
	}
	for i, k := range kinds {
		s.valid[i] = k.list
	}
	return nil
}

// refsExist reports whether the route configuration's references exist:
// those its hosts added since it was last verified when no name went away
// since, all of them otherwise.
func (e *configEntry) refsExist(kept bool, has func(reference) bool) bool {
	if kept && e.verified {
		for _, ref := range e.unverified {
			if e.refs[ref] > 0 && !has(ref) {
				return false
			}
		}
		return true
	}
	for ref := range e.refs {
		if !has(ref) {
			return false
		}
	}
	return true
}
