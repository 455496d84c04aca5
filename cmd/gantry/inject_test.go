package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const injectPodYAML = `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers: [{name: web, image: example/web:1}]
`

func TestInjectCmd(t *testing.T) {
	dir := t.TempDir()
	pod := filepath.Join(dir, "pod.yaml")
	if err := os.WriteFile(pod, []byte(injectPodYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	optOut := filepath.Join(dir, "opt-out.yaml")
	if err := os.WriteFile(optOut, []byte(strings.Replace(injectPodYAML, "namespace: shop}", "namespace: shop, annotations: {gantry.io/inject: \"false\"}}", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	notPod := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(notPod, []byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		sidecar    bool
		wantOut    string
		wantStderr string
		wantErr    string
	}{
		{name: "inject", args: []string{"-f", pod}, sidecar: true, wantOut: `mesh/shop`, wantStderr: "injected: namespace labelled"},
		{name: "stdin", args: []string{"-f", "-"}, stdin: injectPodYAML, sidecar: true},
		{name: "patch", args: []string{"-f", pod, "--patch"}, wantOut: `"path": "/spec/initContainers"`},
		{name: "namespace flag", args: []string{"-f", pod, "-n", "other"}, sidecar: true, wantOut: `mesh/other`},
		{name: "namespace not enabled", args: []string{"-f", pod, "--namespace-labels", "team=a"}, wantStderr: "not injected: namespace is not labelled"},
		{name: "opt out", args: []string{"-f", optOut}, wantStderr: "not injected: pod opted out"},
		{name: "not a pod", args: []string{"-f", notPod}, wantErr: `svc.yaml: kind "Service"`},
		{name: "bad labels", args: []string{"-f", pod, "--namespace-labels", "x"}, wantErr: `--namespace-labels: "x"`},
		{name: "bad xds address", args: []string{"-f", pod, "--xds-address", "nohost"}, wantErr: `xdsAddress "nohost"`},
		{name: "missing file", args: []string{"-f", filepath.Join(dir, "nope.yaml")}, wantErr: "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newInjectCmd()
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetIn(strings.NewReader(tc.stdin))
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out.String())
			}
			if !strings.Contains(errOut.String(), tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.wantStderr)
			}
			if strings.Contains(strings.Join(tc.args, " "), "--patch") {
				return
			}
			var got corev1.Pod
			if err := yaml.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is not a pod: %v", err)
			}
			has := len(got.Spec.InitContainers) == 1 && got.Spec.InitContainers[0].Name == "gantry-proxy"
			if has != tc.sidecar || len(got.Spec.Containers) != 1 {
				t.Errorf("sidecar present = %v, want %v; containers %d", has, tc.sidecar, len(got.Spec.Containers))
			}
		})
	}
}
