package status

import (
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
)

// XMesh is the status of one XMesh (cluster-scoped): whether Gantry
// accepted it and the features its mesh supports.
type XMesh struct {
	Name       string               `json:"name"`
	Generation int64                `json:"generation"`
	Status     xv1alpha1.MeshStatus `json:"status"`
}
