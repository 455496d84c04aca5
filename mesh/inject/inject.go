// Package inject adds Gantry's Envoy sidecar to pods: a pure function from a
// pod (and its namespace's labels) to a JSON patch, and the admission webhook
// handler around it (webhook.go).
//
// A pod is injected when its namespace carries the label
// gantry.io/inject=enabled, unless the pod opts out with the annotation
// gantry.io/inject: "false", already has the sidecar, or uses the host
// network. The sidecar is a native sidecar (an init container with
// restartPolicy Always, so it starts before the application and stops after
// it) named "gantry-proxy". Its Envoy bootstrap is passed inline
// (--config-yaml): ADS to Gantry's xDS service, node.cluster "mesh/<ns>",
// node.id "<pod>.<ns>" from the downward API, admin on loopback only.
//
// No traffic is redirected: there is no iptables init container. The
// application reaches the sidecar only by addressing it; see docs/mesh.md.
package inject

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// Labels, annotations and names injection reads or writes.
const (
	// NamespaceLabel = NamespaceEnabled turns injection on for a namespace.
	NamespaceLabel   = "gantry.io/inject"
	NamespaceEnabled = "enabled"
	// PodAnnotation = "false" opts a pod out.
	PodAnnotation = "gantry.io/inject"
	// StatusAnnotation records that a pod was injected, and with what image.
	StatusAnnotation = "gantry.io/injected"
	// ContainerName is the sidecar's name.
	ContainerName = "gantry-proxy"
	// GroupPrefix starts the node group of the sidecars of a namespace.
	GroupPrefix = "mesh/"
)

// Defaults of Config.
const (
	DefaultImage      = "docker.io/envoyproxy/envoy:distroless-v1.40.0" // the edge fleet's default too
	DefaultXDSAddress = "gantry.gantry-system.svc:18000"
	DefaultAdminPort  = 15000
	// ProxyUID is the sidecar's user: not root, and distinct from usual
	// application users.
	ProxyUID = 1337
)

// Config is what every injected sidecar shares.
type Config struct {
	// Image is the Envoy image (default DefaultImage).
	Image string `json:"image,omitempty"`
	// XDSAddress is Gantry's ADS address as pods reach it, host:port
	// (default DefaultXDSAddress).
	XDSAddress string `json:"xdsAddress,omitempty"`
	// AdminPort is Envoy's admin port, bound to 127.0.0.1 (default 15000).
	AdminPort int32 `json:"adminPort,omitempty"`
	// StatsPort serves only GET /stats/prometheus (default 15090).
	StatsPort int32 `json:"statsPort,omitempty"`
}

func (c Config) withDefaults() (Config, error) {
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.XDSAddress == "" {
		c.XDSAddress = DefaultXDSAddress
	}
	if c.AdminPort == 0 {
		c.AdminPort = DefaultAdminPort
	}
	if c.StatsPort == 0 {
		c.StatsPort = DefaultStatsPort
	}
	host, port, err := net.SplitHostPort(c.XDSAddress)
	if err != nil || host == "" {
		return c, fmt.Errorf("inject: xdsAddress %q: want host:port", c.XDSAddress)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return c, fmt.Errorf("inject: xdsAddress %q: port must be 1-65535", c.XDSAddress)
	}
	if c.AdminPort < 1 || c.AdminPort > 65535 {
		return c, fmt.Errorf("inject: adminPort %d: want 1-65535", c.AdminPort)
	}
	if c.StatsPort < 1 || c.StatsPort > 65535 || c.StatsPort == c.AdminPort {
		return c, fmt.Errorf("inject: statsPort %d: want 1-65535, not the admin port", c.StatsPort)
	}
	return c, nil
}

// Decision says whether a pod gets the sidecar, and why.
type Decision struct {
	Inject bool   `json:"inject"`
	Reason string `json:"reason"`
}

// Decide applies the injection policy to a pod of a namespace with the
// given labels.
func Decide(pod *corev1.Pod, namespaceLabels map[string]string) Decision {
	switch {
	case namespaceLabels[NamespaceLabel] != NamespaceEnabled:
		return Decision{Reason: fmt.Sprintf("namespace is not labelled %s=%s", NamespaceLabel, NamespaceEnabled)}
	case strings.EqualFold(pod.Annotations[PodAnnotation], "false"):
		return Decision{Reason: fmt.Sprintf("pod opted out (%s: \"false\")", PodAnnotation)}
	case pod.Spec.HostNetwork:
		return Decision{Reason: "pod uses the host network"}
	case hasContainer(pod.Spec.InitContainers) || hasContainer(pod.Spec.Containers):
		return Decision{Reason: "pod already has the " + ContainerName + " container"}
	}
	return Decision{Inject: true, Reason: "namespace labelled " + NamespaceLabel + "=" + NamespaceEnabled}
}

func hasContainer(cs []corev1.Container) bool {
	for _, c := range cs {
		if c.Name == ContainerName {
			return true
		}
	}
	return false
}

