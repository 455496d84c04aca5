package envoy

import (
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Builder is Build with a memory, for one proxy group and flavor built
// again and again: each IR route, virtual host, route configuration,
// cluster and endpoint set that is the same pointer as in an earlier
// build (with the same inputs besides it: flavor, the route
// configuration's CORS, RBAC and gRPC domain facts) gives the same proto
// pointer, already validated and measured, so a change costs what changed.
// Its route configurations are *RouteConfiguration (a shell and a
// persistent list of virtual hosts shared between versions), where
// Build's are *routev3.RouteConfiguration; both read as the same message.
// The IR it is given must not be modified afterwards (xds/ir shares it
// between translations); a new pointer with equal content builds equal
// protos, only not for free. The protos it returns are never modified
// afterwards.
//
// The result equals Build's. A build that fails (or finds a problem with
// its incremental checks) forgets everything and returns Build's answer,
// so errors read the same. Entries that the latest build did not use are
// dropped once they outnumber those it did (or a quarter of the memo is
// new), so memory follows the configuration, not the number of builds.
// Proxies with a sidecar (whose route tables are edited after they are
// built) are built by Build. A Builder is not safe for concurrent use.
type Builder struct {
	flavor Flavor
	gen    uint64 // the current build
	fresh  int    // entries made since the last sweep
	used   int    // entries the current build used

	routes   map[*ir.Route]*routeEntry
	hosts    map[*ir.VirtualHost]*hostEntry
	configs  map[string]*configEntry // by route configuration name
	clusters map[*ir.Cluster]*protoEntry
	loads    map[*ir.Cluster]*protoEntry
	apis     map[grpcAPIListener]*protoEntry
	// checked are the memoized protos, validated, with what they
	// reference and their size; entries leave with their memo entry.
	checked     map[types.Resource]*checked
	misdirected *routev3.VirtualHost
	// names are the resource names of the latest build, per kind, and
	// valid its resources, validated (incremental_validate.go).
	names [5]nameSet
	valid [5][]types.Resource
	// clusterList and loadList are the latest cluster and endpoint lists
	// (incremental_clusters.go).
	clusterList, loadList protoList
	// measured are the lists of the latest CheckSize, with their sizes.
	measured [5]measured
	// prev is the proxy of the previous call.
	prev *ir.Proxy
	// stateless is set when the latest Build kept nothing (Build's
	// result), so that CheckSize keeps nothing of it either.
	stateless bool
}

// checked is what validation and the size check need of a memoized
// resource.
type checked struct {
	refs []reference // from is empty
	size int
	// config is the entry of a route configuration, whose references are
	// its counts (refs is empty).
	config *configEntry
}

// protoEntry is a memoized cluster or endpoint set.
type protoEntry struct {
	gen uint64
	msg types.Resource
	checked
}

// NewBuilder returns an empty Builder for flavor (empty: FlavorEnvoy).
func NewBuilder(flavor Flavor) *Builder {
	if flavor == "" {
		flavor = FlavorEnvoy
	}
	s := &Builder{flavor: flavor}
	s.reset()
	return s
}

func (s *Builder) reset() {
	s.routes = map[*ir.Route]*routeEntry{}
	s.hosts = map[*ir.VirtualHost]*hostEntry{}
	s.configs = map[string]*configEntry{}
	s.clusters = map[*ir.Cluster]*protoEntry{}
	s.loads = map[*ir.Cluster]*protoEntry{}
	s.apis = map[grpcAPIListener]*protoEntry{}
	s.checked = map[types.Resource]*checked{}
	s.names = [5]nameSet{}
	s.valid = [5][]types.Resource{}
	s.measured = [5]measured{}
	s.clusterList, s.loadList = protoList{}, protoList{}
	s.fresh = 0
}

// Build is Build(p, Options{Flavor: the builder's flavor}), at the cost of
// what changed since the previous call.
func (s *Builder) Build(p *ir.Proxy) (*Resources, error) {
	opts := Options{Flavor: s.flavor}
	prev := s.prev
	s.prev = p
	if p == nil || p.Sidecar != nil || (s.flavor != FlavorEnvoy && s.flavor != FlavorGRPC) || !s.sharesHosts(prev, p) {
		// Nothing to reuse: keeping what this build makes would cost
		// more than it saves.
		s.reset()
		s.stateless = true
		return Build(p, opts)
	}
	s.stateless = false
	s.gen++
	s.used = 0
	b := newBuilder(p, opts)
	b.memo = s
	out, err := b.build()
	if err == nil {
		err = s.validateIncremental(out)
	}
	if err != nil {
		// Build names the problem the way it always does.
		s.reset()
		s.stateless = true
		return Build(p, opts)
	}
	s.sweep()
	return out, nil
}

// CheckSize is CheckSize for a result of the builder's latest Build, with
// the sizes it already knows: a list that is the same slice as the list
// last measured has its total, another is compared with it from both ends
// (the same pointers) and only the resources between are looked up.
func (s *Builder) CheckSize(r *Resources, limit int) error {
	if s.stateless {
		// The result of Build: nothing of it is kept, not even its lists.
		return CheckSize(r, limit)
	}
	size := func(res types.Resource) int {
		if c := s.checked[res]; c != nil {
			return c.size
		}
		return proto.Size(res)
	}
	return checkSize(r, limit, size, func(i int, list []types.Resource) int {
		m := &s.measured[i]
		if m.list != nil && sameSlice(m.list, list) {
			return m.total
		}
		head, tail := keptEnds(m.list, list)
		for _, n := range m.sizes[head : len(m.list)-tail] {
			m.total -= n
		}
		joined := make([]int, 0, len(list)-head-tail)
		for _, res := range list[head : len(list)-tail] {
			joined = append(joined, size(res)+anyOverhead)
			m.total += joined[len(joined)-1]
		}
		m.sizes = slices.Replace(m.sizes, head, len(m.list)-tail, joined...)
		m.list = list
		return m.total
	})
}

// measured is a list of resources that CheckSize measured, the size of
// each in a response and their total.
type measured struct {
	list  []types.Resource
	sizes []int
	total int
}

// sweep drops the entries the latest build did not use, once they
// outnumber the used ones or a quarter of the memo was made since the
// last sweep. The routes and hosts used are those of the route
// configurations used, marked here rather than during the build.
func (s *Builder) sweep() {
	maps.DeleteFunc(s.configs, func(_ string, e *configEntry) bool {
		if e.gen != s.gen {
			if e.msg != nil {
				delete(s.checked, e.msg)
			}
			return true
		}
		return false
	})
	used := s.used
	for _, e := range s.configs {
		used += len(e.hosts) + e.nroutes
	}
	total := len(s.routes) + len(s.hosts) + len(s.clusters) + len(s.loads) + len(s.apis)
	if total <= 2*used && s.fresh*4 <= total {
		return
	}
	s.fresh = 0
	s.markLists()
	for _, e := range s.configs {
		for _, h := range e.hosts {
			h.gen = s.gen
			for _, r := range h.routes {
				r.gen = s.gen
			}
		}
	}
	maps.DeleteFunc(s.routes, func(_ *ir.Route, e *routeEntry) bool { return e.gen != s.gen })
	maps.DeleteFunc(s.hosts, func(_ *ir.VirtualHost, e *hostEntry) bool { return e.gen != s.gen })
	stale := func(_ *ir.Cluster, e *protoEntry) bool {
		if e.gen != s.gen {
			delete(s.checked, e.msg)
			return true
		}
		return false
	}
	maps.DeleteFunc(s.clusters, stale)
	maps.DeleteFunc(s.loads, stale)
	maps.DeleteFunc(s.apis, func(_ grpcAPIListener, e *protoEntry) bool { return stale(nil, e) })
}

// newEntry validates a freshly built resource and measures it.
func (s *Builder) newEntry(msg types.Resource) (*protoEntry, error) {
	refs := &references{}
	if err := validateMessage(msg, refs); err != nil {
		return nil, err
	}
	s.fresh++
	e := &protoEntry{gen: s.gen, msg: msg, checked: checked{refs: distinctRefs(nil, refs.list), size: proto.Size(msg)}}
	s.checked[msg] = &e.checked
	return e, nil
}

// use marks e used by the current build.
func (s *Builder) use(e *protoEntry) types.Resource {
	e.gen = s.gen
	s.used++
	return e.msg
}

// cluster is b.cluster(c), memoized.
func (s *Builder) cluster(b *builder, c *ir.Cluster) (*clusterv3.Cluster, error) {
	if e := s.clusters[c]; e != nil {
		return s.use(e).(*clusterv3.Cluster), nil
	}
	pc, err := b.cluster(c)
	if err != nil {
		return nil, err
	}
	e, err := s.newEntry(pc)
	if err != nil {
		return nil, err
	}
	s.clusters[c] = e
	return s.use(e).(*clusterv3.Cluster), nil
}

// loadAssignment is loadAssignment(c), memoized.
func (s *Builder) loadAssignment(c *ir.Cluster) (*endpointv3.ClusterLoadAssignment, error) {
	if e := s.loads[c]; e != nil {
		return s.use(e).(*endpointv3.ClusterLoadAssignment), nil
	}
	cla, err := loadAssignment(c)
	if err != nil {
		return nil, err
	}
	e, err := s.newEntry(cla)
	if err != nil {
		return nil, err
	}
	s.loads[c] = e
	return s.use(e).(*endpointv3.ClusterLoadAssignment), nil
}

// apiListener is the gRPC flavor's derived api_listener of api, memoized.
func (s *Builder) apiListener(b *builder, api grpcAPIListener) (*listenerv3.Listener, error) {
	if e := s.apis[api]; e != nil {
		return s.use(e).(*listenerv3.Listener), nil
	}
	pl, err := b.apiListener(api.name, &ir.HTTPConnectionManager{RouteConfigName: api.routeConfig, StatPrefix: api.name})
	if err != nil {
		return nil, err
	}
	e, err := s.newEntry(pl)
	if err != nil {
		return nil, err
	}
	s.apis[api] = e
	return s.use(e).(*listenerv3.Listener), nil
}

// clusterOf builds c, through the memo when there is one.
func (b *builder) clusterOf(c *ir.Cluster) (*clusterv3.Cluster, error) {
	if b.memo != nil {
		return b.memo.cluster(b, c)
	}
	return b.cluster(c)
}

// loadAssignmentOf builds c's endpoint set, through the memo when there is
// one.
func (b *builder) loadAssignmentOf(c *ir.Cluster) (*endpointv3.ClusterLoadAssignment, error) {
	if b.memo != nil {
		return b.memo.loadAssignment(c)
	}
	return loadAssignment(c)
}

// routeConfigOf builds rc, through the memo when there is one.
func (b *builder) routeConfigOf(rc *ir.RouteConfig) (types.Resource, error) {
	if b.memo != nil {
		return b.memo.routeConfig(b, rc)
	}
	return b.routeConfig(rc)
}

// sharesHosts reports whether most virtual hosts of p are those of prev
// (the same pointers at about the same positions), or p has few, or there
// is no prev: whether the memo is worth keeping for p. When the proxy's
// producer makes every part anew, Build costs less than filling the memo
// each time. A route configuration whose memo entry is prev's counts the
// hosts kept at both ends (its span, which the build then reuses) and
// walks only those between.
func (s *Builder) sharesHosts(prev, p *ir.Proxy) bool {
	if prev == nil {
		return true
	}
	before := make(map[string]*ir.RouteConfig, len(prev.RouteConfigs))
	for _, rc := range prev.RouteConfigs {
		if rc != nil {
			before[rc.Name] = rc
		}
	}
	total, shared := 0, 0
	for _, rc := range p.RouteConfigs {
		if rc == nil {
			continue
		}
		vhs := rc.VirtualHosts
		total += vhs.Len()
		old := before[rc.Name]
		if old == nil {
			continue
		}
		was := old.VirtualHosts
		head, tail := 0, 0
		if e := s.configs[rc.Name]; e != nil && e.ir == old && len(e.irHosts) == was.Len() {
			head, tail = e.spanOf(rc)
			shared += head + tail
		}
		shared += samePositions(vhs.Range(head, vhs.Len()-tail), was, head, was.Len()-tail)
	}
	return total < minHostsToSkip || shared*2 >= total
}

// samePositions counts the hosts of vhs that are those of old from
// position j to end at about the same position (one insertion or removal
// tolerated at a time).
func samePositions(vhs iter.Seq2[int, *ir.VirtualHost], old plist.List[*ir.VirtualHost], j, end int) int {
	shared := 0
	for _, vh := range vhs {
		switch {
		case vh == nil:
		case j < end && old.At(j) == vh:
			shared++
			j++
		case j+1 < end && old.At(j+1) == vh:
			shared++
			j += 2
		}
	}
	return shared
}

// minHostsToSkip is how many virtual hosts a proxy needs before sharesHosts
// may send it to Build: a small proxy costs little either way.
const minHostsToSkip = 32

// fieldSize is the encoded size of a length-delimited field of number n
// holding size bytes.
func fieldSize(n protowire.Number, size int) int {
	return protowire.SizeTag(n) + protowire.SizeBytes(size)
}

// errIncremental reports a problem the incremental checks found; Build
// then names it.
var errIncremental = fmt.Errorf("incremental build: inconsistent configuration")

// distinctRefs appends to dst the references of src that dst lacks.
func distinctRefs(dst, src []reference) []reference {
	for _, r := range src {
		r.from = ""
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}
