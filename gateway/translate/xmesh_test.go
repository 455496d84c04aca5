package translate

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	"sigs.k8s.io/gateway-api/pkg/features"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
)

func xmesh(name, controller string, gen int64) *xv1alpha1.XMesh {
	return &xv1alpha1.XMesh{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen},
		Spec:       xv1alpha1.MeshSpec{ControllerName: gwapiv1.GatewayController(controller)},
	}
}

// TestMeshStatuses: an XMesh of Gantry is Accepted with the mesh's
// features; another controller's is left out; a parametersRef is refused.
func TestMeshStatuses(t *testing.T) {
	withParams := xmesh("with-params", DefaultControllerName, 2)
	withParams.Spec.ParametersRef = &gwapiv1.ParametersReference{Group: "", Kind: "ConfigMap", Name: "mesh-config"}
	in := []*xv1alpha1.XMesh{xmesh("zeta", DefaultControllerName, 3), xmesh("istio", "istio.io/mesh-controller", 1), withParams, xmesh("alpha", DefaultControllerName, 1)}
	before := make([]*xv1alpha1.XMesh, len(in))
	for i, m := range in {
		before[i] = m.DeepCopy()
	}
	got := MeshStatuses(in, DefaultControllerName)
	accepted := func(gen int64) xv1alpha1.MeshStatus {
		return xv1alpha1.MeshStatus{
			Conditions:        []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", ObservedGeneration: gen}},
			SupportedFeatures: MeshSupportedFeatures(),
		}
	}
	want := []status.XMesh{
		{Name: "alpha", Generation: 1, Status: accepted(1)},
		{Name: "with-params", Generation: 2, Status: xv1alpha1.MeshStatus{
			Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionFalse, Reason: "InvalidParameters", ObservedGeneration: 2,
				Message: `spec.parametersRef: Gantry's mesh takes no parameters (it names ConfigMap "mesh-config" of group ""); remove the reference`}},
			SupportedFeatures: MeshSupportedFeatures(),
		}},
		{Name: "zeta", Generation: 3, Status: accepted(3)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("XMesh statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("input modified (-before +after):\n%s", diff)
	}
	if got := MeshStatuses(in, "example.com/other"); len(got) != 0 {
		t.Errorf("another controller's statuses: %+v, want none", got)
	}
}

// TestMeshSupportedFeatures: XMesh status lists exactly the mesh features
// that work, sorted, never a Gateway feature; GatewayClass status never
// lists a MESH feature (the conformance suite drops both).
func TestMeshSupportedFeatures(t *testing.T) {
	var got, want []string
	for _, f := range MeshSupportedFeatures() {
		got = append(got, string(f.Name))
	}
	gatewayOnly := features.SetsToNamesSet(features.GatewayCoreFeatures, features.GatewayExtendedFeatures)
	for _, f := range MeshFeatures() {
		if gatewayOnly.Has(f.Name) {
			t.Errorf("%s is a Gateway feature; it has no place in the mesh table", f.Name)
		}
		if f.Works() {
			want = append(want, string(f.Name))
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("XMesh supportedFeatures (-want +got):\n%s", diff)
	}
	for _, f := range SupportedFeatures() {
		if meshOnly(features.FeatureName(f.Name)) {
			t.Errorf("GatewayClass supportedFeatures lists the MESH feature %s", f.Name)
		}
	}
}

// TestMeshFeatureTable: the mesh table lists every MESH profile feature
// once, each row has a known state, the tests a row names exist, and a
// claimed row names some.
func TestMeshFeatureTable(t *testing.T) {
	seen := map[features.FeatureName]int{}
	for _, f := range MeshFeatures() {
		seen[f.Name]++
		if f.State != FeatureTested && f.State != FeatureUntested && f.State != FeatureMissing {
			t.Errorf("%s: unknown state %q", f.Name, f.State)
		}
	}
	for _, p := range Profiles() {
		if !p.Mesh {
			continue
		}
		for _, n := range append(slices.Clone(p.Core), p.Extended...) {
			if seen[n] != 1 {
				t.Errorf("%s: %s appears %d times in the mesh table, want 1", p.Name, n, seen[n])
			}
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s appears %d times in the mesh table", n, c)
		}
	}
	tests := testFunctionNames(t)
	for _, f := range MeshFeatures() {
		for _, name := range f.Tests {
			if !tests[name] {
				t.Errorf("%s: test %s does not exist", f.Name, name)
			}
		}
		if !f.Works() {
			continue
		}
		if len(f.Tests) == 0 {
			t.Errorf("%s is claimed for the mesh without tests", f.Name)
		}
	}
}

// TestTranslateReportsXMeshes: Translate reports the XMeshes of the Set
// through MeshStatuses, with its controller name.
func TestTranslateReportsXMeshes(t *testing.T) {
	set := &resource.Set{XMeshes: plist.Of(xmesh("ours", "example.com/ctl", 1), xmesh("default", DefaultControllerName, 1))}
	got := Translate(set, Options{ControllerName: "example.com/ctl"}).Status.XMeshes
	if diff := cmp.Diff(MeshStatuses(set.XMeshes.Slice(), "example.com/ctl"), got); diff != "" || len(got) != 1 || got[0].Name != "ours" {
		t.Errorf("XMesh statuses (-want +got):\n%s (%+v)", diff, got)
	}
}
