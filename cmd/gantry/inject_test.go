package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/mesh/inject"
)

const injectPodYAML = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers: [{name: web, image: example/web:1}]
`

// injectWorkloadsYAML holds every kind gantry inject injects, a Service
// passed through, and an opted-out Deployment.
const injectWorkloadsYAML = `# the shop
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example/web:1}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  serviceName: db
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: example/db:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: example/agent:1}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: shop}
spec:
  selector: {matchLabels: {app: rs}}
  template:
    metadata: {labels: {app: rs}}
    spec:
      containers: [{name: rs, image: example/rs:1}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: example/migrate:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: shop}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: nightly, image: example/nightly:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}, annotations: {sidecar.gantry.io/inject: "false"}}
    spec:
      containers: [{name: legacy, image: example/legacy:1}]
`

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runInjectCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newInjectCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func hasSidecar(spec corev1.PodSpec) bool {
	for _, c := range spec.InitContainers {
		if c.Name == inject.ContainerName {
			return true
		}
	}
	return false
}

func TestInjectCmd(t *testing.T) {
	dir := t.TempDir()
	pod := writeTemp(t, dir, "pod.yaml", injectPodYAML)
	optOut := writeTemp(t, dir, "opt-out.yaml", strings.Replace(injectPodYAML, "namespace: shop}", "namespace: shop, annotations: {sidecar.gantry.io/inject: \"false\"}}", 1))
	tests := []struct {
		name       string
		args       []string
		stdin      string
		sidecar    bool
		wantOut    string
		wantStderr string
		wantErr    string
		wantCode   int
	}{
		{name: "inject", args: []string{"-f", pod}, sidecar: true, wantOut: `mesh/shop`, wantStderr: "Pod shop/web: injected: namespace labelled"},
		{name: "stdin", args: []string{"-f", "-"}, stdin: injectPodYAML, sidecar: true},
		{name: "patch", args: []string{"-f", pod, "--patch"}, wantOut: `"path": "/spec/initContainers"`},
		{name: "namespace flag agrees", args: []string{"-f", pod, "-n", "shop"}, sidecar: true, wantOut: `mesh/shop`},
		{name: "namespace flag for objects without one", args: []string{"-f", "-", "-n", "other"}, stdin: strings.Replace(injectPodYAML, ", namespace: shop", "", 1), sidecar: true, wantOut: `mesh/other`},
		{name: "namespace flag contradicts", args: []string{"-f", pod, "-n", "other"}, wantErr: "pod.yaml:1: Pod shop/web is in namespace shop, not -n other", wantCode: exitBadInput},
		{name: "namespace not enabled", args: []string{"-f", pod, "--namespace-labels", "team=a"}, wantStderr: "not injected: namespace is not labelled"},
		{name: "opt out", args: []string{"-f", optOut}, wantStderr: "not injected: pod opted out"},
		{name: "bad labels", args: []string{"-f", pod, "--namespace-labels", "x"}, wantErr: `--namespace-labels: "x"`, wantCode: exitUsageError},
		{name: "bad xds address", args: []string{"-f", pod, "--xds-address", "nohost"}, wantErr: `xdsAddress "nohost"`, wantCode: exitBadInput},
		{name: "missing file", args: []string{"-f", filepath.Join(dir, "nope.yaml")}, wantErr: "nope.yaml", wantCode: exitBadInput},
		{name: "bad traffic annotation", args: []string{"-f", "-"}, stdin: strings.Replace(injectPodYAML, "namespace: shop}", "namespace: shop, annotations: {traffic.gantry.io/exclude-outbound-ports: x}}", 1),
			wantErr: `-:1: Pod shop/web: inject: pod web: annotation traffic.gantry.io/exclude-outbound-ports "x": "x" is not a port`, wantCode: exitBadInput},
		{name: "unknown field", args: []string{"-f", "-"}, stdin: "apiVersion: v1\nkind: Service\n---\n" + strings.Replace(injectPodYAML, "spec:", "spec:\n  containerz: []", 1),
			wantErr: `-:4: Pod: error unmarshaling JSON`, wantCode: exitBadInput},
		{name: "old apiVersion", args: []string{"-f", "-"}, stdin: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\n",
			wantErr: `-:1: Deployment of apiVersion "extensions/v1beta1": want apps/v1`, wantCode: exitBadInput},
		{name: "patch of a Deployment", args: []string{"-f", "-", "--patch"}, stdin: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", wantErr: "want a Pod", wantCode: exitUsageError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runInjectCmd(t, tc.stdin, tc.args...)
			if tc.wantErr != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ee) || ee.code != tc.wantCode {
					t.Fatalf("err = %v (code %d), want %q with exit code %d", err, exitCode(err), tc.wantErr, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
			if !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut, tc.wantStderr)
			}
			if strings.Contains(strings.Join(tc.args, " "), "--patch") {
				return
			}
			var got corev1.Pod
			if err := yaml.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not a pod: %v", err)
			}
			if hasSidecar(got.Spec) != tc.sidecar || len(got.Spec.Containers) != 1 {
				t.Errorf("sidecar present = %v, want %v; containers %d", hasSidecar(got.Spec), tc.sidecar, len(got.Spec.Containers))
			}
		})
	}
}

// TestInjectWorkloads injects every workload kind of a multi-document
// file, passes the Service through byte for byte and leaves the opted-out
// Deployment alone.
func TestInjectWorkloads(t *testing.T) {
	out, errOut, err := runInjectCmd(t, injectWorkloadsYAML, "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "---\n")
	if len(docs) != 8 {
		t.Fatalf("%d documents out, want 8:\n%s", len(docs), out)
	}
	inDocs := strings.Split(injectWorkloadsYAML, "---\n")
	if docs[0] != inDocs[0] || docs[7] != inDocs[7] {
		t.Errorf("the Service and the opted-out Deployment changed:\n%s\n%s", docs[0], docs[7])
	}
	type template struct {
		obj  any
		spec func() corev1.PodSpec
	}
	var dep appsv1.Deployment
	var sts appsv1.StatefulSet
	var ds appsv1.DaemonSet
	var rs appsv1.ReplicaSet
	var job batchv1.Job
	var cj batchv1.CronJob
	templates := []template{
		{obj: &dep, spec: func() corev1.PodSpec { return dep.Spec.Template.Spec }},
		{obj: &sts, spec: func() corev1.PodSpec { return sts.Spec.Template.Spec }},
		{obj: &ds, spec: func() corev1.PodSpec { return ds.Spec.Template.Spec }},
		{obj: &rs, spec: func() corev1.PodSpec { return rs.Spec.Template.Spec }},
		{obj: &job, spec: func() corev1.PodSpec { return job.Spec.Template.Spec }},
		{obj: &cj, spec: func() corev1.PodSpec { return cj.Spec.JobTemplate.Spec.Template.Spec }},
	}
	for i, tc := range templates {
		if err := yaml.UnmarshalStrict([]byte(docs[i+1]), tc.obj); err != nil {
			t.Fatalf("document %d: %v", i+1, err)
		}
		if spec := tc.spec(); !hasSidecar(spec) || len(spec.Containers) != 1 || len(spec.Volumes) != 3 {
			t.Errorf("document %d (%T) not injected: %+v", i+1, tc.obj, spec)
		}
	}
	if dep.Spec.Template.Annotations[inject.StatusAnnotation] == "" || dep.Spec.Template.Labels["app"] != "web" {
		t.Errorf("Deployment template metadata: %+v", dep.Spec.Template.ObjectMeta)
	}
	for _, want := range []string{"Deployment shop/web: injected", "StatefulSet default/db: injected", "CronJob shop/nightly: injected", "Deployment shop/legacy: not injected: pod opted out"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// -n that contradicts a later document names it and its line.
	_, _, err = runInjectCmd(t, injectWorkloadsYAML, "-f", "-", "-n", "default")
	if err == nil || !strings.Contains(err.Error(), "-:8: Deployment shop/web is in namespace shop, not -n default") || exitCode(err) != exitBadInput {
		t.Errorf("contradicting -n: %v", err)
	}
}

// TestInjectList injects the items of a v1 List, as kubectl get -o yaml
// prints several objects.
func TestInjectList(t *testing.T) {
	in := `apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
  spec:
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers: [{name: web, image: example/web:1}]
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: shop}
  data: {a: b}
