package inject

import (
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
)

// Inject returns a copy of pod with the patch of Patch applied (pod itself
// when the Decision is not to inject). It is what the webhook's patch does
// to the pod, for `gantry inject` and tests.
func Inject(pod *corev1.Pod, namespace string, namespaceLabels map[string]string, cfg Config) (*corev1.Pod, Decision, error) {
	ops, d, err := Patch(pod, namespace, namespaceLabels, cfg)
	if err != nil || len(ops) == 0 {
		return pod, d, err
	}
	out, err := ApplyPatch(pod, ops)
	return out, d, err
}

// ApplyPatch applies JSON patch operations to a pod.
func ApplyPatch(pod *corev1.Pod, ops []Operation) (*corev1.Pod, error) {
	doc, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("inject: pod %s: %w", podName(pod), err)
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("inject: patch: %w", err)
	}
	p, err := jsonpatch.DecodePatch(raw)
	if err != nil {
		return nil, fmt.Errorf("inject: patch: %w", err)
	}
	patched, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("inject: pod %s: apply patch: %w", podName(pod), err)
	}
	out := &corev1.Pod{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("inject: pod %s: patched pod: %w", podName(pod), err)
	}
	return out, nil
}
