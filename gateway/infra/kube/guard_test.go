package kube

import (
	"k8s.io/apimachinery/pkg/runtime"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

type tamperCase struct {
	name string
	obj  runtime.ApplyConfiguration
	want string
}

// tamperCases are objects a compromised renderer might produce.
func tamperCases(gw *gwapiv1.Gateway, name, otherNS string) []tamperCase {
	owner := metav1ac.OwnerReference().WithAPIVersion(gwapiv1.GroupVersion.String()).WithKind("Gateway").
		WithName(gw.Name).WithUID(gw.UID).WithController(true)
	labels := map[string]string{LabelManagedBy: managedByValue, LabelGatewayUID: string(gw.UID), LabelGatewayName: labelValue(gw.Name)}
	unnamed := map[string]string{LabelManagedBy: managedByValue, LabelGatewayUID: string(gw.UID)}
	return []tamperCase{
		{name: "Secret", want: "kind not allowed",
			obj: corev1ac.Secret(name, gw.Namespace).WithLabels(labels).WithOwnerReferences(owner)},
		{name: "RoleBinding", want: "kind not allowed",
			obj: rbacv1ac.RoleBinding(name, gw.Namespace).WithLabels(labels).WithOwnerReferences(owner)},
		{name: "other namespace", want: "not in the Gateway's namespace",
			obj: corev1ac.ConfigMap(name, otherNS).WithLabels(labels).WithOwnerReferences(owner)},
		{name: "other name", want: "name is not",
			obj: corev1ac.ConfigMap("coredns", gw.Namespace).WithLabels(labels).WithOwnerReferences(owner)},
		{name: "no owner", want: "exactly one owner",
			obj: corev1ac.ServiceAccount(name, gw.Namespace).WithLabels(labels)},
		{name: "not controller", want: "owner reference is not",
			obj: corev1ac.Service(name, gw.Namespace).WithLabels(labels).WithOwnerReferences(
				metav1ac.OwnerReference().WithAPIVersion(gwapiv1.GroupVersion.String()).WithKind("Gateway").WithName(gw.Name).WithUID(gw.UID))},
		{name: "other uid", want: "owner reference is not",
			obj: corev1ac.Service(name, gw.Namespace).WithLabels(labels).WithOwnerReferences(
				metav1ac.OwnerReference().WithAPIVersion(gwapiv1.GroupVersion.String()).WithKind("Gateway").WithName(gw.Name).WithUID("x").WithController(true))},
		{name: "no gateway-name label", want: "missing the " + LabelGatewayName + " label",
			obj: corev1ac.Service(name, gw.Namespace).WithLabels(unnamed).WithOwnerReferences(owner)},
		{name: "no labels", want: "missing Gantry's labels",
			obj: corev1ac.Service(name, gw.Namespace).WithOwnerReferences(owner)},
	}
}
