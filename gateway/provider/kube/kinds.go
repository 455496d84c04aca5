package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/resource"
)

// watchedKinds are the kinds of resource's table the provider watches
// (all but WatchNever), in table order.
func watchedKinds() []resource.KindInfo {
	var out []resource.KindInfo
	for _, k := range resource.Kinds() {
		if k.Watch != resource.WatchNever {
			out = append(out, k)
		}
	}
	return out
}

// newObject returns an empty object of kind k, of the Go type its Set holds.
func newObject(k resource.KindInfo) client.Object {
	return k.New().(client.Object)
}

// newList returns an empty list of kind k's Go type, as scheme knows it.
func newList(scheme *runtime.Scheme, k resource.KindInfo) (client.ObjectList, error) {
	gvks, _, err := scheme.ObjectKinds(newObject(k))
	if err != nil {
		return nil, fmt.Errorf("kube scheme: %s: %w", k.Kind, err)
	}
	gvk := gvks[0]
	o, err := scheme.New(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err != nil {
		return nil, fmt.Errorf("kube scheme: list of %s: %w", k.Kind, err)
	}
	l, ok := o.(client.ObjectList)
	if !ok {
		return nil, fmt.Errorf("kube scheme: %T is not a list", o)
	}
	return l, nil
}

// NewScheme returns a scheme with the core, Gateway API and Gantry API types
// Gantry uses.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, gwapiv1.Install, gwapiv1beta1.Install, securityv1alpha1.AddToScheme, xv1alpha1.Install,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("kube scheme: %w", err)
		}
	}
	return s, nil
}

const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// newCache builds the informer cache: namespaces limited by
// WatchNamespaces, managed fields and last-applied annotations stripped from
// every object, the data of unrelated Secrets dropped, and Pods cut down to
// what the mesh reads.
func newCache(cfg *rest.Config, scheme *runtime.Scheme, opts Options) (cache.Cache, error) {
	co := cache.Options{
		Scheme:           scheme,
		DefaultTransform: stripObject,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}:    {Transform: stripSecret},
			&corev1.ConfigMap{}: {Transform: stripConfigMap},
			&corev1.Pod{}:       {Transform: stripPod},
		},
	}
	if len(opts.WatchNamespaces) > 0 {
		co.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.WatchNamespaces {
			co.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(cfg, co)
	if err != nil {
		return nil, fmt.Errorf("kube provider: cache: %w", err)
	}
	return c, nil
}

var _ toolscache.TransformFunc = stripObject

// stripObject drops what translation never reads and what costs memory:
// managed fields and the last-applied-configuration annotation.
func stripObject(in any) (any, error) {
	obj, ok := in.(client.Object)
	if !ok {
		return in, nil
	}
	obj.SetManagedFields(nil)
	if a := obj.GetAnnotations(); a != nil {
		if _, ok := a[lastAppliedAnnotation]; ok {
			delete(a, lastAppliedAnnotation)
			obj.SetAnnotations(a)
		}
	}
	return obj, nil
}

// stripSecret keeps the data of TLS Secrets and of Opaque CA bundles only;
// every other Secret is cached as bare metadata.
func stripSecret(in any) (any, error) {
	out, err := stripObject(in)
	if err != nil {
		return out, err
	}
	s, ok := out.(*corev1.Secret)
	if !ok {
		return out, nil
	}
	if !relevantSecret(s) {
		s.Data, s.StringData = nil, nil
		s.Annotations, s.Labels = nil, nil
	}
	return s, nil
}

// relevantSecret reports whether translation may use s: a TLS certificate,
// or an Opaque Secret holding a CA bundle (ca.crt).
func relevantSecret(s *corev1.Secret) bool {
	switch s.Type {
	case corev1.SecretTypeTLS:
		return true
	case corev1.SecretTypeOpaque, "":
		_, ok := s.Data["ca.crt"]
		return ok
	}
	return false
}

// ParameterKeys are the data keys of Gantry's parameters ConfigMaps
// (GatewayClass and Gateway parametersRef), shared with translation and
// gateway/infra/kube through gateway/infra/params.
var ParameterKeys = params.Keys

// stripConfigMap keeps the data of CA bundles (ca.crt, for
// BackendTLSPolicy) and of parameters ConfigMaps (any parameter key) only.
// Every other ConfigMap keeps its key names with empty values and nothing
// else, so that a parametersRef naming a ConfigMap of unknown keys (a typo)
// is still reported as such instead of reading as an empty ConfigMap.
func stripConfigMap(in any) (any, error) {
	out, err := stripObject(in)
	if err != nil {
		return out, err
	}
	cm, ok := out.(*corev1.ConfigMap)
	if !ok || relevantConfigMap(cm) {
		return out, nil
	}
	cm.Data, cm.BinaryData = keysOnly(cm.Data, ""), keysOnly(cm.BinaryData, nil)
	return cm, nil
}

func relevantConfigMap(cm *corev1.ConfigMap) bool {
	if _, ok := cm.Data["ca.crt"]; ok {
		return true
	}
	for k := range cm.Data {
		if params.IsKey(k) {
			return true
		}
	}
	return false
}

// keysOnly returns m's keys mapped to zero (nil for an empty m).
func keysOnly[V any](m map[string]V, zero V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]V, len(m))
	for k := range m {
		out[k] = zero
	}
	return out
}
