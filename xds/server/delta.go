package server

import (
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/xds/cache"
)

type deltaServer = grpc.BidiStreamingServer[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]

// deltaStream is one incremental stream: ADS (typeURL "") or one type's
// service.
type deltaStream struct {
	srv       *Server
	id        int64
	ss        deltaServer
	typeURL   string
	node      *corev3.Node
	key       cache.Key
	types     map[string]*deltaType
	ch        chan pending
	done      chan struct{}
	lastNonce int64
}

// deltaType is an incremental stream's state of one type.
type deltaType struct {
	wildcard bool
	// legacy: no name subscribed yet, so the stream is a wildcard one
	// until it names something (the protocol's legacy wildcard).
	legacy bool
	names  *cache.NameSet
	holds  cache.Holdings
	gen    uint64
	// w is the open watch (nil once answered), whose holdings the cache
	// may have replaced by an equal, shared list.
	w      *cache.Watch
	cancel func()
}

// streamDelta serves one incremental stream until it ends.
func (s *Server) streamDelta(ss deltaServer, typeURL string) error {
	st := &deltaStream{srv: s, id: s.nextID.Add(1), ss: ss, typeURL: typeURL, types: map[string]*deltaType{}, ch: pendingChannel(), done: make(chan struct{})}
	defer st.close()
	if err := s.callbacks.OnDeltaStreamOpen(ss.Context(), st.id, typeURL); err != nil {
		return err
	}
	return serve(ss.Context(), ss.Recv, s.ctx.Done(), st.ch, st.send, st.handle)
}

func (st *deltaStream) close() {
	for _, t := range st.types {
		if t.cancel != nil {
			t.cancel()
		}
	}
	close(st.done)
	st.srv.callbacks.OnDeltaStreamClosed(st.id, st.node)
}

// handle applies one request: sends what is queued first, records the
// request (ACK or NACK), applies its subscriptions and opens the type's
// next watch.
func (st *deltaStream) handle(req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := st.flush(); err != nil {
		return err
	}
	if err := st.srv.callbacks.OnStreamDeltaRequest(st.id, req); err != nil {
		return err
	}
	if req.GetNode() != nil {
		st.node = req.GetNode()
		st.key = st.srv.cache.KeyFor(st.node)
	} else {
		req.Node = st.node
	}
	typeURL := req.GetTypeUrl()
	if typeURL == "" {
		if st.typeURL == "" {
			return status.Errorf(codes.InvalidArgument, "type URL is required for ADS")
		}
		typeURL, req.TypeUrl = st.typeURL, st.typeURL
	}
	t, ok := st.types[typeURL]
	if !ok {
		// A new type starts from what the node says it holds (after a
		// reconnect), and is a wildcard one when it names nothing.
		t = &deltaType{legacy: true, wildcard: len(req.GetResourceNamesSubscribe()) == 0}
		t.holds.Known = req.GetInitialResourceVersions()
		st.types[typeURL] = t
	} else {
		t.cancel()
		if t.w != nil {
			t.holds = t.w.Holds
		}
	}
	t.update(st.srv.cache, st.key, typeURL, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
	if err := subscribedLimit(st.ss.Context(), typeURL, t.names.Len()); err != nil {
		return err
	}
	t.gen++ // a response of the replaced watch is dropped
	t.w = &cache.Watch{
		Key: st.key, TypeURL: typeURL, Delta: true, Holds: t.holds,
		Sub:     cache.Subscription{Wildcard: t.wildcard, Names: t.names},
		Deliver: deliverTo(st.ch, st.done, typeURL, t.gen),
	}
	t.cancel = st.srv.cache.Watch(t.w)
	return nil
}

// update applies a request's subscriptions, then unsubscriptions. A name
// unsubscribed is no longer held by the node, except under a wildcard
// subscription, where the node must be told whether it still exists (it
// is sent again, or removed).
func (t *deltaType) update(c *cache.Cache, key cache.Key, typeURL string, subscribe, unsubscribe []string) {
	if t.legacy {
		if len(subscribe) == 0 {
			return
		}
		t.legacy = false
	}
	wasWildcard := t.wildcard
	defer func() {
		if t.wildcard != wasWildcard && t.holds.Known == nil {
			// What the node holds is no longer what it subscribes to:
			// compare name by name until the next response.
			t.holds.Known = map[string]string{}
		}
	}()
	add := subscribe
	if slices.Contains(subscribe, wildcardName) {
		t.wildcard = true
		add = slices.DeleteFunc(slices.Clone(subscribe), func(n string) bool { return n == wildcardName })
	}
	var remove []string
	var added map[string]bool
	for _, n := range unsubscribe {
		if n == wildcardName {
			t.wildcard = false
			continue
		}
		if added == nil {
			added = make(map[string]bool, len(add))
			for _, a := range add {
				added[a] = true
			}
		}
		version := cache.NotHeld
		if t.wildcard && (added[n] || t.names.Has(n)) {
			version = ""
		}
		if t.holds.Known == nil {
			t.holds.Known = map[string]string{}
		}
		t.holds.Known[n] = version
		remove = append(remove, n)
	}
	t.names = c.NameSetWith(key, typeURL, t.names, add, remove)
}

// flush sends the responses already queued, in order.
func (st *deltaStream) flush() error {
	for {
		select {
		case p := <-st.ch:
			if err := st.send(p); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// send sends a response of the cache unless its watch was replaced; the
// node then holds the response's (shared) list.
func (st *deltaStream) send(p pending) error {
	t, ok := st.types[p.typeURL]
	if !ok || p.gen != t.gen {
		return nil
	}
	r := p.resp
	st.lastNonce++
	out := &discoveryv3.DeltaDiscoveryResponse{
		TypeUrl:           p.typeURL,
		SystemVersionInfo: r.Version,
		RemovedResources:  r.Removed,
		Nonce:             strconv.FormatInt(st.lastNonce, 10),
	}
	var msg any = out
	if body := st.srv.bodies.get(deltaKind, r.Resources); body != nil {
		msg = &preEncoded{head: out, body: body}
	} else {
		out.Resources = make([]*discoveryv3.Resource, len(r.Resources))
		for i, res := range r.Resources {
			out.Resources[i] = res.DeltaResource()
		}
	}
	t.holds, t.w = cache.Holdings{Held: r.Held, Answered: true}, nil
	st.srv.tracker.sent(st.id, p.typeURL, r.Version, out.Nonce, r.ChangedAt, len(r.Resources), r.Held)
	if err := st.ss.SendMsg(msg); err != nil {
		return status.Errorf(codes.Unavailable, "xds: sending %s: %v", typeName(p.typeURL), err)
	}
	return nil
}
