package envoy

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/internal/plist"
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
	// authorized: the IR host has an Authorization.
	authorized bool
	effects
}

// configEntry is the memoized build of one route configuration, by name.
type configEntry struct {
	gen uint64
	// Inputs besides the virtual hosts.
	ir          *ir.RouteConfig
	misdirected bool
	stages      []string

	msg *RouteConfiguration
	hostList
	// Counts over hosts.
	domains, names map[string]int
	dups           int // domains and names held by more than one host
	nroutes        int // routes of hosts
	authorized     int // hosts with an Authorization
	hostBytes      int // the hosts' encoded size within the configuration
	refs           map[reference]int
	cors, invalid  int
	statuses       map[uint32]int
	checked        checked
	// unverified are the references that joined refs since the last
	// validation (incremental_validate.go); verified is false when refs
	// must be checked whole.
	unverified []reference
	verified   bool
	// span is the hosts of a route configuration found at their position
	// in hosts, from both ends, kept until hosts change.
	span span
}

// span is how many virtual hosts of rc, from the start and from the end,
// are those of a configuration entry at the same position.
type span struct {
	rc         *ir.RouteConfig
	head, tail int
}

// spanOf is e's span of rc: one pass of pointer comparisons per rc.
func (e *configEntry) spanOf(rc *ir.RouteConfig) (head, tail int) {
	if e.span.rc != rc {
		head, tail := e.kept(rc.VirtualHosts, func(int) bool { return true })
		e.span = span{rc: rc, head: head, tail: tail}
	}
	return e.span.head, e.span.tail
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
		if e.refs[r] == 0 && d > 0 {
			e.unverified = append(e.unverified, r)
		}
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
	e.hostBytes += d * fieldSize(2, h.size)
	if h.authorized {
		e.authorized += d
	}
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
func (s *Builder) routeConfig(b *builder, rc *ir.RouteConfig) (*RouteConfiguration, error) {
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
	return e.msg, nil
}

// rebuildConfig makes e the route configuration of rc: its hosts from its
// previous build or the memo (built when new), the counts updated with the
// hosts that joined and left.
func (s *Builder) rebuildConfig(b *builder, e *configEntry, rc *ir.RouteConfig, in *routeConfigInfo, misdirected bool) error {
	e.gen = s.gen
	changed, err := s.hostsOf(b, e, rc, in)
	if err != nil {
		return err
	}
	same := !changed && e.msg != nil && e.misdirected == misdirected && e.ir != nil && e.ir.IgnorePortInHost == rc.IgnorePortInHost
	e.ir, e.misdirected, e.stages = rc, misdirected, in.rbacStages
	if e.dups > 0 {
		return errIncremental
	}
	if same {
		return nil // the same hosts: the same proto
	}
	return s.assembleConfig(e, rc)
}

// hostList is the hosts of a route configuration in order, with their IR
// virtual hosts side by side (compared without visiting each host), edited
// in place as hosts join and leave, and their protos: the virtual hosts of
// the latest proto, a persistent list shared with it and spliced where
// hosts change (the published versions are never modified).
type hostList struct {
	hosts   []*hostEntry
	irHosts []*ir.VirtualHost
	protos  plist.List[*routev3.VirtualHost]
}

// unauthorized reports whether no virtual host of rc has an Authorization,
// known without visiting each host when the route configuration's
// previous hosts had none: only the hosts not at their previous position
// (found by comparing pointers from both ends) are looked at.
func (s *Builder) unauthorized(rc *ir.RouteConfig) bool {
	e := s.configs[rc.Name]
	if e == nil || e.ir == nil || e.authorized > 0 {
		return false
	}
	head, tail := e.spanOf(rc)
	for _, vh := range rc.VirtualHosts.Range(head, rc.VirtualHosts.Len()-tail) {
		if vh != nil && vh.Authorization != nil {
			return false
		}
	}
	return true
}

// kept returns how many of vhs, from the start and from the end, are
// e's previous hosts at the same position (the same pointer) and pass
// reusable (given the position in e's hosts).
func (e *configEntry) kept(vhs plist.List[*ir.VirtualHost], reusable func(k int) bool) (head, tail int) {
	old := e.irHosts
	for i, vh := range vhs.All() {
		if i == len(old) || old[i] != vh || !reusable(i) {
			break
		}
		head++
	}
	n := vhs.Len()
	for i, vh := range vhs.Backward() {
		k := len(old) - n + i // vh's position in old, counted from the end
		if i < head || k < head || old[k] != vh || !reusable(k) {
			break
		}
		tail++
	}
	return head, tail
}

// hostsOf makes e's hosts those of rc, counting those that joined and left,
// and reports whether any did. The hosts kept at the start and at the end
// are found by comparing IR pointers with e's previous ones (with the same
// inputs, a host at its position is what it was: the IR is never
// modified); those between are compared position by position (one
// insertion or removal tolerated at a time), then looked up in the memo,
// or built. A change costs one pass of pointer comparisons, the changed
// hosts, and one new list of protos; the host lists are edited in place.
func (s *Builder) hostsOf(b *builder, e *configEntry, rc *ir.RouteConfig, in *routeConfigInfo) (bool, error) {
	vhs, old := rc.VirtualHosts, e.irHosts
	sameInputs := e.ir != nil && slices.Equal(e.stages, in.rbacStages) && b.grpcDomains == nil
	reusable := func(k int) bool { return sameInputs || e.hosts[k].reusable(b, rc.Name, old[k], in) }
	var head, tail int
	if sameInputs {
		head, tail = e.spanOf(rc)
	} else {
		head, tail = e.kept(vhs, reusable)
	}
	edits, err := s.hostEdits(b, e, rc, in, vhs.Range(head, vhs.Len()-tail), head, len(old)-tail, reusable)
	if err != nil {
		return false, err
	}
	if len(edits) == 0 {
		return false, nil
	}
	for _, ed := range edits {
		for _, h := range e.hosts[ed.at : ed.at+ed.drop] {
			e.count(h, -1)
		}
		for _, h := range ed.add {
			e.count(h, 1)
		}
	}
	for _, ed := range slices.Backward(edits) { // from the end: each position is still the old one
		protos := make([]*routev3.VirtualHost, len(ed.add))
		for i, h := range ed.add {
			protos[i] = h.proto
		}
		e.protos = e.protos.Splice(ed.at, ed.at+ed.drop, protos...)
		e.hosts = slices.Replace(e.hosts, ed.at, ed.at+ed.drop, ed.add...)
		e.irHosts = slices.Replace(e.irHosts, ed.at, ed.at+ed.drop, ed.addIR...)
	}
	e.span = span{}
	return true, nil
}

// hostEdit replaces drop hosts of a configuration entry at position at
// with add (built from addIR).
type hostEdit struct {
	at, drop int
	add      []*hostEntry
	addIR    []*ir.VirtualHost
}

// hostEdits compares vhs, the IR hosts between the kept ends, with e's
// hosts from position from to end, and returns the edits that make the
// latter the former, in order: a host at its position (or one further)
// that is reusable is kept, others are looked up or built. None when
// nothing changed.
func (s *Builder) hostEdits(b *builder, e *configEntry, rc *ir.RouteConfig, in *routeConfigInfo, vhs iter.Seq2[int, *ir.VirtualHost], from, end int, reusable func(int) bool) ([]hostEdit, error) {
	var edits []hostEdit
	at := func(j int) *hostEdit { // the edit open at old position j
		if n := len(edits); n > 0 && edits[n-1].at+edits[n-1].drop == j {
			return &edits[n-1]
		}
		edits = append(edits, hostEdit{at: j})
		return &edits[len(edits)-1]
	}
	old, j := e.irHosts, from
	for _, vh := range vhs {
		if vh == nil {
			continue
		}
		switch {
		case j < end && old[j] == vh && reusable(j):
			j++
			continue
		case j+1 < end && old[j+1] == vh && reusable(j+1):
			at(j).drop++
			j += 2
			continue
		}
		h, err := s.host(b, rc.Name, vh, in)
		if err != nil {
			return nil, fmt.Errorf("virtual host %s: %w", vh.Name, err)
		}
		ed := at(j)
		ed.add, ed.addIR = append(ed.add, h), append(ed.addIR, vh)
	}
	for ; j < end; j++ {
		at(j).drop++
	}
	for _, ed := range edits {
		if !slices.Equal(e.hosts[ed.at:ed.at+ed.drop], ed.add) {
			return edits, nil
		}
	}
	return nil, nil
}

// reusable reports whether h, built from vh, is what vh builds to now.
func (h *hostEntry) reusable(b *builder, rcName string, vh *ir.VirtualHost, in *routeConfigInfo) bool {
	var stages []string
	if vh.Authorization != nil {
		stages = in.rbacStages
	}
	return h.rc == rcName && slices.Equal(h.extra, b.grpcDomains[rcName][vh.Name]) && slices.Equal(h.stages, stages) && slices.Equal(h.irRoutes, vh.Routes)
}

// assembleConfig makes e's proto, checked and measured, from its hosts:
// a new shell around the hosts' list (which it shares).
func (s *Builder) assembleConfig(e *configEntry, rc *ir.RouteConfig) error {
	shell := &routev3.RouteConfiguration{Name: rc.Name, IgnorePortInHostMatching: rc.IgnorePortInHost}
	refs := &references{}
	if err := validateMessage(shell, refs); err != nil {
		return err
	}
	size := proto.Size(shell) + e.hostBytes
	vhs := e.protos
	if e.misdirected && e.domains["*"] == 0 {
		m, err := s.misdirectedHost()
		if err != nil {
			return err
		}
		vhs = vhs.Splice(vhs.Len(), vhs.Len(), m)
		size += fieldSize(2, proto.Size(m))
	}
	out := &RouteConfiguration{shell: shell, hosts: vhs}
	if e.msg != nil {
		delete(s.checked, e.msg)
	}
	e.msg = out
	s.checked[out] = &e.checked
	e.checked = checked{size: size, config: e}
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
	h := &hostEntry{gen: s.gen, rc: rcName, extra: extra, stages: stages, irRoutes: vh.Routes, proto: out, size: proto.Size(out), authorized: vh.Authorization != nil}
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
	for i, p := range protos {
		refs := &references{}
		if err := validateMessage(p, refs); err != nil {
			return nil, err
		}
		e.refs = distinctRefs(e.refs, refs.list)
		if protos[i], err = sealRoute(p); err != nil {
			return nil, err
		}
		e.sizes = append(e.sizes, proto.Size(protos[i]))
	}
	s.routes[r] = e
	s.fresh++
	return e, nil
}
