package main

import (
	"context"
	"io"
	"log/slog"
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
	h := newHostInfra(&serveOptions{xdsAddress: ":18000"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if h == nil {
		t.Fatal("no host infra for a fixed xDS port")
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

	if h := newHostInfra(&serveOptions{xdsAddress: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil))); h != nil || hostInfraSink(ctx, h) != nil {
		t.Error("a random xDS port still returned host infra")
	}
	t.Setenv("GANTRY_HOST_INFRA", "off")
	if h := newHostInfra(&serveOptions{xdsAddress: ":18000"}, slog.New(slog.NewTextHandler(io.Discard, nil))); h != nil {
		t.Error("GANTRY_HOST_INFRA=off still returned host infra")
	}
}
