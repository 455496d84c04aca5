package resource

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Group names of the kinds the loader reads.
const (
	GroupGateway   = "gateway.networking.k8s.io"
	GroupCore      = ""
	GroupDiscovery = "discovery.k8s.io"
)

// kindInfo says how to read one kind: which API versions are accepted, whether
// it is namespaced, which CRD validates it and how it joins a Set. Every
// version is decoded into the same (v1) Go type.
type kindInfo struct {
	group      string
	kind       string
	versions   []string
	namespaced bool
	crd        string // CRD file in package crds; "" for core kinds
	typ        reflect.Type
	decode     func(u map[string]any) (any, error)
	add        func(s *Set, obj any)
}

// kinds is the explicit list of kinds the loader understands.
var kinds = []kindInfo{
	{group: GroupGateway, kind: "GatewayClass", versions: []string{"v1", "v1beta1"},
		crd: "gateway.networking.k8s.io_gatewayclasses.yaml", typ: reflect.TypeFor[gwapiv1.GatewayClass](), decode: decodeInto[gwapiv1.GatewayClass],
		add: func(s *Set, o any) { s.GatewayClasses = append(s.GatewayClasses, o.(*gwapiv1.GatewayClass)) }},
	{group: GroupGateway, kind: "Gateway", versions: []string{"v1", "v1beta1"}, namespaced: true,
		crd: "gateway.networking.k8s.io_gateways.yaml", typ: reflect.TypeFor[gwapiv1.Gateway](), decode: decodeInto[gwapiv1.Gateway],
		add: func(s *Set, o any) { s.Gateways = append(s.Gateways, o.(*gwapiv1.Gateway)) }},
	{group: GroupGateway, kind: "ListenerSet", versions: []string{"v1"}, namespaced: true,
		crd: "gateway.networking.k8s.io_listenersets.yaml", typ: reflect.TypeFor[gwapiv1.ListenerSet](), decode: decodeInto[gwapiv1.ListenerSet],
		add: func(s *Set, o any) { s.ListenerSets = append(s.ListenerSets, o.(*gwapiv1.ListenerSet)) }},
	{group: GroupGateway, kind: "HTTPRoute", versions: []string{"v1", "v1beta1"}, namespaced: true,
		crd: "gateway.networking.k8s.io_httproutes.yaml", typ: reflect.TypeFor[gwapiv1.HTTPRoute](), decode: decodeInto[gwapiv1.HTTPRoute],
		add: func(s *Set, o any) { s.HTTPRoutes = append(s.HTTPRoutes, o.(*gwapiv1.HTTPRoute)) }},
	{group: GroupGateway, kind: "GRPCRoute", versions: []string{"v1", "v1alpha2"}, namespaced: true,
		crd: "gateway.networking.k8s.io_grpcroutes.yaml", typ: reflect.TypeFor[gwapiv1.GRPCRoute](), decode: decodeInto[gwapiv1.GRPCRoute],
		add: func(s *Set, o any) { s.GRPCRoutes = append(s.GRPCRoutes, o.(*gwapiv1.GRPCRoute)) }},
	{group: GroupGateway, kind: "TLSRoute", versions: []string{"v1", "v1alpha3", "v1alpha2"}, namespaced: true,
		crd: "gateway.networking.k8s.io_tlsroutes.yaml", typ: reflect.TypeFor[gwapiv1.TLSRoute](), decode: decodeInto[gwapiv1.TLSRoute],
		add: func(s *Set, o any) { s.TLSRoutes = append(s.TLSRoutes, o.(*gwapiv1.TLSRoute)) }},
	{group: GroupGateway, kind: "TCPRoute", versions: []string{"v1", "v1alpha2"}, namespaced: true,
		crd: "gateway.networking.k8s.io_tcproutes.yaml", typ: reflect.TypeFor[gwapiv1.TCPRoute](), decode: decodeInto[gwapiv1.TCPRoute],
		add: func(s *Set, o any) { s.TCPRoutes = append(s.TCPRoutes, o.(*gwapiv1.TCPRoute)) }},
	{group: GroupGateway, kind: "UDPRoute", versions: []string{"v1", "v1alpha2"}, namespaced: true,
		crd: "gateway.networking.k8s.io_udproutes.yaml", typ: reflect.TypeFor[gwapiv1.UDPRoute](), decode: decodeInto[gwapiv1.UDPRoute],
		add: func(s *Set, o any) { s.UDPRoutes = append(s.UDPRoutes, o.(*gwapiv1.UDPRoute)) }},
	{group: GroupGateway, kind: "ReferenceGrant", versions: []string{"v1", "v1beta1", "v1alpha2"}, namespaced: true,
		crd: "gateway.networking.k8s.io_referencegrants.yaml", typ: reflect.TypeFor[gwapiv1.ReferenceGrant](), decode: decodeReferenceGrant,
		add: func(s *Set, o any) {
			s.ReferenceGrants = append(s.ReferenceGrants, o.(*gwapiv1beta1.ReferenceGrant))
		}},
	{group: GroupGateway, kind: "BackendTLSPolicy", versions: []string{"v1", "v1alpha3"}, namespaced: true,
		crd: "gateway.networking.k8s.io_backendtlspolicies.yaml", typ: reflect.TypeFor[gwapiv1.BackendTLSPolicy](), decode: decodeInto[gwapiv1.BackendTLSPolicy],
		add: func(s *Set, o any) {
			s.BackendTLSPolicies = append(s.BackendTLSPolicies, o.(*gwapiv1.BackendTLSPolicy))
		}},

	{group: GroupCore, kind: "Service", versions: []string{"v1"}, namespaced: true,
		typ: reflect.TypeFor[corev1.Service](), decode: decodeService, add: func(s *Set, o any) { s.Services = append(s.Services, o.(*corev1.Service)) }},
	{group: GroupDiscovery, kind: "EndpointSlice", versions: []string{"v1"}, namespaced: true,
		typ: reflect.TypeFor[discoveryv1.EndpointSlice](), decode: decodeEndpointSlice,
		add: func(s *Set, o any) {
			s.EndpointSlices = append(s.EndpointSlices, o.(*discoveryv1.EndpointSlice))
		}},
	{group: GroupCore, kind: "Secret", versions: []string{"v1"}, namespaced: true,
		typ: reflect.TypeFor[corev1.Secret](), decode: decodeSecret, add: func(s *Set, o any) { s.Secrets = append(s.Secrets, o.(*corev1.Secret)) }},
	{group: GroupCore, kind: "ConfigMap", versions: []string{"v1"}, namespaced: true,
		typ: reflect.TypeFor[corev1.ConfigMap](), decode: decodeInto[corev1.ConfigMap],
		add: func(s *Set, o any) { s.ConfigMaps = append(s.ConfigMaps, o.(*corev1.ConfigMap)) }},
	{group: GroupCore, kind: "Namespace", versions: []string{"v1"},
		typ: reflect.TypeFor[corev1.Namespace](), decode: decodeInto[corev1.Namespace],
		add: func(s *Set, o any) { s.Namespaces = append(s.Namespaces, o.(*corev1.Namespace)) }},
	{group: GroupCore, kind: "Pod", versions: []string{"v1"}, namespaced: true,
		typ: reflect.TypeFor[corev1.Pod](), decode: decodeInto[corev1.Pod], add: func(s *Set, o any) { s.Pods = append(s.Pods, o.(*corev1.Pod)) }},
}

