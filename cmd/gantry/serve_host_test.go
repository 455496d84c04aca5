package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

func TestHostInfraSink(t *testing.T) {
	fake, err := filepath.Abs("../../gateway/infra/host/testdata/fake-envoy.sh")
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(t.TempDir(), "starts.log")
	t.Setenv("GANTRY_ENVOY", fake)
	t.Setenv("FAKE_ENVOY_LOG", logFile)
	t.Setenv("GANTRY_HOST_INFRA", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := newHostInfra(ctx, &serveOptions{xdsAddress: ":18000", hostStatsIP: "127.0.0.1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || h == nil {
		t.Fatalf("no host infra for a fixed xDS port: %v", err)
	}
	sink := hostInfraSink(ctx, h)
	sink(ctx, &translate.Result{Proxies: []*ir.Proxy{{Name: "gateway/default/gw"}, {Name: "mesh/default/svc"}}})

	read := func() string { data, _ := os.ReadFile(logFile); return string(data) }
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(read(), "start ") {
		if time.Now().After(deadline) {
			t.Fatal("no envoy started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(read(), "start "); n != 1 {
		t.Errorf("%d envoys started, want 1 (only the gateway group):\n%s", n, read())
	}
	checkStatusListsHostEnvoys(t, h)
	cancel()
	for !strings.Contains(read(), "term ") {
		if time.Now().After(deadline) {
			t.Fatalf("envoy not stopped when the context ended:\n%s", read())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := h.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}

	if h, err := newHostInfra(ctx, &serveOptions{xdsAddress: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil || h != nil || hostInfraSink(ctx, h) != nil {
		t.Errorf("a random xDS port still returned host infra (%v)", err)
	}
	if _, err := newHostInfra(ctx, &serveOptions{xdsAddress: ":18000", hostStatsIP: "localhost"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "--host-stats-ip") {
		t.Errorf("--host-stats-ip localhost: err = %v", err)
	}
	t.Setenv("GANTRY_HOST_INFRA", "off")
	if h, err := newHostInfra(ctx, &serveOptions{xdsAddress: ":18000"}, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil || h != nil {
		t.Errorf("GANTRY_HOST_INFRA=off still returned host infra (%v)", err)
	}
}

// checkStatusListsHostEnvoys checks that the admin server's /status and the
// console list the running Envoy with its loopback stats listener.
func checkStatusListsHostEnvoys(t *testing.T, h *hostInfra) {
	t.Helper()
	cp, err := newControlPlane(&serveOptions{xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{xdsInsecure: true}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.closeListeners()
	cp.hostEnvoys = h.m.Statuses
	rec := httptest.NewRecorder()
	newAdminServer(cp).Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
	var doc statusDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("/status: %v\n%s", err, rec.Body)
	}
	if len(doc.HostEnvoys) != 1 || doc.HostEnvoys[0].Group != "gateway/default/gw" || !strings.HasPrefix(doc.HostEnvoys[0].StatsAddress, "127.0.0.1:") {
		t.Errorf("/status hostEnvoys = %+v", doc.HostEnvoys)
	}
	if in := cp.consoleInput(); len(in.HostEnvoys) != 1 || in.HostEnvoys[0].StatsAddress != doc.HostEnvoys[0].StatsAddress {
		t.Errorf("console host Envoys = %+v", in.HostEnvoys)
	}
}
