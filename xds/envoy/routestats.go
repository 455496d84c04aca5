package envoy

import "strings"

// Route statistics (Envoy flavor). A route with a stat_prefix gets Envoy's
// per-route stats, vhost.<virtual host>.route.<stat prefix>.upstream_rq_*,
// which /stats/prometheus renders as envoy_vhost_route_upstream_rq_* with
// the labels envoy_virtual_host and envoy_route. Envoy's tag extractors take
// each of the two names as one dot-separated token, so both are made
// dot-free here. grpc-go ignores stat_prefix and has no such stats, so the
// gRPC flavor keeps its names and gets none.

// statToken makes name one token of an Envoy stat name: '.' separates
// tokens and ':' is reserved by some stats sinks, so both become '_'.
// Gateway API and Kubernetes names allow neither '_' nor ':', so distinct
// names stay distinct.
var statToken = strings.NewReplacer(".", "_", ":", "_").Replace

// routeStatPrefix is the stat prefix of a forwarding route: its name
// without the "/match/<j>" suffix, so all matches of one rule share
// "<namespace>/<route>/rule/<i>" (".../grpc/rule/<i>" for a GRPCRoute).
// There is one prefix per configured rule and virtual host, whatever the
// traffic: the stats stay bounded by the configuration.
func routeStatPrefix(name string) string {
	if i := strings.LastIndex(name, "/match/"); i > 0 {
		name = name[:i]
	}
	return statToken(name)
}