// Operation is one RFC 6902 JSON patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch returns the JSON patch that injects pod (of namespace namespace,
// whose labels are namespaceLabels), or no operations when the Decision says
// not to. pod is not modified.
func Patch(pod *corev1.Pod, namespace string, namespaceLabels map[string]string, cfg Config) ([]Operation, Decision, error) {
	if pod == nil {
		return nil, Decision{}, fmt.Errorf("inject: no pod")
	}
	d := Decide(pod, namespaceLabels)
	if !d.Inject {
		return nil, d, nil
	}
	if namespace == "" {
		namespace = pod.Namespace
	}
	if namespace == "" {
		return nil, d, fmt.Errorf("inject: pod %s: no namespace", podName(pod))
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, d, err
	}
	sidecar, err := Sidecar(namespace, cfg)
	if err != nil {
		return nil, d, err
	}
	var ops []Operation
	// The sidecar goes first among init containers, so that it runs before
	// the others (native sidecars start in order and keep running).
	if len(pod.Spec.InitContainers) == 0 {
		ops = append(ops, Operation{Op: "add", Path: "/spec/initContainers", Value: []corev1.Container{sidecar}})
	} else {
		ops = append(ops, Operation{Op: "add", Path: "/spec/initContainers/0", Value: sidecar})
	}
	annotations := scrapeAnnotations(pod, cfg)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[StatusAnnotation] = cfg.Image
	if pod.Annotations == nil {
		ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations", Value: annotations})
	} else {
		for _, k := range slices.Sorted(maps.Keys(annotations)) {
			ops = append(ops, Operation{Op: "add", Path: "/metadata/annotations/" + escapePointer(k), Value: annotations[k]})
		}
	}
	return ops, d, nil
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	if pod.GenerateName != "" {
		return pod.GenerateName + "*"
	}
	return "(unnamed)"
}

// Sidecar is the gantry-proxy container for a pod of namespace namespace.
func Sidecar(namespace string, cfg Config) (corev1.Container, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return corev1.Container{}, err
	}
	boot, err := Bootstrap(namespace, cfg)
	if err != nil {
		return corev1.Container{}, err
	}
	always := corev1.ContainerRestartPolicyAlways
	no, yes := false, true
	uid := int64(ProxyUID)
	return corev1.Container{
		Name:  ContainerName,
		Image: cfg.Image,
		Args: []string{
			"--config-yaml", boot,
			"--service-node", "$(POD_NAME).$(POD_NAMESPACE)",
			"--log-level", "info",
		},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
		Ports:         []corev1.ContainerPort{statsPort(cfg)},
		RestartPolicy: &always,
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("50m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                &uid,
			RunAsNonRoot:             &yes,
			AllowPrivilegeEscalation: &no,
			ReadOnlyRootFilesystem:   &yes,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}, nil
}

// Bootstrap is the sidecar's Envoy bootstrap as JSON (Envoy reads it as
// YAML): node.cluster "mesh/<namespace>", ADS over HTTP/2 to cfg.XDSAddress,
// listeners and clusters from ADS, admin on 127.0.0.1 only. node.id comes
// from --service-node.
func Bootstrap(namespace string, cfg Config) (string, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return "", err
	}
	if namespace == "" || strings.Contains(namespace, "/") {
		return "", fmt.Errorf("inject: namespace %q: want a namespace name", namespace)
	}
	host, portStr, _ := net.SplitHostPort(cfg.XDSAddress)
	port, _ := strconv.Atoi(portStr)
	ads := map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"}
	b := map[string]any{
		"node": map[string]any{"cluster": GroupPrefix + namespace},
		"admin": map[string]any{"address": map[string]any{"socket_address": map[string]any{
			"address": "127.0.0.1", "port_value": cfg.AdminPort,
		}}},
		"dynamic_resources": map[string]any{
			"ads_config": map[string]any{
				"api_type":                       "GRPC",
				"transport_api_version":          "V3",
				"set_node_on_first_message_only": true,
				"grpc_services":                  []any{map[string]any{"envoy_grpc": map[string]any{"cluster_name": "gantry_xds"}}},
			},
			"lds_config": ads,
			"cds_config": ads,
		},
		"static_resources": map[string]any{"clusters": []any{map[string]any{
			"name":            "gantry_xds",
			"type":            "STRICT_DNS",
			"connect_timeout": "5s",
			"typed_extension_protocol_options": map[string]any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
					"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
					"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}},
				},
			},
			"load_assignment": map[string]any{
				"cluster_name": "gantry_xds",
				"endpoints": []any{map[string]any{"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{
					"address": map[string]any{"socket_address": map[string]any{"address": host, "port_value": port}},
				}}}}},
			},
		}}},
	}
	listener, admin, err := statsStatic(cfg)
	if err != nil {
		return "", err
	}
	static := b["static_resources"].(map[string]any)
	static["clusters"] = append(static["clusters"].([]any), admin)
	static["listeners"] = []any{listener}
	hardening, err := bootstrap.HardeningJSON(bootstrap.Limits{}) // the RE2 limit translation checks
	if err != nil {
		return "", fmt.Errorf("inject: %w", err)
	}
	for k, v := range hardening {
		b[k] = v
	}
	out, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("inject: bootstrap: %w", err)
	}
	return string(out), nil
}
