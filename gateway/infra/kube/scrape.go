package kube

import "strconv"

// scrapeAnnotations are the usual Prometheus annotations of a pod whose
// Envoy serves its stats on port (the "metrics" container port).
func scrapeAnnotations(port int) map[string]string {
	return map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(port),
		"prometheus.io/path":   "/stats/prometheus",
	}
}
