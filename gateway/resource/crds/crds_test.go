package crds

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMatchesModule fails when the embedded CRDs differ from those of the
// gateway-api module in go.mod (run `go generate ./gateway/resource/crds`).
func TestMatchesModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("cannot locate the gateway-api module (%v): skipping the drift check", err)
	}
	src, err := filepath.Glob(filepath.Join(dir, "config/crd/standard/gateway.networking.k8s.io_*.yaml"))
	if err != nil || len(src) == 0 {
		t.Fatalf("no CRDs in %s", dir)
	}
	src = append(src, filepath.Join(dir, "config/crd/experimental/gateway.networking.x-k8s.io_xmeshes.yaml"))
	embedded, err := FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range src {
		name := filepath.Base(f)
		if strings.Contains(name, "_vap_") {
			continue
		}
		want++
		modData, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := FS.ReadFile(name)
		if err != nil {
			t.Errorf("%s is not embedded: run go generate ./gateway/resource/crds", name)
			continue
		}
		if !bytes.Equal(modData, ours) {
			t.Errorf("%s differs from the module's: run go generate ./gateway/resource/crds", name)
		}
	}
	gateway := 0
	for _, e := range embedded {
		if strings.HasPrefix(e.Name(), "gateway.networking.k8s.io_") || strings.HasPrefix(e.Name(), "gateway.networking.x-k8s.io_") {
			gateway++
		}
	}
	if gateway != want {
		t.Errorf("%d embedded Gateway API CRDs, the module has %d", gateway, want)
	}
}

// TestMatchesChart fails when Gantry's embedded CRDs differ from the chart's
// (run `make crds`, then `go generate ./gateway/resource/crds`).
func TestMatchesChart(t *testing.T) {
	chart, err := filepath.Glob("../../../charts/gantry/crds/security.gantry.io_*.yaml")
	if err != nil || len(chart) == 0 {
		t.Fatalf("no Gantry CRDs in the chart (%v)", err)
	}
	embedded, err := fs.Glob(FS, "security.gantry.io_*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded) != len(chart) {
		t.Errorf("%d embedded Gantry CRDs, the chart has %d: run go generate ./gateway/resource/crds", len(embedded), len(chart))
	}
	for _, f := range chart {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FS.ReadFile(filepath.Base(f))
		if err != nil || !bytes.Equal(want, got) {
			t.Errorf("%s: embedded copy differs from the chart's (%v): run go generate ./gateway/resource/crds", filepath.Base(f), err)
		}
	}
}
