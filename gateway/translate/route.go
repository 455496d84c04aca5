package translate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// route is one route object of any kind, as listener attachment sees it.
// Each route kind of resource's table (HTTPRoute here; other kinds in their
// own files) implements it and has its case in routeOf.
type route interface {
	// kind is the route's Kind ("HTTPRoute").
	kind() gwapiv1.Kind
	// meta is the route's object metadata.
	meta() *metav1.ObjectMeta
	// parentRefs are the route's spec.parentRefs.
	parentRefs() []gwapiv1.ParentReference
	// hostnames are the route's spec.hostnames; hasHostnames is false for
	// kinds without hostnames (TCP, UDP), which then match any listener.
	hostnames() []gwapiv1.Hostname
	hasHostnames() bool
	// outcome compiles the route once per translation (rules, backends) and
	// returns what its status reports independently of the parent.
	outcome(x *index) routeOutcome
	// program adds the route's configuration for one attachment.
	program(b *proxyBuilder, l *listenerState, hostnames []string)
}

// routeOf adapts one object of a route kind (resource.RoleRoute). Every
// route kind of resource's table has its case (TestEveryRouteKindTranslated).
func routeOf(o metav1.Object) (route, bool) {
	switch o := o.(type) {
	case *gwapiv1.HTTPRoute:
		return &httpRoute{obj: o}, true
	case *gwapiv1.GRPCRoute:
		return &grpcRoute{obj: o}, true
	case *gwapiv1.TLSRoute:
		return tlsRoute(o), true
	case *gwapiv1.TCPRoute:
		return tcpRoute(o), true
	case *gwapiv1.UDPRoute:
		return udpRoute(o), true
	}
	return nil, false
}

const (
	kindHTTPRoute gwapiv1.Kind = resource.KindHTTPRoute
	kindGateway   gwapiv1.Kind = resource.KindGateway
	kindService   gwapiv1.Kind = resource.KindService
	kindSecret    gwapiv1.Kind = resource.KindSecret
)

// listenerProtocols says, per listener protocol Gantry serves, which route
// kinds attach by default. Protocols not listed are UnsupportedProtocol.
var listenerProtocols = map[gwapiv1.ProtocolType][]gwapiv1.Kind{
	gwapiv1.HTTPProtocolType:  {kindHTTPRoute, kindGRPCRoute},
	gwapiv1.HTTPSProtocolType: {kindHTTPRoute, kindGRPCRoute},
	gwapiv1.TLSProtocolType:   {kindTLSRoute},
	gwapiv1.TCPProtocolType:   {kindTCPRoute},
	gwapiv1.UDPProtocolType:   {kindUDPRoute},
}

// routeOutcome is the parent-independent part of a route's status.
type routeOutcome struct {
	// rejected is set when no rule of the route is valid: the route is not
	// accepted (reason, message).
	rejected       bool
	acceptedReason gwapiv1.RouteConditionReason
	acceptedMsg    string
	// dropped names the rules left out; with some rules valid the route is
	// accepted and PartiallyInvalid says which were dropped.
	dropped []string
	// refsOK, refsReason and refsMsg make the ResolvedRefs condition.
	refsOK     bool
	refsReason gwapiv1.RouteConditionReason
	refsMsg    string
}

// routeID identifies a route across kinds.
type routeID struct {
	kind      gwapiv1.Kind
	namespace string
	name      string
}

func idOf(r route) routeID {
	m := r.meta()
	return routeID{kind: r.kind(), namespace: m.Namespace, name: m.Name}
}
