package cache

import (
	"context"
	"runtime"
	"sort"
	"strings"
	"time"
	"weak"

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
	w := &watch{key: c.mapper.KeyFor(req.GetNode()), typeURL: req.GetTypeUrl(), req: withoutNames(req), sub: sub, ch: ch}
	return c.open(w), nil
}

// CreateDeltaWatch opens an incremental watch; it is answered when a
// subscribed resource differs from the version the node has, or was removed.
func (c *Cache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	w := &watch{key: c.mapper.KeyFor(req.GetNode()), typeURL: req.GetTypeUrl(), dreq: withoutDeltaNames(req), sub: sub, dch: ch}
	return c.open(w), nil
}

// withoutNames is req without its resource names. A watch (and the response
// answering it) lives as long as the stream waits for a change; the names
// are already in the subscription, so the watch keeps only what it reads.
func withoutNames(req *cachev3.Request) *cachev3.Request {
	if len(req.GetResourceNames()) == 0 && len(req.GetResourceLocators()) == 0 {
		return req
	}
	return &discoveryv3.DiscoveryRequest{
		VersionInfo:   req.GetVersionInfo(),
		Node:          req.GetNode(),
		TypeUrl:       req.GetTypeUrl(),
		ResponseNonce: req.GetResponseNonce(),
		ErrorDetail:   req.GetErrorDetail(),
	}
}

// withoutDeltaNames is the delta counterpart of withoutNames: the names
// subscribed and unsubscribed, and the initial versions, are in the
// subscription already.
func withoutDeltaNames(req *cachev3.DeltaRequest) *cachev3.DeltaRequest {
	if len(req.GetResourceNamesSubscribe()) == 0 && len(req.GetResourceNamesUnsubscribe()) == 0 && len(req.GetInitialResourceVersions()) == 0 {
		return req
	}
	return &discoveryv3.DeltaDiscoveryRequest{
		Node:          req.GetNode(),
		TypeUrl:       req.GetTypeUrl(),
		ResponseNonce: req.GetResponseNonce(),
		ErrorDetail:   req.GetErrorDetail(),
	}
}

