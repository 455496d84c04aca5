package main

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantryproxy/gantry/gateway/translate"
)

// countStatus counts the status reports the pipeline publishes to the
// provider's sink (gantry_status_updates_total); sink may be nil.
func countStatus(reg prometheus.Registerer, sink statusSink) statusSink {
	updates := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_status_updates_total",
		Help: "Status reports published to the provider (kube: written to the status subresources, rate limited; file: served on the admin /status).",
	})
	reg.MustRegister(updates)
	if sink == nil {
		return func(context.Context, *translate.Result) { updates.Inc() }
	}
	return func(ctx context.Context, res *translate.Result) {
		sink(ctx, res)
		updates.Inc()
	}
}
