package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
	"github.com/gantryproxy/gantry/xds/server"
)

// Debounce bounds: a batch is processed after quietWindow without a new
// event, or maxDelay after its first event, whichever comes first.
const (
	quietWindow = 100 * time.Millisecond
	maxDelay    = time.Second
)

// debounce merges bursts of provider events into batches.
func debounce(ctx context.Context, in <-chan providerEvent, out chan<- providerEvent, quiet, max time.Duration) {
	defer close(out)
	var pending *providerEvent
	var quietT, maxT <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-in:
			if !ok {
				return
			}
			if ev.ChangedAt.IsZero() {
				ev.ChangedAt = time.Now()
			}
			if pending == nil {
				pending = &ev
				maxT = time.After(max)
			} else {
				pending = merge(*pending, ev)
			}
			quietT = time.After(quiet)
			continue
		case <-quietT:
		case <-maxT:
		}
		select {
		case out <- *pending:
		case <-ctx.Done():
			return
		}
		pending, quietT, maxT = nil, nil, nil
	}
}

// merge folds a later event into an earlier one: the later Set wins, the
// earliest change time is kept, and the endpoint fast path holds only if
// every event in the batch allowed it.
func merge(a, b providerEvent) *providerEvent {
	b.EndpointsOnly = a.EndpointsOnly && b.EndpointsOnly
	b.Initial = a.Initial || b.Initial
	if a.ChangedAt.Before(b.ChangedAt) {
		b.ChangedAt = a.ChangedAt
	}
	return &b
}

type pipelineOptions struct {
	cache          *cache.Cache
	controllerName string
	sink           statusSink
	log            *slog.Logger
	// meshTelemetry is --mesh-telemetry, checked.
	meshTelemetry params.Telemetry
	// meshSecrets, when set, are added to every mesh group (the trust
	// bundle).
	meshSecrets func() []*ir.Secret
	meshTLS     *meshtranslate.MTLS // nil: mesh mTLS off
}

// pipeline turns input batches into snapshots: translate (or refresh
// endpoints), build per group and flavor, set in the cache, report status.
type pipeline struct {
	pipelineOptions
	observe func(time.Duration)
	// connected lists the keys with a connected node (the xDS server's).
	connected func() []cache.Key
	// stamp, when set, stamps the conditions' transition times of each new
	// status before it is published (file provider).
	stamp func(*status.Report)
	// rejections lists what connected proxies rejected (the xDS server's);
	// nacks wakes the pipeline when that changed (serve_nack.go).
	rejections func() []server.Rejection
	nacks      chan struct{}
	// base is the last translated status before markRejected; only the
	// pipeline goroutine uses it.
	base *status.Report
	keys chan cache.Key
	gone chan cache.Key
	done chan struct{}
	// built is the proxy each key's snapshot was last built from; only the
	// pipeline goroutine uses it.
	built map[cache.Key]*ir.Proxy

	mu          sync.Mutex
	result      *translate.Result
	set         *resource.Set
	diagnostics []string
	flavors     map[string]map[string]bool // group -> flavors built
	ready       bool
	lastChange  time.Time
}

func newPipeline(o pipelineOptions) *pipeline {
	return &pipeline{pipelineOptions: o, keys: make(chan cache.Key, 64), gone: make(chan cache.Key, 64), done: make(chan struct{}),
		nacks: make(chan struct{}, 1), flavors: map[string]map[string]bool{}, built: map[cache.Key]*ir.Proxy{}}
}

// needKey asks for a flavor of a group to be built (a node of a new key
// connected). Safe from any goroutine.
func (p *pipeline) needKey(k cache.Key) {
	select {
	case p.keys <- k:
	default:
		go func() { p.keys <- k }()
	}
}

// keyGone reports that the last node of a key left, so that its group is
// freed (keyGone.go). Safe from any goroutine.
func (p *pipeline) keyGone(k cache.Key) {
	select {
	case p.gone <- k:
	default:
		go func() { p.gone <- k }()
	}
}

