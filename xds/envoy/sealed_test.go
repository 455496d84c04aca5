package envoy

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// TestBuilderSealsRoutes checks that a Builder's route configuration holds
// its routes sealed (no field set, so the collector walks no tree of them)
// and that each marshals to the bytes of the route Build makes, in both
// flavors: what the cache serves is unchanged.
func TestBuilderSealsRoutes(t *testing.T) {
	det := proto.MarshalOptions{Deterministic: true}
	for _, f := range []Flavor{FlavorEnvoy, FlavorGRPC} {
		p := benchProxy(200)
		want, err := Build(p, Options{Flavor: f})
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewBuilder(f).Build(p)
		if err != nil {
			t.Fatal(err)
		}
		flat := want.Routes[0].(*routev3.RouteConfiguration).VirtualHosts
		listed := got.Routes[0].(*RouteConfiguration).HostList()
		if listed.Len() != len(flat) {
			t.Fatalf("%s: %d virtual hosts, Build made %d", f, listed.Len(), len(flat))
		}
		routes := 0
		for i, vh := range listed.All() {
			if len(vh.Routes) != len(flat[i].Routes) {
				t.Fatalf("%s: virtual host %s: %d routes, Build made %d", f, vh.Name, len(vh.Routes), len(flat[i].Routes))
			}
			for j, r := range vh.Routes {
				if n := setFields(r); n > 0 {
					t.Fatalf("%s: route %d of %s has %d fields set, want it sealed", f, j, vh.Name, n)
				}
				wb, err := det.Marshal(flat[i].Routes[j])
				if err != nil {
					t.Fatal(err)
				}
				gb, err := det.Marshal(r)
				if err != nil || !bytes.Equal(gb, wb) {
					t.Fatalf("%s: route %s: sealed bytes differ from Build's (%v)", f, flat[i].Routes[j].Name, err)
				}
				routes++
			}
		}
		if routes == 0 {
			t.Fatalf("%s: no route checked", f)
		}
	}
}

// setFields counts the fields of m that are set.
func setFields(m proto.Message) int {
	n := 0
	m.ProtoReflect().Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		n++
		return true
	})
	return n
}

// TestUnsealedHostLeavesSharedHostAlone checks that reading a route
// configuration as a message parses its sealed routes into a copy and
// leaves the shared virtual host as it was.
func TestUnsealedHostLeavesSharedHostAlone(t *testing.T) {
	full := &routev3.Route{Name: "r", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}
	sealed, err := sealRoute(full)
	if err != nil {
		t.Fatal(err)
	}
	vh := &routev3.VirtualHost{Name: "h", Domains: []string{"*"}, Routes: []*routev3.Route{sealed}}
	out, err := unsealedHost(vh)
	if err != nil {
		t.Fatal(err)
	}
	if out == vh || vh.Routes[0] != sealed || setFields(sealed) != 0 {
		t.Fatal("unsealing modified the shared virtual host")
	}
	if !proto.Equal(out.Routes[0], full) {
		t.Fatalf("unsealed route %v, want %v", out.Routes[0], full)
	}
	if again, _ := unsealedHost(out); again != out {
		t.Fatal("a host with no sealed route was copied")
	}
}
