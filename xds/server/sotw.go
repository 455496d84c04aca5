package server

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gantryproxy/gantry/xds/cache"
)

// wildcardName is the explicit wildcard subscription.
const wildcardName = "*"

type sotwServer = grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]

// sotwStream is one state-of-the-world stream: ADS (every type, typeURL
// "") or one type's service.
type sotwStream struct {
	srv       *Server
	id        int64
	ss        sotwServer
	typeURL   string
	node      *corev3.Node
	key       cache.Key
	types     map[string]*sotwType
	ch        chan pending
	done      chan struct{}
	lastNonce int64
	// names is what the stream subscribes to, for its codec (acks.go).
	names *lastNames
}

// sotwType is a state-of-the-world stream's state of one type.
type sotwType struct {
	sub cache.Subscription
	// legacy: the stream has named nothing yet, so an empty request still
	// means every resource (the protocol's legacy wildcard).
	legacy bool
	// sent and nonce are the version and nonce of the last response.
	sent, nonce string
	// names is the hash of the names of the request the subscription was
	// made from, in the request's order: a client repeats the same names
	// with every request (10,000 for a Gateway's endpoints), which then
	// cost a hash, not a sort.
	names  uint64
	gen    uint64
	cancel func()
}

// streamSotw serves one state-of-the-world stream until it ends.
func (s *Server) streamSotw(ss sotwServer, typeURL string) error {
	st := &sotwStream{srv: s, id: s.nextID.Add(1), ss: ss, typeURL: typeURL, types: map[string]*sotwType{}, ch: pendingChannel(),
		done: make(chan struct{}), names: newLastNames(typeURL)}
	defer st.close()
	if err := s.callbacks.OnStreamOpen(ss.Context(), st.id, typeURL); err != nil {
		return err
	}
	return serve(ss.Context(), st.recv(), s.ctx.Done(), st.ch, st.send, st.handle)
}

// recv returns the stream's receive function: each request is decoded
// against the names the stream subscribes to (acks.go).
func (st *sotwStream) recv() func() (*discoveryv3.DiscoveryRequest, error) {
	r := &sotwRecv{last: st.names}
	return func() (*discoveryv3.DiscoveryRequest, error) {
		r.req = &discoveryv3.DiscoveryRequest{}
		if err := st.ss.RecvMsg(r); err != nil {
			return nil, err
		}
		return r.req, nil
	}
}

func (st *sotwStream) close() {
	for _, t := range st.types {
		if t.cancel != nil {
			t.cancel()
		}
	}
	close(st.done)
	st.srv.callbacks.OnStreamClosed(st.id, st.node)
}

// handle applies one request: records it (ACK or NACK), updates the
// subscription and opens the type's next watch. A request whose nonce is
// not that of the type's last response is stale and ignored, as the
// protocol says.
func (st *sotwStream) handle(req *discoveryv3.DiscoveryRequest) error {
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
	if err := st.srv.callbacks.OnStreamRequest(st.id, req); err != nil {
		return err
	}
	t, ok := st.types[typeURL]
	if !ok {
		t = &sotwType{legacy: true}
		st.types[typeURL] = t
	} else {
		if t.nonce != "" && req.GetResponseNonce() != t.nonce {
			return nil
		}
		t.cancel()
	}
	t.gen++ // a response of the replaced watch is dropped
	if err := st.flush(); err != nil {
		return err
	}
	t.subscribe(st.srv, st.key, typeURL, req.GetResourceNames())
	st.names.publish(typeURL, t.sub)
	t.cancel = st.srv.cache.Watch(&cache.Watch{
		Key: st.key, TypeURL: typeURL, Sub: t.sub, Sent: t.sent, Claimed: req.GetVersionInfo(),
		Deliver: deliverTo(st.ch, st.done, typeURL, t.gen),
	})
	return nil
}

// subscribe sets the subscription from a request's names: the whole set
// of names it wants, "*" for every resource, none for every resource as
// long as the stream never named one (legacy wildcard).
func (t *sotwType) subscribe(s *Server, key cache.Key, typeURL string, names []string) {
	if t.legacy {
		if len(names) == 0 {
			t.sub = cache.Subscription{Wildcard: true}
			return
		}
		t.legacy = false
	}
	if set := t.sub.Names.Names(); !t.sub.Wildcard && len(names) > 0 && len(names) == len(set) && &names[0] == &set[0] {
		return // the subscription's own list, as the codec gives it
	}
	h := hashNames(s.seed, names)
	if h == t.names && t.sub.Names.Len() > 0 {
		return // the names of the last request
	}
	wildcard := slices.Contains(names, wildcardName)
	if wildcard {
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == wildcardName })
	}
	t.sub = cache.Subscription{Wildcard: wildcard, Names: s.cache.NameSet(key, typeURL, names)}
	t.names = h
}

// hashNames hashes a list of names in order (with its length, so that no
// list is the prefix of another's encoding).
func hashNames(seed maphash.Seed, names []string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, n := range names {
		h.WriteString(n)
		h.WriteByte(0)
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(names)))
	h.Write(n[:])
	return h.Sum64()
}

// flush sends the responses already queued, in order.
func (st *sotwStream) flush() error {
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

// send sends a response of the cache unless its watch was replaced.
func (st *sotwStream) send(p pending) error {
	t, ok := st.types[p.typeURL]
	if !ok || p.gen != t.gen {
		return nil
	}
	r := p.resp
	st.lastNonce++
	out := &discoveryv3.DiscoveryResponse{VersionInfo: r.Version, TypeUrl: p.typeURL, Nonce: strconv.FormatInt(st.lastNonce, 10)}
	var msg any = out
	if body := st.srv.bodies.get(sotwKind, r.Resources); body != nil {
		msg = &preEncoded{head: out, body: body}
	} else {
		out.Resources = make([]*anypb.Any, len(r.Resources))
		for i, res := range r.Resources {
			out.Resources[i] = res.Any()
		}
	}
	t.sent, t.nonce = r.Version, out.Nonce
	st.srv.tracker.sent(st.id, p.typeURL, r.Version, out.Nonce, r.ChangedAt, len(r.Resources), r.Held)
	if err := st.ss.SendMsg(msg); err != nil {
		return status.Errorf(codes.Unavailable, "xds: sending %s: %v", typeName(p.typeURL), err)
	}
	return nil
}
