package host

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantryproxy/gantry/gateway/infra/params"
)

// standInArchive is a tar.gz in an Envoy release's layout
// (<dist>/bin/envoy) whose envoy is a shell script.
func standInArchive(t *testing.T, dist string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	script := []byte("#!/bin/sh\necho \"envoy  version: stand-in\"\nexit 0\n")
	for _, h := range []*tar.Header{
		{Name: dist + "/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: dist + "/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: dist + "/bin/envoy", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(script))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write(script); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mirror serves a func-e release list with one release of version, for
// this platform, and its archive; it counts requests.
type mirror struct {
	srv      *httptest.Server
	requests atomic.Int32
}

func newMirror(t *testing.T, version string) *mirror {
	t.Helper()
	dist := "envoy-" + version + "-" + runtime.GOOS + "-" + runtime.GOARCH
	archive := standInArchive(t, dist)
	sum := sha256.Sum256(archive)
	m := &mirror{}
	mux := http.NewServeMux()
	mux.HandleFunc("/envoy-versions.json", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"latestVersion": version,
			"versions": map[string]any{version: map[string]any{
				"releaseDate": "2026-01-15",
				"tarballs":    map[string]string{runtime.GOOS + "/" + runtime.GOARCH: m.srv.URL + "/" + dist + ".tar.gz"},
			}},
			"sha256sums": map[string]string{dist + ".tar.gz": hex.EncodeToString(sum[:])},
		})
	})
	mux.HandleFunc("/"+dist+".tar.gz", func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(archive)))
		_, _ = w.Write(archive)
	})
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

func TestFetchFromMirror(t *testing.T) {
	m := newMirror(t, PinnedEnvoyVersion)
	cache := t.TempDir()
	var last, total int64
	o := FetchOptions{CacheDir: cache, VersionsURL: m.srv.URL + "/envoy-versions.json",
		Progress: func(done, all int64) { last, total = done, all }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin, err := Fetch(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if cached, ok := CachedEnvoy(o); bin != cached || !ok {
		t.Fatalf("Fetch = %s, want the executable %s", bin, cached)
	}
	if total <= 0 || last != total {
		t.Errorf("progress ended at %d of %d bytes", last, total)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "stand-in") {
		t.Errorf("%s: %q %v", bin, out, err)
	}
	// Cached: no request at all the second time.
	before := m.requests.Load()
	if again, err := Fetch(ctx, o); err != nil || again != bin {
		t.Errorf("second Fetch = %s, %v", again, err)
	}
	if after := m.requests.Load(); after != before {
		t.Errorf("second Fetch made %d request(s)", after-before)
	}
}

func TestFetchOfflineAndBadSum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Nothing listens there: the error names the URL.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/envoy-versions.json"
	srv.Close()
	_, err := Fetch(ctx, FetchOptions{CacheDir: t.TempDir(), VersionsURL: url})
	if err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("offline: err = %v", err)
	}
	// A version the mirror does not have.
	m := newMirror(t, "1.39.9")
	_, err = Fetch(ctx, FetchOptions{CacheDir: t.TempDir(), VersionsURL: m.srv.URL + "/envoy-versions.json"})
	if err == nil || !strings.Contains(err.Error(), PinnedEnvoyVersion) {
		t.Errorf("missing version: err = %v", err)
	}
}

// TestPinnedVersionMatchesImage keeps the standalone Envoy and the kube
// infra's default image on one release.
func TestPinnedVersionMatchesImage(t *testing.T) {
	if !strings.HasSuffix(params.DefaultEnvoyImage, "-v"+PinnedEnvoyVersion) {
		t.Errorf("PinnedEnvoyVersion %s, default image %s", PinnedEnvoyVersion, params.DefaultEnvoyImage)
	}
}
