package translate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/status"
)

// classRejection is why a GatewayClass of this controller is not accepted;
// its Gateways report it.
type classRejection struct {
	reason  gwapiv1.GatewayClassConditionReason
	message string
}

// classParameters resolves and validates a GatewayClass's
// spec.parametersRef: a core ConfigMap, with a namespace, present in the
// Set, whose keys the fleet understands. nil when there is no reference.
func (t *translator) classParameters(gc *gwapiv1.GatewayClass) error {
	ref := gc.Spec.ParametersRef
	if ref == nil {
		return nil
	}
	ns, name, err := params.ClassRef(ref)
	if err != nil {
		return err
	}
	cm := t.x.extras().configMaps[nsName{ns, name}]
	if cm == nil {
		return fmt.Errorf("spec.parametersRef: ConfigMap %s/%s not found", ns, name)
	}
	if err := params.Validate(cm); err != nil {
		return fmt.Errorf("spec.parametersRef: %w", err)
	}
	return nil
}

// gatewayParameters resolves and validates a Gateway's
// spec.infrastructure.parametersRef (a core ConfigMap in the Gateway's
// namespace). nil when there is no reference.
func (t *translator) gatewayParameters(gw *gwapiv1.Gateway) error {
	name, ok, err := params.GatewayRef(gw)
	if err != nil || !ok {
		return err
	}
	cm := t.x.extras().configMaps[nsName{gw.Namespace, name}]
	if cm == nil {
		return fmt.Errorf("spec.infrastructure.parametersRef: ConfigMap %s/%s not found", gw.Namespace, name)
	}
	if err := params.Validate(cm); err != nil {
		return fmt.Errorf("spec.infrastructure.parametersRef: %w", err)
	}
	if err := params.CheckGatewayKeys(t.classConfigMap(gw), cm); err != nil {
		return fmt.Errorf("spec.infrastructure.parametersRef: %w", err)
	}
	return nil
}

// classConfigMap is the parameters ConfigMap of gw's class, nil if none.
func (t *translator) classConfigMap(gw *gwapiv1.Gateway) *corev1.ConfigMap {
	gc := t.x.classes[string(gw.Spec.GatewayClassName)]
	if gc == nil || gc.Spec.ParametersRef == nil {
		return nil
	}
	ns, name, err := params.ClassRef(gc.Spec.ParametersRef)
	if err != nil {
		return nil
	}
	return t.x.extras().configMaps[nsName{ns, name}]
}

// rejectedGateway is the status of a Gateway that is not translated: its
// class is not accepted, or its own parameters are invalid. It gets no
// proxy and no route attaches to it.
func rejectedGateway(gw *gwapiv1.Gateway, reason gwapiv1.GatewayConditionReason, msg string) status.Gateway {
	gen := gw.Generation
	return status.Gateway{
		Namespace: gw.Namespace, Name: gw.Name, Generation: gen,
		Status: gwapiv1.GatewayStatus{Conditions: []metav1.Condition{
			status.Condition(gwapiv1.GatewayConditionAccepted, false, reason, msg, gen),
			status.Condition(gwapiv1.GatewayConditionProgrammed, false, gwapiv1.GatewayReasonInvalid, "the Gateway is not accepted", gen),
		}},
	}
}

// classRejectedGateway is the status of a Gateway whose GatewayClass (of
// this controller) is not accepted. A class rejected for its parameters
// rejects its Gateways for the same reason: those are their parameters too.
func classRejectedGateway(gw *gwapiv1.Gateway, why classRejection) status.Gateway {
	reason := gwapiv1.GatewayReasonInvalid
	if why.reason == gwapiv1.GatewayClassReasonInvalidParameters {
		reason = gwapiv1.GatewayReasonInvalidParameters
	}
	return rejectedGateway(gw, reason,
		fmt.Sprintf("GatewayClass %s is not accepted (%s): %s", gw.Spec.GatewayClassName, why.reason, why.message))
}
