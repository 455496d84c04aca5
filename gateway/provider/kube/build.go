package kube

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// builder reads every watched kind from reader into a resource.Set.
type builder struct {
	reader client.Reader
	opts   Options
	// kinds lists the kinds whose API exists; others are not read.
	kinds []string
	// namespaces, when set, are listed one by one (direct API reads);
	// a scoped cache needs none.
	namespaces []string
}

// loader reads one kind into a Set.
type loader struct {
	kind       string
	namespaced bool
	load       func(ctx context.Context, b *builder, set *resource.Set) error
}

// loaders is the explicit, ordered list of kinds read into a Set.
var loaders = []loader{
	{kind: KindGatewayClass, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.GatewayClasses, err = listAll(ctx, b, false, func() *gwapiv1.GatewayClassList { return &gwapiv1.GatewayClassList{} }, func(l *gwapiv1.GatewayClassList) []gwapiv1.GatewayClass { return l.Items })
		return err
	}},
	{kind: KindGateway, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.Gateways, err = listAll(ctx, b, true, func() *gwapiv1.GatewayList { return &gwapiv1.GatewayList{} }, func(l *gwapiv1.GatewayList) []gwapiv1.Gateway { return l.Items })
		return err
	}},
	{kind: KindListenerSet, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.ListenerSets, err = listAll(ctx, b, true, func() *gwapiv1.ListenerSetList { return &gwapiv1.ListenerSetList{} }, func(l *gwapiv1.ListenerSetList) []gwapiv1.ListenerSet { return l.Items })
		return err
	}},
	{kind: KindHTTPRoute, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.HTTPRoutes, err = listAll(ctx, b, true, func() *gwapiv1.HTTPRouteList { return &gwapiv1.HTTPRouteList{} }, func(l *gwapiv1.HTTPRouteList) []gwapiv1.HTTPRoute { return l.Items })
		return err
	}},
	{kind: KindGRPCRoute, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.GRPCRoutes, err = listAll(ctx, b, true, func() *gwapiv1.GRPCRouteList { return &gwapiv1.GRPCRouteList{} }, func(l *gwapiv1.GRPCRouteList) []gwapiv1.GRPCRoute { return l.Items })
		return err
	}},
	{kind: KindTLSRoute, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.TLSRoutes, err = listAll(ctx, b, true, func() *gwapiv1.TLSRouteList { return &gwapiv1.TLSRouteList{} }, func(l *gwapiv1.TLSRouteList) []gwapiv1.TLSRoute { return l.Items })
		return err
	}},
	{kind: KindTCPRoute, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.TCPRoutes, err = listAll(ctx, b, true, func() *gwapiv1.TCPRouteList { return &gwapiv1.TCPRouteList{} }, func(l *gwapiv1.TCPRouteList) []gwapiv1.TCPRoute { return l.Items })
		return err
	}},
	{kind: KindUDPRoute, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.UDPRoutes, err = listAll(ctx, b, true, func() *gwapiv1.UDPRouteList { return &gwapiv1.UDPRouteList{} }, func(l *gwapiv1.UDPRouteList) []gwapiv1.UDPRoute { return l.Items })
		return err
	}},
	{kind: KindReferenceGrant, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.ReferenceGrants, err = listAll(ctx, b, true, func() *gwapiv1beta1.ReferenceGrantList { return &gwapiv1beta1.ReferenceGrantList{} }, func(l *gwapiv1beta1.ReferenceGrantList) []gwapiv1beta1.ReferenceGrant { return l.Items })
		return err
	}},
	{kind: KindBackendTLSPolicy, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.BackendTLSPolicies, err = listAll(ctx, b, true, func() *gwapiv1.BackendTLSPolicyList { return &gwapiv1.BackendTLSPolicyList{} }, func(l *gwapiv1.BackendTLSPolicyList) []gwapiv1.BackendTLSPolicy { return l.Items })
		return err
	}},
	{kind: KindService, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.Services, err = listAll(ctx, b, true, func() *corev1.ServiceList { return &corev1.ServiceList{} }, func(l *corev1.ServiceList) []corev1.Service { return l.Items })
		return err
	}},
	{kind: KindEndpointSlice, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.EndpointSlices, err = listAll(ctx, b, true, func() *discoveryv1.EndpointSliceList { return &discoveryv1.EndpointSliceList{} }, func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items })
		return err
	}},
	{kind: KindSecret, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.Secrets, err = listAll(ctx, b, true, func() *corev1.SecretList { return &corev1.SecretList{} }, func(l *corev1.SecretList) []corev1.Secret { return l.Items })
		return err
	}},
	{kind: KindConfigMap, namespaced: true, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.ConfigMaps, err = listAll(ctx, b, true, func() *corev1.ConfigMapList { return &corev1.ConfigMapList{} }, func(l *corev1.ConfigMapList) []corev1.ConfigMap { return l.Items })
		return err
	}},
	{kind: KindNamespace, load: func(ctx context.Context, b *builder, s *resource.Set) (err error) {
		s.Namespaces, err = listAll(ctx, b, false, func() *corev1.NamespaceList { return &corev1.NamespaceList{} }, func(l *corev1.NamespaceList) []corev1.Namespace { return l.Items })
		return err
	}},
}

