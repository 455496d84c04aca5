package server

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/xds/cache"
)

// Proxy is the state of one xDS stream of one node.
type Proxy struct {
	ID             string    `json:"id"`
	Group          string    `json:"group"`
	Flavor         string    `json:"flavor"`
	Protocol       string    `json:"protocol"` // "sotw" or "delta"
	Stream         int64     `json:"stream"`
	Peer           string    `json:"peer,omitempty"`
	ConnectedSince time.Time `json:"connectedSince"`
	// Types are sorted by type URL.
	Types []TypeState `json:"types"`

	// Identity is who the stream proved to be (nil when the server runs
	// Insecure).
	Identity *Identity `json:"identity,omitempty"`
}

// TypeState is what one stream was sent of one type and what it said.
type TypeState struct {
	TypeURL string `json:"typeUrl"`
	// Sent is the version of the last response, SentNonce its nonce.
	Sent      string    `json:"sent,omitempty"`
	SentNonce string    `json:"sentNonce,omitempty"`
	SentAt    time.Time `json:"sentAt,omitempty"`
	// Acked is the last version the node accepted.
	Acked   string    `json:"acked,omitempty"`
	AckedAt time.Time `json:"ackedAt,omitempty"`
	// State is "ACK" (holds what was last sent), "PENDING" (sent, no answer
	// yet) or "NACK" (rejected the last response and kept Acked).
	State string `json:"state"`
	NACK  *NACK  `json:"nack,omitempty"`
	// Resources maps each resource the node holds (as far as the server
	// knows: the last response for state of the world, the sum of the
	// responses for delta) to its packed proto. Proxy fills it (a large
	// route configuration's packed proto is then a copy made for the
	// caller); Proxies leaves it nil.
	Resources map[string]*anypb.Any `json:"-"`
	// Names are the keys of Resources, sorted.
	Names []string `json:"names,omitempty"`
}

// NACK is the last rejection of a type by a stream.
type NACK struct {
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
	Count   int       `json:"count"`
}

type trackerOptions struct {
	cache    *cache.Cache
	metrics  *metrics
	logger   *slog.Logger
	onNewKey func(cache.Key)
	// onKeyGone is called when the last stream of a key closes.
	onKeyGone func(cache.Key)
	// onNACKChange is called with a group whose rejections changed.
	onNACKChange func(group string)
}

// tracker implements the server callbacks and keeps the per-stream state.
type tracker struct {
	trackerOptions
	mu      sync.Mutex
	streams map[int64]*streamState
	// rejected is the version each node last rejected of each type, across
	// its streams: a NACK is logged and counted once per (node, type,
	// version), however often the node repeats it or reconnects to repeat
	// it. An ACK of the type clears it.
	rejected map[rejectKey]string
}

type rejectKey struct {
	node    string
	key     cache.Key
	typeURL string
}

// maxRejected bounds the rejected map; when full it is cleared (a node
// still rejecting is then logged once more).
const maxRejected = 10000

var _ callbacks = (*tracker)(nil)

type streamState struct {
	proxy   Proxy
	key     cache.Key
	hasNode bool
	types   map[string]*typeTrack
}

type typeTrack struct {
	// state has no Resources or Names: held is what the node holds (a
	// list shared with the cache and other streams), expanded on demand.
	state TypeState
	held  plist.List[*cache.Resource]
	// changedAt of the last response, for convergence.
	changedAt time.Time
	observed  bool
}

func newTracker(o trackerOptions) *tracker {
	return &tracker{trackerOptions: o, streams: map[int64]*streamState{}, rejected: map[rejectKey]string{}}
}

func (t *tracker) open(ctx context.Context, id int64, protocol string) {
	st := &streamState{proxy: Proxy{Protocol: protocol, Stream: id, ConnectedSince: time.Now()}, types: map[string]*typeTrack{}}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		st.proxy.Peer = p.Addr.String()
	}
	if ident, ok := IdentityFrom(ctx); ok {
		st.proxy.Identity = &ident
	}
	t.mu.Lock()
	t.streams[id] = st
	t.mu.Unlock()
	t.metrics.connections.WithLabelValues(protocol).Inc()
}

func (t *tracker) close(id int64) {
	t.mu.Lock()
	st, ok := t.streams[id]
	delete(t.streams, id)
	gone := ok && st.hasNode && !t.connectedLocked(st.key)
	wasRejecting := ok && st.rejecting()
	t.mu.Unlock()
	if wasRejecting && t.onNACKChange != nil {
		t.onNACKChange(st.key.Group)
	}
	if gone && t.onKeyGone != nil {
		t.onKeyGone(st.key)
	}
	if ok {
		t.metrics.connections.WithLabelValues(st.proxy.Protocol).Dec()
		t.logger.Debug("xDS stream closed", "node", st.proxy.ID, "group", st.key.Group, "stream", id)
	}
}

