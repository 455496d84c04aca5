package kube

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	gresource "github.com/gantryproxy/gantry/gateway/resource"
)

const benchPods = 10000

// deploymentPodJSON is a Pod as the API server sends it for a Deployment's
// replica: two containers (the application and an injected sidecar), a
// projected token volume, status with conditions and container statuses,
// and managed fields of its three writers.
func deploymentPodJSON() []byte {
	fields := func(n int) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: "manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{` + strings.Repeat(`"f:x":{},`, n) + `"f:y":{}}}`)}
	}
	container := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "registry.example.com/team/" + name + ":1.2.3",
			Args:  []string{"--port=8080", "--log-level=info"},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "LOG_FORMAT", Value: "json"}, {Name: "GOMAXPROCS", Value: "2"}},
			Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}},
			VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}}}}
	}
	now := metav1.Now()
	p := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews-7d4b9c8f6d-x2k9p", GenerateName: "reviews-7d4b9c8f6d-",
			UID: types.UID("0b3c6a1e-7a52-4f4e-9f0a-2f1d5f7c9e11"), ResourceVersion: "123456789", CreationTimestamp: now,
			Labels: map[string]string{"app": "reviews", "version": "v2", "pod-template-hash": "7d4b9c8f6d",
				"security.istio.io/tlsMode": "istio", "app.kubernetes.io/part-of": "bookinfo"},
			Annotations: map[string]string{"gantry.io/injected": "envoyproxy/envoy:v1.37.0", "sidecar.gantry.io/xds-sds": strings.Repeat("s", 300),
				"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "kubectl.kubernetes.io/restartedAt": now.String()},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "reviews-7d4b9c8f6d", UID: "3f0e"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{fields(40), fields(30), fields(25)}},
		Spec: corev1.PodSpec{ServiceAccountName: "bookinfo-reviews", NodeName: "node-17",
			Containers: []corev1.Container{container("reviews"), container("gantry-proxy")},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}}},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, HostIP: "10.1.0.17", PodIP: "10.244.3.21",
			PodIPs: []corev1.PodIP{{IP: "10.244.3.21"}}, StartTime: &now, QOSClass: corev1.PodQOSBurstable},
	}
	for _, c := range []corev1.PodConditionType{"PodReadyToStartContainers", corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true,
			ImageID: "registry.example.com/team/" + c.Name + "@sha256:" + strings.Repeat("a", 64), ContainerID: "containerd://" + strings.Repeat("b", 64),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
	b, err := json.Marshal(&p)
	if err != nil {
		panic(err)
	}
	return b
}

// retainedPods decodes n Pods (distinct names, as an informer does) and
// returns the heap they keep, whole or as stripPod leaves them.
func retainedPods(b *testing.B, raw []byte, n int, strip bool) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pods := make([]any, n)
	for i := range pods {
		p := &corev1.Pod{}
		if err := json.Unmarshal(raw, p); err != nil {
			b.Fatal(err)
		}
		p.Name = fmt.Sprintf("reviews-%d", i)
		if pods[i] = any(p); strip {
			out, err := stripPod(p)
			if err != nil {
				b.Fatal(err)
			}
			pods[i] = out
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(pods)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkPodCache reports the heap 10,000 Pods hold in the cache, as
// the API server sends them and as stripPod keeps them.
func BenchmarkPodCache(b *testing.B) {
	raw := deploymentPodJSON()
	for _, tc := range []struct {
		name  string
		strip bool
	}{{"whole", false}, {"stripped", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				heap = retainedPods(b, raw, benchPods, tc.strip)
			}
			b.ReportMetric(float64(heap)/benchPods, "heapB/pod")
			b.ReportMetric(float64(heap)/(1<<20), "MiB/10kPods")
		})
	}
}

// BenchmarkPodFingerprint is the cost of the Pods' part of the change
// fingerprint that every build computes: 10,000 named Pods, every one new
// (the first build) or all unchanged since the previous build.
func BenchmarkPodFingerprint(b *testing.B) {
	raw := deploymentPodJSON()
	set := &gresource.Set{}
	for i := range benchPods {
		p := &corev1.Pod{}
		if err := json.Unmarshal(raw, p); err != nil {
			b.Fatal(err)
		}
		p.Name = fmt.Sprintf("reviews-%d", i)
		out, _ := stripPod(p)
		set.Pods = set.Pods.Append(out.(*corev1.Pod))
	}
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			fingerprintOf(set, nil)
		}
	})
	_, prev := fingerprintOf(set, nil)
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			fingerprintOf(set, prev)
		}
	})
}
