// Package v1alpha1 holds Gantry's security API, group security.gantry.io:
// AuthorizationPolicy, who may call whom at the edge and in the mesh
// (docs/authorization.md). The CustomResourceDefinition is generated from
// these types (hack/gen-crds.sh); deepcopy functions by controller-gen.
//
// +kubebuilder:object:generate=true
// +groupName=security.gantry.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of Gantry's security resources.
const GroupName = "security.gantry.io"

// GroupVersion is this package's group and version.
var GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// AddToScheme registers the package's kinds.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &AuthorizationPolicy{}, &AuthorizationPolicyList{})
	metav1AddToGroupVersion(s)
	return nil
}
