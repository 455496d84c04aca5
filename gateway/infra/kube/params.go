package kube

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// Defaults for the Envoy fleet; every one can be changed by a controller
// flag (Options) and per class or Gateway by a parameters ConfigMap.
const (
	DefaultEnvoyImage        = "docker.io/envoyproxy/envoy:distroless-v1.40.0"
	DefaultXDSServiceAddress = "gantry.gantry-system.svc:18000"
	DefaultReplicas          = 2

	AdminPort   = 19000 // Envoy admin, bound to 127.0.0.1 inside the pod only
	MetricsPort = 19001 // proxies GET /stats/prometheus only
	ReadyPort   = 19003 // proxies GET /ready only
)

// Params are the tunables of one Gateway's fleet.
type Params struct {
	EnvoyImage            string
	Replicas              int32
	ServiceType           corev1.ServiceType
	ServiceAnnotations    map[string]string
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy
	LoadBalancerClass     string
	Resources             corev1.ResourceRequirements
	// DrainSeconds is how long Envoy drains connections on termination.
	DrainSeconds int64
}

// DefaultParams are the built-in defaults.
func DefaultParams() Params {
	return Params{
		EnvoyImage:  DefaultEnvoyImage,
		Replicas:    DefaultReplicas,
		ServiceType: corev1.ServiceTypeLoadBalancer,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		DrainSeconds: 15,
	}
}

// Parameter ConfigMap keys (GatewayClass spec.parametersRef, or a Gateway's
// spec.infrastructure.parametersRef; the Gateway's win).
const (
	KeyEnvoyImage            = "envoyImage"
	KeyReplicas              = "replicas"
	KeyServiceType           = "serviceType"
	KeyServiceAnnotations    = "serviceAnnotations" // a YAML map
	KeyExternalTrafficPolicy = "externalTrafficPolicy"
	KeyLoadBalancerClass     = "loadBalancerClass"
	KeyDrainSeconds          = "drainSeconds"
)

// applyConfigMap overlays the keys of a parameters ConfigMap on p. Unknown
// keys and bad values are errors naming the ConfigMap and key.
func (p Params) applyConfigMap(cm *corev1.ConfigMap) (Params, error) {
	where := func(key string) string { return fmt.Sprintf("ConfigMap %s/%s: data.%s", cm.Namespace, cm.Name, key) }
	for _, key := range sortedKeys(cm.Data) {
		v := cm.Data[key]
		switch key {
		case KeyEnvoyImage:
			if v == "" {
				return p, fmt.Errorf("%s: empty image", where(key))
			}
			p.EnvoyImage = v
		case KeyReplicas:
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 || n > 1000 {
				return p, fmt.Errorf("%s: %q is not a replica count (0-1000)", where(key), v)
			}
			p.Replicas = int32(n)
		case KeyServiceType:
			switch t := corev1.ServiceType(v); t {
			case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
				p.ServiceType = t
			default:
				return p, fmt.Errorf("%s: %q is not LoadBalancer, NodePort or ClusterIP", where(key), v)
			}
		case KeyServiceAnnotations:
			var m map[string]string
			if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
				return p, fmt.Errorf("%s: not a map of strings: %w", where(key), err)
			}
			p.ServiceAnnotations = m
		case KeyExternalTrafficPolicy:
			switch t := corev1.ServiceExternalTrafficPolicy(v); t {
			case corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
				p.ExternalTrafficPolicy = t
			default:
				return p, fmt.Errorf("%s: %q is not Cluster or Local", where(key), v)
			}
		case KeyLoadBalancerClass:
			p.LoadBalancerClass = v
		case KeyDrainSeconds:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 3600 {
				return p, fmt.Errorf("%s: %q is not a number of seconds (0-3600)", where(key), v)
			}
			p.DrainSeconds = n
		default:
			return p, fmt.Errorf("%s: unknown key", where(key))
		}
	}
	return p, nil
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
