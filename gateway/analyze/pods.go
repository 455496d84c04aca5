package analyze

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/mesh/inject"
)

func podActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// serviceSelectorAnalyzer finds Services whose selector matches no Pod.
// Unless the Pod list is complete (live), it looks only at namespaces that
// have Pods in the input.
type serviceSelectorAnalyzer struct{}

func (serviceSelectorAnalyzer) Name() string { return "service-selectors" }
func (serviceSelectorAnalyzer) Description() string {
	return "Services with a selector select at least one Pod (when Pods are known)"
}

func (serviceSelectorAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	for svc := range ctx.Set.Services.Values() {
		if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		pods := idx.pods[svc.Namespace]
		if len(pods) == 0 && !ctx.PodsComplete {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		matched := false
		for _, p := range pods {
			if podActive(p) && sel.Matches(labels.Set(p.Labels)) {
				matched = true
				break
			}
		}
		if !matched {
			ctx.Report(ServiceSelectsNoPods, key(resource.KindService, svc.Namespace, svc.Name),
				"selector %s matches none of the %d Pods in namespace %s", sel, len(pods), svc.Namespace)
		}
	}
}

// injectionAnalyzer finds Pods that the injection policy (mesh/inject)
// says should carry the sidecar but do not: they were created before the
// namespace was labelled, or the webhook is not running.
type injectionAnalyzer struct{}

func (injectionAnalyzer) Name() string { return "sidecar-injection" }
func (injectionAnalyzer) Description() string {
	return "Pods in namespaces labelled " + inject.NamespaceLabel + "=" + inject.NamespaceEnabled + " have the " + inject.ContainerName + " sidecar"
}

func (injectionAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	for ns := range ctx.Set.Namespaces.Values() {
		if ns.Labels[inject.NamespaceLabel] != inject.NamespaceEnabled {
			continue
		}
		var missing []string
		total := 0
		for _, p := range idx.pods[ns.Name] {
			if !podActive(p) {
				continue
			}
			total++
			if inject.Decide(p, ns.Labels).Inject {
				missing = append(missing, p.Name)
			}
		}
		if len(missing) == 0 {
			continue
		}
		sort.Strings(missing)
		ctx.Report(InjectionWithoutSidecars, key(resource.KindNamespace, "", ns.Name),
			"%d of %d Pods have no %s container: %s", len(missing), total, inject.ContainerName, listSome(missing, 5))
	}
}

// listSome joins up to n names (the caller's order) and counts the rest.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
