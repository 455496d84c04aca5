package resource

import (
	"iter"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/internal/plist"
)

// Group names of the kinds the loader reads.
const (
	GroupGateway   = "gateway.networking.k8s.io"
	GroupCore      = ""
	GroupDiscovery = "discovery.k8s.io"
	GroupSecurity  = securityv1alpha1.GroupName
	// GroupGatewayX is the experimental group of XMesh.
	GroupGatewayX = "gateway.networking.x-k8s.io"
)

// Kind names, as they appear in Key.Kind, in messages and in the providers'
// lists of changed kinds.
const (
	KindGatewayClass     = "GatewayClass"
	KindGateway          = "Gateway"
	KindListenerSet      = "ListenerSet"
	KindHTTPRoute        = "HTTPRoute"
	KindGRPCRoute        = "GRPCRoute"
	KindTLSRoute         = "TLSRoute"
	KindTCPRoute         = "TCPRoute"
	KindUDPRoute         = "UDPRoute"
	KindReferenceGrant   = "ReferenceGrant"
	KindBackendTLSPolicy = "BackendTLSPolicy"
	// KindAuthorizationPolicy is Gantry's own (security.gantry.io).
	KindAuthorizationPolicy = "AuthorizationPolicy"
	KindService             = "Service"
	KindEndpointSlice       = "EndpointSlice"
	KindSecret              = "Secret"
	KindConfigMap           = "ConfigMap"
	KindNamespace           = "Namespace"
	KindPod                 = "Pod"
	KindXMesh               = "XMesh"
)

// Watch says whether the kube provider watches a kind.
type Watch int

const (
	// WatchRequired kinds are watched; the provider does not start
	// without their API.
	WatchRequired Watch = iota + 1
	// WatchOptional kinds are watched when their API (a CRD) is installed
	// and skipped with a warning otherwise.
	WatchOptional
	// WatchNever kinds are read from files (and by `gantry analyze
	// --use-kube`) only.
	WatchNever
)

// Role is what a kind is to the translators and the status writer.
type Role int

const (
	// RoleInput kinds are read or referenced (Gateways, Services, ...).
	RoleInput Role = iota + 1
	// RoleRoute kinds have spec.parentRefs and status.parents; each is
	// adapted by gateway/translate (routeOf) and analyze (flattenRoute).
	RoleRoute
	// RolePolicy kinds have status.ancestors.
	RolePolicy
)

// KindInfo describes one kind of input: how files name it, where it lives,
// whether and how the kube provider watches it, and how it joins a Set.
// Every accepted version is decoded into one Go type, the Set's.
type KindInfo struct {
	Group string
	Kind  string
	// Versions are the API versions accepted in files.
	Versions []string
	// Resource is the plural resource name (REST paths, RBAC rules).
	Resource   string
	Namespaced bool
	// CRD is set for kinds defined by a CustomResourceDefinition: objects
	// are validated against its schema, embedded in package crds as
	// CRDFile().
	CRD   bool
	Watch Watch
	Role  Role
	// Status is set when Gantry writes the kind's status subresource.
	Status bool

	typ    reflect.Type
	decode func(u map[string]any) (any, error)
	put    func(s *Set, objs []any)
	each   func(s *Set, fn func(metav1.Object))
	count  func(s *Set) int
	splice func(next, prev *Set, parts []Part) error
	equal  func(a, b *Set) bool
	differ func(a, b *Set) iter.Seq2[metav1.Object, metav1.Object]
}

// CRDFile is the file of the kind's CRD in package crds ("" for built-in
// kinds).
func (k *KindInfo) CRDFile() string {
	if !k.CRD {
		return ""
	}
	return k.Group + "_" + k.Resource + ".yaml"
}

// New returns a new, empty object of the kind's Go type (a pointer, as the
// Set holds it).
func (k *KindInfo) New() metav1.Object {
	return reflect.New(k.typ).Interface().(metav1.Object)
}

// Named returns a new, empty object of the kind named name, in namespace
// when the kind is namespaced.
func (k *KindInfo) Named(namespace, name string) metav1.Object {
	o := k.New()
	o.SetName(name)
	if k.Namespaced {
		o.SetNamespace(namespace)
	}
	return o
}

// Put makes objs, pointers of the kind's Go type, the kind's list of s.
func (k *KindInfo) Put(s *Set, objs []any) { k.put(s, objs) }

// Each calls fn for every object of the kind in s, in Set order.
func (k *KindInfo) Each(s *Set, fn func(metav1.Object)) { k.each(s, fn) }

// Differing yields the objects of the kind in a and b, whose lists of it
// have the same length (Count), at each position where they are not the
// same pointer, in order; the runs of the lists a and b share (a Set made
// from the other by Spliced) are skipped without a look. It panics when
// the lengths differ.
func (k *KindInfo) Differing(a, b *Set) iter.Seq2[metav1.Object, metav1.Object] {
	return k.differ(a, b)
}

