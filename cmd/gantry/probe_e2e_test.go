package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/xds/probe"
)

// quickstartFiles reads examples/quickstart with its fixed backend ports
// replaced by {{port:NAME}}, for startE2E's echo backends on free ports.
func quickstartFiles(t *testing.T) map[string]string {
	t.Helper()
	ports := map[string]string{"18081": "echo-v1", "18082": "echo-v2", "18083": "echo-api"}
	paths, err := filepath.Glob("../../examples/quickstart/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("quickstart files: %v", err)
	}
	files := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		content := string(data)
		for port, name := range ports {
			content = strings.ReplaceAll(content, port, "{{port:"+name+"}}")
		}
		files[filepath.Base(p)] = content
	}
	return files
}

// runGantry runs the gantry command line in-process and returns stdout,
// stderr and the exit code main would use.
func runGantry(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	code := exitOK
	if err := root.Execute(); err != nil {
		stderr.WriteString("Error: " + err.Error() + "\n")
		code = exitCode(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestProbeQuickstart runs `gantry probe` against the control plane serving
// examples/quickstart and checks the route, cluster and backend it reports
// for each rule the quickstart README describes. The control plane runs
// over mTLS, as standalone serve does by default: the probe authenticates
// with a client certificate it issues from the same CA folder.
func TestProbeQuickstart(t *testing.T) {
	caDir := filepath.Join(t.TempDir(), "ca")
	e := startE2EWith(t, []string{"echo-v1", "echo-v2", "echo-api"}, quickstartFiles(t),
		identityOptions{caDir: caDir, serverNames: []string{"127.0.0.1"}})
	xdsAddr := e.cp.xdsLn.Addr().String()
	runGantry := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		if len(args) > 2 {
			args = append(args, "--ca-dir", caDir)
		}
		return runGantry(t, args...)
	}
	tests := []struct {
		target  string
		headers []string
		route   string
		backend string
	}{
		{"app.example.com:8080/v2/items", nil, "default/app/rule/0/match/0", "echo-v2"},
		{"app.example.com:8080/v2", nil, "default/app/rule/0/match/0/exact", "echo-v2"},
		{"app.example.com:8080/page", []string{"-H", "x-canary: true"}, "default/app/rule/1/match/0", "echo-v2"},
		{"api.example.com:8080/healthz", nil, "default/api/rule/0/match/0", "echo-api"},
		{"api.example.com/api/users", nil, "default/api/rule/0/match/1", "echo-api"},
	}
	for _, tc := range tests {
		args := append([]string{"probe", tc.target, "--group", "gateway/default/quickstart", "--xds-address", xdsAddr, "-o", "json"}, tc.headers...)
		stdout, stderr, code := runGantry(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		var results []probe.Result
		if err := json.Unmarshal([]byte(stdout), &results); err != nil || len(results) != 1 {
			t.Fatalf("%v: output %q: %v", args, stdout, err)
		}
		r := results[0]
		wantCluster := "default/" + tc.backend + "/80"
		if r.Route != tc.route || r.Backend != tc.backend || r.Cluster != wantCluster || r.Status != "OK" {
			t.Errorf("%s %v: got route %q cluster %q backend %q status %s, want %q %q %q OK",
				tc.target, tc.headers, r.Route, r.Cluster, r.Backend, r.Status, tc.route, wantCluster, tc.backend)
		}
	}

	// The table output with a repeat count: every request on the split rule,
	// and a summary line.
	stdout, stderr, code := runGantry(t, "probe", "app.example.com:8080/", "-c", "20",
		"--group", "gateway/default/quickstart", "--xds-address", xdsAddr)
	if code != 0 || strings.Count(stdout, "default/app/rule/2/match/0") != 20 || !strings.Contains(stdout, "20 requests:") {
		t.Errorf("probe -c 20: exit %d\n%s%s", code, stdout, stderr)
	}

	// A host no listener serves: a clear error, exit 1.
	_, stderr, code = runGantry(t, "probe", "nope.example.org:8080/", "--group", "gateway/default/quickstart",
		"--xds-address", xdsAddr, "--timeout", "2s")
	if code != exitRuntime || !strings.Contains(stderr, `no listener "nope.example.org:8080"`) {
		t.Errorf("unknown host: exit %d, stderr %q", code, stderr)
	}
	// Usage errors: exit 2.
	if _, _, code := runGantry(t, "probe", "app.example.com:8080/"); code != exitUsageError {
		t.Errorf("probe without --group: exit %d, want %d", code, exitUsageError)
	}
}
