package main

import (
	"context"
	"slices"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// nackChanged reports that the rejections of a group changed (the xDS
// server's OnNACKChange). Safe from any goroutine; changes merge.
func (p *pipeline) nackChanged(string) {
	select {
	case p.nacks <- struct{}{}:
	default:
	}
}

// markRejected sets Programmed=False on each Gateway one of whose
// connected proxies rejected the configuration it was sent, naming the
// first such proxy, type and error.
func (p *pipeline) markRejected(rep *status.Report) {
	if p.rejections == nil {
		return
	}
	rs := p.rejections()
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
func (p *pipeline) republish(ctx context.Context) {
	p.mu.Lock()
	prev := p.result
	p.mu.Unlock()
	if prev == nil || p.base == nil {
		return
	}
	rep := cloneGateways(p.base)
	p.markRejected(rep)
	if p.stamp != nil {
		p.stamp(rep)
	}
	res := &translate.Result{Status: rep, Proxies: prev.Proxies}
	p.mu.Lock()
	p.result = res
	p.mu.Unlock()
	if p.sink != nil {
		p.sink(ctx, res)
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
