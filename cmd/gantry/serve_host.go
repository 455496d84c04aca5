package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/gateway/infra/host"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// hostStopGrace is how long serve waits for the host infra beyond its stop
// timeout (SIGKILL and reaping take a moment).
const hostStopGrace = 5 * time.Second

// hostInfra keeps one Envoy process per Gateway proxy group running on this
// host (standalone mode) when an envoy binary is on PATH or named by
// GANTRY_ENVOY. Without envoy it says so once.
type hostInfra struct {
	m     *host.Manager
	log   *slog.Logger
	bound time.Duration

	once sync.Once
	done chan struct{}
	err  error
}

// newHostInfra returns nil when host infra is off: GANTRY_HOST_INFRA=off, or
// an xDS address without a fixed port (Envoy could not dial it). Each Envoy
// gets a stats listener on --host-stats-ip unless it is empty.
func newHostInfra(ctx context.Context, o *serveOptions, log *slog.Logger) (*hostInfra, error) {
	if o.hostStatsIP != "" && net.ParseIP(o.hostStatsIP) == nil {
		return nil, usageErr(fmt.Errorf("--host-stats-ip %q: want an IP address (127.0.0.1, 0.0.0.0, ::1) or empty", o.hostStatsIP))
	}
	if v := os.Getenv("GANTRY_HOST_INFRA"); v == "off" || v == "0" || v == "false" {
		log.Info("host infra: turned off by GANTRY_HOST_INFRA")
		return nil, nil
	}
	log = log.With("component", "host-infra")
	if _, port, err := net.SplitHostPort(o.xdsAddress); err != nil || port == "0" {
		// Envoy could not dial an address picked at random (tests use port 0).
		log.Info("host infra: not starting Envoy processes: the xDS address has no fixed port", "xds", o.xdsAddress)
		return nil, nil
	}
	stop := o.hostStopTimeout
	if stop <= 0 {
		stop = 10 * time.Second
	}
	// Envoys authenticate with a client certificate of the CA, issued when
	// each starts (the control plane is built by then).
	creds := func(group, dir string) (*bootstrap.Credentials, error) {
		return o.identity.security.hostCredentials(group, dir)
	}
	m := host.New(host.Options{XDSAddress: o.xdsAddress, EnvoyPath: standaloneEnvoy(ctx, o, log), Logger: log, StopTimeout: stop,
		StatsHost: o.hostStatsIP, Credentials: creds})
	if bin, err := m.Available(); err == nil {
		log.Info("host infra: starting one Envoy per Gateway", "envoy", bin, "xds", o.xdsAddress, "statsIP", o.hostStatsIP)
	}
	return &hostInfra{m: m, log: log, bound: stop + hostStopGrace, done: make(chan struct{})}, nil
}

// sink reconciles the Envoy processes with each result's Gateway groups.
// When ctx ends the processes are stopped (stop waits for that).
func (h *hostInfra) sink(ctx context.Context) statusSink {
	go func() {
		<-ctx.Done()
		if err := h.stop(); err != nil {
			h.log.Warn("host infra: cleanup", "error", err)
		}
	}()
	return func(_ context.Context, res *translate.Result) {
		if res == nil || ctx.Err() != nil {
			return
		}
		groups := make([]string, 0, len(res.Proxies))
		for _, p := range res.Proxies {
			if strings.HasPrefix(p.Name, "gateway/") {
				groups = append(groups, p.Name)
			}
		}
		if err := h.m.Reconcile(groups); err != nil {
			h.log.Error("host infra: reconcile", "error", err)
		}
	}
}

// stop stops every Envoy (SIGTERM, then SIGKILL after the stop timeout) and
// waits until each has exited and been reaped, for at most the stop timeout
// plus hostStopGrace. Safe to call more than once and concurrently.
func (h *hostInfra) stop() error {
	h.once.Do(func() {
		go func() {
			h.err = h.m.Close()
			close(h.done)
		}()
	})
	t := time.NewTimer(h.bound)
	defer t.Stop()
	select {
	case <-h.done:
		return h.err
	case <-t.C:
		return fmt.Errorf("host infra: Envoy processes still stopping after %s", h.bound)
	}
}

// hostEnvoyLister is a provider that runs local Envoy processes (file: host
// infra); /status lists them.
type hostEnvoyLister interface {
	hostEnvoys() []host.Status
}

// hostInfraSink is the host infra's status sink, nil when host infra is off.
func hostInfraSink(ctx context.Context, h *hostInfra) statusSink {
	if h == nil {
		return nil
	}
	return h.sink(ctx)
}

// chainSinks calls every non-nil sink in order.
func chainSinks(sinks ...statusSink) statusSink {
	return func(ctx context.Context, res *translate.Result) {
		for _, s := range sinks {
			if s != nil {
				s(ctx, res)
			}
		}
	}
}
