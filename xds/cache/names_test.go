package cache

import (
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// A name set is interned: the same names (any order, duplicates) give the
// same set; its names are the cache's own strings where the snapshot holds
// them; a set nothing refers to any more is forgotten.
func TestNameSetInterned(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, xdstest.Simple("svc", 8080, "127.0.0.1:1"))
	held, _ := c.Resources(key, resource.EndpointType)
	a := c.NameSet(key, resource.EndpointType, []string{strings.Clone("missing"), strings.Clone("c")})
	b := c.NameSet(key, resource.EndpointType, []string{"c", "missing", "c"})
	if a != b {
		t.Fatal("the same names make two sets")
	}
	if got := a.Names(); len(got) != 2 || got[0] != "c" || got[1] != "missing" {
		t.Fatalf("names = %q", got)
	}
	if unsafe.StringData(a.Names()[0]) != unsafe.StringData(held[0].Name) {
		t.Error("a subscribed name does not share the stored resource's string")
	}
	if !a.Has("c") || a.Has("d") || c.NameSet(key, resource.EndpointType, nil) != nil {
		t.Error("Has or the empty set is wrong")
	}
	if got := c.NameSetWith(key, resource.EndpointType, a, []string{"d"}, []string{"missing"}); got != c.NameSet(key, resource.EndpointType, []string{"c", "d"}) {
		t.Errorf("NameSetWith = %q", got.Names())
	}
	gone := weak.Make(a)
	a, b = nil, nil
	deadline := time.Now().Add(5 * time.Second)
	for gone.Value() != nil || c.setCount() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sets still interned after nothing refers to them", c.setCount())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}

func (c *Cache) setCount() int {
	c.sets.mu.Lock()
	defer c.sets.mu.Unlock()
	n := 0
	for _, l := range c.sets.sets {
		n += len(l)
	}
	return n
}

// A delta watch opened with what the node holds after a reconnect, when
// nothing changed, sends nothing and keeps the shared list in place of the
// node's own versions; an unsubscribed name is sent again once subscribed.
func TestDeltaHoldingsBecomeShared(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(4))
	all := c.snapshotOf(key).get(resource.EndpointType).list
	known := map[string]string{}
	for r := range all.Values() {
		known[r.Name] = r.Hash
	}
	ch := make(chan *Response, 1)
	deliver := func(r *Response) { ch <- r }
	w := &Watch{Key: key, TypeURL: resource.EndpointType, Delta: true, Sub: Subscription{Wildcard: true}, Holds: Holdings{Known: known}, Deliver: deliver}
	cancel := c.Watch(w)
	cancel()
	if len(ch) != 0 || w.Holds.Known != nil || w.Holds.Held.Len() != 4 || !plist.Same(w.Holds.Held, all) {
		t.Fatalf("reconnect with current versions: %d responses, holdings %+v", len(ch), w.Holds)
	}
	holds := w.Holds
	holds.Known = map[string]string{"c1": NotHeld} // unsubscribed, then subscribed again
	c.Watch(&Watch{Key: key, TypeURL: resource.EndpointType, Delta: true, Sub: Subscription{Names: c.NameSet(key, resource.EndpointType, []string{"c1", "c2"})}, Holds: holds, Deliver: deliver})
	select {
	case r := <-ch:
		if len(r.Resources) != 1 || r.Resources[0].Name != "c1" || len(r.Removed) != 0 || r.Held.Len() != 2 {
			t.Fatalf("resubscribed: sends %d (removes %v), holds %d; want c1 sent, c1 and c2 held", len(r.Resources), r.Removed, r.Held.Len())
		}
	case <-time.After(time.Second):
		t.Fatal("a name subscribed again is not sent")
	}
}

// A wildcard delta watch opened after a reconnect with a name the
// configuration no longer holds removes that name (and not one the node
// marked as not held), and sends what changed.
func TestDeltaReconnectRemovesStaleNames(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(4))
	all := c.snapshotOf(key).get(resource.EndpointType).list
	known := map[string]string{"gone": "v1", "never": NotHeld}
	for r := range all.Values() {
		known[r.Name] = r.Hash
	}
	known[all.At(0).Name] = "old"
	ch := make(chan *Response, 1)
	c.Watch(&Watch{Key: key, TypeURL: resource.EndpointType, Delta: true, Sub: Subscription{Wildcard: true}, Holds: Holdings{Known: known}, Deliver: func(r *Response) { ch <- r }})
	select {
	case r := <-ch:
		if len(r.Resources) != 1 || r.Resources[0].Name != all.At(0).Name || len(r.Removed) != 1 || r.Removed[0] != "gone" {
			t.Fatalf("reconnect: sends %d, removes %v; want %s sent and gone removed", len(r.Resources), r.Removed, all.At(0).Name)
		}
	case <-time.After(time.Second):
		t.Fatal("no response to a reconnect holding a stale name")
	}
}

// Position finds each name of a set at its place in Names, and nothing
// else, without allocating.
func TestNameSetPosition(t *testing.T) {
	s := New(Options{}).NameSet(key, resource.EndpointType, []string{"b", "a", "c"})
	for i, n := range s.Names() {
		if got, ok := s.Position([]byte(n)); !ok || got != i {
			t.Errorf("Position(%q) = %d, %v; want %d", n, got, ok, i)
		}
	}
	for _, n := range []string{"", "d", "a\x00"} {
		if _, ok := s.Position([]byte(n)); ok {
			t.Errorf("Position(%q) found", n)
		}
	}
	var none *NameSet
	if _, ok := none.Position([]byte("a")); ok {
		t.Error("the empty set holds a name")
	}
	name := []byte("c")
	if allocs := testing.AllocsPerRun(100, func() { s.Position(name) }); allocs != 0 {
		t.Errorf("Position allocates %v times", allocs)
	}
}
