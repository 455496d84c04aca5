// Package params holds the tunables of a Gateway's Envoy fleet and their
// encoding in a parameters ConfigMap (a GatewayClass's spec.parametersRef or
// a Gateway's spec.infrastructure.parametersRef).
//
// It is pure (API types only) so that translation, which reports a bad
// parametersRef in status, and the infrastructure manager, which applies
// the parameters, validate exactly the same way.
package params

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

// Built-in defaults.
const (
	DefaultEnvoyImage   = "docker.io/envoyproxy/envoy:distroless-v1.40.0"
	DefaultReplicas     = 2
	DefaultDrainSeconds = 15
)

// Parameter ConfigMap keys.
const (
	KeyEnvoyImage            = "envoyImage"
	KeyReplicas              = "replicas"
	KeyServiceType           = "serviceType"
	KeyServiceAnnotations    = "serviceAnnotations" // a YAML map of strings
	KeyExternalTrafficPolicy = "externalTrafficPolicy"
	KeyLoadBalancerClass     = "loadBalancerClass"
	KeyDrainSeconds          = "drainSeconds"
)

// Keys lists every key a parameters ConfigMap may hold, sorted.
var Keys = sortedUnion(sortedUnion([]string{
	KeyDrainSeconds, KeyEnvoyImage, KeyExternalTrafficPolicy, KeyGatewayOverrides, KeyLoadBalancerClass,
	KeyReplicas, KeyServiceAnnotations, KeyServiceType,
}, TelemetryKeys), EdgeKeys)

// IsKey reports whether k is a parameters ConfigMap key.
func IsKey(k string) bool {
	_, found := slices.BinarySearch(Keys, k)
	return found
}

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
	// Telemetry is the access log and tracing of the fleet (telemetry.go).
	Telemetry Telemetry
	// Edge are the hardening settings (edge.go).
	Edge Edge
}

// Default returns the built-in defaults.
func Default() Params {
	return Params{
		EnvoyImage:  DefaultEnvoyImage,
		Replicas:    DefaultReplicas,
		ServiceType: corev1.ServiceTypeLoadBalancer,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		DrainSeconds: DefaultDrainSeconds,
		Telemetry:    DefaultTelemetry(),
		Edge:         DefaultEdge(),
	}
}

// Apply overlays the keys of a parameters ConfigMap on p. Unknown keys
// (binaryData included) and bad values are errors naming the ConfigMap and
// the key; keys are checked in sorted order, so the error is deterministic.
func (p Params) Apply(cm *corev1.ConfigMap) (Params, error) {
	where := func(field, key string) string {
		return fmt.Sprintf("ConfigMap %s/%s: %s.%s", cm.Namespace, cm.Name, field, key)
	}
	if keys := sortedKeys(cm.BinaryData); len(keys) > 0 {
		return p, fmt.Errorf("%s: unknown key (parameters are text; known keys: %v)", where("binaryData", keys[0]), Keys)
	}
	for _, key := range sortedKeys(cm.Data) {
		var err error
		if p, err = p.set(key, cm.Data[key]); err != nil {
			return p, fmt.Errorf("%s: %w", where("data", key), err)
		}
	}
	return p, nil
}

// set applies one key.
func (p Params) set(key, v string) (Params, error) {
	switch key {
	case KeyEnvoyImage:
		if v == "" {
			return p, fmt.Errorf("empty image")
		}
		p.EnvoyImage = v
	case KeyReplicas:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 || n > 1000 {
			return p, fmt.Errorf("%q is not a replica count (0-1000)", v)
		}
		p.Replicas = int32(n)
	case KeyServiceType:
		switch t := corev1.ServiceType(v); t {
		case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP:
			p.ServiceType = t
		default:
			return p, fmt.Errorf("%q is not LoadBalancer, NodePort or ClusterIP", v)
		}
	case KeyServiceAnnotations:
		var m map[string]string
		if err := yaml.UnmarshalStrict([]byte(v), &m); err != nil {
			return p, fmt.Errorf("not a map of strings: %w", err)
		}
		p.ServiceAnnotations = m
	case KeyExternalTrafficPolicy:
		switch t := corev1.ServiceExternalTrafficPolicy(v); t {
		case corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
			p.ExternalTrafficPolicy = t
		default:
			return p, fmt.Errorf("%q is not Cluster or Local", v)
		}
	case KeyLoadBalancerClass:
		p.LoadBalancerClass = v
	case KeyGatewayOverrides:
		if _, err := parseOverrides(v); err != nil {
			return p, err
		}
	case KeyDrainSeconds:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > 3600 {
			return p, fmt.Errorf("%q is not a number of seconds (0-3600)", v)
		}
		p.DrainSeconds = n
	default:
		if isTelemetryKey(key) {
			var err error
			p.Telemetry, err = p.Telemetry.setTelemetry(key, v)
			return p, err
		}
		edge, ok, err := p.Edge.setEdge(key, v)
		if !ok {
			return p, fmt.Errorf("unknown key (known keys: %v)", Keys)
		}
		if err != nil {
			return p, err
		}
		p.Edge = edge
	}
	return p, nil
}

// Validate checks a parameters ConfigMap on its own.
func Validate(cm *corev1.ConfigMap) error {
	_, err := Default().Apply(cm)
	return err
}

// ClassRef checks a GatewayClass's spec.parametersRef and returns the
// namespace and name of the ConfigMap it names. Only a core ConfigMap with a
// namespace is supported.
func ClassRef(ref *gwapiv1.ParametersReference) (namespace, name string, err error) {
	if ref.Group != "" || ref.Kind != "ConfigMap" {
		return "", "", fmt.Errorf("spec.parametersRef: %s is not supported; want a core ConfigMap (group \"\", kind ConfigMap)", groupKind(ref.Group, ref.Kind))
	}
	if ref.Namespace == nil || *ref.Namespace == "" {
		return "", "", fmt.Errorf("spec.parametersRef: ConfigMap %s needs a namespace", ref.Name)
	}
	return string(*ref.Namespace), ref.Name, nil
}

// GatewayRef checks a Gateway's spec.infrastructure.parametersRef and
// returns the name of the ConfigMap (in the Gateway's namespace) it names;
// ok is false when the Gateway has none.
func GatewayRef(gw *gwapiv1.Gateway) (name string, ok bool, err error) {
	if gw.Spec.Infrastructure == nil || gw.Spec.Infrastructure.ParametersRef == nil {
		return "", false, nil
	}
	ref := gw.Spec.Infrastructure.ParametersRef
	if ref.Group != "" || ref.Kind != "ConfigMap" {
		return "", true, fmt.Errorf("spec.infrastructure.parametersRef: %s is not supported; want a core ConfigMap (group \"\", kind ConfigMap)", groupKind(ref.Group, ref.Kind))
	}
	return ref.Name, true, nil
}

func groupKind(g gwapiv1.Group, k gwapiv1.Kind) string {
	if g == "" {
		return "kind " + string(k) + " (core group)"
	}
	return "kind " + string(k) + " of group " + string(g)
}

// sortedUnion returns the keys of both lists, sorted.
func sortedUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
