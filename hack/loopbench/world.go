package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// world writes the configuration folder: base.yaml (the class and the
// Gateways), services.yaml (Services and EndpointSlices; or
// services-<k>.yaml of servicesPerFile Services each) and routes-<k>.yaml
// (perFile routes each).
type world struct {
	dir                       string
	routes, gateways, perFile int
	servicesPerFile           int            // 0: every Service in services.yaml
	prefixes                  map[int]string // route -> changed prefix
	endpoint                  map[int]string // service -> changed second address
}

func (w *world) services() int { return max(w.routes/10, 1) }

func (w *world) writeAll() error {
	w.prefixes, w.endpoint = map[int]string{}, map[int]string{}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: {name: gantry}\nspec: {controllerName: gantryproxy.io/gateway-controller}\n")
	for g := range w.gateways {
		fmt.Fprintf(&b, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw-%d, namespace: default}\n"+
			"spec:\n  gatewayClassName: gantry\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n", g)
	}
	if err := w.write("base.yaml", b.String()); err != nil {
		return err
	}
	step := w.services()
	if w.servicesPerFile > 0 {
		step = w.servicesPerFile
	}
	for s := 0; s < w.services(); s += step {
		if err := w.writeServices(s); err != nil {
			return err
		}
	}
	for f := 0; f*w.perFile < w.routes; f++ {
		if err := w.writeRoutes(f); err != nil {
			return err
		}
	}
	return nil
}

// writeServices writes the file of Service s (and of the others in it).
func (w *world) writeServices(s int) error {
	first, end, name := 0, w.services(), "services.yaml"
	if w.servicesPerFile > 0 {
		first = s - s%w.servicesPerFile
		end = min(first+w.servicesPerFile, end)
		name = fmt.Sprintf("services-%d.yaml", first/w.servicesPerFile)
	}
	var b strings.Builder
	for s := first; s < end; s++ {
		second := w.endpoint[s]
		if second == "" {
			second = fmt.Sprintf("10.%d.%d.2", s/250, s%250)
		}
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: default}\n"+
			"spec: {ports: [{name: http, port: 8080, targetPort: 8080}]}\n"+
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"+
			"metadata: {name: svc-%d-1, namespace: default, labels: {kubernetes.io/service-name: svc-%d}}\n"+
			"addressType: IPv4\nports: [{name: http, port: 8080}]\n"+
			"endpoints: [{addresses: [10.%d.%d.1]}, {addresses: [%s]}]\n", s, s, s, s/250, s%250, second)
	}
	return w.write(name, b.String())
}

func (w *world) writeRoutes(f int) error {
	var b strings.Builder
	for i := f * w.perFile; i < min((f+1)*w.perFile, w.routes); i++ {
		prefix := w.prefixes[i]
		if prefix == "" {
			prefix = "/p"
		}
		fmt.Fprintf(&b, "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r-%d, namespace: default}\n"+
			"spec:\n  parentRefs: [{name: gw-%d}]\n  hostnames: [r-%d.example.com]\n"+
			"  rules: [{matches: [{path: {type: PathPrefix, value: %s}}], backendRefs: [{name: svc-%d, port: 8080}]}]\n",
			i, i%w.gateways, i, prefix, i%w.services())
	}
	return w.write(fmt.Sprintf("routes-%d.yaml", f), b.String())
}

// changeRoute gives a route of the first Gateway a new path prefix and
// returns it.
func (w *world) changeRoute(k int) (string, error) {
	i := (k * w.gateways * 7) % w.routes
	i -= i % w.gateways // a route of gw-0
	w.prefixes[i] = fmt.Sprintf("/changed-%d", k)
	return w.prefixes[i], w.writeRoutes(i / w.perFile)
}

// changeEndpoint replaces the second address of a Service that routes of
// the first Gateway use, and returns it.
func (w *world) changeEndpoint(k int) (string, error) {
	s := (k * w.gateways * 3) % w.services()
	s -= s % w.gateways
	w.endpoint[s] = fmt.Sprintf("10.%d.%d.%d", 200+s/250%50, s%250, 3+k%250)
	return w.endpoint[s], w.writeServices(s)
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