// setNode records the node on the first request that carries one and
// reports whether its key is new among connected streams.
func (t *tracker) setNode(st *streamState, node *corev3.Node) bool {
	if st.hasNode || node == nil {
		return false
	}
	st.hasNode = true
	st.key = t.cache.KeyFor(node)
	st.proxy.ID, st.proxy.Group, st.proxy.Flavor = node.GetId(), st.key.Group, st.key.Flavor
	for _, other := range t.streams {
		if other != st && other.hasNode && other.key == st.key {
			return false
		}
	}
	return true
}

func (t *tracker) track(st *streamState, typeURL string) *typeTrack {
	tt, ok := st.types[typeURL]
	if !ok {
		tt = &typeTrack{state: TypeState{TypeURL: typeURL}}
		st.types[typeURL] = tt
	}
	return tt
}

// answer records an ACK or NACK of nonce. version is what the node now
// holds (ACK) and errMsg is set for a NACK.
func (t *tracker) answer(id int64, node *corev3.Node, typeURL, nonce, version, errMsg string) {
	t.mu.Lock()
	st, ok := t.streams[id]
	if !ok {
		t.mu.Unlock()
		return
	}
	first := !st.hasNode && node != nil
	newKey := t.setNode(st, node)
	key := st.key
	var converged time.Duration
	var nacked *NACK
	rk := rejectKey{node: st.proxy.ID, key: key, typeURL: typeURL}
	nackChanged := false
	if nonce != "" {
		tt := t.track(st, typeURL)
		wasRejecting := tt.state.rejecting()
		current := nonce == tt.state.SentNonce
		switch {
		case errMsg != "":
			n := &NACK{Version: tt.state.Sent, Nonce: nonce, Error: errMsg, At: time.Now(), Count: 1}
			if prev := tt.state.NACK; prev != nil && prev.Nonce == nonce {
				n.Count = prev.Count + 1
			}
			tt.state.NACK = n
			if current {
				tt.state.State = "NACK"
			}
			if last, seen := t.rejected[rk]; n.Count == 1 && (!seen || last != n.Version) {
				if len(t.rejected) >= maxRejected {
					clear(t.rejected)
				}
				t.rejected[rk] = n.Version
				nacked = n
			}
		case current:
			delete(t.rejected, rk)
			tt.state.Acked, tt.state.AckedAt, tt.state.State = version, time.Now(), "ACK"
			if !tt.observed && !tt.changedAt.IsZero() {
				tt.observed = true
				converged = time.Since(tt.changedAt)
			}
		}
		nackChanged = nacked != nil || wasRejecting != tt.state.rejecting()
	}
	proxyID, protocol, peerAddr := st.proxy.ID, st.proxy.Protocol, st.proxy.Peer
	t.mu.Unlock()
	if first {
		if key.Group == "" {
			t.logger.Warn("xDS node without a group: node.cluster is empty, so it gets no configuration", "node", proxyID, "peer", peerAddr)
		} else {
			t.logger.Debug("xDS node connected", "node", proxyID, "group", key.Group, "flavor", key.Flavor, "protocol", protocol, "peer", peerAddr)
		}
	}
	if nacked != nil { // first rejection of this version by this node
		t.metrics.nacks.WithLabelValues(typeName(typeURL)).Inc()
		t.logger.Warn("xDS NACK: node rejected a configuration; it keeps its last accepted one and nothing is re-sent until the configuration changes",
			"node", proxyID, "group", key.Group, "flavor", key.Flavor, "type", typeName(typeURL), "version", nacked.Version, "error", nacked.Error)
	}
	if nackChanged && t.onNACKChange != nil {
		t.onNACKChange(key.Group)
	}
	if converged > 0 {
		t.metrics.convergence.WithLabelValues(typeName(typeURL)).Observe(converged.Seconds())
	}
	if newKey && t.onNewKey != nil {
		t.onNewKey(key)
	}
}

// rejecting reports whether the node rejected this type and has accepted
// no later version since.
func (ts *TypeState) rejecting() bool {
	return ts.NACK != nil && ts.NACK.At.After(ts.AckedAt)
}

// rejecting reports whether the stream rejects any type.
func (st *streamState) rejecting() bool {
	for _, tt := range st.types {
		if tt.state.rejecting() {
			return true
		}
	}
	return false
}

