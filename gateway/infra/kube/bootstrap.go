package kube

import (
	"encoding/json"
	"fmt"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// bootstrapOptions are the inputs of an Envoy bootstrap.
type bootstrapOptions struct {
	// Cluster is node.cluster: "gateway/<ns>/<name>". node.id comes from
	// the pod name (--service-node).
	Cluster  string
	XDSHost  string
	XDSPort  int
	XDSName  string // name of the xDS cluster
	AdminSrc string // name of the admin cluster
}

// Bootstrap returns the Envoy bootstrap (JSON, which Envoy reads as YAML)
// for a Gateway's fleet: ADS to Gantry (over TLS with the fleet's
// certificate when tls is set, see FleetIdentity), the admin API on
// 127.0.0.1 only, two static listeners that proxy exactly GET
// /stats/prometheus and GET /ready to it, the RE2 limit translation checks
// regexes against, and an overload manager enforcing limits.
func Bootstrap(cluster, xdsAddress string, tls bool, limits bootstrap.Limits) (string, error) {
	host, port, err := splitHostPort(xdsAddress)
	if err != nil {
		return "", err
	}
	o := bootstrapOptions{Cluster: cluster, XDSHost: host, XDSPort: port, XDSName: "gantry-xds", AdminSrc: "envoy-admin"}
	xds := staticCluster(o.XDSName, "STRICT_DNS", o.XDSHost, o.XDSPort, true)
	if tls {
		ts, err := xdsTransportSocket(host)
		if err != nil {
			return "", err
		}
		xds["transport_socket"] = ts
	}
	b := map[string]any{
		"node":  map[string]any{"cluster": o.Cluster},
		"admin": map[string]any{"address": socketAddress("127.0.0.1", AdminPort)},
		"dynamic_resources": map[string]any{
			"ads_config": map[string]any{
				"api_type":                       "GRPC",
				"transport_api_version":          "V3",
				"set_node_on_first_message_only": true,
				"grpc_services":                  []any{map[string]any{"envoy_grpc": map[string]any{"cluster_name": o.XDSName}}},
			},
			"lds_config": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
			"cds_config": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
		},
		"static_resources": map[string]any{
			"clusters": []any{
				xds,
				staticCluster(o.AdminSrc, "STATIC", "127.0.0.1", AdminPort, false),
			},
			"listeners": []any{
				adminProxyListener("prometheus", MetricsPort, "/stats/prometheus", o.AdminSrc),
				adminProxyListener("ready", ReadyPort, "/ready", o.AdminSrc),
			},
		},
	}
	hardening, err := bootstrap.HardeningJSON(limits)
	if err != nil {
		return "", err
	}
	for k, v := range hardening {
		b[k] = v
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return string(out) + "\n", nil
}

func socketAddress(host string, port int) map[string]any {
	return map[string]any{"socket_address": map[string]any{"address": host, "port_value": port}}
}

func staticCluster(name, typ, host string, port int, http2 bool) map[string]any {
	c := map[string]any{
		"name":            name,
		"type":            typ,
		"connect_timeout": "5s",
		"load_assignment": map[string]any{
			"cluster_name": name,
			"endpoints": []any{map[string]any{"lb_endpoints": []any{
				map[string]any{"endpoint": map[string]any{"address": socketAddress(host, port)}},
			}}},
		},
	}
	if http2 {
		c["typed_extension_protocol_options"] = map[string]any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
				"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
				"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}},
			},
		}
	}
	return c
}

// adminProxyListener listens on all addresses and forwards exactly
// "GET <path>" to the admin cluster; everything else gets a 404.
func adminProxyListener(name string, port int, path, adminCluster string) map[string]any {
	hcm := map[string]any{
		"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
		"stat_prefix": name,
		"route_config": map[string]any{
			"name": name,
			"virtual_hosts": []any{map[string]any{
				"name":    name,
				"domains": []any{"*"},
				"routes": []any{
					map[string]any{
						"match": map[string]any{
							"path":    path,
							"headers": []any{map[string]any{"name": ":method", "string_match": map[string]any{"exact": "GET"}}},
						},
						"route": map[string]any{"cluster": adminCluster},
					},
					map[string]any{
						"match":           map[string]any{"prefix": "/"},
						"direct_response": map[string]any{"status": 404},
					},
				},
			}},
		},
		"http_filters": []any{map[string]any{
			"name":         "envoy.filters.http.router",
			"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
		}},
	}
	return map[string]any{
		"name":    name,
		"address": socketAddress("0.0.0.0", port),
		"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
			"name":         "envoy.filters.network.http_connection_manager",
			"typed_config": hcm,
		}}}},
	}
}
