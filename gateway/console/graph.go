package console

import (
	"fmt"
	"slices"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/xds/ir"
)

// parentRef is "Kind ns/name[/section][:port]"; the namespace defaults to
// the route's.
func parentRef(r gwapiv1.ParentReference, routeNS string) string {
	kind, ns := "Gateway", routeNS
	if r.Kind != nil {
		kind = string(*r.Kind)
	}
	if r.Namespace != nil {
		ns = string(*r.Namespace)
	}
	s := kind + " " + ns + "/" + string(r.Name)
	if r.SectionName != nil {
		s += "/" + string(*r.SectionName)
	}
	if r.Port != nil {
		s += fmt.Sprintf(":%d", *r.Port)
	}
	return s
}

// graphGateway is one Gateway's fleet: its listeners, the routes each
// serves, their backends and endpoints.
type graphGateway struct {
	Name      string
	Listeners []graphListener
}

type graphListener struct {
	Name, Protocol string
	Port           uint32
	Routes         []graphRoute
}

// graphRoute is one source route (all its rules and matches) on one
// listener.
type graphRoute struct {
	Source   string // "HTTPRoute default/web"
	Hosts    []string
	Backends []graphBackend
}

type graphBackend struct {
	Cluster   string
	Invalid   bool
	Endpoints []ir.Endpoint
}

// meshService is one Service port of the mesh and the routes that apply
// to it.
type meshService struct {
	Name   string
	Routes []graphRoute
}

// edgeGraph builds the graph of every Gateway proxy.
func edgeGraph(proxies []*ir.Proxy) []graphGateway {
	var out []graphGateway
	for _, p := range proxies {
		name, ok := strings.CutPrefix(p.Name, "gateway/")
		if !ok {
			continue
		}
		g := graphGateway{Name: name}
		rcs, clusters := index(p)
		for _, l := range p.Listeners {
			if l == nil || l.API {
				continue
			}
			gl := graphListener{Name: l.Name, Protocol: string(l.Protocol), Port: l.Port}
			for _, fc := range l.FilterChains {
				switch {
				case fc == nil:
				case fc.HTTP != nil:
					gl.Routes = mergeRoutes(gl.Routes, routesOf(rcs[fc.HTTP.RouteConfigName], clusters))
				case fc.TCP != nil:
					gl.Routes = mergeRoutes(gl.Routes, []graphRoute{{Source: "TCP " + fc.Name, Hosts: fc.ServerNames, Backends: backends(fc.TCP.Backends, clusters)}})
				}
			}
			if l.UDP != nil {
				gl.Routes = append(gl.Routes, graphRoute{Source: "UDP " + l.Name, Backends: backends(l.UDP.Backends, clusters)})
			}
			g.Listeners = append(g.Listeners, gl)
		}
		out = append(out, g)
	}
	return out
}

// meshGraph lists each mesh Service port once (as the first mesh group
// that has it sees it) with its routes; a port that only has its default
// route is left out.
func meshGraph(proxies []*ir.Proxy) []meshService {
	seen := map[string]bool{}
	var out []meshService
	for _, p := range proxies {
		if !strings.HasPrefix(p.Name, "mesh/") {
			continue
		}
		_, clusters := index(p)
		for _, rc := range p.RouteConfigs {
			if rc == nil || seen[rc.Name] {
				continue
			}
			seen[rc.Name] = true
			routes := routesOf(rc, clusters)
			if len(routes) == 1 && strings.HasPrefix(routes[0].Source, "Service ") {
				continue
			}
			out = append(out, meshService{Name: rc.Name, Routes: routes})
		}
	}
	slices.SortFunc(out, func(a, b meshService) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func index(p *ir.Proxy) (map[string]*ir.RouteConfig, map[string]*ir.Cluster) {
	rcs := map[string]*ir.RouteConfig{}
	for _, rc := range p.RouteConfigs {
		if rc != nil {
			rcs[rc.Name] = rc
		}
	}
	clusters := map[string]*ir.Cluster{}
	for c := range p.Clusters.Values() {
		if c != nil {
			clusters[c.Name] = c
		}
	}
	return rcs, clusters
}

// routesOf groups the routes of a route configuration by the object they
// come from (metadata kind, namespace, name), in first-seen order.
func routesOf(rc *ir.RouteConfig, clusters map[string]*ir.Cluster) []graphRoute {
	if rc == nil {
		return nil
	}
	var out []graphRoute
	for vh := range rc.VirtualHosts.Values() {
		if vh == nil {
			continue
		}
		for _, r := range vh.Routes {
			if r == nil {
				continue
			}
			gr := graphRoute{Source: source(r), Hosts: vh.Domains}
			switch {
			case r.Forward != nil:
				gr.Backends = backends(r.Forward.Backends, clusters)
			case r.Redirect != nil:
				gr.Backends = []graphBackend{{Cluster: fmt.Sprintf("redirect %d", r.Redirect.StatusCode)}}
			case r.DirectResponse != nil:
				gr.Backends = []graphBackend{{Cluster: fmt.Sprintf("direct response %d", r.DirectResponse.Status)}}
			}
			out = mergeRoutes(out, []graphRoute{gr})
		}
	}
	return out
}

func source(r *ir.Route) string {
	if k := r.Metadata["kind"]; k != "" {
		return k + " " + r.Metadata["namespace"] + "/" + r.Metadata["name"]
	}
	return r.Name
}

func backends(in []ir.WeightedCluster, clusters map[string]*ir.Cluster) []graphBackend {
	var out []graphBackend
	for _, b := range in {
		if b.Cluster == "" {
			out = append(out, graphBackend{Cluster: fmt.Sprintf("unresolved backend (answers %d)", b.InvalidStatus), Invalid: true})
			continue
		}
		gb := graphBackend{Cluster: b.Cluster}
		if c := clusters[b.Cluster]; c != nil {
			gb.Endpoints = c.Endpoints
		}
		out = append(out, gb)
	}
	return out
}

// mergeRoutes adds routes to list, joining entries of the same source
// (hosts and backends without repeats).
func mergeRoutes(list, routes []graphRoute) []graphRoute {
	for _, r := range routes {
		i := slices.IndexFunc(list, func(x graphRoute) bool { return x.Source == r.Source })
		if i < 0 {
			list = append(list, graphRoute{Source: r.Source, Hosts: slices.Clone(r.Hosts), Backends: slices.Clone(r.Backends)})
			continue
		}
		for _, h := range r.Hosts {
			if !slices.Contains(list[i].Hosts, h) {
				list[i].Hosts = append(list[i].Hosts, h)
			}
		}
		for _, b := range r.Backends {
			if !slices.ContainsFunc(list[i].Backends, func(x graphBackend) bool { return x.Cluster == b.Cluster }) {
				list[i].Backends = append(list[i].Backends, b)
			}
		}
	}
	return list
}
