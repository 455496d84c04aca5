package analyze

import (
	"fmt"
	"strings"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// parentRefAnalyzer finds parentRefs to Gateways, ListenerSets or Services
// that do not exist.
type parentRefAnalyzer struct{}

func (parentRefAnalyzer) Name() string { return "parent-refs" }
func (parentRefAnalyzer) Description() string {
	return "route parentRefs name a Gateway, ListenerSet or Service that exists"
}

func (parentRefAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	services := map[nsName]bool{}
	for n := range idx.services {
		services[n] = true
	}
	for _, rt := range ctx.routes() {
		var missing []string          // "Kind ns/name", in parentRefs order
		refs := map[string][]string{} // -> "parentRefs[i]"
		for i, p := range rt.parentRefs {
			group, kind := gatewayGroup, resource.KindGateway
			if p.Group != nil {
				group = string(*p.Group)
			}
			if p.Kind != nil {
				kind = string(*p.Kind)
			}
			n := nsName{refNamespace(p.Namespace, rt.key.Namespace), string(p.Name)}
			var found bool
			switch {
			case group == gatewayGroup && kind == resource.KindGateway:
				_, found = idx.gateways[n]
			case group == gatewayGroup && kind == resource.KindListenerSet:
				_, found = idx.lsets[n]
			case (group == "" || group == "core") && kind == resource.KindService:
				found = services[n]
			default:
				continue // other kinds belong to other controllers
			}
			if !found {
				parent := fmt.Sprintf("%s %s", kind, n)
				if refs[parent] == nil {
					missing = append(missing, parent)
				}
				refs[parent] = append(refs[parent], fmt.Sprintf("parentRefs[%d]", i))
			}
		}
		// One message per missing parent, however many refs name it (one
		// per section or port); the status analyzer leaves it out.
		for _, parent := range missing {
			ctx.Report(ParentNotFound, rt.key, "%s: %s does not exist", strings.Join(refs[parent], ", "), parent)
			ctx.markMissingParent(rt.key, parent)
		}
	}
}

// referenceGrantAnalyzer finds ReferenceGrants that allow references from
// their own namespace, which need no grant: the grant is almost always in
// the wrong namespace.
type referenceGrantAnalyzer struct{}

func (referenceGrantAnalyzer) Name() string { return "reference-grants" }
func (referenceGrantAnalyzer) Description() string {
	return "ReferenceGrants live in the namespace of the objects they expose"
}

func (referenceGrantAnalyzer) Run(ctx *Context) {
	for g := range ctx.Set.ReferenceGrants.Values() {
		for i, from := range g.Spec.From {
			if string(from.Namespace) != g.Namespace {
				continue
			}
			ctx.Report(ReferenceGrantNoEffect, key(resource.KindReferenceGrant, g.Namespace, g.Name),
				"from[%d] allows %s references from namespace %q, the grant's own namespace, which need no grant; a ReferenceGrant must be created in the namespace of the referenced objects",
				i, from.Kind, from.Namespace)
		}
	}
}

// backendPortAnalyzer checks backendRef ports against the Service.
type backendPortAnalyzer struct{}

func (backendPortAnalyzer) Name() string { return "backend-ports" }
func (backendPortAnalyzer) Description() string {
	return "Service backendRefs have a port, and the Service has that port"
}

func (backendPortAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	for _, rt := range ctx.routes() {
		for ri, rule := range rt.rules {
			for bi, b := range rule.backendRefs {
				if !isService(b.ref) {
					continue
				}
				n := nsName{refNamespace(b.ref.Namespace, rt.key.Namespace), string(b.ref.Name)}
				svc, ok := idx.services[n]
				if !ok {
					continue // BackendNotFound comes from the translator's status
				}
				where := fmt.Sprintf("rules[%d].backendRefs[%d]", ri, bi)
				if b.ref.Port == nil {
					what := "a port is required for Service backends"
					if len(svc.Spec.Ports) > 1 {
						what = "the Service has several ports, so the target is ambiguous"
					}
					ctx.Report(BackendPortMissing, rt.key, "%s: Service %s: port is required: %s (ports: %s)", where, n, what, servicePorts(svc))
					continue
				}
				if len(svc.Spec.Ports) == 0 {
					continue
				}
				found := false
				for _, p := range svc.Spec.Ports {
					if p.Port == int32(*b.ref.Port) {
						found = true
						break
					}
				}
				if !found {
					ctx.Report(BackendPortNotFound, rt.key, "%s: Service %s has no port %d (ports: %s)", where, n, *b.ref.Port, servicePorts(svc))
				}
			}
		}
	}
}

// weightAnalyzer finds rules whose backendRefs all have weight 0.
type weightAnalyzer struct{}

func (weightAnalyzer) Name() string { return "weights" }
func (weightAnalyzer) Description() string {
	return "every rule with backendRefs has a positive total weight"
}

func (weightAnalyzer) Run(ctx *Context) {
	for _, rt := range ctx.routes() {
		for ri, rule := range rt.rules {
			if len(rule.backendRefs) == 0 {
				continue
			}
			total := int64(0)
			for _, b := range rule.backendRefs {
				w := int64(1)
				if b.weight != nil {
					w = int64(*b.weight)
				}
				total += w
			}
			if total == 0 {
				ctx.Report(ZeroWeights, rt.key, "rules[%d]: every backendRef has weight 0, so the rule answers 500 to every request", ri)
			}
		}
	}
}
