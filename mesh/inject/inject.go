// Package inject adds Gantry's sidecar to pods: a pure function from a pod
// (and its namespace's labels) to a JSON patch, and the admission webhook
// handler around it (webhook.go).
//
// A pod is injected when its namespace carries the label
// gantry.io/inject=enabled, unless the pod opts out with the annotation (or
// label) sidecar.gantry.io/inject: "false", is already injected, or uses the
// host network. The patch (pod.go) adds, before the pod's own init
// containers:
//
//   - gantry-capture: `gantry capture`, which installs the traffic
//     redirection (NET_ADMIN and NET_RAW only), with the flags derived from
//     the pod's traffic.gantry.io/* annotations (traffic.go);
//   - gantry-agent-init: `gantry agent --once`, the workload's first
//     certificate, proven with a projected ServiceAccount token of Gantry's
//     audience;
//   - gantry-agent: a native sidecar renewing it and answering the pod's
//     rewritten kubelet probes on port 15020 (probes.go);
//   - gantry-proxy: Envoy as a native sidecar, whose bootstrap (bootstrap.go)
//     reaches Gantry's xDS port over TLS with the agent's certificate.
//
// Envoy and the agent run as UID/GID 1337, whose traffic is never captured.
package inject

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Labels, annotations and names injection reads or writes.
const (
	// NamespaceLabel = NamespaceEnabled turns injection on for a namespace.
	NamespaceLabel   = "gantry.io/inject"
	NamespaceEnabled = "enabled"
	// OptOut = "false", as a pod annotation or label, keeps a pod out. The
	// webhook configuration's objectSelector skips pods with the label;
	// the injector honours both.
	OptOut = "sidecar.gantry.io/inject"
	// StatusAnnotation records that a pod was injected, and with what image.
	StatusAnnotation = "gantry.io/injected"
	// SDSAnnotation carries the Envoy SDS file of the xDS connection, which
	// a downward API volume turns into a file (it names files only, no key).
	SDSAnnotation = "sidecar.gantry.io/xds-sds"
	// ContainerName is the Envoy sidecar's name.
	ContainerName = "gantry-proxy"
	// CaptureContainerName, AgentInitContainerName and AgentContainerName
	// are the other containers injection adds.
	CaptureContainerName   = "gantry-capture"
	AgentInitContainerName = "gantry-agent-init"
	AgentContainerName     = "gantry-agent"
	// GroupPrefix starts the node group of the sidecars of a namespace.
	GroupPrefix = "mesh/"
)

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
	case strings.EqualFold(pod.Annotations[OptOut], "false"):
		return Decision{Reason: fmt.Sprintf("pod opted out (annotation %s: \"false\")", OptOut)}
	case strings.EqualFold(pod.Labels[OptOut], "false"):
		return Decision{Reason: fmt.Sprintf("pod opted out (label %s: \"false\")", OptOut)}
	case pod.Spec.HostNetwork:
		return Decision{Reason: "pod uses the host network"}
	case pod.Annotations[StatusAnnotation] != "":
		return Decision{Reason: "pod is already injected (annotation " + StatusAnnotation + ")"}
	}
	if name := injectedContainer(pod); name != "" {
		return Decision{Reason: "pod already has the " + name + " container"}
	}
	return Decision{Inject: true, Reason: "namespace labelled " + NamespaceLabel + "=" + NamespaceEnabled}
}

// injectedContainer returns the name of a container injection adds that
// the pod already has, or "".
func injectedContainer(pod *corev1.Pod) string {
	ours := []string{CaptureContainerName, AgentInitContainerName, AgentContainerName, ContainerName}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			if slices.Contains(ours, c.Name) {
				return c.Name
			}
		}
	}
	return ""
}

// Operation is one RFC 6902 JSON patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch returns the JSON patch that injects pod (of namespace namespace,
// whose labels are namespaceLabels), or no operations when the Decision says
// not to. An invalid traffic.gantry.io/* annotation is an error naming it.
// pod is not modified.
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
	captureArgs, err := CaptureArgs(pod.Annotations)
	if err != nil {
		return nil, d, fmt.Errorf("inject: pod %s: %w", podName(pod), err)
	}
	probes, probeOps := rewriteProbes(pod, cfg)
	add, err := sidecars(sidecarInput{Namespace: namespace, Config: cfg, CaptureArgs: captureArgs, Probes: probes})
	if err != nil {
		return nil, d, err
	}
	var ops []Operation
	// Injected containers go first among init containers, in order, so
	// that capture and the proxy run before the pod's own init containers.
	if len(pod.Spec.InitContainers) == 0 {
		ops = append(ops, Operation{Op: "add", Path: "/spec/initContainers", Value: add.InitContainers})
	} else {
		for i := len(add.InitContainers) - 1; i >= 0; i-- {
			ops = append(ops, Operation{Op: "add", Path: "/spec/initContainers/0", Value: add.InitContainers[i]})
		}
	}
	if len(pod.Spec.Volumes) == 0 {
		ops = append(ops, Operation{Op: "add", Path: "/spec/volumes", Value: add.Volumes})
	} else {
		for _, v := range add.Volumes {
			ops = append(ops, Operation{Op: "add", Path: "/spec/volumes/-", Value: v})
		}
	}
	ops = append(ops, probeOps...)
	// The projected token needs a named account: the one the
	// ServiceAccount admission plugin would give (usually done already).
	if pod.Spec.ServiceAccountName == "" {
		sa := pod.Spec.DeprecatedServiceAccount
		if sa == "" {
			sa = "default"
		}
		ops = append(ops, Operation{Op: "add", Path: "/spec/serviceAccountName", Value: sa})
	}
	annotations := scrapeAnnotations(pod, cfg)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[StatusAnnotation] = cfg.Image
	annotations[SDSAnnotation] = add.SDS
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
