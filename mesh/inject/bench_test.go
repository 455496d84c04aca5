package inject

import (
	"path/filepath"
	"testing"
)

// BenchmarkPatch is the webhook's work per pod: policy, capture flags,
// probes, bootstrap and SDS file, the JSON patch.
func BenchmarkPatch(b *testing.B) {
	pod, labels := readCase(b, filepath.Join("testdata", "probes.pod.yaml"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Patch(pod, pod.Namespace, labels, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