// Rejection is one type a connected node rejected and has accepted no
// later version of since.
type Rejection struct {
	Group   string
	Node    string
	TypeURL string
	Version string
	Error   string
}

// rejections lists the current rejections of every connected stream,
// sorted by group, node and type.
func (t *tracker) rejections() []Rejection {
	t.mu.Lock()
	var out []Rejection
	for _, st := range t.streams {
		for url, tt := range st.types {
			if tt.state.rejecting() {
				out = append(out, Rejection{Group: st.key.Group, Node: st.proxy.ID, TypeURL: url, Version: tt.state.NACK.Version, Error: tt.state.NACK.Error})
			}
		}
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.TypeURL < b.TypeURL
	})
	return out
}

// sent records a response on a stream; held is what the node holds of the
// type once it applies it.
func (t *tracker) sent(id int64, typeURL, version, nonce string, changedAt time.Time, carried int, held plist.List[*cache.Resource]) {
	t.metrics.pushes.WithLabelValues(typeName(typeURL)).Inc()
	t.metrics.sent.WithLabelValues(typeName(typeURL)).Add(float64(carried))
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.streams[id]
	if !ok {
		return
	}
	tt := t.track(st, typeURL)
	tt.state.Sent, tt.state.SentNonce, tt.state.SentAt, tt.state.State = version, nonce, time.Now(), "PENDING"
	tt.changedAt, tt.observed = changedAt, false
	tt.held = held
}

// OnStreamOpen implements the state-of-the-world callbacks.
func (t *tracker) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	t.open(ctx, id, "sotw")
	return nil
}

// OnStreamClosed ends a stream.
func (t *tracker) OnStreamClosed(id int64, _ *corev3.Node) { t.close(id) }

// OnStreamRequest records ACKs and NACKs.
func (t *tracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	t.answer(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetVersionInfo(), req.GetErrorDetail().GetMessage())
	return nil
}

// OnDeltaStreamOpen implements the delta callbacks.
func (t *tracker) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	t.open(ctx, id, "delta")
	return nil
}

// OnDeltaStreamClosed ends a delta stream.
func (t *tracker) OnDeltaStreamClosed(id int64, _ *corev3.Node) { t.close(id) }

// OnStreamDeltaRequest records ACKs and NACKs of delta responses.
func (t *tracker) OnStreamDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	version := ""
	t.mu.Lock()
	if st, ok := t.streams[id]; ok {
		if tt, ok := st.types[req.GetTypeUrl()]; ok && tt.state.SentNonce == req.GetResponseNonce() {
			version = tt.state.Sent
		}
	}
	t.mu.Unlock()
	t.answer(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), version, req.GetErrorDetail().GetMessage())
	return nil
}

// OnFetchRequest implements the REST callbacks (nothing to track).
func (t *tracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error { return nil }

// proxies copies the state of the streams of nodeID (all when empty,
// without their packed resources).
func (t *tracker) proxies(nodeID string) []Proxy {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []Proxy{}
	for _, st := range t.streams {
		if nodeID != "" && st.proxy.ID != nodeID {
			continue
		}
		p := st.proxy
		p.Types = make([]TypeState, 0, len(st.types))
		for _, tt := range st.types {
			ts := tt.state
			ts.Names = make([]string, tt.held.Len())
			if nodeID != "" {
				ts.Resources = make(map[string]*anypb.Any, tt.held.Len())
			}
			for i, r := range tt.held.All() { // sorted by name
				if ts.Resources != nil {
					ts.Resources[r.Name] = r.Any()
				}
				ts.Names[i] = r.Name
			}
			if ts.NACK != nil {
				n := *ts.NACK
				ts.NACK = &n
			}
			p.Types = append(p.Types, ts)
		}
		sort.Slice(p.Types, func(i, j int) bool { return p.Types[i].TypeURL < p.Types[j].TypeURL })
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Stream < out[j].Stream
	})
	return out
}

// connectedLocked reports whether a stream of key is open.
func (t *tracker) connectedLocked(key cache.Key) bool {
	for _, st := range t.streams {
		if st.hasNode && st.key == key {
			return true
		}
	}
	return false
}

func (t *tracker) keys() []cache.Key {
	t.mu.Lock()
	seen := map[cache.Key]bool{}
	for _, st := range t.streams {
		if st.hasNode {
			seen[st.key] = true
		}
	}
	t.mu.Unlock()
	out := make([]cache.Key, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Flavor < out[j].Flavor
	})
	return out
}

func typeName(typeURL string) string {
	for i := len(typeURL) - 1; i >= 0; i-- {
		if typeURL[i] == '.' {
			return typeURL[i+1:]
		}
	}
	return typeURL
}
