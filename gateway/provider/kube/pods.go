package kube

import (
	"cmp"
	"encoding/hex"
	"hash/fnv"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// gantryDomain is the domain of the annotations Gantry reads on Pods
// (security.gantry.io/mtls-mode, sidecar.gantry.io/..., gantry.io/...).
const gantryDomain = "gantry.io"

// stripPod caches a Pod as what the mesh reads: name, namespace, uid,
// labels, the annotations of Gantry's domain, spec.serviceAccountName (the
// workload identity) and status.podIP(s). Containers, volumes, conditions,
// owner references and every other annotation are dropped, so that a Pod
// costs a few hundred bytes instead of several kilobytes.
func stripPod(in any) (any, error) {
	p, ok := in.(*corev1.Pod)
	if !ok {
		return in, nil
	}
	return &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            p.Name,
			Namespace:       p.Namespace,
			UID:             p.UID,
			ResourceVersion: p.ResourceVersion,
			Labels:          p.Labels,
			Annotations:     gantryAnnotations(p.Annotations),
		},
		Spec: corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName},
		Status: corev1.PodStatus{
			PodIP:  p.Status.PodIP,
			PodIPs: p.Status.PodIPs,
		},
	}, nil
}

// gantryAnnotations returns the annotations of a whose key's prefix is
// gantry.io or a subdomain of it (nil when there is none).
func gantryAnnotations(a map[string]string) map[string]string {
	var out map[string]string
	for k, v := range a {
		if !isGantryKey(k) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

func isGantryKey(k string) bool {
	prefix, _, ok := strings.Cut(k, "/")
	return ok && (prefix == gantryDomain || strings.HasSuffix(prefix, "."+gantryDomain))
}

// endpointPods returns a predicate that holds for the Pods an EndpointSlice
// of eps names (targetRef of kind Pod). A Pod no EndpointSlice names
// changes no configuration: the mesh reads a Pod's identity and settings
// only at the addresses EndpointSlices give it.
func endpointPods(eps plist.List[*discoveryv1.EndpointSlice]) func(*corev1.Pod) bool {
	named := map[types.NamespacedName]bool{}
	for es := range eps.Values() {
		for _, ep := range es.Endpoints {
			if ref := ep.TargetRef; ref != nil && ref.Kind == "Pod" {
				named[types.NamespacedName{Namespace: cmp.Or(ref.Namespace, es.Namespace), Name: ref.Name}] = true
			}
		}
	}
	return func(p *corev1.Pod) bool {
		return named[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}]
	}
}

// podDigests are the podVersions of a build's Pods, by key.
type podDigests map[resource.Key]podDigest

type podDigest struct{ resourceVersion, digest string }

// podVersion is a Pod's entry in the change fingerprint: a digest of the
// fields stripPod keeps (not the resourceVersion), so that status churn the
// mesh does not read (conditions, container states) and annotations outside
// Gantry's domain trigger no new Event.
func podVersion(p *corev1.Pod) string {
	h := fnv.New128a()
	field := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	field(string(p.UID))
	field(p.Spec.ServiceAccountName)
	field(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		field(ip.IP)
	}
	for _, m := range []map[string]string{p.Labels, gantryAnnotations(p.Annotations)} {
		field("|")
		for _, k := range slices.Sorted(maps.Keys(m)) {
			field(k)
			field(m[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