// listAll lists one kind and returns pointers into the list's items. Reads
// from the cache share the cached objects (no deep copy): Sets are never
// mutated.
func listAll[T any, L client.ObjectList](ctx context.Context, b *builder, namespaced bool, newList func() L, items func(L) []T) ([]*T, error) {
	nss := []string{""}
	if namespaced && len(b.namespaces) > 0 {
		nss = b.namespaces
	}
	var out []*T
	for _, ns := range nss {
		l := newList()
		opts := []client.ListOption{client.UnsafeDisableDeepCopy}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := b.reader.List(ctx, l, opts...); err != nil {
			return nil, err
		}
		it := items(l)
		for i := range it {
			out = append(out, &it[i])
		}
	}
	return out, nil
}

// build reads every present kind and returns the relevant Set and its
// fingerprint.
func (b *builder) build(ctx context.Context) (*resource.Set, fingerprint, error) {
	set := &resource.Set{}
	for _, l := range loaders {
		if !slices.Contains(b.kinds, l.kind) {
			continue
		}
		if err := l.load(ctx, b, set); err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", l.kind, err)
		}
	}
	set = filterRelevant(set, b.opts)
	return set, fingerprintOf(set), nil
}

// fingerprintOf maps every object of set to its resourceVersion.
func fingerprintOf(set *resource.Set) fingerprint {
	fp := fingerprint{}
	eachObject(set, func(kind string, o client.Object) {
		fp[resource.Key{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}] = o.GetResourceVersion()
	})
	return fp
}

// eachObject calls fn for every object of set, kind by kind.
func eachObject(set *resource.Set, fn func(kind string, o client.Object)) {
	each(set.GatewayClasses, KindGatewayClass, fn)
	each(set.Gateways, KindGateway, fn)
	each(set.ListenerSets, KindListenerSet, fn)
	each(set.HTTPRoutes, KindHTTPRoute, fn)
	each(set.GRPCRoutes, KindGRPCRoute, fn)
	each(set.TLSRoutes, KindTLSRoute, fn)
	each(set.TCPRoutes, KindTCPRoute, fn)
	each(set.UDPRoutes, KindUDPRoute, fn)
	each(set.ReferenceGrants, KindReferenceGrant, fn)
	each(set.BackendTLSPolicies, KindBackendTLSPolicy, fn)
	each(set.Services, KindService, fn)
	each(set.EndpointSlices, KindEndpointSlice, fn)
	each(set.Secrets, KindSecret, fn)
	each(set.ConfigMaps, KindConfigMap, fn)
	each(set.Namespaces, KindNamespace, fn)
}

func each[T client.Object](objs []T, kind string, fn func(string, client.Object)) {
	for _, o := range objs {
		fn(kind, o)
	}
}
