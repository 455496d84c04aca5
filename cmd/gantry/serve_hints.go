package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// trafficHints is a file provider sink that says, for each Gateway group,
// whether an Envoy was started on this host and how to send it a request:
// curl through that Envoy, or gantry probe through the group's xDS routing
// when no Envoy runs. It logs again only when that advice changes.
func trafficHints(o *serveOptions, h *hostInfra, log *slog.Logger) statusSink {
	var mu sync.Mutex
	last := ""
	return func(_ context.Context, res *translate.Result) {
		if res == nil {
			return
		}
		lines := hintLines(res.Proxies, h.envoyRuns(), o.xdsAddress)
		key := strings.Join(lines, "\n")
		mu.Lock()
		defer mu.Unlock()
		if key == last {
			return
		}
		last = key
		for _, l := range lines {
			log.Info(l)
		}
	}
}

func hintLines(proxies []*ir.Proxy, envoy bool, xdsAddress string) []string {
	var lines []string
	for _, p := range proxies {
		if !strings.HasPrefix(p.Name, "gateway/") {
			continue
		}
		host, port, path, ok := exampleRequest(p)
		switch {
		case envoy && ok:
			lines = append(lines, fmt.Sprintf("Envoy started for %s; send a request: curl -H 'Host: %s' http://127.0.0.1:%d%s", p.Name, host, port, path))
		case envoy:
			lines = append(lines, fmt.Sprintf("Envoy started for %s", p.Name))
		case ok:
			lines = append(lines, fmt.Sprintf("no Envoy runs for %s on this host (nothing listens on its ports); send a request through its routing: gantry probe %s:%d%s --group %s --xds-address %s",
				p.Name, host, port, path, p.Name, dialableAddress(xdsAddress)))
		default:
			lines = append(lines, fmt.Sprintf("no Envoy runs for %s on this host (nothing listens on its ports)", p.Name))
		}
	}
	return lines
}

// exampleRequest is a host name, port and path a request to the proxy can
// use: the first route of the first named virtual host of its first HTTP
// listener.
func exampleRequest(p *ir.Proxy) (string, uint32, string, bool) {
	for _, l := range p.Listeners {
		if l.Protocol != ir.ProtocolHTTP || l.API {
			continue
		}
		for _, fc := range l.FilterChains {
			if fc.HTTP == nil {
				continue
			}
			for _, rc := range p.RouteConfigs {
				if rc.Name != fc.HTTP.RouteConfigName {
					continue
				}
				for vh := range rc.VirtualHosts.Values() {
					for _, d := range vh.Domains {
						if !strings.Contains(d, "*") && len(vh.Routes) > 0 {
							return d, l.Port, examplePath(vh.Routes[0].Match), true
						}
					}
				}
			}
		}
	}
	return "", 0, "", false
}

// examplePath is a path the match accepts (the regex case falls back to /).
func examplePath(m ir.RouteMatch) string {
	if m.PathType == ir.PathRegex || !strings.HasPrefix(m.Path, "/") {
		return "/"
	}
	return m.Path
}

// dialableAddress turns ":18000" into "127.0.0.1:18000" (a port picked
// at random, ":0", is shown as a placeholder).
func dialableAddress(addr string) string {
	if strings.HasSuffix(addr, ":0") {
		return "<xDS address>"
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// envoyRuns reports whether host infra starts Envoy processes (false for a
// nil hostInfra: host infra off).
func (h *hostInfra) envoyRuns() bool {
	if h == nil {
		return false
	}
	_, err := h.m.Available()
	return err == nil
}

// noEnvoyMessage is the Programmed condition of a Gateway no Envoy on this
// host serves (file provider).
const noEnvoyMessage = "no Envoy runs for this Gateway on this host, so nothing listens on its listener ports; " +
	"its configuration is served over xDS to the node group gateway/<namespace>/<name> " +
	"(an Envoy started with gantry bootstrap, or gantry probe)"

// markNotListening sets Programmed=False on every accepted Gateway of r
// and its listeners when no Envoy is started on this host: status says
// what the standalone control plane did, not that traffic is served.
func markNotListening(r *status.Report) {
	for i := range r.Gateways {
		g := &r.Gateways[i]
		for j, c := range g.Status.Conditions {
			if c.Type == string(gwapiv1.GatewayConditionProgrammed) && c.Status == metav1.ConditionTrue {
				g.Status.Conditions[j].Status = metav1.ConditionFalse
				g.Status.Conditions[j].Reason = string(gwapiv1.GatewayReasonNoResources)
				g.Status.Conditions[j].Message = noEnvoyMessage
			}
		}
		for l := range g.Status.Listeners {
			conds := g.Status.Listeners[l].Conditions
			for j, c := range conds {
				if c.Type == string(gwapiv1.ListenerConditionProgrammed) && c.Status == metav1.ConditionTrue {
					conds[j].Status = metav1.ConditionFalse
					conds[j].Reason = string(gwapiv1.ListenerReasonPending)
					conds[j].Message = noEnvoyMessage
				}
			}
		}
	}
}
