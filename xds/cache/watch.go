package cache

import (
	"context"
	"sort"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// sentMarker is the entry of a state-of-the-world subscription's returned
// resources that holds the version of the last response sent on the stream.
// No resource has an empty name, so it cannot collide.
const sentMarker = ""

// watch is one open request of one stream for one type. It is answered at
// most once, then the server opens a new one with the next request.
type watch struct {
	id      uint64
	key     Key
	typeURL string
	req     *cachev3.Request
	sub     cachev3.Subscription
	ch      chan cachev3.Response
	dreq    *cachev3.DeltaRequest
	dch     chan cachev3.DeltaResponse
}

// CreateWatch opens a state-of-the-world watch; it is answered at once when
// the node's current resources differ from what it last received.
func (c *Cache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	w := &watch{key: c.mapper.KeyFor(req.GetNode()), typeURL: req.GetTypeUrl(), req: req, sub: sub, ch: ch}
	return c.open(w), nil
}

// CreateDeltaWatch opens an incremental watch; it is answered when a
// subscribed resource differs from the version the node has, or was removed.
func (c *Cache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	w := &watch{key: c.mapper.KeyFor(req.GetNode()), typeURL: req.GetTypeUrl(), dreq: req, sub: sub, dch: ch}
	return c.open(w), nil
}

func (c *Cache) open(w *watch) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if snap, ok := c.snapshots[w.key]; ok && c.respond(w, snap) {
		return func() {}
	}
	c.nextID++
	w.id = c.nextID
	byType := c.watches[w.key]
	if byType == nil {
		byType = map[string]map[uint64]*watch{}
		c.watches[w.key] = byType
	}
	if byType[w.typeURL] == nil {
		byType[w.typeURL] = map[uint64]*watch{}
	}
	byType[w.typeURL][w.id] = w
	key, typeURL, id := w.key, w.typeURL, w.id
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.watches[key][typeURL], id)
	}
}

// respond answers w from snap if there is something new for it and reports
// whether it did. Called with c.mu held.
func (c *Cache) respond(w *watch, snap *snapshot) bool {
	ts := snap.get(w.typeURL)
	info := responseInfo{key: w.key, changedAt: ts.changedAt}
	if w.dch != nil {
		resp := deltaFor(w, ts)
		if resp == nil {
			return false
		}
		deliver(func() { w.dch <- resp }, func() bool {
			select {
			case w.dch <- resp:
				return true
			default:
				return false
			}
		})
		return true
	}
	rs := ts.sorted
	if !w.sub.IsWildcard() {
		rs = pick(ts, names(w.sub.SubscribedResources()))
	}
	version := ts.version
	if !w.sub.IsWildcard() {
		version = versionOf(rs)
	}
	if upToDate(w.sub.ReturnedResources(), rs, version, w.req.GetVersionInfo()) {
		return false
	}
	resp := newSotwResponse(w.req, rs, version, info)
	deliver(func() { w.ch <- resp }, func() bool {
		select {
		case w.ch <- resp:
			return true
		default:
			return false
		}
	})
	return true
}

// upToDate reports whether a state-of-the-world stream already holds rs:
// what was last sent on it (known, including a rejected response, so a NACK
// is not answered with the same configuration again), or, on a new stream or
// after the subscription dropped everything it held, the version the node
// says it has. The server prunes known to the subscribed names on every
// request, so for named subscriptions only the per-resource entries survive.
func upToDate(known map[string]string, rs []*Resource, version, claimed string) bool {
	_, marked := known[sentMarker]
	held := len(known)
	if marked {
		held--
	}
	if !marked && held == 0 {
		return claimed == version
	}
	if held != len(rs) {
		return false
	}
	for _, r := range rs {
		if known[r.Name] != r.Hash {
			return false
		}
	}
	return true
}

// deliver tries a non-blocking send and falls back to a goroutine, so the
// cache lock is never held on a full channel. The server's channels have
// room for every type's pending response, so the fallback is not expected;
// if the stream closed its channel meanwhile, the late send is dropped.
func deliver(blocking func(), try func() bool) {
	if try() {
		return
	}
	go func() {
		defer func() { _ = recover() }()
		blocking()
	}()
}

func names(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	return out
}

