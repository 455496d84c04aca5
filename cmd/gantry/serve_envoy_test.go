package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/infra/host"
)

// TestStandaloneEnvoy covers serve's choice of an Envoy binary when none is
// on PATH or named by GANTRY_ENVOY: a cached download is used without a
// request; with downloads forbidden (the default) or impossible (offline),
// no Envoy is started and the log says how to send requests with gantry
// probe. The download itself is tested against a local func-e mirror in
// gateway/infra/host.
func TestStandaloneEnvoy(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(host.EnvVar, "")
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	t.Setenv("HOME", t.TempDir())
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))

	if got := standaloneEnvoy(ctx, &serveOptions{envoyDownload: downloadNever}, log); got != "" {
		t.Errorf("download never: envoy %q", got)
	}
	if s := logs.String(); !strings.Contains(s, "gantry probe HOST:PORT/PATH") || !strings.Contains(s, "--envoy-download=auto") {
		t.Errorf("download never: log does not say what to do:\n%s", s)
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	offline := srv.URL + "/envoy-versions.json"
	srv.Close()
	*logs = syncBuffer{}
	if got := standaloneEnvoy(ctx, &serveOptions{envoyDownload: downloadAuto, envoyVersionsURL: offline}, log); got != "" {
		t.Errorf("offline: envoy %q", got)
	}
	if s := logs.String(); !strings.Contains(s, "downloading Envoy "+host.PinnedEnvoyVersion) ||
		!strings.Contains(s, "could not download Envoy") || !strings.Contains(s, "gantry probe") || !strings.Contains(s, offline) {
		t.Errorf("offline: log does not say what happened and what to do:\n%s", s)
	}

	bin, _ := host.CachedEnvoy(host.FetchOptions{CacheDir: filepath.Join(cacheHome, "gantry", "envoy")})
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := standaloneEnvoy(ctx, &serveOptions{envoyDownload: downloadNever, envoyVersionsURL: offline}, log); got != bin {
		t.Errorf("cached: envoy %q, want %q", got, bin)
	}

	if err := validateEnvoyDownload("sometimes"); err == nil {
		t.Error("--envoy-download sometimes accepted")
	}
}
