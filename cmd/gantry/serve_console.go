package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/console"
	"github.com/gantryproxy/gantry/xds/server"
)

// consoleHandler serves the read-only console (gateway/console) on the
// admin address: the same state as /status and /proxies, plus the
// analyzer's findings on the current inputs.
func consoleHandler(cp *controlPlane) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		in := cp.consoleInput()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		if err := console.Render(w, in); err != nil {
			cp.log.Warn("console", "error", err)
		}
	}
}

// consoleInput gathers the console's state.
func (cp *controlPlane) consoleInput() console.Input {
	v := cp.loop.State()
	res, set, diags, ready := v.Result, v.Set, v.Diagnostics, v.Ready
	in := console.Input{Ready: ready, Diagnostics: diags, Now: time.Now()}
	if res != nil {
		in.Status, in.Proxies = res.Status, res.Proxies
	}
	for _, p := range cp.xds.Proxies() {
		in.Connected = append(in.Connected, connectedProxy(p))
	}
	if cp.hostEnvoys != nil {
		for _, e := range cp.hostEnvoys() {
			in.HostEnvoys = append(in.HostEnvoys, console.HostEnvoy{Group: e.Group, PID: e.PID, Starts: e.Starts, Running: e.Running,
				LastExit: e.LastExit, AdminAddress: e.AdminAddress, StatsAddress: e.StatsAddress})
		}
	}
	if set != nil {
		msgs, err := analyze.Analyze(set, analyze.Options{ControllerName: cp.controllerName})
		if err != nil {
			in.Diagnostics = append(in.Diagnostics, "analyze: "+err.Error())
		}
		for _, m := range msgs {
			f := console.Finding{Level: m.Level.String(), Code: string(m.Code), Object: m.Kind + " " + m.ObjectName(), Message: m.Message}
			if m.File != "" {
				f.Location = fmt.Sprintf("%s:%d", m.File, m.Line)
			}
			in.Findings = append(in.Findings, f)
		}
	}
	return in
}

func connectedProxy(p server.Proxy) console.ConnectedProxy {
	out := console.ConnectedProxy{ID: p.ID, Group: p.Group, Flavor: p.Flavor, Protocol: p.Protocol, Since: p.ConnectedSince}
	for _, t := range p.Types {
		pt := console.ProxyType{Type: t.TypeURL, Sent: t.Sent, Acked: t.Acked, State: t.State}
		if t.NACK != nil {
			pt.NACKError, pt.NACKAt, pt.NACKCount = t.NACK.Error, t.NACK.At, t.NACK.Count
		}
		out.Types = append(out.Types, pt)
	}
	return out
}
