package kube

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/test/envtest"
)

func xmesh(name, controller string) *xv1alpha1.XMesh {
	return &xv1alpha1.XMesh{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: xv1alpha1.MeshSpec{ControllerName: gwapiv1.GatewayController(controller)}}
}

// TestXMeshStatusOnAPIServer: the writer puts an XMesh's Accepted condition
// and supportedFeatures on the API server (whose CRD validates them), keeps
// the transition time of an unchanged condition, and leaves another
// controller's XMesh as it was created.
func TestXMeshStatusOnAPIServer(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "xmesh")
	ctrl := "gantryproxy.io/test-" + ns
	ours, theirs := xmesh("ours-"+ns, ctrl), xmesh("theirs-"+ns, "example.com/other-mesh")
	envtest.Create(t, c, ours, theirs)
	ctx := testContext(t, 60*time.Second)
	if err := c.Get(ctx, client.ObjectKeyFromObject(theirs), theirs); err != nil {
		t.Fatal(err)
	}
	before := theirs.Status.DeepCopy()

	clk := newClock(time.Unix(5000, 0))
	w := NewStatusWriter(c, StatusOptions{ControllerName: ctrl, Now: clk.now, SweepInterval: -1})
	features := []gwapiv1.SupportedFeature{{Name: "HTTPRoute"}, {Name: "Mesh"}}
	rep := &status.Report{XMeshes: []status.XMesh{{Name: ours.Name, Generation: ours.Generation, Status: xv1alpha1.MeshStatus{
		Conditions:        []metav1.Condition{cond("Accepted", metav1.ConditionTrue, "Accepted")},
		SupportedFeatures: features,
	}}}}
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	got := &xv1alpha1.XMesh{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ours), got); err != nil {
		t.Fatal(err)
	}
	want := []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "Accepted",
		ObservedGeneration: ours.Generation, LastTransitionTime: metav1.NewTime(time.Unix(5000, 0))}}
	if diff := cmp.Diff(want, got.Status.Conditions); diff != "" {
		t.Errorf("XMesh conditions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(features, got.Status.SupportedFeatures); diff != "" {
		t.Errorf("XMesh supportedFeatures (-want +got):\n%s", diff)
	}

	clk.advance(time.Hour)
	writes := w.Writes()
	if err := w.Write(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if w.Writes() != writes {
		t.Errorf("an unchanged XMesh status was written again")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(theirs), theirs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, &theirs.Status); diff != "" {
		t.Errorf("another controller's XMesh changed (-before +after):\n%s", diff)
	}
}

// TestRelevantXMeshes: the provider keeps only the XMeshes of its
// controllerName.
func TestRelevantXMeshes(t *testing.T) {
	set := &resource.Set{XMeshes: plist.Of(xmesh("a", DefaultControllerName), xmesh("b", "example.com/other"))}
	out := filterRelevant(set, Options{})
	if out.XMeshes.Len() != 1 || out.XMeshes.At(0).Name != "a" {
		t.Errorf("XMeshes kept: %+v, want only a", out.XMeshes.Slice())
	}
}
