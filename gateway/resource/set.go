// Package resource holds Gantry's inputs: an immutable Set of Gateway API and
// core Kubernetes objects, and the loaders that build it from YAML files
// while remembering where each object came from.
package resource

import (
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	securityv1alpha1 "github.com/gantryproxy/gantry/api/security/v1alpha1"
	"github.com/gantryproxy/gantry/internal/plist"
)

// Set is one snapshot of every input. Producers (file loader, kube informers)
// build a new Set for each change; nobody mutates a Set after it is built.
// Each kind is a persistent list (plist.List): a Set made from another by
// Spliced shares every chunk of a list that the change did not reach, so a
// one-object change costs a chunk and the chunk index, not a copy of the
// kind's list. Lists are in no particular order: translators sort what
// they emit. Two Sets holding the same objects may hold them in other
// chunks: compare Sets with Equal, not reflect.DeepEqual.
type Set struct {
	GatewayClasses     plist.List[*gwapiv1.GatewayClass]
	Gateways           plist.List[*gwapiv1.Gateway]
	ListenerSets       plist.List[*gwapiv1.ListenerSet]
	HTTPRoutes         plist.List[*gwapiv1.HTTPRoute]
	GRPCRoutes         plist.List[*gwapiv1.GRPCRoute]
	TLSRoutes          plist.List[*gwapiv1.TLSRoute]
	TCPRoutes          plist.List[*gwapiv1.TCPRoute]
	UDPRoutes          plist.List[*gwapiv1.UDPRoute]
	ReferenceGrants    plist.List[*gwapiv1beta1.ReferenceGrant]
	BackendTLSPolicies plist.List[*gwapiv1.BackendTLSPolicy]
	XMeshes            plist.List[*xv1alpha1.XMesh]

	AuthorizationPolicies plist.List[*securityv1alpha1.AuthorizationPolicy]

	Services       plist.List[*corev1.Service]
	EndpointSlices plist.List[*discoveryv1.EndpointSlice]
	Secrets        plist.List[*corev1.Secret]
	ConfigMaps     plist.List[*corev1.ConfigMap]
	Namespaces     plist.List[*corev1.Namespace]
	Pods           plist.List[*corev1.Pod]

	// Sources maps an object to the place it was read from; objects from the
	// API server have none. A Set made from another by Moved keeps the
	// places that changed since apart from this map: read places with
	// SourceOf (or Objects), or Compact the Set first.
	Sources map[Key]Source
	// moved holds the places that changed since Sources was made, over
	// it; a zero Source is an object that has none any more.
	moved map[Key]Source
}

// Key names one object.
type Key struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + " " + k.Name
	}
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

// Source is a position in an input file.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (s Source) String() string {
	if s.File == "" {
		return ""
	}
	return s.File + ":" + strconv.Itoa(s.Line)
}

// SourceOf returns where k was read from, if known.
func (s *Set) SourceOf(k Key) (Source, bool) {
	if s == nil {
		return Source{}, false
	}
	if src, ok := s.moved[k]; ok {
		return src, src != Source{}
	}
	src, ok := s.Sources[k]
	return src, ok
}

// Moved returns a copy of s, sharing every list and the Sources map with
// s, with the places of the objects in places changed (a zero Source: the
// object has none any more, as when it left the Set). It costs the places
// given and those kept apart since Sources was last made whole, which it
// is again (Compact) when they pass an eighth of it: a producer moves
// objects at the cost of the change rather than copying every place.
// Neither Set may be modified afterwards.
func (s *Set) Moved(places map[Key]Source) *Set {
	next := *s
	if len(s.moved)+len(places) == 0 {
		return &next
	}
	next.moved = make(map[Key]Source, len(s.moved)+len(places))
	maps.Copy(next.moved, s.moved)
	maps.Copy(next.moved, places)
	if len(next.moved) > max(16, len(s.Sources)/8) {
		return next.Compact()
	}
	return &next
}

// Compact returns s when its Sources map holds every place, and otherwise
// a copy of s whose Sources is a new map that does.
func (s *Set) Compact() *Set {
	if len(s.moved) == 0 {
		return s
	}
	next := *s
	next.Sources = make(map[Key]Source, len(s.Sources)+len(s.moved))
	maps.Copy(next.Sources, s.Sources)
	for k, src := range s.moved {
		if src == (Source{}) {
			delete(next.Sources, k)
		} else {
			next.Sources[k] = src
		}
	}
	next.moved = nil
	return &next
}

// Equal reports whether s and o hold equal objects (reflect.DeepEqual), in
// the same order kind by kind, read from the same places, whatever the
// chunks of their lists and however their places are kept (Moved).
func (s *Set) Equal(o *Set) bool {
	if s == nil || o == nil {
		return s == o
	}
	for i := range kinds {
		if !kinds[i].equal(s, o) {
			return false
		}
	}
	return maps.Equal(s.Compact().Sources, o.Compact().Sources)
}
