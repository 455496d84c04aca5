package envoy

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// A Builder keeps the route protos of every version it handed out, so the
// next version reuses those of unchanged routes (and the cache marshals
// only new ones). Built out, a route is a tree of some twenty small
// objects (matchers, actions, its metadata Struct of string Values); held
// for every route of a large configuration, they are most of what the
// garbage collector walks at every collection. Once validated, nothing
// reads a route's fields again: the cache marshals it, whole. So the
// Builder keeps each route sealed: a Route with no field set and its
// deterministic encoding as its unknown fields. Marshalling it gives that
// encoding, byte for byte (a message's unknown fields follow its known
// ones, and it has none), and the collector sees one object and a byte
// slice it does not scan. A route configuration read as a message
// (RouteConfiguration.Message: config dumps, validation of the flat
// message) has its routes unsealed, parsed back from those bytes.

// sealRoute returns r sealed: a new Route holding only r's deterministic
// encoding, as unknown fields.
func sealRoute(r *routev3.Route) (*routev3.Route, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", r.GetName(), err)
	}
	sealed := &routev3.Route{}
	sealed.ProtoReflect().SetUnknown(b)
	return sealed, nil
}

// unsealedHost returns vh with its sealed routes parsed back: vh itself
// when none is sealed, else a copy (vh is shared and never modified). A
// route with unknown fields is taken for sealed; parsing them into a copy
// of it gives the same message for any route, sealed or not.
func unsealedHost(vh *routev3.VirtualHost) (*routev3.VirtualHost, error) {
	var out *routev3.VirtualHost
	for i, r := range vh.GetRoutes() {
		b := r.ProtoReflect().GetUnknown()
		if len(b) == 0 {
			continue
		}
		if out == nil {
			out = proto.CloneOf(vh)
		}
		full := proto.CloneOf(r) // empty when sealed; else its fields are kept
		full.ProtoReflect().SetUnknown(nil)
		if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(b, full); err != nil {
			return nil, fmt.Errorf("virtual host %s: route %d: %w", vh.GetName(), i, err)
		}
		out.Routes[i] = full
	}
	if out == nil {
		return vh, nil
	}
	return out, nil
}