`
	out, errOut, err := runInjectCmd(t, in, "-f", "-")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := yaml.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" || len(list.Items) != 2 {
		t.Fatalf("output %v: %s", err, out)
	}
	var dep appsv1.Deployment
	if err := json.Unmarshal(list.Items[0], &dep); err != nil || !hasSidecar(dep.Spec.Template.Spec) {
		t.Errorf("Deployment in the List not injected (%v)", err)
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(list.Items[1], &cm); err != nil || cm.Data["a"] != "b" {
		t.Errorf("ConfigMap changed: %+v (%v)", cm, err)
	}
	if !strings.Contains(errOut, "Deployment shop/web: injected") {
		t.Errorf("stderr %q", errOut)
	}
	_, _, err = runInjectCmd(t, in, "-f", "-", "-n", "other")
	if err == nil || !strings.Contains(err.Error(), "item 0: -:1: Deployment shop/web is in namespace shop, not -n other") {
		t.Errorf("contradicting -n in a List: %v", err)
	}
}

// TestInjectedCommandsParse runs the injected containers' own command lines
// through gantry's: the capture init container's (with every capture
// annotation, as --dry-run) and the agent's flags parse, so the injector and
// the commands it starts cannot drift apart.
func TestInjectedCommandsParse(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name, pod.Namespace = "web", "shop"
	pod.Annotations = map[string]string{
		inject.IncludeOutboundCIDRs: "10.96.0.0/12,fd96::/64", inject.ExcludeOutboundCIDRs: "169.254.169.254",
		inject.ExcludeOutboundPorts: "5432,6379-6380", inject.IncludeInboundPorts: "*", inject.ExcludeInboundPorts: "9901",
	}
	out, _, err := inject.Inject(pod, "", map[string]string{inject.NamespaceLabel: inject.NamespaceEnabled}, inject.Config{})
	if err != nil {
		t.Fatal(err)
	}
	capture := out.Spec.InitContainers[0]
	stdout, stderr, code := runGantry(t, append(slices.Clone(capture.Args), "--dry-run")...)
	if code != exitOK {
		t.Fatalf("gantry %v --dry-run: exit %d\n%s", capture.Args, code, stderr)
	}
	for _, want := range []string{"tcp dport 5432 return", "tcp dport 6379-6380 return", "ip daddr 169.254.169.254/32 return",
		"ip daddr 10.96.0.0/12 meta l4proto tcp redirect to :15001", "ip6 daddr fd96::/64 meta l4proto tcp redirect to :15001", "tcp dport 9901 return"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the capture rules lack %q:\n%s", want, stdout)
		}
	}
	for _, c := range out.Spec.InitContainers[1:3] {
		cmd := newAgentCmd()
		if err := cmd.ParseFlags(c.Args[1:]); err != nil || c.Args[0] != "agent" {
			t.Errorf("%s: gantry %v: %v", c.Name, c.Args, err)
		}
	}
}
