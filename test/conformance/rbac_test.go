package conformance

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// rbacKinds are the chart's objects the controller's permissions come from.
var rbacKinds = []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// applyChartRBAC renders charts/gantry with its default values (release
// gantry in gantry-system, as `helm install` would) and creates its RBAC
// objects, so that the controller runs with exactly the chart's permissions.
func applyChartRBAC(t *testing.T, admin *rest.Config) {
	t.Helper()
	objs := renderChartRBAC(t)
	c, err := client.New(admin, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gantryNS}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("chart RBAC %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func renderChartRBAC(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	ch, err := loader.Load(filepath.Join(filepath.Dir(strings.TrimSpace(string(gomod))), "charts", "gantry"))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	opts := common.ReleaseOptions{Name: "gantry", Namespace: gantryNS, Revision: 1, IsInstall: true}
	vals, err := commonutil.ToRenderValuesWithSchemaValidation(ch, map[string]any{}, opts, common.DefaultCapabilities, false)
	if err != nil {
		t.Fatalf("chart values: %v", err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(files[name])), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("chart %s: %v", name, err)
			}
			u := &unstructured.Unstructured{Object: m}
			if m != nil && slices.Contains(rbacKinds, u.GetKind()) {
				out = append(out, u)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the chart rendered no RBAC objects")
	}
	return out
}
