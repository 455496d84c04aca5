// Package translate turns a resource.Set into proxy configuration (xds/ir) for
// every Gateway Gantry controls, and the Gateway API status of every input.
//
// Translation is a pure function: no clients, goroutines, clock, randomness
// or logging. The same Set, in any order, gives byte-identical output, and
// the Set is never mutated.
package translate

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/consts"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// DefaultControllerName is the GatewayClass controllerName Gantry accepts.
const DefaultControllerName = "gantryproxy.io/gateway-controller"

// Options tune a translation.
type Options struct {
	// ControllerName selects the GatewayClasses to act on; empty means
	// DefaultControllerName.
	ControllerName string
}

// Result is the output of one translation.
type Result struct {
	// Proxies holds one entry per Gateway of an accepted class, sorted by
	// Name ("gateway/<namespace>/<name>").
	Proxies []*ir.Proxy `json:"proxies"`
	// Status is the status of every input object of Gantry's classes.
	Status *status.Report `json:"status"`
}

// ProxyName is the node group name of a Gateway's Envoy fleet.
func ProxyName(namespace, name string) string {
	return "gateway/" + namespace + "/" + name
}

// translator holds one translation's index and options.
type translator struct {
	x    *index
	opts Options
	// byGateway lists, per Gateway, the routes whose parentRefs name it.
	byGateway map[nsName][]route
}

// Translate computes the configuration and status for set.
func Translate(set *resource.Set, opts Options) *Result {
	res, _ := TranslateMemo(set, opts)
	return res
}

// TranslateMemo is Translate, with the memo that lets the next
// translation recompute only changed routes (Memo.Routes).
func TranslateMemo(set *resource.Set, opts Options) (*Result, *Memo) {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	t := &translator{x: newIndex(set), opts: opts}
	t.indexRoutes()
	res := &Result{Status: &status.Report{}}
	memo := &Memo{set: set, opts: opts, gateways: map[nsName]*gatewayMemo{}, complete: true}
	rejected := t.gatewayClasses(res.Status)
	parents := map[routeID][]routeParent{}
	for _, gw := range t.x.gateways {
		memo.gateways[nsName{gw.Namespace, gw.Name}] = nil // until it has a proxy
		gc := t.x.classes[string(gw.Spec.GatewayClassName)]
		if gc == nil || string(gc.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		if why, ok := rejected[gc.Name]; ok {
			res.Status.Gateways = append(res.Status.Gateways, classRejectedGateway(gw, why))
			continue
		}
		if err := t.gatewayParameters(gw); err != nil {
			res.Status.Gateways = append(res.Status.Gateways, rejectedGateway(gw, gwapiv1.GatewayReasonInvalidParameters, err.Error()))
			continue
		}
		tel, err := t.gatewayTelemetry(gw, gc)
		if err != nil {
			res.Status.Gateways = append(res.Status.Gateways, rejectedGateway(gw, gwapiv1.GatewayReasonInvalidParameters, err.Error()))
			continue
		}
		gr := t.translateGateway(gw)
		gr.proxy.Telemetry = tel
		setEdge(gr.proxy, t.fleetParams(gw).Edge)
		gr.memo.proxy = gr.proxy
		memo.gateways[nsName{gw.Namespace, gw.Name}] = gr.memo
		res.Proxies = append(res.Proxies, gr.proxy)
		res.Status.Gateways = append(res.Status.Gateways, gr.status)
		res.Status.ListenerSets = append(res.Status.ListenerSets, gr.listenerSets...)
		for _, p := range gr.parents {
			id := idOf(p.route)
			parents[id] = append(parents[id], p)
		}
	}
	res.Status.Routes = routeStatuses(t.x.routes, parents)
	res.Status.BackendTLSPolicies = t.policyStatuses(res.Proxies)
	if set != nil {
		res.Status.XMeshes = MeshStatuses(set.XMeshes.Slice(), t.opts.ControllerName)
	}
	slices.SortFunc(res.Proxies, func(a, b *ir.Proxy) int { return cmp.Compare(a.Name, b.Name) })
	res.Status.Sort()
	return res, memo
}

// gatewayClasses reports the status of every class of this controller and
// returns why each rejected one is not accepted, by name.
func (t *translator) gatewayClasses(rep *status.Report) map[string]classRejection {
	rejected := map[string]classRejection{}
	names := make([]string, 0, len(t.x.classes))
	for n := range t.x.classes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		gc := t.x.classes[n]
		if string(gc.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		gen := gc.Generation
		acc := status.Condition(gwapiv1.GatewayClassConditionStatusAccepted, true, gwapiv1.GatewayClassReasonAccepted, "", gen)
		if err := t.classParameters(gc); err != nil {
			why := classRejection{reason: gwapiv1.GatewayClassReasonInvalidParameters, message: err.Error()}
			acc = status.Condition(gwapiv1.GatewayClassConditionStatusAccepted, false, why.reason, why.message, gen)
			rejected[n] = why
		}
		ver := status.Condition(gwapiv1.GatewayClassConditionStatusSupportedVersion, true, gwapiv1.GatewayClassReasonSupportedVersion,
			"Gateway API "+consts.BundleVersion, gen)
		rep.GatewayClasses = append(rep.GatewayClasses, status.GatewayClass{
			Name: n, Generation: gen,
			Status: gwapiv1.GatewayClassStatus{Conditions: []metav1.Condition{acc, ver}, SupportedFeatures: SupportedFeatures()},
		})
	}
	return rejected
}

// indexRoutes lists, per Gateway, the routes that reference it.
func (t *translator) indexRoutes() {
	t.byGateway = map[nsName][]route{}
	for _, r := range t.x.routes {
		var seen []nsName
		for _, ref := range r.parentRefs() {
			if ref.Group != nil && string(*ref.Group) != gwapiv1.GroupName {
				continue
			}
			k, isSet := t.listenerSetGateway(ref, r.meta().Namespace)
			if !isSet && ref.Kind != nil && *ref.Kind != kindGateway {
				continue
			}
			if !isSet {
				k = nsName{r.meta().Namespace, string(ref.Name)}
				if ref.Namespace != nil {
					k.ns = string(*ref.Namespace)
				}
			}
			if !slices.Contains(seen, k) {
				seen = append(seen, k)
				t.byGateway[k] = append(t.byGateway[k], r)
			}
		}
	}
}

// routesOf returns the routes naming gw, in route order.
func (t *translator) routesOf(gw *gwapiv1.Gateway) []route {
	return t.byGateway[nsName{gw.Namespace, gw.Name}]
}

// routeStatuses assembles each route's parent entries in parentRef order.
func routeStatuses(routes []route, parents map[routeID][]routeParent) []status.Route {
	var out []status.Route
	for _, r := range routes {
		ps := parents[idOf(r)]
		if len(ps) == 0 {
			continue
		}
		slices.SortStableFunc(ps, func(a, b routeParent) int { return cmp.Compare(a.index, b.index) })
		m := r.meta()
		st := status.Route{Kind: string(r.kind()), Namespace: m.Namespace, Name: m.Name, Generation: m.Generation}
		for _, p := range ps {
			st.Parents = append(st.Parents, p.status)
		}
		out = append(out, st)
	}
	return out
}
