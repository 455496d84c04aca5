package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/gantryproxy/gantry/gateway/infra/host"
	"github.com/gantryproxy/gantry/gateway/translate"
)

// hostInfraSink keeps one Envoy process per Gateway proxy group running on
// this host (standalone mode) when an envoy binary is on PATH or named by
// GANTRY_ENVOY, and stops them when ctx ends. Without envoy it says so once.
// GANTRY_HOST_INFRA=off turns it off.
func hostInfraSink(ctx context.Context, o *serveOptions, log *slog.Logger) statusSink {
	if v := os.Getenv("GANTRY_HOST_INFRA"); v == "off" || v == "0" || v == "false" {
		log.Info("host infra: turned off by GANTRY_HOST_INFRA")
		return nil
	}
	log = log.With("component", "host-infra")
	if _, port, err := net.SplitHostPort(o.xdsAddress); err != nil || port == "0" {
		// Envoy could not dial an address picked at random (tests use port 0).
		log.Info("host infra: not starting Envoy processes: the xDS address has no fixed port", "xds", o.xdsAddress)
		return nil
	}
	m := host.New(host.Options{XDSAddress: o.xdsAddress, Logger: log})
	if bin, err := m.Available(); err == nil {
		log.Info("host infra: starting one Envoy per Gateway", "envoy", bin, "xds", o.xdsAddress)
	}
	go func() {
		<-ctx.Done()
		if err := m.Close(); err != nil {
			log.Warn("host infra: cleanup", "error", err)
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
		if err := m.Reconcile(groups); err != nil {
			log.Error("host infra: reconcile", "error", err)
		}
	}
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
