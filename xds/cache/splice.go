package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/internal/plist"
)

// Route configurations are marshalled from pieces. A route configuration
// holds every virtual host and route of a listener (megabytes with 10,000
// routes), and a change of one route makes a new configuration whose other
// virtual hosts and routes are the same protos as before (xds/envoy's
// Builder keeps them). Go's protobuf marshals a message's fields in field
// number order, and a nested message's bytes are its own deterministic
// marshal, so the bytes of a route configuration are those of its other
// fields up to virtual_hosts, one length-delimited record per virtual
// host, then the fields after it; likewise for a virtual host's routes.
// pieces keeps the bytes of the virtual hosts and routes of the stored
// route configurations, by proto pointer: marshalling a new configuration
// marshals only its new virtual hosts and routes, copies the virtual host
// records of the runs they fall in (runs.go), and refers to the others.
//
// The hash of a virtual host is SHA-256 over its bytes outside the routes
// and its routes' hashes (128 bits each; with their count and the lengths
// of the parts), that of a route configuration the same over its runs'
// digests: a function of the bytes that costs what is new. Equal bytes
// give equal hashes, and two configurations with the same hash would need
// a SHA-256 collision, so a user cannot craft a configuration that passes
// for another's.

// virtualHostsField and routesField are the field numbers of
// RouteConfiguration.virtual_hosts and VirtualHost.routes.
const (
	virtualHostsField protowire.Number = 2
	routesField       protowire.Number = 3
)

// piece is the marshalled form of a virtual host or route.
type piece struct {
	bytes []byte
	sum   [digestLen]byte
	// routes are the pieces of a virtual host's routes.
	routes []*piece
	// mark is the last sweep that found the piece in use.
	mark uint64
}

// digestLen is how much of a piece's SHA-256 its parent hashes: 128 bits,
// so finding two pieces with the same digest takes about 2^64 attempts.
const digestLen = 16

// spliced is a route configuration held by a resource: its runs of
// virtual hosts (runs.go), the parts of its bytes and its hash.
type spliced struct {
	msg   types.Resource
	name  string
	vhs   plist.List[*routev3.VirtualHost]
	runs  []*run // nil when marshalled whole
	parts [][]byte
	hash  string
	hosts int // the virtual hosts of runs
	count int // resources holding it
}

// recentPerName is how many recent route configurations of one name a new
// one is compared with position by position (one per flavor and a spare).
const recentPerName = 4

// pieces are the memoized pieces, by proto pointer. Guarded by the
// cache's setMu, like the pool. A new route configuration takes the runs
// of a recent one of its name where it holds the same virtual hosts (a
// pointer comparison per virtual host); the virtual hosts of the runs it
// makes are looked up by pointer, and marshalled when new. Pieces no held
// route configuration uses are swept when the maps have doubled since the
// last sweep or the held virtual hosts have halved, so memory follows
// what is held.
type pieces struct {
	hosts  map[*routev3.VirtualHost]*piece
	routes map[*routev3.Route]*piece
	recent map[string][]*spliced       // held ones, newest first
	held   map[types.Resource]*spliced // by message
	// live counts the virtual hosts of held; size and live were
	// len(hosts)+len(routes) and live after the last sweep.
	live, sweptSize, sweptLive int
	sweeps                     uint64
}

func newPieces() *pieces {
	return &pieces{hosts: map[*routev3.VirtualHost]*piece{}, routes: map[*routev3.Route]*piece{},
		recent: map[string][]*spliced{}, held: map[types.Resource]*spliced{}}
}

