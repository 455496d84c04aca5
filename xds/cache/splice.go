package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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
// pieces keeps the bytes of every virtual host and route held by a stored
// route configuration, by proto pointer, counted by the configurations
// (or virtual hosts) that hold them: marshalling a new configuration
// marshals only its new virtual hosts and routes, and copies the rest.
//
// The hash of a piece is SHA-256 over its bytes outside the children and
// its children's hashes (with their count and the lengths of the parts),
// a function of the bytes that costs what is new: equal bytes give equal
// hashes, and two configurations with the same hash would need a SHA-256
// collision, so a user cannot craft a configuration that passes for
// another's.

// virtualHostsField and routesField are the field numbers of
// RouteConfiguration.virtual_hosts and VirtualHost.routes.
const (
	virtualHostsField protowire.Number = 2
	routesField       protowire.Number = 3
)

// piece is the marshalled form of a virtual host or route.
type piece struct {
	bytes []byte
	sum   [sha256.Size]byte
	// held counts the stored pieces (virtual hosts) or resources (route
	// configurations) that hold this piece; it is forgotten at zero.
	held int
	// routes are the pieces of a virtual host's routes.
	routes []*piece
}

// pieces are the memoized pieces, by proto pointer. Guarded by the
// cache's setMu, like the pool.
type pieces struct {
	hosts  map[*routev3.VirtualHost]*piece
	routes map[*routev3.Route]*piece
}

func newPieces() *pieces {
	return &pieces{hosts: map[*routev3.VirtualHost]*piece{}, routes: map[*routev3.Route]*piece{}}
}

// marshalRouteConfig returns the deterministic marshal of rc and its hash,
// holding the pieces of its virtual hosts (release them with
// releaseRouteConfig).
func (ps *pieces) marshalRouteConfig(rc *routev3.RouteConfiguration) ([]byte, string, error) {
	hosts := make([]*piece, 0, len(rc.VirtualHosts))
	for _, vh := range rc.VirtualHosts {
		p, err := ps.host(vh)
		if err != nil {
			ps.releaseHosts(rc.VirtualHosts[:len(hosts)])
			return nil, "", err
		}
		p.held++
		hosts = append(hosts, p)
	}
	b, sum, err := assemble(rc, virtualHostsField, hosts)
	if err != nil {
		ps.releaseHosts(rc.VirtualHosts)
		return nil, "", err
	}
	return b, hex.EncodeToString(sum[:8]), nil
}

// releaseRouteConfig lets go of the pieces marshalRouteConfig held for rc.
func (ps *pieces) releaseRouteConfig(rc *routev3.RouteConfiguration) {
	ps.releaseHosts(rc.VirtualHosts)
}

func (ps *pieces) releaseHosts(hosts []*routev3.VirtualHost) {
	for _, vh := range hosts {
		p := ps.hosts[vh]
		if p == nil {
			continue
		}
		if p.held--; p.held > 0 {
			continue
		}
		delete(ps.hosts, vh)
		for i, r := range vh.Routes {
			rp := p.routes[i]
			if rp.held--; rp.held <= 0 && ps.routes[r] == rp {
				delete(ps.routes, r)
			}
		}
	}
}

// host returns the piece of vh, marshalling what is new of it.
func (ps *pieces) host(vh *routev3.VirtualHost) (*piece, error) {
	if p := ps.hosts[vh]; p != nil {
		return p, nil
	}
	routes := make([]*piece, 0, len(vh.Routes))
	drop := func() {
		for i, rp := range routes {
			if rp.held--; rp.held <= 0 && ps.routes[vh.Routes[i]] == rp {
				delete(ps.routes, vh.Routes[i])
			}
		}
	}
	for _, r := range vh.Routes {
		rp := ps.routes[r]
		if rp == nil {
			b, err := deterministic.Marshal(r)
			if err != nil {
				drop()
				return nil, fmt.Errorf("route %s: %w", r.GetName(), err)
			}
			rp = &piece{bytes: b, sum: sha256.Sum256(b)}
			ps.routes[r] = rp
		}
		rp.held++
		routes = append(routes, rp)
	}
	b, sum, err := assemble(vh, routesField, routes)
	if err != nil {
		drop()
		return nil, err
	}
	p := &piece{bytes: b, sum: sum, routes: routes}
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
	h := sha256.New()
	var n [binaryLen]byte
	h.Write(lengthOf(n[:], len(children)))
	h.Write(lengthOf(n[:], split))
	h.Write(sb[:split])
	for _, c := range children {
		out = protowire.AppendTag(out, field, protowire.BytesType)
		out = protowire.AppendBytes(out, c.bytes)
		h.Write(c.sum[:])
	}
	out = append(out, sb[split:]...)
	h.Write(sb[split:])
	h.Sum(sum[:0])
	return out, sum, nil
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
