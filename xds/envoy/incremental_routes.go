package envoy

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/xds/ir"
)

// Route configurations in the Builder. A route's protos depend on the IR
// route and the flavor only; what building them tells the route
// configuration (CORS used, invalid-backend statuses, the invalid-backend
// cluster needed) is kept as the route's effects. A virtual host also
// depends on its route configuration's name (the gRPC flavor's extra
// domains) and, when it has an Authorization, on the RBAC stages of its
// route configuration. A route configuration keeps counts of its virtual
// hosts' domains, names, effects and references, updated with the hosts
// that joined or left it, so that one changed host costs one host.

// effects is what building routes tells their route configuration.
type effects struct {
	cors, invalidBackend bool
	statuses             []uint32 // distinct
}

func (e *effects) merge(o effects) {
	e.cors = e.cors || o.cors
	e.invalidBackend = e.invalidBackend || o.invalidBackend
	for _, st := range o.statuses {
		if !slices.Contains(e.statuses, st) {
			e.statuses = append(e.statuses, st)
		}
	}
}

// routeEntry is the memoized build of one IR route.
type routeEntry struct {
	gen    uint64
	protos []*routev3.Route
	sizes  []int
	refs   []reference // distinct
	effects
}

// hostEntry is the memoized build of one IR virtual host.
type hostEntry struct {
	gen uint64
	// Inputs besides the IR host.
	rc            string
	extra, stages []string
	irRoutes      []*ir.Route

	routes  []*routeEntry
	proto   *routev3.VirtualHost
	size    int
	domains []string // lower case, as the duplicate check compares them
	refs    []reference
	effects
}

// configEntry is the memoized build of one route configuration, by name.
type configEntry struct {
	gen uint64
	// Inputs besides the virtual hosts.
	ir          *ir.RouteConfig
	misdirected bool
	stages      []string

	proto *routev3.RouteConfiguration
	hostList
	// Counts over hosts.
	domains, names map[string]int
	dups           int // domains and names held by more than one host
	nroutes        int // routes of hosts
	refs           map[reference]int
	cors, invalid  int
	statuses       map[uint32]int
	checked        checked
}

func newConfigEntry() *configEntry {
	return &configEntry{domains: map[string]int{}, names: map[string]int{}, refs: map[reference]int{}, statuses: map[uint32]int{}}
}

// count adds d (1 or -1) to the counts of h.
func (e *configEntry) count(h *hostEntry, d int) {
	for _, dom := range h.domains {
		e.dups += countKey(e.domains, dom, d)
	}
	e.dups += countKey(e.names, h.proto.Name, d)
	for _, r := range h.refs {
		countKey(e.refs, r, d)
	}
	for _, st := range h.statuses {
		countKey(e.statuses, st, d)
	}
	if h.cors {
		e.cors += d
	}
	if h.invalidBackend {
		e.invalid += d
	}
	e.nroutes += d * len(h.routes)
}

// countKey adds d to m[k] and returns the change in the number of keys
// held more than once.
func countKey[K comparable](m map[K]int, k K, d int) int {
	before := m[k]
	after := before + d
	if after == 0 {
		delete(m, k)
	} else {
		m[k] = after
	}
	switch {
	case before <= 1 && after > 1:
		return 1
	case before > 1 && after <= 1:
		return -1
	}
	return 0
}

// apply tells the builder what e's routes told their route configuration.
func (e *configEntry) apply(b *builder, in *routeConfigInfo) {
	in.cors = e.cors > 0
	in.invalidStatuses = in.invalidStatuses[:0]
	for st := range e.statuses {
		in.invalidStatuses = append(in.invalidStatuses, st)
	}
	slices.Sort(in.invalidStatuses)
	if e.invalid > 0 {
		b.invalidBackend = true
	}
}

// routeConfig is b.routeConfig(rc), memoized.
func (s *Builder) routeConfig(b *builder, rc *ir.RouteConfig) (*routev3.RouteConfiguration, error) {
	in := b.info(rc.Name)
	misdirected := in.misdirected && b.flavor == FlavorEnvoy
	e := s.configs[rc.Name]
	if e == nil {
		e = newConfigEntry()
		s.configs[rc.Name] = e
	}
	if e.ir == rc && e.misdirected == misdirected && slices.Equal(e.stages, in.rbacStages) && b.grpcDomains == nil {
		e.gen = s.gen // its hosts and routes are marked by the sweep
	} else if err := s.rebuildConfig(b, e, rc, in, misdirected); err != nil {
		return nil, err
	}
	e.apply(b, in)
	return e.proto, nil
}

