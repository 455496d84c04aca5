package kube

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// stripConfigMap keeps what translation and the fleet read, and the key
// names of everything else.
func TestStripConfigMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     map[string]string
		binary   map[string][]byte
		wantData map[string]string
		wantBin  int
	}{
		{name: "ca bundle", data: map[string]string{"ca.crt": "pem", "other": "x"}, wantData: map[string]string{"ca.crt": "pem", "other": "x"}},
		{name: "parameters", data: map[string]string{"replicas": "2"}, wantData: map[string]string{"replicas": "2"}},
		{name: "parameters with a typo", data: map[string]string{"replicas": "2", "drainSecs": "3"}, binary: map[string][]byte{"x": []byte("y")},
			wantData: map[string]string{"replicas": "2", "drainSecs": "3"}, wantBin: 1},
		{name: "unrelated", data: map[string]string{"app.json": "{...}", "replica": "2"}, binary: map[string][]byte{"blob": []byte("zzz")},
			wantData: map[string]string{"app.json": "", "replica": ""}, wantBin: 1},
		{name: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: tc.data, BinaryData: tc.binary}
			out, err := stripConfigMap(in)
			if err != nil {
				t.Fatal(err)
			}
			cm := out.(*corev1.ConfigMap)
			if !maps.Equal(cm.Data, tc.wantData) {
				t.Errorf("data = %v, want %v", cm.Data, tc.wantData)
			}
			if len(cm.BinaryData) != tc.wantBin {
				t.Errorf("binaryData = %v, want %d keys", cm.BinaryData, tc.wantBin)
			}
			if tc.name == "unrelated" && len(cm.BinaryData["blob"]) != 0 {
				t.Errorf("binary value kept for an unrelated ConfigMap")
			}
		})
	}
}
