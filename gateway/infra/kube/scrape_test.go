package kube

import (
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// checkScrape: a fleet pod carries the Prometheus scrape annotations
// pointing at its named "metrics" port.
func checkScrape(t *testing.T, annotations map[string]string, ports []corev1.ContainerPort) {
	t.Helper()
	if annotations["prometheus.io/scrape"] != "true" || annotations["prometheus.io/path"] != "/stats/prometheus" ||
		annotations["prometheus.io/port"] != strconv.Itoa(MetricsPort) {
		t.Errorf("pod annotations = %v, want the scrape annotations", annotations)
	}
	if !slices.ContainsFunc(ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == MetricsPort }) {
		t.Errorf("container ports = %v, want metrics %d", ports, MetricsPort)
	}
}
