package loop

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
)

// TestPodChangesReachTheMeshOnly: the edge never reads Pods, so a Pod
// change (a new identity, a mesh annotation) translates the mesh alone.
func TestPodChangesReachTheMeshOnly(t *testing.T) {
	pod := func(sa string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.PodSpec{ServiceAccountName: sa}}
	}
	a := &resource.Set{Pods: plist.Of(pod("a"))}
	b := &resource.Set{Pods: plist.Of(pod("b"))}
	sc := scopeOf(diffSets(a, b), b)
	if sc.all || !sc.mesh || len(sc.gateways) != 0 {
		t.Errorf("scope of a Pod change = %+v, want the mesh only", sc)
	}
}
