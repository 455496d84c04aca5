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
	sink := hostInfraSink(ctx, &serveOptions{xdsAddress: ":18000"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

	if s := hostInfraSink(context.Background(), &serveOptions{xdsAddress: "127.0.0.1:0"}, slog.New(slog.NewTextHandler(io.Discard, nil))); s != nil {
		t.Error("a random xDS port still returned a sink")
	}
	t.Setenv("GANTRY_HOST_INFRA", "off")
	if s := hostInfraSink(context.Background(), &serveOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil))); s != nil {
		t.Error("GANTRY_HOST_INFRA=off still returned a sink")
	}
}
