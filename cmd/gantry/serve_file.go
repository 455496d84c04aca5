package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gantryproxy/gantry/gateway/infra/host"
	"github.com/gantryproxy/gantry/gateway/provider/file"
	"github.com/gantryproxy/gantry/gateway/status"
)

// fileProvider adapts the folder watcher to the serve pipeline.
type fileProvider struct {
	p     *file.Provider
	infra *hostInfra // nil when host infra is off
	clock *transitionClock
}

func newFileProvider(ctx context.Context, o *serveOptions, log *slog.Logger) (providerWiring, error) {
	if len(o.configDirs) == 0 {
		return providerWiring{}, usageErr(errors.New("--provider file needs at least one -f FOLDER"))
	}
	for _, d := range o.configDirs {
		if d == "-" {
			return providerWiring{}, usageErr(errors.New(`serve -f -: serve watches files; give a folder or file, not "-"`))
		}
	}
	infra, err := newHostInfra(ctx, o, log)
	if err != nil {
		return providerWiring{}, err
	}
	fp := &fileProvider{p: file.New(file.Options{Paths: o.configDirs, Logger: log}), infra: infra, clock: newTransitionClock(time.Now)}
	return providerWiring{provider: fp, sink: chainSinks(newStatusLog(log).sink, hostInfraSink(ctx, fp.infra), trafficHints(o, fp.infra, log))}, nil
}

// stampConditions sets the conditions' LastTransitionTime (the file
// provider has no API server to keep them), after saying in Programmed
// when no Envoy runs on this host.
func (f *fileProvider) stampConditions(r *status.Report) {
	if !f.infra.envoyRuns() {
		markNotListening(r)
	}
	f.clock.stamp(r)
}

// shutdown stops the host infra's Envoy processes and waits (bounded) until
// they are gone; serve calls it after the pipeline stopped.
func (f *fileProvider) shutdown() error {
	if f.infra == nil {
		return nil
	}
	return f.infra.stop()
}

// hostEnvoys lists the host infra's Envoy processes (none when it is off).
func (f *fileProvider) hostEnvoys() []host.Status {
	if f.infra == nil {
		return nil
	}
	return f.infra.m.Statuses()
}

func (f *fileProvider) Run(ctx context.Context, out chan<- providerEvent) error {
	in := make(chan file.Event)
	errc := make(chan error, 1)
	go func() { errc <- f.p.Run(ctx, in) }()
	for {
		select {
		case err := <-errc:
			return err
		case ev := <-in:
			pe := providerEvent{Set: ev.Set, EndpointsOnly: ev.EndpointsOnly(), Initial: ev.Initial, ChangedAt: time.Now()}
			for _, d := range ev.Errors {
				pe.Diagnostics = append(pe.Diagnostics, "error: "+d.String())
			}
			for _, d := range ev.Warnings {
				pe.Diagnostics = append(pe.Diagnostics, "warning: "+d.String())
			}
			select {
			case out <- pe:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
