package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/analyze"
)

const analyzeCases = "../../gateway/analyze/testdata/"

type analyzeCLIResult struct {
	code           int
	stdout, stderr string
}

// runAnalyzeCLI runs the root command in-process and returns the exit code
// main would use.
func runAnalyzeCLI(t *testing.T, stdin string, args ...string) analyzeCLIResult {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	code := 0
	if err := cmd.Execute(); err != nil {
		code = exitCode(err)
		errb.WriteString(err.Error())
	}
	return analyzeCLIResult{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestAnalyzeExitCodes(t *testing.T) {
	dir := t.TempDir()
	malformed := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(malformed, []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pos := analyzeCases + "status.pos-backends.in.yaml"
	warn := analyzeCases + "weights.pos.in.yaml"
	clean := analyzeCases + "status.neg.in.yaml"
	cases := []struct {
		name string
		args []string
		code int
		// out and errs are substrings expected in stdout and stderr.
		out, errs string
	}{
		{name: "clean", args: []string{"-f", clean}, code: 0, errs: "No messages at or above Info (4 objects analyzed)."},
		{name: "errors log", args: []string{"-f", pos}, code: exitFindings, out: "Error [GTY0401] (HTTPRoute default/missing ../../gateway/analyze/testdata/status.pos-backends.in.yaml:51)"},
		{name: "errors json", args: []string{"-f", pos, "-o", "json"}, code: exitFindings, out: `"code": "GTY0401"`},
		{name: "errors yaml", args: []string{"-f", pos, "-o", "yaml"}, code: exitFindings, out: "code: GTY0401"},
		{name: "errors hidden by output threshold still fail", args: []string{"-f", pos, "--output-threshold", "Error", "-o", "json"}, code: exitFindings},
		{name: "warnings pass by default", args: []string{"-f", warn}, code: 0, out: "Warning [GTY0305]"},
		{name: "warnings fail at Warning", args: []string{"-f", warn, "--failure-threshold", "Warning"}, code: exitFindings},
		{name: "suppressed warnings pass", args: []string{"-f", warn, "--failure-threshold", "Warning", "-S", "GTY0305=HTTPRoute default/w*"}, code: 0},
		{name: "namespace filter", args: []string{"-f", pos, "-n", "elsewhere"}, code: 0},
		{name: "analyzer subset", args: []string{"-f", pos, "--analyzer", "weights"}, code: 0},
		{name: "missing file", args: []string{"-f", filepath.Join(dir, "nope.yaml")}, code: exitBadInput, out: "Error [GTY0507] (File - " + filepath.Join(dir, "nope.yaml")},
		{name: "malformed yaml", args: []string{"-f", malformed}, code: exitBadInput, out: "bad.yaml:1) malformed YAML"},
		{name: "suppressed are counted", args: []string{"-f", warn, "-S", "GTY0305=HTTPRoute default/w*"}, code: 0, errs: "message(s) suppressed by -S"},
		{name: "unknown flag", args: []string{"-f", clean, "--bogus"}, code: exitUsageError},
		{name: "bad format", args: []string{"-f", clean, "-o", "table"}, code: exitUsageError, errs: "table"},
		{name: "bad threshold", args: []string{"-f", clean, "--failure-threshold", "Fatal"}, code: exitUsageError},
		{name: "bad suppression", args: []string{"-f", clean, "-S", "GTY0101"}, code: exitUsageError},
		{name: "unknown analyzer", args: []string{"-f", clean, "--analyzer", "nope"}, code: exitUsageError, errs: "nope"},
		{name: "-n with -A", args: []string{"-f", clean, "-n", "a", "-A"}, code: exitUsageError},
		{name: "stray argument", args: []string{clean}, code: exitUsageError, errs: "-f"},
		{name: "bad --now", args: []string{"-f", clean, "--now", "yesterday"}, code: exitUsageError},
		{name: "live without a cluster", args: []string{"--use-kube", "--kubeconfig", filepath.Join(dir, "none")}, code: exitBadInput, errs: "kubeconfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runAnalyzeCLI(t, "", append([]string{"analyze"}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, c.out) {
				t.Errorf("stdout lacks %q:\n%s", c.out, r.stdout)
			}
			if !strings.Contains(r.stderr, c.errs) {
				t.Errorf("stderr lacks %q:\n%s", c.errs, r.stderr)
			}
		})
	}
}

func TestAnalyzeOutputsAgree(t *testing.T) {
	in := analyzeCases + "tls-secrets.pos-expired.in.yaml"
	var forms [3][]analyze.Message
	for i, f := range []string{"log", "json", "yaml"} {
		r := runAnalyzeCLI(t, "", "analyze", "-f", in, "-o", f, "--now", "2026-06-01T00:00:00Z")
		if r.code != exitFindings {
			t.Fatalf("-o %s: exit %d", f, r.code)
		}
		switch f {
		case "log":
			forms[i] = nil
			if n := strings.Count(r.stdout, "\n"); n != 3 {
				t.Errorf("log: %d lines, want 3:\n%s", n, r.stdout)
			}
		case "json":
			if err := json.Unmarshal([]byte(r.stdout), &forms[i]); err != nil {
				t.Fatal(err)
			}
		case "yaml":
			if err := yaml.Unmarshal([]byte(r.stdout), &forms[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(forms[1]) != 3 || len(forms[2]) != 3 {
		t.Fatalf("json %d, yaml %d messages, want 3", len(forms[1]), len(forms[2]))
	}
	for i := range forms[1] {
		if forms[1][i] != forms[2][i] {
			t.Errorf("json and yaml differ: %+v vs %+v", forms[1][i], forms[2][i])
		}
	}
	if forms[1][0].Code != analyze.CertificateExpired || forms[1][0].Level != analyze.Error || forms[1][0].Line != 9 {
		t.Errorf("first message: %+v", forms[1][0])
	}
}

func TestAnalyzeStdinAndList(t *testing.T) {
	data, err := os.ReadFile(analyzeCases + "parent-refs.pos.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := runAnalyzeCLI(t, string(data), "analyze", "-f", "-")
	if r.code != exitFindings || !strings.Contains(r.stdout, "(HTTPRoute default/web -:33) parentRefs[0]: Gateway default/typo does not exist") {
		t.Errorf("stdin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runAnalyzeCLI(t, "", "analyze", "-L")
	if r.code != 0 {
		t.Fatalf("-L: exit %d: %s", r.code, r.stderr)
	}
	for _, a := range analyze.All() {
		if !strings.Contains(r.stdout, a.Name()) {
			t.Errorf("-L lacks %s", a.Name())
		}
	}
	r = runAnalyzeCLI(t, "", "analyze", "--help")
	for _, want := range []string{"Exit codes", "3  messages at or above --failure-threshold", "4  part of the input could not be read"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

// TestAnalyzeExamples: the shipped examples must not draw any Error.
func TestAnalyzeExamples(t *testing.T) {
	const dir = "../../examples"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no %s directory in this tree yet (%v): nothing to check", dir, err)
	}
	r := runAnalyzeCLI(t, "", "analyze", "-f", dir, "-o", "json")
	if r.code != 0 {
		t.Fatalf("gantry analyze -f examples/: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var msgs []analyze.Message
	if err := json.Unmarshal([]byte(r.stdout), &msgs); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Level == analyze.Error {
			t.Errorf("examples: %s", m)
		}
	}
	t.Logf("examples: %d messages below Error", len(msgs))
}

// TestAnalyzeKeepsGoing: a schema error in one file is a message at the
// field's own line; the other files are still analyzed; -o json is valid
// JSON whatever the exit code.
func TestAnalyzeKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "a-bad.yaml")
	good := filepath.Join(dir, "b-good.yaml")
	writeFile := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(bad, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad, namespace: default}
spec:
  rules:
  - backendRefs:
    - name: svc
      port: 70000
`)
	writeFile(good, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: good, namespace: default}
spec:
  parentRefs: [{name: nowhere}]
`)
	r := runAnalyzeCLI(t, "", "analyze", "-f", bad, "-f", good, "-o", "json")
	var msgs []analyze.Message
	if err := json.Unmarshal([]byte(r.stdout), &msgs); err != nil {
		t.Fatalf("-o json is not JSON (%v):\n%s", err, r.stdout)
	}
	if r.code != exitBadInput {
		t.Errorf("exit %d, want %d", r.code, exitBadInput)
	}
	var schema, parent bool
	for _, m := range msgs {
		if m.Code == analyze.InvalidObject && m.File == bad && m.Line == 8 && strings.Contains(m.Message, "spec.rules[0].backendRefs[0].port") {
			schema = true
		}
		if m.Code == analyze.ParentNotFound && m.File == good {
			parent = true
		}
	}
	if !schema || !parent {
		t.Errorf("want the schema error at %s:8 and the other file's finding; got %+v", bad, msgs)
	}
	for _, args := range [][]string{
		{"analyze", "-f", filepath.Join(dir, "none.yaml"), "-o", "json"},
		{"analyze", "--use-kube", "--kubeconfig", filepath.Join(dir, "none"), "-o", "json"},
	} {
		r := runAnalyzeCLI(t, "", args...)
		if !json.Valid([]byte(r.stdout)) || r.code != exitBadInput {
			t.Errorf("%v: exit %d, stdout not JSON:\n%s", args, r.code, r.stdout)
		}
	}
}