// rebuildConfig makes e the route configuration of rc: its hosts from its
// previous build or the memo (built when new), the counts updated with the
// hosts that joined and left.
func (s *Builder) rebuildConfig(b *builder, e *configEntry, rc *ir.RouteConfig, in *routeConfigInfo, misdirected bool) error {
	e.gen = s.gen
	next, changed, err := s.hostsOf(b, e, rc, in)
	if err != nil {
		return err
	}
	same := !changed && e.proto != nil && e.misdirected == misdirected && e.ir != nil && e.ir.IgnorePortInHost == rc.IgnorePortInHost
	e.hostList, e.ir, e.misdirected, e.stages = next, rc, misdirected, in.rbacStages
	if e.dups > 0 {
		return errIncremental
	}
	if same {
		return nil // the same hosts: the same proto
	}
	return s.assembleConfig(e, rc)
}

// hostList is the hosts of a route configuration in order, with their IR
// virtual hosts, protos and sizes side by side (read without visiting each
// host).
type hostList struct {
	hosts   []*hostEntry
	irHosts []*ir.VirtualHost
	protos  []*routev3.VirtualHost // one spare slot for the misdirected host
	sizes   []int
}

func (l *hostList) add(h *hostEntry, vh *ir.VirtualHost, p *routev3.VirtualHost, size int) {
	l.hosts, l.irHosts, l.protos, l.sizes = append(l.hosts, h), append(l.irHosts, vh), append(l.protos, p), append(l.sizes, size)
}

// hostsOf returns the hosts of rc, counting those that joined and left e,
// and whether any did. Each IR host is first compared with e's previous
// hosts position by position (one insertion or removal tolerated at a
// time), then looked up in the memo, then built.
func (s *Builder) hostsOf(b *builder, e *configEntry, rc *ir.RouteConfig, in *routeConfigInfo) (hostList, bool, error) {
	n := len(rc.VirtualHosts)
	next := hostList{hosts: make([]*hostEntry, 0, n), irHosts: make([]*ir.VirtualHost, 0, n),
		protos: make([]*routev3.VirtualHost, 0, n+1), sizes: make([]int, 0, n)}
	old := &e.hostList
	// With the same inputs as e's previous build, a host at its position
	// (the same IR pointer, which is never modified) is what it was.
	sameInputs := e.ir != nil && slices.Equal(e.stages, in.rbacStages) && b.grpcDomains == nil
	changed := false
	j := 0
	for _, vh := range rc.VirtualHosts {
		if vh == nil {
			continue
		}
		k := -1
		switch {
		case j < len(old.irHosts) && old.irHosts[j] == vh:
			k = j
		case j+1 < len(old.irHosts) && old.irHosts[j+1] == vh:
			k = j + 1
		}
		if k >= 0 && (sameInputs || old.hosts[k].reusable(b, rc.Name, vh, in)) {
			for ; j < k; j++ { // skipped: left
				e.count(old.hosts[j], -1)
				changed = true
			}
			next.add(old.hosts[k], vh, old.protos[k], old.sizes[k])
			j = k + 1
			continue
		}
		h, err := s.host(b, rc.Name, vh, in)
		if err != nil {
			return hostList{}, false, fmt.Errorf("virtual host %s: %w", vh.Name, err)
		}
		e.count(h, 1)
		changed = true
		next.add(h, vh, h.proto, h.size)
	}
	for ; j < len(old.hosts); j++ {
		e.count(old.hosts[j], -1)
		changed = true
	}
	return next, changed, nil
}

// reusable reports whether h, built from vh, is what vh builds to now.
func (h *hostEntry) reusable(b *builder, rcName string, vh *ir.VirtualHost, in *routeConfigInfo) bool {
	var stages []string
	if vh.Authorization != nil {
		stages = in.rbacStages
	}
	return h.rc == rcName && slices.Equal(h.extra, b.grpcDomains[rcName][vh.Name]) && slices.Equal(h.stages, stages) && slices.Equal(h.irRoutes, vh.Routes)
}

