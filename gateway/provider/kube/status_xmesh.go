package kube

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
)

// meshTarget writes an XMesh's status: its conditions (merged, so an
// unchanged condition keeps its LastTransitionTime) and supportedFeatures.
// Conditions of other types (the CRD's default Programmed=Unknown) are
// replaced by the report's: Gantry does not report Programmed on a mesh.
func meshTarget(m status.XMesh) target {
	return target{
		key:    resource.Key{Kind: resource.KindXMesh, Name: m.Name},
		object: func() client.Object { return &xv1alpha1.XMesh{} },
		apply: func(_ context.Context, obj client.Object, now metav1.Time) (bool, error) {
			o := obj.(*xv1alpha1.XMesh)
			want := m.Status
			want.Conditions = mergeConditions(o.Status.Conditions, m.Status.Conditions, generation(m.Generation, o), now)
			return setIfChanged(&o.Status, want), nil
		},
	}
}
