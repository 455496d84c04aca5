package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gantryproxy/gantry/gateway/infra/host"
)

// Settings of the standalone Envoy download (flags of gantry serve; the
// environment variables set their defaults, for make run).
const (
	envEnvoyDownload = "GANTRY_ENVOY_DOWNLOAD"     // never | auto
	envVersionsURL   = "GANTRY_ENVOY_VERSIONS_URL" // a func-e release list mirror
	downloadNever    = "never"
	downloadAuto     = "auto"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envoyCacheDir is where downloaded Envoy releases are kept:
// $XDG_CACHE_HOME/gantry/envoy (~/.cache/gantry/envoy).
func envoyCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("envoy cache folder: %w", err)
	}
	return filepath.Join(dir, "gantry", "envoy"), nil
}

// validateEnvoyDownload checks --envoy-download.
func validateEnvoyDownload(v string) error {
	if v != downloadNever && v != downloadAuto {
		return fmt.Errorf("--envoy-download %q: want never or auto", v)
	}
	return nil
}

// standaloneEnvoy returns the Envoy binary host infra starts, "" for the
// manager's own lookup (GANTRY_ENVOY, then PATH). When neither has one it
// uses a cached download, or downloads the pinned release when
// --envoy-download=auto, saying so; otherwise it says how to send traffic
// without Envoy. A failed download is logged, never fatal.
func standaloneEnvoy(ctx context.Context, o *serveOptions, log *slog.Logger) string {
	if os.Getenv(host.EnvVar) != "" {
		return ""
	}
	if _, err := exec.LookPath("envoy"); err == nil {
		return ""
	}
	cache, err := envoyCacheDir()
	if err != nil {
		log.Warn("host infra: " + err.Error())
		return ""
	}
	fo := host.FetchOptions{CacheDir: cache, VersionsURL: o.envoyVersionsURL}
	if bin, ok := host.CachedEnvoy(fo); ok {
		log.Info("host infra: using the Envoy downloaded earlier", "envoy", bin)
		return bin
	}
	if o.envoyDownload != downloadAuto {
		log.Info("host infra: no envoy binary (PATH, "+host.EnvVar+" or "+cache+"): not starting Envoy. "+
			"To download Envoy "+host.PinnedEnvoyVersion+": --envoy-download=auto ("+envEnvoyDownload+"=auto). "+
			"Without Envoy, send requests through Gantry's routing with: gantry probe HOST:PORT/PATH --group gateway/<namespace>/<gateway>",
			"xds", o.xdsAddress)
		return ""
	}
	url := o.envoyVersionsURL
	if url == "" {
		url = host.DefaultVersionsURL
	}
	log.Info("host infra: downloading Envoy "+host.PinnedEnvoyVersion+" with func-e (--envoy-download=never to forbid)",
		"from", url, "into", cache)
	fo.Progress = downloadProgress(log)
	bin, err := host.Fetch(ctx, fo)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return ""
		}
		log.Warn("host infra: could not download Envoy; not starting Envoy (xDS is still served). "+
			"Offline? Put an envoy on PATH or name it with "+host.EnvVar+"; or send requests without Envoy: "+
			"gantry probe HOST:PORT/PATH --group gateway/<namespace>/<gateway>", "error", err)
		return ""
	}
	log.Info("host infra: Envoy downloaded", "envoy", bin)
	return bin
}

// downloadProgress logs every tenth of the archive.
func downloadProgress(log *slog.Logger) func(done, total int64) {
	next := int64(0)
	return func(done, total int64) {
		if total <= 0 {
			return
		}
		if pct := done * 100 / total; pct >= next {
			log.Info("host infra: downloading Envoy", "progress", fmt.Sprintf("%d%% of %.1f MB", pct, float64(total)/1e6))
			next = pct/10*10 + 10
		}
	}
}