// entry completes the description of a kind whose objects are *T, held in
// the Set list that field points at.
func entry[T any, P interface {
	*T
	metav1.Object
}](k KindInfo, field func(*Set) *plist.List[P]) KindInfo {
	k.typ = reflect.TypeFor[T]()
	if k.decode == nil {
		k.decode = decodeInto[T]
	}
	k.put = func(s *Set, objs []any) {
		list := make([]P, len(objs))
		for i, o := range objs {
			list[i] = o.(P)
		}
		*field(s) = plist.Of(list...)
	}
	k.each = func(s *Set, fn func(metav1.Object)) {
		for o := range field(s).Values() {
			fn(o)
		}
	}
	k.count = func(s *Set) int { return field(s).Len() }
	k.splice = func(next, prev *Set, parts []Part) error {
		list, err := spliceList(k.Kind, *field(prev), parts)
		*field(next) = list
		return err
	}
	k.differ = func(a, b *Set) iter.Seq2[metav1.Object, metav1.Object] {
		return func(yield func(metav1.Object, metav1.Object) bool) {
			for x, y := range plist.Differ(*field(a), *field(b)) {
				if !yield(x, y) {
					return
				}
			}
		}
	}
	k.equal = func(a, b *Set) bool {
		return field(a).Equal(*field(b))
	}
	return k
}

// kinds is the one ordered table of the kinds Gantry reads. Loading,
// schema validation, the kube provider's watches, status sweeps and RBAC
// checks, analyze and translate derive their lists from it; adding a kind
// is one entry here plus its translation (docs/architecture.md).
var kinds = []KindInfo{
	entry(KindInfo{Group: GroupGateway, Kind: KindGatewayClass, Versions: []string{"v1", "v1beta1"}, Resource: "gatewayclasses",
		CRD: true, Watch: WatchRequired, Role: RoleInput, Status: true}, func(s *Set) *plist.List[*gwapiv1.GatewayClass] { return &s.GatewayClasses }),
	entry(KindInfo{Group: GroupGateway, Kind: KindGateway, Versions: []string{"v1", "v1beta1"}, Resource: "gateways", Namespaced: true,
		CRD: true, Watch: WatchRequired, Role: RoleInput, Status: true}, func(s *Set) *plist.List[*gwapiv1.Gateway] { return &s.Gateways }),
	entry(KindInfo{Group: GroupGateway, Kind: KindListenerSet, Versions: []string{"v1"}, Resource: "listenersets", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleInput, Status: true}, func(s *Set) *plist.List[*gwapiv1.ListenerSet] { return &s.ListenerSets }),
	entry(KindInfo{Group: GroupGateway, Kind: KindHTTPRoute, Versions: []string{"v1", "v1beta1"}, Resource: "httproutes", Namespaced: true,
		CRD: true, Watch: WatchRequired, Role: RoleRoute, Status: true}, func(s *Set) *plist.List[*gwapiv1.HTTPRoute] { return &s.HTTPRoutes }),
	entry(KindInfo{Group: GroupGateway, Kind: KindGRPCRoute, Versions: []string{"v1", "v1alpha2"}, Resource: "grpcroutes", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleRoute, Status: true}, func(s *Set) *plist.List[*gwapiv1.GRPCRoute] { return &s.GRPCRoutes }),
	entry(KindInfo{Group: GroupGateway, Kind: KindTLSRoute, Versions: []string{"v1", "v1alpha3", "v1alpha2"}, Resource: "tlsroutes", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleRoute, Status: true}, func(s *Set) *plist.List[*gwapiv1.TLSRoute] { return &s.TLSRoutes }),
	entry(KindInfo{Group: GroupGateway, Kind: KindTCPRoute, Versions: []string{"v1", "v1alpha2"}, Resource: "tcproutes", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleRoute, Status: true}, func(s *Set) *plist.List[*gwapiv1.TCPRoute] { return &s.TCPRoutes }),
	entry(KindInfo{Group: GroupGateway, Kind: KindUDPRoute, Versions: []string{"v1", "v1alpha2"}, Resource: "udproutes", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleRoute, Status: true}, func(s *Set) *plist.List[*gwapiv1.UDPRoute] { return &s.UDPRoutes }),
	// ReferenceGrant is held as v1beta1, the version every cluster serves.
	entry(KindInfo{Group: GroupGateway, Kind: KindReferenceGrant, Versions: []string{"v1", "v1beta1", "v1alpha2"}, Resource: "referencegrants", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RoleInput}, func(s *Set) *plist.List[*gwapiv1beta1.ReferenceGrant] { return &s.ReferenceGrants }),
	entry(KindInfo{Group: GroupGateway, Kind: KindBackendTLSPolicy, Versions: []string{"v1", "v1alpha3"}, Resource: "backendtlspolicies", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RolePolicy, Status: true}, func(s *Set) *plist.List[*gwapiv1.BackendTLSPolicy] { return &s.BackendTLSPolicies }),
	entry(KindInfo{Group: GroupSecurity, Kind: KindAuthorizationPolicy, Versions: []string{"v1alpha1"}, Resource: "authorizationpolicies", Namespaced: true,
		CRD: true, Watch: WatchOptional, Role: RolePolicy, Status: true}, func(s *Set) *plist.List[*securityv1alpha1.AuthorizationPolicy] { return &s.AuthorizationPolicies }),

	// XMesh: mesh-wide status (Accepted, supported features) of meshes of
	// Gantry's controllerName.
	entry(KindInfo{Group: GroupGatewayX, Kind: KindXMesh, Versions: []string{"v1alpha1"}, Resource: "xmeshes",
		CRD: true, Watch: WatchOptional, Role: RoleInput, Status: true}, func(s *Set) *plist.List[*xv1alpha1.XMesh] { return &s.XMeshes }),

	entry(KindInfo{Group: GroupCore, Kind: KindService, Versions: []string{"v1"}, Resource: "services", Namespaced: true,
		Watch: WatchRequired, Role: RoleInput, decode: decodeService}, func(s *Set) *plist.List[*corev1.Service] { return &s.Services }),
	entry(KindInfo{Group: GroupDiscovery, Kind: KindEndpointSlice, Versions: []string{"v1"}, Resource: "endpointslices", Namespaced: true,
		Watch: WatchRequired, Role: RoleInput, decode: decodeEndpointSlice}, func(s *Set) *plist.List[*discoveryv1.EndpointSlice] { return &s.EndpointSlices }),
	entry(KindInfo{Group: GroupCore, Kind: KindSecret, Versions: []string{"v1"}, Resource: "secrets", Namespaced: true,
		Watch: WatchRequired, Role: RoleInput, decode: decodeSecret}, func(s *Set) *plist.List[*corev1.Secret] { return &s.Secrets }),
	entry(KindInfo{Group: GroupCore, Kind: KindConfigMap, Versions: []string{"v1"}, Resource: "configmaps", Namespaced: true,
		Watch: WatchRequired, Role: RoleInput}, func(s *Set) *plist.List[*corev1.ConfigMap] { return &s.ConfigMaps }),
	entry(KindInfo{Group: GroupCore, Kind: KindNamespace, Versions: []string{"v1"}, Resource: "namespaces",
		Watch: WatchRequired, Role: RoleInput}, func(s *Set) *plist.List[*corev1.Namespace] { return &s.Namespaces }),
	// Pods give the mesh its workload identities (service accounts) and
	// per-workload settings; the kube provider caches them stripped to
	// what the mesh reads (gateway/provider/kube/pods.go).
	entry(KindInfo{Group: GroupCore, Kind: KindPod, Versions: []string{"v1"}, Resource: "pods", Namespaced: true,
		Watch: WatchRequired, Role: RoleInput}, func(s *Set) *plist.List[*corev1.Pod] { return &s.Pods }),
}

