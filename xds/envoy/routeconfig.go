package envoy

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/gantryproxy/gantry/internal/plist"
)

// RouteConfiguration is a route configuration as a Builder hands it out:
// its fields but the virtual hosts (the shell), and its virtual hosts in a
// persistent list that shares every chunk a change did not reach with the
// Builder's previous version of it, so a version costs the chunks its
// change reached rather than a list of every virtual host. It is a proto
// message whose content is the flat RouteConfiguration (Message): reading
// it as a message (ProtoReflect, and so proto.Marshal, protojson,
// proto.Equal) makes that flat message at the first read and keeps it.
// xds/cache encodes it from Shell and HostList
// (cache.ListedRouteConfiguration) without making it. Immutable, safe for
// concurrent use.
type RouteConfiguration struct {
	shell *routev3.RouteConfiguration
	hosts plist.List[*routev3.VirtualHost]
	once  sync.Once
	flat  *routev3.RouteConfiguration
}

// GetName is the route configuration's name.
func (r *RouteConfiguration) GetName() string { return r.shell.GetName() }

// Shell is the route configuration without its virtual hosts; callers
// must not modify it.
func (r *RouteConfiguration) Shell() *routev3.RouteConfiguration { return r.shell }

// HostList is the route configuration's virtual hosts, in order; callers
// must not modify them.
func (r *RouteConfiguration) HostList() plist.List[*routev3.VirtualHost] { return r.hosts }

// Message is the route configuration as one flat message, made at the
// first call (a copy of the shell and a list of every virtual host, its
// sealed routes parsed back: sealed.go) and kept; callers must not modify
// it. It panics if a sealed route does not parse, which would be a bug of
// the Builder that sealed it.
func (r *RouteConfiguration) Message() *routev3.RouteConfiguration {
	r.once.Do(func() {
		flat := proto.CloneOf(r.shell)
		flat.VirtualHosts = make([]*routev3.VirtualHost, 0, r.hosts.Len())
		for vh := range r.hosts.Values() {
			full, err := unsealedHost(vh)
			if err != nil {
				panic(fmt.Sprintf("route configuration %s: %v", r.shell.GetName(), err))
			}
			flat.VirtualHosts = append(flat.VirtualHosts, full)
		}
		r.flat = flat
	})
	return r.flat
}

// ProtoReflect is the flat message's (Message).
func (r *RouteConfiguration) ProtoReflect() protoreflect.Message { return r.Message().ProtoReflect() }