func (p *pipeline) wait() { <-p.done }

// run processes batches until ctx ends.
func (p *pipeline) run(ctx context.Context, events <-chan providerEvent) {
	defer close(p.done)
	batches := make(chan providerEvent)
	go debounce(ctx, events, batches, quietWindow, maxDelay)
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-batches:
			if !ok {
				return
			}
			p.process(ctx, b)
		case k := <-p.keys:
			p.addKey(k)
		case k := <-p.gone:
			p.dropKey(k)
		case <-p.nacks:
			p.republish(ctx)
		}
	}
}

func (p *pipeline) process(ctx context.Context, b providerEvent) {
	start := time.Now()
	p.mu.Lock()
	prev, prevSet := p.result, p.set
	p.mu.Unlock()
	if b.EndpointsOnly && prev != nil && !meshEndpointsChanged(prevSet, b.Set) {
		p.finish(b, p.refreshEndpoints(b, prev), start)
		return
	}
	res := translate.Translate(b.Set, translate.Options{ControllerName: p.controllerName})
	res = p.withMesh(b.Set, res) // serve_mesh.go
	live := map[string]bool{}
	for _, px := range res.Proxies {
		live[px.Name] = true
		for _, f := range p.flavorsOf(px.Name) {
			if reason, err := p.build(px, f, b.ChangedAt); err != nil {
				programmed.Mark(res.Status, px.Name, reason, err.Error())
			}
		}
	}
	p.base = cloneGateways(res.Status)
	p.markRejected(res.Status)
	if p.stamp != nil { // after the builds and NACKs, which may turn Programmed False
		p.stamp(res.Status)
	}
	for _, k := range p.cache.Keys() {
		switch {
		case live[k.Group]:
		case p.wanted(k):
			// The Gateway is gone: its nodes get an empty configuration.
			p.setSnapshot(k, map[string][]types.Resource{}, b.ChangedAt)
			delete(p.built, k)
		default:
			// Nobody is connected to it any more: free it.
			p.cache.Delete(k)
			delete(p.built, k)
		}
	}
	p.emptyForUnknown(live, b.ChangedAt)
	p.finish(b, res, start)
	if p.sink != nil {
		p.sink(ctx, res)
	}
}

func (p *pipeline) finish(b providerEvent, res *translate.Result, start time.Time) {
	if p.observe != nil {
		p.observe(time.Since(start))
	}
	p.mu.Lock()
	p.result, p.set, p.diagnostics, p.ready, p.lastChange = res, b.Set, b.Diagnostics, true, b.ChangedAt
	p.mu.Unlock()
}

