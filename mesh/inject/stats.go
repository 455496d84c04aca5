package inject

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// The sidecar's Prometheus stats listener.
const (
	// DefaultStatsPort serves GET /stats/prometheus (and nothing else)
	// from the sidecar's admin API.
	DefaultStatsPort = bootstrap.DefaultStatsPort
	// StatsPortName names the sidecar's stats container port, which the
	// chart's PodMonitor selects.
	StatsPortName = "gantry-metrics"
)

// statsPort is the sidecar's named stats container port.
func statsPort(cfg Config) corev1.ContainerPort {
	return corev1.ContainerPort{Name: StatsPortName, ContainerPort: cfg.StatsPort, Protocol: corev1.ProtocolTCP}
}

// scrapeAnnotations are the Prometheus annotations an injected pod gets
// unless it already has its own prometheus.io/scrape (the application's
// metrics win; the chart's PodMonitor still finds the sidecar by port
// name).
func scrapeAnnotations(pod *corev1.Pod, cfg Config) map[string]string {
	if _, ok := pod.Annotations["prometheus.io/scrape"]; ok {
		return nil
	}
	return map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(int(cfg.StatsPort)),
		"prometheus.io/path":   bootstrap.StatsPath,
	}
}