// Kinds returns the table of kinds, in order.
func Kinds() []KindInfo { return slices.Clone(kinds) }

// KindOf returns the description of the kind named kind.
func KindOf(kind string) (KindInfo, bool) {
	k, ok := kindByName[kind]
	if !ok {
		return KindInfo{}, false
	}
	return *k, true
}

// KindsWith returns the kinds of the table with role r, in order.
func KindsWith(r Role) []KindInfo {
	var out []KindInfo
	for _, k := range kinds {
		if k.Role == r {
			out = append(out, k)
		}
	}
	return out
}

// Each calls fn for every object of s with its key, kind by kind in table
// order, each kind in Set order.
func (s *Set) Each(fn func(k Key, obj metav1.Object)) {
	for i := range kinds {
		k := &kinds[i]
		k.each(s, func(o metav1.Object) {
			fn(Key{Kind: k.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}, o)
		})
	}
}

// Objects lists every object of s with its key and source, in the order of
// Each.
func (s *Set) Objects() []Object {
	if s == nil {
		return nil
	}
	var out []Object
	s.Each(func(k Key, o metav1.Object) {
		src, _ := s.SourceOf(k)
		out = append(out, Object{Key: k, Source: src, Value: o})
	})
	return out
}

// kindByGVK indexes kinds by "group/version/Kind".
var kindByGVK = func() map[string]*KindInfo {
	m := map[string]*KindInfo{}
	for i := range kinds {
		k := &kinds[i]
		for _, v := range k.Versions {
			m[k.Group+"/"+v+"/"+k.Kind] = k
		}
	}
	return m
}()

// kindByName indexes kinds by Kind alone, to tell "wrong version" from "unknown kind".
var kindByName = func() map[string]*KindInfo {
	m := map[string]*KindInfo{}
	for i := range kinds {
		m[kinds[i].Kind] = &kinds[i]
	}
	return m
}()

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