// refreshEndpoints is the EndpointSlice fast path: recompute endpoints of
// every proxy and push only EDS.
func (p *pipeline) refreshEndpoints(b providerEvent, prev *translate.Result) *translate.Result {
	next := &translate.Result{Status: prev.Status, Proxies: make([]*ir.Proxy, len(prev.Proxies))}
	for i, px := range prev.Proxies {
		fresh := translate.RefreshEndpoints(b.Set, px)
		next.Proxies[i] = fresh
		for _, f := range p.flavorsOf(px.Name) {
			out, err := envoy.Build(fresh, envoy.Options{Flavor: envoy.Flavor(f)})
			if err != nil {
				p.log.Error("building endpoints failed; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
				continue
			}
			k := cache.Key{Group: px.Name, Flavor: f}
			if err := p.cache.SetEndpoints(k, out.Endpoints, cache.SetOptions{ChangedAt: b.ChangedAt}); err != nil {
				p.log.Error("endpoint update refused; keeping the previous configuration", "group", px.Name, "flavor", f, "error", err)
				continue
			}
			p.built[k] = fresh
		}
	}
	return next
}

// flavorsOf lists the flavors to build for a group: always Envoy, plus any
// flavor a connected node asked for.
func (p *pipeline) flavorsOf(group string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []string{cache.FlavorEnvoy}
	for f := range p.flavors[group] {
		if f != cache.FlavorEnvoy {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// addKey builds a newly needed flavor of a group at once, from the last
// result. A group the result does not cover still gets an answer now: a mesh
// group of a namespace the inputs know nothing about is translated for that
// namespace (and joins the result); any other group gets an empty, valid
// configuration. Before the first translation, process does this.
func (p *pipeline) addKey(k cache.Key) {
	p.mu.Lock()
	if p.flavors[k.Group] == nil {
		p.flavors[k.Group] = map[string]bool{}
	}
	known := p.flavors[k.Group][k.Flavor]
	p.flavors[k.Group][k.Flavor] = true
	res, set := p.result, p.set
	p.mu.Unlock()
	if known || res == nil {
		return
	}
	now := time.Now()
	for _, px := range res.Proxies {
		if px.Name == k.Group {
			p.build(px, k.Flavor, now)
			return
		}
	}
	if px := p.meshProxy(set, k.Group); px != nil {
		p.mu.Lock()
		p.result = withProxy(p.result, px)
		p.mu.Unlock()
		for _, f := range p.flavorsOf(px.Name) {
			p.build(px, f, now)
		}
		return
	}
	p.setSnapshot(k, map[string][]types.Resource{}, now)
}

// emptyForUnknown gives every key a connected node asked for whose group is
// not in live, and that has no snapshot yet, an empty configuration.
func (p *pipeline) emptyForUnknown(live map[string]bool, changedAt time.Time) {
	have := map[cache.Key]bool{}
	for _, k := range p.cache.Keys() {
		have[k] = true
	}
	p.mu.Lock()
	var keys []cache.Key
	for g, fs := range p.flavors {
		for f := range fs {
			if k := (cache.Key{Group: g, Flavor: f}); !live[g] && !have[k] {
				keys = append(keys, k)
			}
		}
	}
	p.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Group < keys[j].Group || keys[i].Group == keys[j].Group && keys[i].Flavor < keys[j].Flavor
	})
	for _, k := range keys {
		p.setSnapshot(k, map[string][]types.Resource{}, changedAt)
	}
}

// build turns px into the snapshot of one flavor. A proxy equal to the one
// last built for that key is skipped: a change elsewhere costs nothing here.
// A configuration that cannot be served (build, validation, message size,
// or the cache refusing it) returns the Programmed=False reason and why; the
// key keeps its previous snapshot.
func (p *pipeline) build(px *ir.Proxy, flavor string, changedAt time.Time) (gwapiv1.GatewayConditionReason, error) {
	k := cache.Key{Group: px.Name, Flavor: flavor}
	if prev, ok := p.built[k]; ok && reflect.DeepEqual(prev, px) {
		return "", nil
	}
	out, err := programmed.Build(px, envoy.Flavor(flavor))
	if err != nil {
		p.log.Error("building xDS failed; keeping the previous configuration", "group", px.Name, "flavor", flavor, "error", err)
		return programmed.Reason(err), err
	}
	if err := p.setSnapshot(k, out.ByType(), changedAt); err != nil {
		return programmed.ReasonNotServed, err
	}
	p.built[k] = px
	return "", nil
}

func (p *pipeline) setSnapshot(k cache.Key, byType map[string][]types.Resource, changedAt time.Time) error {
	if err := p.cache.SetSnapshot(k, byType, cache.SetOptions{ChangedAt: changedAt}); err != nil {
		p.log.Error("snapshot refused; keeping the previous configuration", "group", k.Group, "flavor", k.Flavor, "error", err)
		return fmt.Errorf("snapshot of %s (%s) refused: %w", k.Group, k.Flavor, err)
	}
	return nil
}

// state returns the last result, its diagnostics and readiness.
func (p *pipeline) state() (*translate.Result, []string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result, p.diagnostics, p.ready
}
