package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The admin and metrics endpoints of the real wiring, and a broken file:
// reported on /status while the last good configuration keeps routing.
func TestE2EAdminEndpoints(t *testing.T) {
	e := startE2E(t, e2eBackends, e2eFiles())
	a := e.grpcClient("grpc-a", "a.example.com")
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Fatalf("/exact -> %q, %v", got, err)
	}
	admin, metrics := "http://"+e.cp.adminLn.Addr().String(), "http://"+e.cp.metricLn.Addr().String()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := httpGet(t, metrics+path); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if _, body := httpGet(t, metrics+"/metrics"); !strings.Contains(body, `gantry_xds_connections{protocol="sotw"} 1`) ||
		!strings.Contains(body, "gantry_translation_duration_seconds_count") {
		t.Errorf("/metrics lacks the xDS series:\n%s", body)
	}
	if code, _ := httpGet(t, metrics+"/status"); code != http.StatusNotFound {
		t.Errorf("/status on the metrics port: %d, want 404 (admin only)", code)
	}
	var doc statusDoc
	_, body := httpGet(t, admin+"/status")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	if !doc.Ready || !slices.Contains(doc.Proxies, e2eGroup) || doc.Status == nil || len(doc.Status.Gateways) != 1 || len(doc.Status.Routes) != 3 {
		t.Fatalf("/status: %s", body)
	}
	if code, _ := httpGet(t, admin+"/debug/pprof/"); code != http.StatusOK {
		t.Errorf("pprof: %d", code)
	}
	if code, _ := httpGet(t, admin+"/proxies/nobody"); code != http.StatusNotFound {
		t.Errorf("/proxies/nobody: %d, want 404", code)
	}

	// Break the routes file: reported, and the last good routes stay.
	e.write(t, "routes.yaml", "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: a\n")
	e.eventually(t, "the broken file on /status", func() error {
		var d statusDoc
		_, body := httpGet(t, admin+"/status")
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			return err
		}
		if len(d.Diagnostics) == 0 || !strings.Contains(strings.Join(d.Diagnostics, "\n"), "routes.yaml") {
			return fmt.Errorf("diagnostics %v", d.Diagnostics)
		}
		return nil
	})
	if got, err := call(a, "/exact"); err != nil || got != "exact" {
		t.Errorf("/exact with a broken routes file -> %q, %v; want the last good routes", got, err)
	}
}
