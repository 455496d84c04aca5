package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	funce "github.com/tetratelabs/func-e"
	funceapi "github.com/tetratelabs/func-e/api"
)

// PinnedEnvoyVersion is the Envoy release Fetch installs: the version of
// the default Envoy image of the kube infra (params.DefaultEnvoyImage).
const PinnedEnvoyVersion = "1.40.0"

// DefaultVersionsURL is where func-e reads the list of Envoy releases
// (archive URLs and SHA-256 sums).
const DefaultVersionsURL = "https://archive.tetratelabs.io/envoy/envoy-versions.json"

// FetchOptions configure Fetch.
type FetchOptions struct {
	// Version is the Envoy release (default PinnedEnvoyVersion).
	Version string
	// CacheDir holds the downloaded releases (required); the binary is
	// <CacheDir>/envoy-versions/<version>/bin/envoy.
	CacheDir string
	// VersionsURL is the release list (default DefaultVersionsURL); a
	// mirror serves the same JSON with its own archive URLs.
	VersionsURL string
	// Progress, when set, is called as the archive arrives (total is -1
	// when the server does not say).
	Progress func(done, total int64)
	// Transport makes the HTTP requests (default http.DefaultTransport).
	Transport http.RoundTripper
}

// CachedEnvoy is the path Fetch installs o's version at, and whether an
// executable is there.
func CachedEnvoy(o FetchOptions) (string, bool) {
	v := o.Version
	if v == "" {
		v = PinnedEnvoyVersion
	}
	bin := filepath.Join(o.CacheDir, "envoy-versions", v, "bin", "envoy")
	return bin, executable(bin)
}

// Fetch returns an Envoy binary of o.Version from o.CacheDir, downloading
// and verifying it with func-e's library when it is not there yet. No
// request is made when the binary is cached.
func Fetch(ctx context.Context, o FetchOptions) (string, error) {
	if o.CacheDir == "" {
		return "", errors.New("fetch envoy: no cache folder")
	}
	if o.Version == "" {
		o.Version = PinnedEnvoyVersion
	}
	if o.VersionsURL == "" {
		o.VersionsURL = DefaultVersionsURL
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	bin, ok := CachedEnvoy(o)
	if ok {
		return bin, nil
	}
	var log strings.Builder
	// func-e installs Envoy, then runs it; "--version" makes that run end at
	// once. Only the installed binary matters: its exit status does not.
	runErr := funce.Run(ctx, []string{"--version"},
		funceapi.ConfigHome(filepath.Join(o.CacheDir, "config")),
		funceapi.DataHome(o.CacheDir),
		funceapi.StateHome(filepath.Join(o.CacheDir, "state")),
		funceapi.RuntimeDir(filepath.Join(o.CacheDir, "run")),
		funceapi.EnvoyVersion(o.Version),
		funceapi.EnvoyVersionsURL(o.VersionsURL),
		funceapi.HTTPTransport(&progressTransport{next: o.Transport, progress: o.Progress}),
		funceapi.Out(&log),
		funceapi.EnvoyOut(io.Discard),
		funceapi.EnvoyErr(io.Discard),
	)
	if executable(bin) {
		return bin, nil
	}
	if runErr == nil {
		runErr = fmt.Errorf("no binary at %s after install (func-e said: %s)", bin, strings.TrimSpace(log.String()))
	}
	return "", fmt.Errorf("fetch envoy %s from %s: %w", o.Version, o.VersionsURL, runErr)
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// progressTransport reports the bytes of archive downloads as they arrive.
type progressTransport struct {
	next     http.RoundTripper
	progress func(done, total int64)
}

func (t *progressTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || t.progress == nil || !strings.Contains(req.URL.Path, ".tar.") {
		return resp, err
	}
	resp.Body = &progressBody{ReadCloser: resp.Body, total: resp.ContentLength, progress: t.progress}
	return resp, nil
}

type progressBody struct {
	io.ReadCloser
	done, total int64
	progress    func(done, total int64)
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.done += int64(n)
	if n > 0 || errors.Is(err, io.EOF) {
		b.progress(b.done, b.total)
	}
	return n, err
}