// assembleConfig makes e's proto, checked and measured, from its hosts.
func (s *Builder) assembleConfig(e *configEntry, rc *ir.RouteConfig) error {
	out := &routev3.RouteConfiguration{Name: rc.Name, IgnorePortInHostMatching: rc.IgnorePortInHost}
	refs := &references{}
	if err := validateMessage(out, refs); err != nil {
		return err
	}
	size := proto.Size(out)
	vhs := e.protos
	for _, n := range e.sizes {
		size += fieldSize(2, n)
	}
	if e.misdirected && e.domains["*"] == 0 {
		m, err := s.misdirectedHost()
		if err != nil {
			return err
		}
		vhs = append(vhs, m)
		size += fieldSize(2, proto.Size(m))
	}
	out.VirtualHosts = vhs
	delete(s.checked, e.proto)
	e.proto = out
	s.checked[out] = &e.checked
	e.checked = checked{size: size, refs: make([]reference, 0, len(e.refs))}
	for r := range e.refs {
		e.checked.refs = append(e.checked.refs, r)
	}
	return nil
}

// misdirectedHost is misdirectedVirtualHost, built once and validated.
func (s *Builder) misdirectedHost() (*routev3.VirtualHost, error) {
	if s.misdirected == nil {
		m := misdirectedVirtualHost()
		if err := validateMessage(m, &references{}); err != nil {
			return nil, err
		}
		s.misdirected = m
	}
	return s.misdirected, nil
}

// host is b.virtualHost(rcName, vh, in), memoized.
func (s *Builder) host(b *builder, rcName string, vh *ir.VirtualHost, in *routeConfigInfo) (*hostEntry, error) {
	if h := s.hosts[vh]; h != nil && h.reusable(b, rcName, vh, in) {
		return h, nil
	}
	extra := b.grpcDomains[rcName][vh.Name]
	var stages []string
	if vh.Authorization != nil {
		stages = in.rbacStages
	}
	out, err := b.hostShell(rcName, vh)
	if err != nil {
		return nil, err
	}
	if err := hostAuthorization(out, vh, in); err != nil {
		return nil, err
	}
	refs := &references{}
	if err := validateMessage(out, refs); err != nil {
		return nil, err
	}
	h := &hostEntry{gen: s.gen, rc: rcName, extra: extra, stages: stages, irRoutes: vh.Routes, proto: out, size: proto.Size(out)}
	for _, d := range out.Domains {
		h.domains = append(h.domains, strings.ToLower(d))
	}
	seen := map[reference]bool{}
	addRefs := func(list []reference) {
		for _, r := range list {
			r.from = ""
			if !seen[r] {
				seen[r] = true
				h.refs = append(h.refs, r)
			}
		}
	}
	addRefs(refs.list)
	for i, r := range vh.Routes {
		if r == nil {
			continue
		}
		re, err := s.route(b, r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", routeLabel(r, i), err)
		}
		h.routes = append(h.routes, re)
		out.Routes = append(out.Routes, re.protos...)
		for _, n := range re.sizes {
			h.size += fieldSize(3, n)
		}
		h.merge(re.effects)
		addRefs(re.refs)
	}
	s.hosts[vh] = h
	s.fresh++
	return h, nil
}

// route is b.route(r, ...), memoized with its effects.
func (s *Builder) route(b *builder, r *ir.Route) (*routeEntry, error) {
	if e := s.routes[r]; e != nil {
		return e, nil
	}
	in := &routeConfigInfo{}
	saved := b.invalidBackend
	b.invalidBackend = false
	protos, err := b.route(r, in)
	e := &routeEntry{gen: s.gen, protos: protos, effects: effects{cors: in.cors, invalidBackend: b.invalidBackend, statuses: in.invalidStatuses}}
	b.invalidBackend = saved || b.invalidBackend
	if err != nil {
		return nil, err
	}
	for _, p := range protos {
		refs := &references{}
		if err := validateMessage(p, refs); err != nil {
			return nil, err
		}
		e.refs = distinctRefs(e.refs, refs.list)
		e.sizes = append(e.sizes, proto.Size(p))
	}
	s.routes[r] = e
	s.fresh++
	return e, nil
}
