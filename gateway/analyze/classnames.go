package analyze

import (
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// DefaultClassName is the GatewayClass Gantry's Helm chart installs; a
// missing class near this name gets a "did you mean" too.
const DefaultClassName = "gantry"

// nearClass is the class name among candidates closest to name, if it is
// near: a prefix of the other, or within an edit distance of a third of
// the longer name (at least 2). Ties go to the first by name.
func nearClass(name string, candidates []string) string {
	best, bestDist := "", 1<<30
	sorted := slices.Clone(candidates)
	sort.Strings(sorted)
	for _, c := range sorted {
		if c == name {
			continue
		}
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		limit := max(2, max(len(name), len(c))/3)
		if strings.HasPrefix(name, c) || strings.HasPrefix(c, name) {
			d = min(d, limit)
		}
		if d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean is ` (did you mean "x"?)` for a near name, or "".
func didYouMean(name string, candidates []string) string {
	if n := nearClass(name, candidates); n != "" {
		return ` (did you mean "` + n + `"?)`
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func classNames(set *resource.Set) []string {
	names := make([]string, 0, set.GatewayClasses.Len())
	for c := range set.GatewayClasses.Values() {
		names = append(names, c.Name)
	}
	return names
}

// AssumeClasses returns set plus a GatewayClass of controller for every
// class a Gateway names that set lacks, unless a class of set has a near
// name (a likely typo, reported as GTY0502), and the names added; set
// itself is not modified. Offline, analyze and gantry translate both
// process a Gateway whose class is not in the input this way.
func AssumeClasses(set *resource.Set, controller string) (*resource.Set, []string) {
	existing := classNames(set)
	have := map[string]bool{}
	for _, n := range existing {
		have[n] = true
	}
	var names []string
	for g := range set.Gateways.Values() {
		n := string(g.Spec.GatewayClassName)
		if n != "" && !have[n] && nearClass(n, existing) == "" {
			have[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return set, nil
	}
	sort.Strings(names)
	out := *set
	added := make([]*gwapiv1.GatewayClass, len(names))
	for i, n := range names {
		added[i] = &gwapiv1.GatewayClass{
			ObjectMeta: metav1.ObjectMeta{Name: n},
			Spec:       gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(controller)},
		}
	}
	out.GatewayClasses = set.GatewayClasses.Append(added...)
	return &out, names
}
