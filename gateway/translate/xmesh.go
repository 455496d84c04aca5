package translate

import (
	"cmp"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// MeshStatuses is the status of every XMesh whose spec.controllerName is
// controller, sorted by name; other controllers' meshes are left out
// (untouched). A mesh of Gantry is Accepted and lists the mesh's supported
// features (MeshSupportedFeatures), as a GatewayClass of Gantry lists the
// edge's. Gantry's mesh takes no parameters: a mesh with
// spec.parametersRef is Accepted=False/InvalidParameters (its features are
// still listed: they are the controller's).
func MeshStatuses(meshes []*xv1alpha1.XMesh, controller string) []status.XMesh {
	var out []status.XMesh
	for _, m := range meshes {
		if string(m.Spec.ControllerName) != controller {
			continue
		}
		gen := m.Generation
		acc := status.Condition(xv1alpha1.MeshConditionAccepted, true, xv1alpha1.MeshReasonAccepted, "", gen)
		if ref := m.Spec.ParametersRef; ref != nil {
			msg := fmt.Sprintf("spec.parametersRef: Gantry's mesh takes no parameters (it names %s %q of group %q); remove the reference",
				ref.Kind, ref.Name, ref.Group)
			acc = status.Condition(xv1alpha1.MeshConditionAccepted, false, xv1alpha1.MeshReasonInvalidParameters, msg, gen)
		}
		out = append(out, status.XMesh{Name: m.Name, Generation: gen, Status: xv1alpha1.MeshStatus{
			Conditions:        []metav1.Condition{acc},
			SupportedFeatures: MeshSupportedFeatures(),
		}})
	}
	slices.SortFunc(out, func(a, b status.XMesh) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
