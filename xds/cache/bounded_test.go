package cache

import (
	"fmt"
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// testStream is a stream of one type as the server keeps it.
type testStream struct {
	delta bool
	typ   string
	sub   Subscription
	sent  string
	holds Holdings
	ch    chan *Response
	w     *Watch
}

func (s *testStream) open(c *Cache) {
	s.w = &Watch{Key: key, TypeURL: s.typ, Sub: s.sub, Delta: s.delta, Sent: s.sent, Claimed: s.sent, Holds: s.holds,
		Deliver: func(r *Response) { s.ch <- r }}
	c.Watch(s.w)
}

// answer takes the stream's response, if any, and acknowledges it.
func (s *testStream) answer(c *Cache) {
	select {
	case r := <-s.ch:
		s.sent, s.holds = r.Version, Holdings{Held: r.Held, Answered: true}
		if s.sub.Names != nil { // the names again, as a request carries them
			s.sub.Names = c.NameSet(key, s.typ, slices.Clone(s.sub.Names.Names()))
		}
		s.open(c)
	default:
	}
}

// change makes change i: an endpoint set updated, the route configuration
// replaced, an endpoint set added, or one removed.
func change(t *testing.T, c *Cache, i int) {
	t.Helper()
	var err error
	switch i % 4 {
	case 0:
		err = c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints(fmt.Sprintf("c%d", 1+i%50), fmt.Sprintf("127.0.0.1:%d", 1000+i))}, nil, SetOptions{})
	case 1:
		err = c.Update(key, resource.RouteType, []types.Resource{xdstest.Route("rc", []string{fmt.Sprintf("h%d.example.com", i)}, "c")}, nil, SetOptions{})
	case 2:
		err = c.UpdateEndpoints(key, []types.Resource{xdstest.Endpoints("extra", fmt.Sprintf("127.0.0.2:%d", i))}, nil, SetOptions{})
	case 3:
		err = c.UpdateEndpoints(key, nil, []string{"extra"}, SetOptions{})
	}
	if err != nil {
		t.Fatalf("change %d: %v", i, err)
	}
}

// What the cache keeps for streams does not grow with the number of
// changes: after 200 changes (endpoint sets updated, added and removed,
// route configurations replaced), every delta stream holds the type's
// shared list and no versions of its own, streams with the same names share
// one list, and the interned name sets, remembered views, pooled resources
// and open watches are as many as after 20 changes.
func TestStreamStateBoundedOverChanges(t *testing.T) {
	c := New(Options{})
	mustSet(t, c, key, wide(50))
	names := c.NameSet(key, resource.EndpointType, append(clusterNames(50), "extra"))
	var streams []*testStream
	for _, delta := range []bool{false, true} {
		for range 2 {
			streams = append(streams,
				&testStream{delta: delta, typ: resource.EndpointType, sub: Subscription{Names: names}},
				&testStream{delta: delta, typ: resource.EndpointType, sub: Subscription{Wildcard: true}},
				&testStream{delta: delta, typ: resource.RouteType, sub: Subscription{Names: c.NameSet(key, resource.RouteType, []string{"rc"})}})
		}
	}
	for _, s := range streams {
		s.ch = make(chan *Response, 1)
		s.open(c)
		s.answer(c)
	}
	var base retained
	for i := range 200 {
		change(t, c, i)
		for _, s := range streams {
			s.answer(c)
		}
		if i == 19 {
			base = c.retained()
		}
	}
	got := c.retained()
	if got.sets != base.sets || got.pooled != base.pooled || got.watches != base.watches || got.views > 2*maxViews {
		t.Errorf("after 200 changes %+v, after 20 %+v (views at most %d)", got, base, 2*maxViews)
	}
	for i, s := range streams {
		ts := c.snapshotOf(key).get(s.typ)
		cur, version := ts.list, ts.version
		if !s.delta && s.sent != pickSorted(ts, s.sub.Names.Names()).version && !s.sub.Wildcard {
			t.Errorf("stream %d (sotw %s) was not sent the current version", i, shortType(s.typ))
		}
		if s.sub.Wildcard && !s.delta && s.sent != version {
			t.Errorf("stream %d (sotw wildcard) holds %s, current %s", i, s.sent, version)
		}
		if !s.delta {
			continue
		}
		h := s.w.Holds
		if h.Known != nil || !plist.Same(h.Held, cur) {
			t.Errorf("delta stream %d (%s): %d own versions, %d held of %d, shared %v", i, shortType(s.typ), len(h.Known), h.Held.Len(), cur.Len(), plist.Same(h.Held, cur))
		}
	}
}

type retained struct{ sets, views, pooled, watches int }

// retained counts what the cache keeps that streams could make grow.
func (c *Cache) retained() retained {
	c.mu.Lock()
	views, watches := 0, 0
	for _, vs := range c.views {
		views += len(vs)
	}
	for _, byType := range c.watches {
		for _, ws := range byType {
			watches += len(ws)
		}
	}
	pooled := len(c.pool.byContent)
	c.mu.Unlock()
	return retained{sets: c.setCount(), views: views, pooled: pooled, watches: watches}
}
