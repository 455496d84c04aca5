package inject

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // resolves the typed options in the bootstrap

	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/xds/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.patch.json from the current output")

// readCase reads testdata/<case>.pod.yaml and its "# namespaceLabels: k=v, ..." line.
func readCase(t *testing.T, path string) (*corev1.Pod, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, f := range golden.Header(data) {
		if f.Key == "namespaceLabels" {
			for _, kv := range strings.Split(f.Value, ",") {
				k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
				labels[k] = val
			}
		}
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pod, labels
}

// goldenPatch is the content of testdata/<case>.patch.json.
type goldenPatch struct {
	Decision Decision    `json:"decision"`
	Patch    []Operation `json:"patch"`
}

func TestGoldenPatches(t *testing.T) {
	cases := golden.Cases(t, "testdata", ".pod.yaml")
	if len(cases) < 5 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			pod, labels := readCase(t, c.Path)
			ops, d, err := Patch(pod, pod.Namespace, labels, Config{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(goldenPatch{Decision: d, Patch: ops}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", c.Name+".patch.json"), got, *update)
			if *update {
				return
			}
			checkPatched(t, pod, ops, d)
		})
	}
}

// checkPatched applies the patch and checks its effect: the sidecar first
// among init containers, everything else kept, the pod not modified.
func checkPatched(t *testing.T, pod *corev1.Pod, ops []Operation, d Decision) {
	t.Helper()
	before, _ := json.Marshal(pod)
	if !d.Inject {
		if len(ops) != 0 {
			t.Fatalf("not injecting (%s) but %d operations", d.Reason, len(ops))
		}
		return
	}
	out, err := ApplyPatch(pod, ops)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(pod); string(after) != string(before) {
		t.Fatal("Patch modified the pod")
	}
	if len(out.Spec.InitContainers) != len(pod.Spec.InitContainers)+1 || out.Spec.InitContainers[0].Name != ContainerName {
		t.Fatalf("init containers %v: want %s first, then the pod's own", out.Spec.InitContainers, ContainerName)
	}
	if diff := cmp.Diff(pod.Spec.InitContainers, out.Spec.InitContainers[1:], cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("existing init containers changed:\n%s", diff)
	}
	if diff := cmp.Diff(pod.Spec.Containers, out.Spec.Containers); diff != "" {
		t.Errorf("containers changed:\n%s", diff)
	}
	sc := out.Spec.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Error("sidecar is not a native sidecar (restartPolicy Always)")
	}
	for k, v := range pod.Annotations {
		if out.Annotations[k] != v {
			t.Errorf("annotation %s lost", k)
		}
	}
	if out.Annotations[StatusAnnotation] != DefaultImage {
		t.Errorf("status annotation = %q", out.Annotations[StatusAnnotation])
	}
	checkBootstrap(t, sc, pod.Namespace)
}

// checkBootstrap parses the sidecar's inline bootstrap as Envoy's proto and
// validates it.
func checkBootstrap(t *testing.T, c corev1.Container, namespace string) {
	t.Helper()
	var boot string
	for i, a := range c.Args {
		if a == "--config-yaml" && i+1 < len(c.Args) {
			boot = c.Args[i+1]
		}
	}
	if boot == "" {
		t.Fatalf("no --config-yaml in %v", c.Args)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal([]byte(boot), &b); err != nil {
		t.Fatalf("bootstrap is not an Envoy bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if got := b.GetNode().GetCluster(); got != GroupPrefix+namespace {
		t.Errorf("node.cluster = %q, want mesh/%s", got, namespace)
	}
	if a := b.GetAdmin().GetAddress().GetSocketAddress().GetAddress(); a != "127.0.0.1" {
		t.Errorf("admin on %q, want loopback", a)
	}
	re2 := b.GetLayeredRuntime().GetLayers()[0].GetStaticLayer().GetFields()["re2.max_program_size.error_level"]
	if re2.GetNumberValue() != ir.MaxRegexProgramSize {
		t.Errorf("RE2 program size limit = %v, want %d (the one translation checks)", re2, ir.MaxRegexProgramSize)
	}
	sa := b.GetStaticResources().GetClusters()[0].GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "gantry.gantry-system.svc" || sa.GetPortValue() != 18000 {
		t.Errorf("xDS address %s:%d", sa.GetAddress(), sa.GetPortValue())
	}
}

func TestDecide(t *testing.T) {
	on := map[string]string{NamespaceLabel: NamespaceEnabled}
	pod := func(mut func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{}
		p.Name, p.Namespace = "p", "ns"
		p.Spec.Containers = []corev1.Container{{Name: "app"}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	cases := []struct {
		name   string
		pod    *corev1.Pod
		labels map[string]string
		want   bool
		reason string
	}{
		{name: "enabled namespace", pod: pod(nil), labels: on, want: true},
		{name: "no label", pod: pod(nil), labels: nil, reason: "not labelled"},
		{name: "label disabled", pod: pod(nil), labels: map[string]string{NamespaceLabel: "disabled"}, reason: "not labelled"},
		{name: "opt out", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{PodAnnotation: "false"} }), labels: on, reason: "opted out"},
		{name: "opt out any case", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{PodAnnotation: "False"} }), labels: on, reason: "opted out"},
		{name: "annotation true is no opt out", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{PodAnnotation: "true"} }), labels: on, want: true},
		{name: "host network", pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), labels: on, reason: "host network"},
		{name: "already a container", pod: pod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ContainerName})
		}), labels: on, reason: "already"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.pod, tc.labels)
			if d.Inject != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want inject=%v reason containing %q", d, tc.want, tc.reason)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name = "p"
	on := map[string]string{NamespaceLabel: NamespaceEnabled}
	cases := []struct {
		cfg  Config
		ns   string
		want string
	}{
		{cfg: Config{XDSAddress: "nohost"}, ns: "a", want: `xdsAddress "nohost"`},
		{cfg: Config{XDSAddress: "h:0"}, ns: "a", want: "port must be 1-65535"},
		{cfg: Config{AdminPort: -1}, ns: "a", want: "adminPort -1"},
		{cfg: Config{}, ns: "", want: "pod p: no namespace"},
	}
	for _, tc := range cases {
		_, _, err := Patch(pod, tc.ns, on, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Patch(%+v, ns %q) error %v, want %q", tc.cfg, tc.ns, err, tc.want)
		}
	}
	if _, _, err := Patch(nil, "a", on, Config{}); err == nil {
		t.Error("nil pod: no error")
	}
}
