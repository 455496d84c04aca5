package charts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "gantry"
	releaseName = "gantry"
	releaseNS   = "gantry-system"
	// kubeVersion is the envtest API server's version, so that rendering and
	// the server-side dry run see the same cluster.
	kubeVersion = "v1.37.2"
)

// object is one rendered document: always as unstructured, and as a typed
// object when its kind is in the test scheme (decoded strictly: unknown or
// duplicate fields fail).
type object struct {
	source string
	u      *unstructured.Unstructured
	typed  runtime.Object
}

func (o object) key() string {
	return objectKey(o.u.GetKind(), o.u.GetNamespace(), o.u.GetName())
}

func objectKey(kind, ns, name string) string {
	if ns == "" {
		return kind + "/" + name
	}
	return kind + "/" + ns + "/" + name
}

// rendered is the output of one `helm template`-equivalent run.
type rendered struct {
	objects []object
	notes   string
}

func (r *rendered) keys() []string {
	out := make([]string, 0, len(r.objects))
	for _, o := range r.objects {
		out = append(out, o.key())
	}
	sort.Strings(out)
	return out
}

func (r *rendered) find(kind, ns, name string) (object, bool) {
	want := objectKey(kind, ns, name)
	for _, o := range r.objects {
		if o.key() == want {
			return o, true
		}
	}
	return object{}, false
}

func (r *rendered) ofKind(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.u.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// typedObject returns the typed object kind/ns/name or fails the test.
func typedObject[T runtime.Object](t *testing.T, r *rendered, kind, ns, name string) T {
	t.Helper()
	o, ok := r.find(kind, ns, name)
	if !ok {
		t.Fatalf("no %s rendered; have %v", objectKey(kind, ns, name), r.keys())
	}
	v, ok := o.typed.(T)
	if !ok {
		t.Fatalf("%s decoded as %T", o.key(), o.typed)
	}
	return v
}

var (
	testScheme = newTestScheme()
	// strictCodecs rejects unknown and duplicate fields.
	strictCodecs = serializer.NewCodecFactory(testScheme, serializer.EnableStrict)
)

func newTestScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, gwapiv1.Install} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("test scheme: %v", err))
		}
	}
	return s
}

func loadChart(t testing.TB) *chartv2.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart %s: %v", chartDir, err)
	}
	return ch
}

// valuesFromYAML parses a values document as `helm -f` would.
func valuesFromYAML(t testing.TB, doc string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &vals); err != nil {
		t.Fatalf("values %q: %v", doc, err)
	}
	return vals
}

// renderChart does what `helm template gantry charts/gantry -n gantry-system
// -f values.yaml` does, through the SDK: kubeVersion check, values schema
// validation, rendering, NOTES.txt.
func renderChart(t testing.TB, vals map[string]any) (*rendered, error) {
	t.Helper()
	ch := loadChart(t)
	caps, err := testCapabilities()
	if err != nil {
		t.Fatal(err)
	}
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, have %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true}
	renderVals, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, renderVals)
	if err != nil {
		return nil, err
	}
	return assemble(files)
}

// assemble turns the engine's rendered templates into the manifest `helm
// template` prints (templates in name order, empty ones left out) split into
// objects, and NOTES.txt.
func assemble(files map[string]string) (*rendered, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	out := &rendered{}
	var manifest strings.Builder
	for _, name := range names {
		if strings.HasSuffix(name, "/NOTES.txt") {
			out.notes = files[name]
			continue
		}
		if strings.TrimSpace(files[name]) == "" {
			continue
		}
		fmt.Fprintf(&manifest, "---\n# Source: %s\n%s\n", name, files[name])
	}
	var err error
	if out.objects, err = splitManifest(manifest.String()); err != nil {
		return nil, err
	}
	return out, nil
}

func testCapabilities() (*common.Capabilities, error) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kube version: %w", err)
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	return caps, nil
}

// mustRender renders with vals and fails the test on any error.
func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	r, err := renderChart(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// splitManifest decodes every document of a rendered manifest.
func splitManifest(manifest string) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var out []object
	seen := map[string]bool{}
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split manifest: %w", err)
		}
		source := sourceComment(doc)
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		o := object{source: source, u: u}
		typed, _, err := strictCodecs.UniversalDeserializer().Decode(doc, nil, nil)
		switch {
		case err == nil:
			o.typed = typed
		case runtime.IsNotRegisteredError(err):
			// A kind outside the scheme (ServiceMonitor): checked as unstructured.
		default:
			return nil, fmt.Errorf("%s: %s: %w", source, o.key(), err)
		}
		if seen[o.key()] {
			return nil, fmt.Errorf("%s: %s rendered twice", source, o.key())
		}
		seen[o.key()] = true
		out = append(out, o)
	}
	return out, nil
}

func sourceComment(doc []byte) string {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if s, ok := strings.CutPrefix(string(line), "# Source: "); ok {
			return s
		}
	}
	return "(unknown template)"
}