// kindByGVK indexes kinds by "group/version/Kind".
var kindByGVK = func() map[string]*kindInfo {
	m := map[string]*kindInfo{}
	for i := range kinds {
		k := &kinds[i]
		for _, v := range k.versions {
			m[k.group+"/"+v+"/"+k.kind] = k
		}
	}
	return m
}()

// kindByName indexes kinds by Kind alone, to tell "wrong version" from "unknown kind".
var kindByName = func() map[string]*kindInfo {
	m := map[string]*kindInfo{}
	for i := range kinds {
		m[kinds[i].kind] = &kinds[i]
	}
	return m
}()

// IsNamespaced reports whether objects of kind live in a namespace. Unknown
// kinds are treated as namespaced.
func IsNamespaced(kind string) bool {
	if k, ok := kindByName[kind]; ok {
		return k.namespaced
	}
	return true
}

func decodeReferenceGrant(u map[string]any) (any, error) {
	o, err := decodeInto[gwapiv1.ReferenceGrant](u)
	if err != nil {
		return nil, err
	}
	return (*gwapiv1beta1.ReferenceGrant)(o.(*gwapiv1.ReferenceGrant)), nil
}

// decodeService applies the API server's defaults the translators rely on.
func decodeService(u map[string]any) (any, error) {
	o, err := decodeInto[corev1.Service](u)
	if err != nil {
		return nil, err
	}
	svc := o.(*corev1.Service)
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort.IntVal = p.Port
		}
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	return svc, nil
}

func decodeEndpointSlice(u map[string]any) (any, error) {
	o, err := decodeInto[discoveryv1.EndpointSlice](u)
	if err != nil {
		return nil, err
	}
	es := o.(*discoveryv1.EndpointSlice)
	for i := range es.Ports {
		if es.Ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			es.Ports[i].Protocol = &tcp
		}
	}
	return es, nil
}

// decodeSecret merges stringData into data, as the API server does on write.
func decodeSecret(u map[string]any) (any, error) {
	o, err := decodeInto[corev1.Secret](u)
	if err != nil {
		return nil, err
	}
	sec := o.(*corev1.Secret)
	if len(sec.StringData) > 0 {
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		for k, v := range sec.StringData {
			sec.Data[k] = []byte(v)
		}
		sec.StringData = nil
	}
	if sec.Type == "" {
		sec.Type = corev1.SecretTypeOpaque
	}
	return sec, nil
}
