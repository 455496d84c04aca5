package charts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// gatewayAPIModule returns the folder and version of the sigs.k8s.io/gateway-api
// module go.mod pins.
func gatewayAPIModule(t *testing.T) (dir, version string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("go list -m sigs.k8s.io/gateway-api: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) != 2 || fields[0] == "" {
		t.Fatalf("go list -m sigs.k8s.io/gateway-api printed %q (is the module downloaded? go mod download sigs.k8s.io/gateway-api)", out)
	}
	return fields[0], fields[1]
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	return globFiles(t, dir, "*.yaml")
}

// gatewayFiles are the Gateway API CRDs of dir (not Gantry's own).
func gatewayFiles(t *testing.T, dir string) []string {
	t.Helper()
	return globFiles(t, dir, "gateway.networking.k8s.io_*.yaml")
}

func globFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	slices.Sort(names)
	return names
}

// TestCRDsMatchModule fails when charts/gantry/crds differs from the pinned
// module's standard channel: after a gateway-api bump, run `make crds`.
func TestCRDsMatchModule(t *testing.T) {
	modDir, version := gatewayAPIModule(t)
	src := filepath.Join(modDir, "config", "crd", "standard")
	dst := filepath.Join(chartDir, "crds")

	var want []string
	for _, name := range yamlFiles(t, src) {
		if !strings.Contains(name, "_vap_") { // the admission policy is not a CRD; see hack/gen-crds.sh
			want = append(want, name)
		}
	}
	got := gatewayFiles(t, dst)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("charts/gantry/crds files differ from %s (-module +chart); run `make crds`:\n%s", src, diff)
	}
	for _, name := range want {
		a, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from sigs.k8s.io/gateway-api %s; run `make crds`", filepath.Join(dst, name), version)
		}
	}
	checkCRDs(t, dst, version)
}

// checkCRDs decodes every file strictly as a CustomResourceDefinition and
// checks the channel and bundle-version annotations, and that the chart's
// Chart.yaml names the same bundle version.
func checkCRDs(t *testing.T, dir, version string) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	kinds := map[string]bool{}
	for _, name := range gatewayFiles(t, dir) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		obj, _, err := decoder.Decode(data, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			t.Errorf("%s is a %T, not a CustomResourceDefinition", name, obj)
			continue
		}
		if crd.Spec.Group != "gateway.networking.k8s.io" {
			t.Errorf("%s: group %q", name, crd.Spec.Group)
		}
		ann := crd.Annotations
		if ann["gateway.networking.k8s.io/bundle-version"] != version || ann["gateway.networking.k8s.io/channel"] != "standard" {
			t.Errorf("%s: annotations %v, want bundle-version %s, channel standard", name, ann, version)
		}
		kinds[crd.Spec.Names.Kind] = true
	}
	for _, k := range []string{"GatewayClass", "Gateway", "HTTPRoute", "GRPCRoute", "ReferenceGrant", "BackendTLSPolicy"} {
		if !kinds[k] {
			t.Errorf("no CRD for %s in %s", k, dir)
		}
	}
	if got := loadChart(t).Metadata.Annotations["gateway.networking.k8s.io/bundle-version"]; got != version {
		t.Errorf("Chart.yaml bundle-version annotation %q, want %s", got, version)
	}
}

// TestGenCRDsScript runs hack/gen-crds.sh into a temporary folder: it must
// produce exactly the committed files.
func TestGenCRDsScript(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(filepath.Join("..", "hack", "gen-crds.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/gen-crds.sh: %v\n%s", err, b)
	}
	committed := filepath.Join(chartDir, "crds")
	if diff := cmp.Diff(yamlFiles(t, committed), yamlFiles(t, out)); diff != "" {
		t.Fatalf("files (-committed +generated):\n%s", diff)
	}
	for _, name := range yamlFiles(t, out) {
		a, errA := os.ReadFile(filepath.Join(committed, name))
		b, errB := os.ReadFile(filepath.Join(out, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: generated file differs from the committed one (%v, %v)", name, errA, errB)
		}
	}
}