// deltaFor computes the incremental response of w, or nil.
func deltaFor(w *watch, ts *typeState) *deltaResponse {
	known := w.sub.ReturnedResources()
	var send []*Resource
	var removed []string
	if w.sub.IsWildcard() {
		for _, r := range ts.sorted {
			if v, ok := known[r.Name]; !ok || v != r.Hash {
				send = append(send, r)
			}
		}
		for n := range known {
			if _, ok := ts.byName[n]; !ok && n != sentMarker {
				removed = append(removed, n)
			}
		}
	} else {
		for _, n := range names(w.sub.SubscribedResources()) {
			r, exists := ts.byName[n]
			v, had := known[n]
			switch {
			case exists && (!had || v != r.Hash):
				send = append(send, r)
			case !exists && had:
				removed = append(removed, n)
			}
		}
		sort.Slice(send, func(i, j int) bool { return send[i].Name < send[j].Name })
	}
	sort.Strings(removed)
	_, answered := known[sentMarker]
	first := !answered && len(known) == 0 && w.sub.IsWildcard()
	if len(send) == 0 && len(removed) == 0 && !first {
		return nil
	}
	next := make(map[string]string, len(known)+len(send))
	for n, v := range known {
		next[n] = v
	}
	next[sentMarker] = ts.version
	out := &discoveryv3.DeltaDiscoveryResponse{
		TypeUrl:           w.typeURL,
		SystemVersionInfo: ts.version,
		RemovedResources:  removed,
		Resources:         make([]*discoveryv3.Resource, 0, len(send)),
	}
	for _, r := range send {
		next[r.Name] = r.Hash
		out.Resources = append(out.Resources, &discoveryv3.Resource{Name: r.Name, Version: r.Hash, Resource: r.any})
	}
	for _, n := range removed {
		delete(next, n)
	}
	return &deltaResponse{req: w.dreq, resp: out, next: next}
}

// responseInfo travels with a state-of-the-world response in its context so
// the server can time convergence and record what was sent.
type responseInfo struct {
	key       Key
	changedAt time.Time
	names     []string
}

type responseInfoKey struct{}

// ResponseInfo is what the cache tells the server about a response.
type ResponseInfo struct {
	Key Key
	// ChangedAt is when the input change behind this version happened.
	ChangedAt time.Time
	// Names are the resources in the response, sorted.
	Names []string
}

// ResponseInfoFrom returns the information attached to a response context.
func ResponseInfoFrom(ctx context.Context) (ResponseInfo, bool) {
	if ctx == nil {
		return ResponseInfo{}, false
	}
	ri, ok := ctx.Value(responseInfoKey{}).(responseInfo)
	if !ok {
		return ResponseInfo{}, false
	}
	return ResponseInfo{Key: ri.key, ChangedAt: ri.changedAt, Names: ri.names}, true
}

// sotwResponse is a state-of-the-world response built from shared,
// already-marshalled resources.
type sotwResponse struct {
	req      *cachev3.Request
	version  string
	resp     *discoveryv3.DiscoveryResponse
	returned map[string]string
	ctx      context.Context
}

var _ cachev3.Response = (*sotwResponse)(nil)

func newSotwResponse(req *cachev3.Request, rs []*Resource, version string, info responseInfo) *sotwResponse {
	anys := make([]*anypb.Any, len(rs))
	returned := make(map[string]string, len(rs)+1)
	info.names = make([]string, len(rs))
	for i, r := range rs {
		anys[i] = r.any
		returned[r.Name] = r.Hash
		info.names[i] = r.Name
	}
	returned[sentMarker] = version
	return &sotwResponse{
		req:      req,
		version:  version,
		resp:     &discoveryv3.DiscoveryResponse{VersionInfo: version, TypeUrl: req.GetTypeUrl(), Resources: anys},
		returned: returned,
		ctx:      context.WithValue(context.Background(), responseInfoKey{}, info),
	}
}

func (r *sotwResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	return r.resp, nil
}
func (r *sotwResponse) GetRequest() *discoveryv3.DiscoveryRequest { return r.req }
func (r *sotwResponse) GetVersion() (string, error)               { return r.version, nil }
func (r *sotwResponse) GetResponseVersion() string                { return r.version }
func (r *sotwResponse) GetReturnedResources() map[string]string   { return r.returned }
func (r *sotwResponse) GetContext() context.Context               { return r.ctx }

// deltaResponse is an incremental response built from shared resources.
type deltaResponse struct {
	req  *cachev3.DeltaRequest
	resp *discoveryv3.DeltaDiscoveryResponse
	next map[string]string
}

var _ cachev3.DeltaResponse = (*deltaResponse)(nil)

func (r *deltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return r.resp, nil
}
func (r *deltaResponse) GetDeltaRequest() *discoveryv3.DeltaDiscoveryRequest { return r.req }
func (r *deltaResponse) GetSystemVersion() (string, error) {
	return r.resp.GetSystemVersionInfo(), nil
}
func (r *deltaResponse) GetResponseVersion() string              { return r.resp.GetSystemVersionInfo() }
func (r *deltaResponse) GetNextVersionMap() map[string]string    { return r.next }
func (r *deltaResponse) GetReturnedResources() map[string]string { return r.next }
func (r *deltaResponse) GetContext() context.Context             { return context.Background() }
