package translate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	gwtranslate "github.com/gantryproxy/gantry/gateway/translate"
)

const (
	kindHTTPRoute gwapiv1.Kind = resource.KindHTTPRoute
	kindGRPCRoute gwapiv1.Kind = resource.KindGRPCRoute
	kindService   gwapiv1.Kind = resource.KindService
)

// attachedRoute is one route applying to one Service port.
type attachedRoute struct {
	kind      gwapiv1.Kind
	namespace string
	name      string
	compiled  *gwtranslate.CompiledRoute
}

// consumer reports whether the route applies only to clients of its own
// namespace (it lives outside the Service's namespace).
func (a attachedRoute) consumer(svcNamespace string) bool { return a.namespace != svcNamespace }

// meshRoute is the part of an HTTPRoute or GRPCRoute attachment needs.
type meshRoute struct {
	kind    gwapiv1.Kind
	meta    *metav1.ObjectMeta
	parents []gwapiv1.ParentReference
}

// meshRoutes lists every HTTPRoute then GRPCRoute, each sorted by
// namespace/name.
func (t *translator) meshRoutes() []meshRoute {
	var out []meshRoute
	https := t.set.HTTPRoutes.Slice()
	slices.SortStableFunc(https, func(a, b *gwapiv1.HTTPRoute) int { return byMeta(&a.ObjectMeta, &b.ObjectMeta) })
	for _, r := range https {
		out = append(out, meshRoute{kind: kindHTTPRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs})
	}
	grpcs := t.set.GRPCRoutes.Slice()
	slices.SortStableFunc(grpcs, func(a, b *gwapiv1.GRPCRoute) int { return byMeta(&a.ObjectMeta, &b.ObjectMeta) })
	for _, r := range grpcs {
		out = append(out, meshRoute{kind: kindGRPCRoute, meta: &r.ObjectMeta, parents: r.Spec.ParentRefs})
	}
	return out
}

// ptrNS is *n, or "" for nil.
func ptrNS(n *gwapiv1.Namespace) gwapiv1.Namespace {
	if n == nil {
		return ""
	}
	return *n
}

func byMeta(a, b *metav1.ObjectMeta) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// isServiceParent reports whether a parentRef names a Service (group "",
// kind Service).
func isServiceParent(ref gwapiv1.ParentReference) bool {
	return ref.Group != nil && *ref.Group == "" && ref.Kind != nil && *ref.Kind == kindService
}

// attach records which routes apply to which Service ports and returns the
// status of every route with a Service parent (mesh parent entries only, in
// parentRef order).
func (t *translator) attach() []status.Route { return t.attachWhere(nil) }

// attachTo records which routes apply to the Service ports of namespaces
// alone (what the server side of their groups reads), compiling only the
// routes with a parent there.
func (t *translator) attachTo(namespaces []string) {
	t.attachWhere(func(ns string) bool { return slices.Contains(namespaces, ns) })
}

// attachWhere is attach for the Service parents in the namespaces keep
// accepts (every one when keep is nil).
func (t *translator) attachWhere(keep func(ns string) bool) []status.Route {
	var out []status.Route
	for _, r := range t.meshRoutes() {
		var parents []gwapiv1.RouteParentStatus
		var compiled *gwtranslate.CompiledRoute
		for _, ref := range r.parents {
			if !isServiceParent(ref) || (keep != nil && !keep(string(cmp.Or(ptrNS(ref.Namespace), gwapiv1.Namespace(r.meta.Namespace))))) {
				continue
			}
			if compiled == nil {
				compiled, _ = t.routes.Compile(r.kind, r.meta.Namespace, r.meta.Name)
			}
			parents = append(parents, t.attachParent(r, ref, compiled))
		}
		if len(parents) == 0 {
			continue
		}
		out = append(out, status.Route{
			Kind: string(r.kind), Namespace: r.meta.Namespace, Name: r.meta.Name,
			Generation: r.meta.Generation, Parents: parents,
		})
	}
	return out
}

// attachParent attaches a route to the ports of one Service parent and
// renders that parent's status.
func (t *translator) attachParent(r meshRoute, ref gwapiv1.ParentReference, c *gwtranslate.CompiledRoute) gwapiv1.RouteParentStatus {
	gen := r.meta.Generation
	ns := r.meta.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	ports, problem := t.parentPorts(ns, ref)
	var conds []metav1.Condition
	switch {
	case problem != "":
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, false, gwapiv1.RouteReasonNoMatchingParent, problem, gen))
	case c == nil:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, false, gwapiv1.RouteReasonUnsupportedValue, "route could not be compiled", gen))
	case c.Outcome.Rejected:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, false, c.Outcome.AcceptedReason, c.Outcome.AcceptedMessage, gen))
	default:
		conds = append(conds, status.Condition(gwapiv1.RouteConditionAccepted, true, gwapiv1.RouteReasonAccepted, "", gen))
		for _, p := range ports {
			k := portKey{ns: ns, name: string(ref.Name), port: p}
			a := attachedRoute{kind: r.kind, namespace: r.meta.Namespace, name: r.meta.Name, compiled: c}
			if !slices.ContainsFunc(t.attached[k], func(o attachedRoute) bool { return o.kind == a.kind && o.namespace == a.namespace && o.name == a.name }) {
				t.attached[k] = append(t.attached[k], a)
			}
		}
	}
	if c != nil {
		conds = append(conds, status.Condition(gwapiv1.RouteConditionResolvedRefs, c.Outcome.ResolvedRefs, c.Outcome.RefsReason, c.Outcome.RefsMessage, gen))
		if problem == "" && !c.Outcome.Rejected && len(c.Outcome.Dropped) > 0 {
			conds = append(conds, status.Condition(gwapiv1.RouteConditionPartiallyInvalid, true, gwapiv1.RouteReasonUnsupportedValue,
				"Dropped Rule(s): "+strings.Join(c.Outcome.Dropped, "; "), gen))
		}
	}
	return gwapiv1.RouteParentStatus{
		ParentRef:      ref,
		ControllerName: gwapiv1.GatewayController(t.opts.ControllerName),
		Conditions:     conds,
	}
}

// parentPorts lists the Service ports a Service parentRef selects (its port,
// its sectionName as a port name, or every mesh port), or why none.
func (t *translator) parentPorts(ns string, ref gwapiv1.ParentReference) ([]int32, string) {
	svc := t.byName[nsName{ns, string(ref.Name)}]
	if svc == nil {
		return nil, fmt.Sprintf("Service %s/%s not found", ns, ref.Name)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, fmt.Sprintf("Service %s/%s: type ExternalName cannot be a mesh parent", ns, ref.Name)
	}
	var out []int32
	for _, p := range meshPorts(svc) {
		if ref.Port != nil && int32(*ref.Port) != p.Port {
			continue
		}
		if ref.SectionName != nil && string(*ref.SectionName) != p.Name {
			continue
		}
		out = append(out, p.Port)
	}
	if len(out) == 0 {
		what := "no TCP port"
		switch {
		case ref.Port != nil && ref.SectionName != nil:
			what = fmt.Sprintf("no TCP port %d named %q", *ref.Port, *ref.SectionName)
		case ref.Port != nil:
			what = fmt.Sprintf("no TCP port %d", *ref.Port)
		case ref.SectionName != nil:
			what = fmt.Sprintf("no TCP port named %q", *ref.SectionName)
		}
		return nil, fmt.Sprintf("Service %s/%s has %s", ns, ref.Name, what)
	}
	return out, ""
}