// marshalRouteConfig returns the parts of the deterministic marshal of
// msg, a route configuration (flat or listed), in order, and its hash,
// holding its runs (until releaseRouteConfig). The parts are shared:
// callers must not modify them.
func (ps *pieces) marshalRouteConfig(msg types.Resource) ([][]byte, string, error) {
	if sp := ps.held[msg]; sp != nil {
		sp.count++
		return sp.parts, sp.hash, nil
	}
	rt, ok := routeTableOf(msg)
	if !ok {
		return nil, "", fmt.Errorf("%T is not a route configuration", msg)
	}
	sp := &spliced{msg: msg, name: rt.name, vhs: rt.hosts, count: 1}
	var sum [sha256.Size]byte
	var err error
	// A listed configuration is never marshalled whole: that would make
	// its flat list.
	if prev := ps.closest(rt); rt.flat == nil || rt.hosts.Len() < minHostsToSkip || len(ps.recent[rt.name]) == 0 || prev != nil {
		if sp.runs, err = ps.runsOf(rt.hosts, prev); err == nil {
			sp.parts, sum, err = spliceRuns(rt.shell, sp.runs)
		}
		if size := partsLen(sp.parts); size < minParts && len(sp.parts) > 1 {
			sp.parts = [][]byte{bytes.Join(sp.parts, nil)}
		}
		for _, r := range sp.runs {
			sp.hosts += len(r.vhs)
		}
	} else {
		var b []byte
		if b, err = deterministic.Marshal(rt.flat); err == nil {
			sp.parts = [][]byte{b}
			sum, err = hashWhole(b)
		}
	}
	if err != nil {
		return nil, "", err
	}
	sp.hash = hex.EncodeToString(sum[:8])
	ps.held[msg] = sp
	ps.live += sp.hosts
	recent := append([]*spliced{sp}, ps.recent[rt.name]...)
	ps.recent[rt.name] = recent[:min(len(recent), recentPerName)]
	ps.maybeSweep()
	return sp.parts, sp.hash, nil
}

// minParts is the size from which a route configuration's bytes are kept
// in parts: a smaller one is joined into one slice (a copy of a few
// kilobytes), which responses and the config dump share as it is.
const minParts = 32 << 10

func partsLen(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}

// minHostsToSkip is how many virtual hosts a route configuration needs
// before it may be marshalled whole: one that shares no virtual host with
// a recent configuration of its name at its first, middle or last position
// (a translation that made every part anew) is marshalled in one piece and
// keeps no runs, which costs less than making them; the next one that
// shares its parts makes them. The first configuration of a name makes its
// runs at once, so that the memory they take is there from the start
// rather than appearing with the first change.
const minHostsToSkip = 32

// closest is the recent route configuration of rt's name that shares the
// most of rt's first, middle and last virtual hosts at the same position.
func (ps *pieces) closest(rt routeTable) *spliced {
	var best *spliced
	bestScore := 0
	n := rt.hosts.Len()
	for _, sp := range ps.recent[rt.name] {
		score := 0
		for _, i := range []int{0, n / 2, n - 1} {
			if i >= 0 && i < n && i < sp.vhs.Len() && sp.vhs.At(i) == rt.hosts.At(i) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = sp, score
		}
	}
	return best
}

// releaseRouteConfig lets go of what marshalRouteConfig held for msg.
func (ps *pieces) releaseRouteConfig(msg types.Resource) {
	sp := ps.held[msg]
	if sp == nil {
		return
	}
	if sp.count--; sp.count > 0 {
		return
	}
	delete(ps.held, msg)
	ps.live -= sp.hosts
	if list := slices.DeleteFunc(ps.recent[sp.name], func(r *spliced) bool { return r == sp }); len(list) > 0 {
		ps.recent[sp.name] = list
	} else {
		delete(ps.recent, sp.name)
	}
	ps.maybeSweep()
}

// maybeSweep sweeps when the maps have doubled since the last sweep or
// the held virtual hosts have halved (or none are held).
func (ps *pieces) maybeSweep() {
	size := len(ps.hosts) + len(ps.routes)
	if size > 2*ps.sweptSize+1024 || (ps.live*2 < ps.sweptLive) || (ps.live == 0 && size > 0) {
		ps.sweep()
	}
}

// sweep forgets the pieces that no held route configuration uses.
func (ps *pieces) sweep() {
	ps.sweeps++
	for _, sp := range ps.held {
		for _, run := range sp.runs {
			for _, h := range run.hosts {
				h.mark = ps.sweeps
				for _, r := range h.routes {
					r.mark = ps.sweeps
				}
			}
		}
	}
	maps.DeleteFunc(ps.hosts, func(_ *routev3.VirtualHost, p *piece) bool { return p.mark != ps.sweeps })
	maps.DeleteFunc(ps.routes, func(_ *routev3.Route, p *piece) bool { return p.mark != ps.sweeps })
	ps.sweptSize, ps.sweptLive = len(ps.hosts)+len(ps.routes), ps.live
}

