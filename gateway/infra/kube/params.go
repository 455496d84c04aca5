package kube

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/gateway/infra/params"
)

// Defaults for the Envoy fleet; every one can be changed by a controller
// flag (Options) and per class or Gateway by a parameters ConfigMap (see
// gateway/infra/params, shared with translation, which reports bad ones).
const (
	DefaultEnvoyImage        = params.DefaultEnvoyImage
	DefaultXDSServiceAddress = "gantry.gantry-system.svc:18000"
	DefaultReplicas          = params.DefaultReplicas

	AdminPort   = params.AdminPort   // Envoy admin, bound to 127.0.0.1 inside the pod only
	MetricsPort = params.MetricsPort // proxies GET /stats/prometheus only
	ReadyPort   = params.ReadyPort   // proxies GET /ready only
)

// Params are the tunables of one Gateway's fleet.
type Params = params.Params

// DefaultParams are the built-in defaults.
func DefaultParams() Params { return params.Default() }

// Parameter ConfigMap keys (GatewayClass spec.parametersRef, or a Gateway's
// spec.infrastructure.parametersRef; the Gateway's win).
const (
	KeyEnvoyImage            = params.KeyEnvoyImage
	KeyReplicas              = params.KeyReplicas
	KeyServiceType           = params.KeyServiceType
	KeyServiceAnnotations    = params.KeyServiceAnnotations
	KeyExternalTrafficPolicy = params.KeyExternalTrafficPolicy
	KeyLoadBalancerClass     = params.KeyLoadBalancerClass
	KeyDrainSeconds          = params.KeyDrainSeconds
)

// fleetLimits are the overload manager's limits for a fleet: the
// connection limit of its parameters, and a heap of 90% of its container's
// memory limit (none without one).
func fleetLimits(p Params) bootstrap.Limits {
	l := bootstrap.Limits{MaxDownstreamConnections: p.Edge.MaxDownstreamConnections}
	if mem, ok := p.Resources.Limits[corev1.ResourceMemory]; ok && mem.Value() > 0 {
		l.MaxHeapBytes = uint64(mem.Value()) / 10 * 9
	}
	return l
}

// splitHostPort parses the xDS service address.
func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("xds service address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 || host == "" {
		return "", 0, fmt.Errorf("xds service address %q: want host:port", addr)
	}
	return host, n, nil
}
