package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantryproxy/gantry/xds/cache"
)

// metrics are the xDS server's Prometheus collectors.
type metrics struct {
	connections *prometheus.GaugeVec
	pushes      *prometheus.CounterVec
	sent        *prometheus.CounterVec
	nacks       *prometheus.CounterVec
	convergence *prometheus.HistogramVec
	translation prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_xds_connections",
			Help: "Open xDS streams, by protocol (sotw, delta).",
		}, []string{"protocol"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_xds_pushes_total",
			Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_xds_resources_sent_total",
			Help: "Resources carried by xDS responses, by resource type (a route, endpoint or secret change sends only what changed).",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_xds_nacks_total",
			Help: "xDS configurations rejected by a node (NACK), by resource type; once per node, type and version.",
		}, []string{"type"}),
		convergence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_xds_convergence_seconds",
			Help:    "Time from an input change to the ACK of the first version that contains it, per node and type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"type"}),
		translation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_translation_duration_seconds",
			Help:    "Time to turn one input snapshot into xDS snapshots (translate, build, validate, set).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.pushes, m.sent, m.nacks, m.convergence, m.translation)
	}
	// Series exist from the start, so rates and alerts see zeros, not gaps.
	for _, p := range []string{"sotw", "delta"} {
		m.connections.WithLabelValues(p)
	}
	for _, t := range cache.TypeOrder {
		m.pushes.WithLabelValues(typeName(t))
		m.sent.WithLabelValues(typeName(t))
		m.nacks.WithLabelValues(typeName(t))
	}
	return m
}
