package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// world writes the configuration folder: one file per namespace ns-<n>
// holding its Services (one port each) and their EndpointSlices (two
// addresses each), and, for every tenth Service, a producer HTTPRoute
// splitting it between two others of its namespace.
type world struct {
	dir                  string
	services, namespaces int
	endpoint             map[int]string // service -> changed second address
}

func (w *world) writeAll() error {
	w.endpoint = map[int]string{}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	for n := range w.namespaces {
		if err := w.writeNamespace(n); err != nil {
			return err
		}
	}
	return nil
}

// writeNamespace writes the file of namespace n: Services s with
// s % namespaces == n.
func (w *world) writeNamespace(n int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns-%d}\n", n)
	for s := n; s < w.services; s += w.namespaces {
		second := w.endpoint[s]
		if second == "" {
			second = fmt.Sprintf("10.1.%d.%d", s/250, s%250+1)
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: ns-%d}\n"+
			"spec: {clusterIP: 10.96.%d.%d, ports: [{name: http, port: 9080, targetPort: 8080}]}\n"+
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"+
			"metadata: {name: svc-%d-1, namespace: ns-%d, labels: {kubernetes.io/service-name: svc-%d}}\n"+
			"addressType: IPv4\nports: [{name: http, port: 8080}]\n"+
			"endpoints: [{addresses: [10.0.%d.%d]}, {addresses: [%s]}]\n",
			s, n, s/250, s%250+1, s, n, s, s/250, s%250+1, second)
		if s%10 == 0 && s+2*w.namespaces < w.services {
			fmt.Fprintf(&b, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: svc-%d, namespace: ns-%d}\n"+
				"spec:\n  parentRefs: [{group: \"\", kind: Service, name: svc-%d}]\n"+
				"  rules: [{backendRefs: [{name: svc-%d, port: 9080, weight: 50}, {name: svc-%d, port: 9080, weight: 50}]}]\n",
				s, n, s, s+w.namespaces, s+2*w.namespaces)
		}
	}
	return w.write(fmt.Sprintf("ns-%d.yaml", n), b.String())
}

// changeEndpoint gives Service s a new second address (the k-th change)
// and rewrites its namespace's file; it returns the new address.
func (w *world) changeEndpoint(s, k int) (string, error) {
	w.endpoint[s] = fmt.Sprintf("10.%d.%d.%d", 200+k/250%50, s%250, 1+k%250)
	return w.endpoint[s], w.writeNamespace(s % w.namespaces)
}

// write replaces a file atomically (a rename), so that the watcher never
// reads half of it.
func (w *world) write(name, content string) error {
	tmp := filepath.Join(filepath.Dir(w.dir), name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(w.dir, name))
}