func (c *Cache) open(w *watch) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.req.GetErrorDetail() != nil {
		markRejected(w.sub.ReturnedResources())
	}
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
	if w.dch != nil {
		resp := deltaFor(w, ts)
		if resp == nil {
			return false
		}
		c.noteDelta(resp)
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
	rs, version := ts.sorted, ts.version
	if !w.sub.IsWildcard() {
		rs = pick(ts, w.sub.SubscribedResources())
		if len(rs) != len(ts.sorted) {
			version = versionOf(rs)
		}
	}
	known := w.sub.ReturnedResources()
	claimed := w.req.GetVersionInfo()
	if last, _, ok := lastSent(known); ok && last == version || !ok && claimed == version {
		return false
	}
	send := rs
	if held, ok := c.viewOf(w.key, w.typeURL, claimed); ok && partialType(w.typeURL) {
		send = changedSince(held, rs)
	}
	c.rememberView(w.key, w.typeURL, version, rs)
	mark := sentMarker
	if !w.sub.IsWildcard() && len(rs) > 0 {
		mark = rs[0].Name
	}
	resp := newSotwResponse(w.req, send, rs, sotwSent{mark: mark, version: version}, responseInfo{key: w.key, changedAt: ts.changedAt})
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

// What a state-of-the-world stream was last sent of a type is one entry of
// its returned resources: the version, under sentMarker for a wildcard
// subscription, else under the first name it holds (the server prunes that
// map to the subscribed names on every request, so the entry survives as
// long as that name stays subscribed; when it does not, the version the
// node claims is used instead). What the version holds is a remembered
// view. A response the node rejected keeps its entry, marked, so it is not
// sent again: the next change is sent against what the node accepted (the
// version it claims).
type sotwSent struct {
	mark    string
	version string
}

// rejected marks the version of a response the node rejected.
const rejected = "?"

// lastSent returns the version last sent on a stream and whether the node
// rejected it.
func lastSent(known map[string]string) (version string, nacked, ok bool) {
	for _, v := range known {
		if strings.HasPrefix(v, rejected) {
			return v[len(rejected):], true, true
		}
		return v, false, true
	}
	return "", false, false
}

// markRejected records a NACK of the last response. It runs on the stream's
// goroutine before its next watch opens, the only time that map is not read
// elsewhere.
func markRejected(known map[string]string) {
	for n, v := range known {
		if !strings.HasPrefix(v, rejected) {
			known[n] = rejected + v
		}
	}
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

// deltaFor computes the incremental response of w, or nil.
func deltaFor(w *watch, ts *typeState) *deltaResponse {
	known := w.sub.ReturnedResources()
	var send []*Resource
	var removed []string
	// held is what the node holds once it applies the response: all of ts
	// for a wildcard, else the subscribed resources that exist.
	held := ts.sorted
	if w.sub.IsWildcard() {
		for _, r := range ts.sorted {
			if v, ok := known[r.Name]; !ok || v != r.Hash {
				send = append(send, r)
			}
		}
		for n := range known {
			if _, ok := ts.lookup(n); !ok && n != sentMarker {
				removed = append(removed, n)
			}
		}
	} else {
		have := 0
		for n := range w.sub.SubscribedResources() {
			r, exists := ts.lookup(n)
			v, had := known[n]
			switch {
			case exists && (!had || v != r.Hash):
				send = append(send, r)
			case !exists && had:
				removed = append(removed, n)
			}
			if exists {
				have++
			}
		}
		sort.Slice(send, func(i, j int) bool { return send[i].Name < send[j].Name })
		if have != len(ts.sorted) {
			held = nil // the subscribed resources, picked once there is a response
		}
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
	if held == nil {
		held = pick(ts, w.sub.SubscribedResources())
	}
	info := responseInfo{key: w.key, changedAt: ts.changedAt, held: held}
	return &deltaResponse{req: w.dreq, resp: out, next: next, info: info}
}

// noteDelta keeps the information of a delta response until the server
// sends it (the server's delta callback carries no context); an entry of a
// response that is never sent goes with the response.
func (c *Cache) noteDelta(d *deltaResponse) {
	k := weak.Make(d.resp)
	c.infoMu.Lock()
	c.deltaInfo[k] = d.info
	c.infoMu.Unlock()
	runtime.AddCleanup(d.resp, func(k weak.Pointer[discoveryv3.DeltaDiscoveryResponse]) {
		c.infoMu.Lock()
		delete(c.deltaInfo, k)
		c.infoMu.Unlock()
	}, k)
}

// DeltaResponseInfo returns (once) what the cache knows about a delta
// response it made.
func (c *Cache) DeltaResponseInfo(resp *discoveryv3.DeltaDiscoveryResponse) (ResponseInfo, bool) {
	k := weak.Make(resp)
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	ri, ok := c.deltaInfo[k]
	delete(c.deltaInfo, k)
	return ri.public(), ok
}

// responseInfo travels with a state-of-the-world response in its context so
// the server can time convergence and record what was sent.
type responseInfo struct {
	key       Key
	changedAt time.Time
	held      []*Resource
}

type responseInfoKey struct{}

// ResponseInfo is what the cache tells the server about a response.
type ResponseInfo struct {
	Key Key
	// ChangedAt is when the input change behind this version happened.
	ChangedAt time.Time
	// Held is what the node holds of the type once it applies the
	// response, sorted by name: a state-of-the-world response of routes,
	// endpoints or secrets, and a delta response, carry only what changed.
	// Shared with the cache and other streams: do not modify.
	Held []*Resource
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
	return ri.public(), true
}

func (ri responseInfo) public() ResponseInfo {
	return ResponseInfo{Key: ri.key, ChangedAt: ri.changedAt, Held: ri.held}
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

// newSotwResponse carries send; held (a superset of send) is what the
// node holds once it applies it.
func newSotwResponse(req *cachev3.Request, send, held []*Resource, sent sotwSent, info responseInfo) *sotwResponse {
	anys := make([]*anypb.Any, len(send))
	for i, r := range send {
		anys[i] = r.any
	}
	info.held = held
	return &sotwResponse{
		req:      req,
		version:  sent.version,
		resp:     &discoveryv3.DiscoveryResponse{VersionInfo: sent.version, TypeUrl: req.GetTypeUrl(), Resources: anys},
		returned: map[string]string{sent.mark: sent.version},
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
	info responseInfo
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
