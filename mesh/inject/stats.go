package inject

import (
	"encoding/json"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
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

// statsStatic returns the stats listener and the admin cluster it forwards
// to, as the JSON maps of the sidecar bootstrap (the same messages as the
// fleets' bootstrap.StatsListener and bootstrap.AdminCluster).
func statsStatic(cfg Config) (listener, cluster map[string]any, err error) {
	l, err := bootstrap.StatsListener("0.0.0.0", uint32(cfg.StatsPort))
	if err != nil {
		return nil, nil, fmt.Errorf("inject: stats listener: %w", err)
	}
	if listener, err = jsonMap(l); err != nil {
		return nil, nil, err
	}
	if cluster, err = jsonMap(bootstrap.AdminCluster("127.0.0.1", uint32(cfg.AdminPort))); err != nil {
		return nil, nil, err
	}
	return listener, cluster, nil
}

func jsonMap(m proto.Message) (map[string]any, error) {
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("inject: bootstrap: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("inject: bootstrap: %w", err)
	}
	return out, nil
}

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
