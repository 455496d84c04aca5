package loop

import (
	"slices"
	"sort"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/ir"
)

// NeedKey asks for a flavor of a group to be built (a node of a new key
// connected). Safe from any goroutine.
func (l *Loop) NeedKey(k cache.Key) {
	select {
	case l.keys <- k:
	default:
		go func() { l.keys <- k }()
	}
}

// KeyGone reports that the last node of a key left, so that its group is
// freed. Safe from any goroutine.
func (l *Loop) KeyGone(k cache.Key) {
	select {
	case l.gone <- k:
	default:
		go func() { l.gone <- k }()
	}
}

// addKey builds a newly needed flavor of a group at once, from the last
// result. A group the result does not cover still gets an answer now: a mesh
// group of a namespace with no group yet is translated for that namespace
// (and joins the result); any other group gets an empty, valid
// configuration. Before the first translation, process does this.
func (l *Loop) addKey(k cache.Key) {
	l.mu.Lock()
	if l.flavors[k.Group] == nil {
		l.flavors[k.Group] = map[string]bool{}
	}
	known := l.flavors[k.Group][k.Flavor]
	l.flavors[k.Group][k.Flavor] = true
	res, set := l.result, l.set
	l.mu.Unlock()
	if known || res == nil {
		return
	}
	now := time.Now()
	for _, px := range res.Proxies {
		if px.Name == k.Group {
			l.build(px, k.Flavor, now)
			return
		}
	}
	if px := l.meshProxy(set, k.Group); px != nil {
		l.mu.Lock()
		l.result = withProxy(l.result, px)
		l.mu.Unlock()
		for _, f := range l.flavorsOf(px.Name) {
			l.build(px, f, now)
		}
		return
	}
	l.setSnapshot(k, map[string][]types.Resource{}, now)
}

// emptyForUnknown gives every key a connected node asked for whose group is
// not in live, and that has no snapshot yet, an empty configuration.
func (l *Loop) emptyForUnknown(live map[string]bool, changedAt time.Time) {
	have := map[cache.Key]bool{}
	for _, k := range l.opts.Cache.Keys() {
		have[k] = true
	}
	l.mu.Lock()
	var keys []cache.Key
	for g, fs := range l.flavors {
		for f := range fs {
			if k := (cache.Key{Group: g, Flavor: f}); !live[g] && !have[k] {
				keys = append(keys, k)
			}
		}
	}
	l.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].Group < keys[j].Group || keys[i].Group == keys[j].Group && keys[i].Flavor < keys[j].Flavor
	})
	for _, k := range keys {
		l.setSnapshot(k, map[string][]types.Resource{}, changedAt)
	}
}

// wanted reports whether a connected node asked for k.
func (l *Loop) wanted(k cache.Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flavors[k.Group][k.Flavor]
}

// dropKey frees a key whose last node left: it is no longer built, and its
// snapshot is deleted unless it is the Envoy flavor of a group the inputs
// define (built anyway). A node that connected again meanwhile keeps it.
// Groups therefore exist only while an authorized node holds them: made-up
// groups do not accumulate.
func (l *Loop) dropKey(k cache.Key) {
	if l.srv != nil && slices.Contains(l.srv.ConnectedKeys(), k) {
		return
	}
	l.mu.Lock()
	delete(l.flavors[k.Group], k.Flavor)
	if len(l.flavors[k.Group]) == 0 {
		delete(l.flavors, k.Group)
	}
	live := false
	if l.result != nil {
		live = slices.ContainsFunc(l.result.Proxies, func(px *ir.Proxy) bool { return px.Name == k.Group })
	}
	l.mu.Unlock()
	if live && k.Flavor == cache.FlavorEnvoy {
		return
	}
	l.opts.Cache.Delete(k)
	delete(l.built, k)
}
