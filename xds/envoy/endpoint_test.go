package envoy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
)

// BuildEndpoints of one cluster gives exactly the assignments Build emits
// for it and for the merged UDP clusters that join it, for every golden case.
func TestBuildEndpointsMatchesBuild(t *testing.T) {
	checked, merged := 0, 0
	for _, c := range irCases(t) {
		if c.Case.Error != "" {
			continue
		}
		full, err := Build(&c.Case.Proxy, c.Case.Options)
		if err != nil {
			t.Fatalf("%s: %v", c.Path, err)
		}
		byName := map[string]any{}
		for _, r := range full.Endpoints {
			byName[resourceName(r)] = r
		}
		for cl := range c.Case.Proxy.Clusters.Values() {
			if cl.OriginalDestination {
				continue // no endpoints: connects where the client dialled
			}
			got, err := BuildEndpoints(&c.Case.Proxy, []string{cl.Name}, c.Case.Options)
			if err != nil {
				t.Fatalf("%s: cluster %s: %v", c.Name, cl.Name, err)
			}
			if len(got) == 0 || resourceName(got[0]) != cl.Name && !strings.HasPrefix(resourceName(got[0]), "gantry/udp/") {
				t.Fatalf("%s: cluster %s: got %d assignments", c.Name, cl.Name, len(got))
			}
			for _, r := range got {
				want, ok := byName[resourceName(r)]
				if !ok {
					t.Fatalf("%s: %s is not in Build's output", c.Name, resourceName(r))
				}
				if d := cmp.Diff(want, r, protocmp.Transform()); d != "" {
					t.Fatalf("%s: %s differs from Build's (-build +endpoints):\n%s", c.Name, resourceName(r), d)
				}
				if strings.HasPrefix(resourceName(r), "gantry/udp/") {
					merged++
				}
				checked++
			}
		}
	}
	if checked == 0 || merged == 0 {
		t.Fatalf("checked %d assignments, %d merged UDP ones; the cases cover neither", checked, merged)
	}
	if got, err := BuildEndpoints(&irCases(t)[0].Case.Proxy, []string{"no-such-cluster"}, Options{}); err != nil || len(got) != 0 {
		t.Fatalf("unknown cluster: %v, %v", got, err)
	}
}