// host returns the piece of vh, marshalling what is new of it.
func (ps *pieces) host(vh *routev3.VirtualHost) (*piece, error) {
	if p := ps.hosts[vh]; p != nil {
		return p, nil
	}
	routes := make([]*piece, 0, len(vh.Routes))
	for _, r := range vh.Routes {
		rp := ps.routes[r]
		if rp == nil {
			b, err := deterministic.Marshal(r)
			if err != nil {
				return nil, fmt.Errorf("route %s: %w", r.GetName(), err)
			}
			rp = &piece{bytes: b}
			sum := sha256.Sum256(b)
			copy(rp.sum[:], sum[:])
			ps.routes[r] = rp
		}
		routes = append(routes, rp)
	}
	b, sum, err := assemble(vh, routesField, routes)
	if err != nil {
		return nil, err
	}
	p := &piece{bytes: b, routes: routes}
	copy(p.sum[:], sum[:])
	ps.hosts[vh] = p
	return p, nil
}

// assemble is the deterministic marshal of m whose repeated message field
// holds children (marshalled): the other fields' bytes with one record per
// child spliced in, hashed from its parts.
func assemble(m proto.Message, field protowire.Number, children []*piece) ([]byte, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	sb, err := deterministic.Marshal(without(m, field))
	if err != nil {
		return nil, sum, err
	}
	split, err := splitAt(sb, field)
	if err != nil {
		return nil, sum, err
	}
	size := len(sb)
	for _, c := range children {
		size += protowire.SizeTag(field) + protowire.SizeBytes(len(c.bytes))
	}
	out := make([]byte, 0, size)
	out = append(out, sb[:split]...)
	for _, c := range children {
		out = protowire.AppendTag(out, field, protowire.BytesType)
		out = protowire.AppendBytes(out, c.bytes)
	}
	out = append(out, sb[split:]...)
	return out, partsHash(sb[:split], len(children), func(i int) []byte { return children[i].sum[:] }, sb[split:]), nil
}

// partsHash is the hash of a message from the bytes before its n
// children, each child's digest and the bytes after them.
func partsHash(head []byte, n int, child func(int) []byte, tail []byte) [sha256.Size]byte {
	h := sha256.New()
	var l [binaryLen]byte
	h.Write(lengthOf(l[:], n))
	h.Write(lengthOf(l[:], len(head)))
	h.Write(head)
	for i := range n {
		h.Write(child(i))
	}
	h.Write(tail)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

const binaryLen = 8

func lengthOf(b []byte, n int) []byte {
	for i := range binaryLen {
		b[i] = byte(uint64(n) >> (8 * i))
	}
	return b
}

// without is a shallow copy of m without field: its other fields share
// m's values, which are not modified.
func without(m proto.Message, field protowire.Number) proto.Message {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != field {
			dst.Set(fd, v)
		}
		return true
	})
	if u := src.GetUnknown(); len(u) > 0 {
		dst.SetUnknown(u)
	}
	return dst.Interface()
}

// hashWhole is the hash spliceRuns gives a route configuration, from its
// whole deterministic marshal b: the same parts, found by parsing.
func hashWhole(b []byte) ([sha256.Size]byte, error) {
	head, vhs, tail, err := splitRecords(b, virtualHostsField)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	hosts := make([][digestLen]byte, len(vhs))
	for i, vh := range vhs {
		vhHead, routes, vhTail, err := splitRecords(vh, routesField)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		sums := make([][sha256.Size]byte, len(routes))
		for k, r := range routes {
			sums[k] = sha256.Sum256(r)
		}
		sum := partsHash(vhHead, len(sums), func(k int) []byte { return sums[k][:digestLen] }, vhTail)
		copy(hosts[i][:], sum[:])
	}
	runs := wholeRuns(vhs, hosts)
	return partsHash(head, len(runs), func(i int) []byte { return runs[i][:] }, tail), nil
}

// splitRecords splits b, a marshalled message, into the bytes before the
// records of field, their values, and the bytes after them (the records
// of one field are contiguous in a deterministic marshal).
func splitRecords(b []byte, field protowire.Number) (head []byte, values [][]byte, tail []byte, err error) {
	split, err := splitAt(b, field-1)
	if err != nil {
		return nil, nil, nil, err
	}
	off := split
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return nil, nil, nil, protowire.ParseError(n)
		}
		if num != field || typ != protowire.BytesType {
			break
		}
		v, m := protowire.ConsumeBytes(b[off+n:])
		if m < 0 {
			return nil, nil, nil, protowire.ParseError(m)
		}
		values = append(values, v)
		off += n + m
	}
	return b[:split], values, b[off:], nil
}

// splitAt is the offset in b (a marshalled message) of the first field
// numbered above field: where field's records go.
func splitAt(b []byte, field protowire.Number) (int, error) {
	off := 0
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		if num > field {
			return off, nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return 0, protowire.ParseError(m)
		}
		off += n + m
	}
	return off, nil
}
