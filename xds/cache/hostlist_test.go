package cache

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gantryproxy/gantry/internal/plist"
)

// listed is a ListedRouteConfiguration that fails the test when read as a
// message: the cache must encode it from its shell and list alone.
type listed struct {
	t     *testing.T
	shell *routev3.RouteConfiguration
	hosts plist.List[*routev3.VirtualHost]
}

func (l *listed) GetName() string                            { return l.shell.GetName() }
func (l *listed) Shell() *routev3.RouteConfiguration         { return l.shell }
func (l *listed) HostList() plist.List[*routev3.VirtualHost] { return l.hosts }
func (l *listed) ProtoReflect() protoreflect.Message {
	l.t.Helper()
	l.t.Error("the cache read a listed route configuration as a message")
	return l.flat().ProtoReflect()
}

func (l *listed) flat() *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: l.shell.Name, ValidateClusters: l.shell.ValidateClusters,
		IgnorePortInHostMatching: l.shell.IgnorePortInHostMatching, VirtualHosts: l.hosts.Slice()}
}

// TestListedEqualsFlat: a route configuration handed over as a shell and
// a persistent list, edited one virtual host at a time by splicing the
// list, has the bytes and hash of the same configuration as one flat
// message, through a cache's snapshots, without ever being read as a
// message; its versions take the runs of the previous one.
func TestListedEqualsFlat(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 0))
	flat := randomRouteConfig(rng, 1000)
	shell := &routev3.RouteConfiguration{Name: flat.Name, ValidateClusters: flat.ValidateClusters}
	l := &listed{t: t, shell: shell, hosts: plist.Of(flat.VirtualHosts...)}
	c := New(Options{})
	key := Key{Group: "g"}
	ps := newPieces()
	for step := range 30 {
		next := &listed{t: t, shell: shell, hosts: l.hosts}
		i := rng.IntN(next.hosts.Len())
		switch step % 3 {
		case 0:
			next.hosts = next.hosts.Splice(i, i+1, randomHost(rng, 2))
		case 1:
			next.hosts = next.hosts.Splice(i, i, randomHost(rng, 1))
		default:
			next.hosts = next.hosts.Splice(i, i+1)
		}
		parts, hash, err := ps.marshalRouteConfig(next)
		if err != nil {
			t.Fatal(err)
		}
		want := mustMarshal(t, next.flat())
		if !bytes.Equal(bytes.Join(parts, nil), want) {
			t.Fatalf("step %d: the listed configuration's bytes differ from the flat one's", step)
		}
		if wantHash := checkSpliced(t, newPieces(), next.flat()); hash != wantHash {
			t.Fatalf("step %d: hash %s, the flat configuration's %s", step, hash, wantHash)
		}
		if step > 0 {
			if made := runsMadeAnew(ps, l, next); made > 2 {
				t.Fatalf("step %d: one virtual host changed and %d of %d runs were made anew", step, made, len(ps.held[next].runs))
			}
			ps.releaseRouteConfig(l)
		}
		if err := c.SetSnapshot(key, map[string][]types.Resource{resource.RouteType: {next}}, SetOptions{ChangedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		rs, _ := c.Resources(key, resource.RouteType)
		if len(rs) != 1 || rs[0].Name != "rc" || !bytes.Equal(rs[0].AppendValue(nil), want) {
			t.Fatalf("step %d: the cache holds %d resources, not the listed configuration's bytes", step, len(rs))
		}
		l = next
	}
}
