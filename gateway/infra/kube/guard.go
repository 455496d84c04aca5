package kube

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// allowedKinds is the complete list of what a Gateway may cause Gantry to
// create. Nothing else is ever applied (see guard).
var allowedKinds = map[string]bool{
	"v1/ServiceAccount":  true,
	"v1/ConfigMap":       true,
	"v1/Service":         true,
	"apps/v1/Deployment": true,
}

// guard checks, on the exact bytes to be sent, that obj is one of the
// allowed kinds, in the Gateway's namespace, named after the Gateway,
// labelled as Gantry's and with the Gateway's well-known gateway-name
// label, and controlled by the Gateway (one owner reference,
// controller=true, matching UID). It is the last step before every apply.
func guard(gw *gwapiv1.Gateway, obj runtime.ApplyConfiguration) (*metav1.PartialObjectMetadata, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("infra guard: %w", err)
	}
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("infra guard: %w", err)
	}
	id := m.APIVersion + "/" + m.Kind
	where := fmt.Sprintf("infra guard: %s %s/%s for Gateway %s/%s", id, m.Namespace, m.Name, gw.Namespace, gw.Name)
	switch {
	case !allowedKinds[id]:
		return nil, fmt.Errorf("%s: kind not allowed", where)
	case m.Namespace == "" || m.Namespace != gw.Namespace:
		return nil, fmt.Errorf("%s: not in the Gateway's namespace", where)
	case m.Name != ResourceName(gw.Name) || len(validation.IsDNS1035Label(m.Name)) > 0:
		return nil, fmt.Errorf("%s: name is not the Gateway's resource name %q", where, ResourceName(gw.Name))
	case m.Labels[LabelManagedBy] != managedByValue || m.Labels[LabelGatewayUID] != string(gw.UID) || gw.UID == "":
		return nil, fmt.Errorf("%s: missing Gantry's labels", where)
	case m.Labels[LabelGatewayName] != labelValue(gw.Name):
		return nil, fmt.Errorf("%s: missing the %s label", where, LabelGatewayName)
	case len(m.OwnerReferences) != 1:
		return nil, fmt.Errorf("%s: want exactly one owner reference, got %d", where, len(m.OwnerReferences))
	}
	ref := m.OwnerReferences[0]
	if ref.APIVersion != gwapiv1.GroupVersion.String() || ref.Kind != "Gateway" || ref.Name != gw.Name ||
		ref.UID != gw.UID || ref.Controller == nil || !*ref.Controller {
		return nil, fmt.Errorf("%s: owner reference is not the Gateway as controller", where)
	}
	return &m, nil
}
