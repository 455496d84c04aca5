package loop

import (
	"context"
	"slices"
	"strings"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// NACKChanged reports that the rejections of a group changed (the xDS
// server's OnNACKChange). Safe from any goroutine; changes merge.
func (l *Loop) NACKChanged(string) {
	select {
	case l.nacks <- struct{}{}:
	default:
	}
}

// markRejected sets Programmed=False on each Gateway one of whose
// connected proxies rejected the configuration it was sent, naming the
// first such proxy, type and error.
func (l *Loop) markRejected(rep *status.Report) {
	if l.srv == nil {
		return
	}
	rs := l.srv.Rejections()
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j].Group == rs[i].Group {
			j++
		}
		r := rs[i]
		programmed.Rejected(rep, r.Group, r.Node, typeName(r.TypeURL), r.Error, j-i-1)
		i = j
	}
}

// republish publishes the last status again with the current rejections,
// without translating: a proxy's NACK or its later ACK changes Programmed.
func (l *Loop) republish(ctx context.Context) {
	l.mu.Lock()
	prev := l.result
	l.mu.Unlock()
	if prev == nil || l.base == nil {
		return
	}
	rep := cloneGateways(l.base)
	l.markRejected(rep)
	if l.opts.Stamp != nil {
		l.opts.Stamp(rep)
	}
	res := &translate.Result{Status: rep, Proxies: prev.Proxies}
	l.mu.Lock()
	l.result = res
	l.mu.Unlock()
	if l.opts.Sink != nil {
		l.opts.Sink(ctx, res)
	}
}

// cloneGateways copies rep deeply enough that marking its Gateways and
// listeners changes nothing in rep.
func cloneGateways(rep *status.Report) *status.Report {
	out := *rep
	out.Gateways = slices.Clone(rep.Gateways)
	for i := range out.Gateways {
		g := &out.Gateways[i].Status
		g.Conditions = slices.Clone(g.Conditions)
		g.Listeners = slices.Clone(g.Listeners)
		for j := range g.Listeners {
			g.Listeners[j].Conditions = slices.Clone(g.Listeners[j].Conditions)
		}
	}
	return &out
}

// typeName is the last part of a type URL ("RouteConfiguration").
func typeName(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
