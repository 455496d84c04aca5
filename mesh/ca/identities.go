package ca

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Identities lists the distinct workload identities of pods (a pod without
// a service account runs as "default"), sorted by namespace then service
// account. Pods without a namespace are skipped.
func Identities(pods []*corev1.Pod) []Identity {
	seen := map[Identity]bool{}
	var out []Identity
	for _, p := range pods {
		if p == nil || p.Namespace == "" {
			continue
		}
		id := Identity{Namespace: p.Namespace, ServiceAccount: p.Spec.ServiceAccountName}
		if id.ServiceAccount == "" {
			id.ServiceAccount = "default"
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b Identity) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.ServiceAccount, b.ServiceAccount))
	})
	return out
}
