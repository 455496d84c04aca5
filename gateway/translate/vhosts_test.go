package translate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// TestRouteSentOncePerTable: an HTTPRoute with many hostnames is one virtual
// host with every hostname as a domain, not a copy of its rules per
// hostname; a second route on one of those hostnames splits that hostname
// off, because its route list differs.
func TestRouteSentOncePerTable(t *testing.T) {
	var hosts, rules []string
	for i := 0; i < 16; i++ {
		hosts = append(hosts, fmt.Sprintf("h%02d.example.com", i))
	}
	for i := 0; i < 16; i++ {
		rules = append(rules, fmt.Sprintf("  - matches: [{path: {type: PathPrefix, value: /r%d}}]\n    backendRefs: [{name: web, port: 8080}]", i))
	}
	doc := httpGatewayYAML + `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: many, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [` + strings.Join(hosts, ", ") + `]
  rules:
` + strings.Join(rules, "\n") + `
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: one, namespace: default}
spec:
  parentRefs: [{name: gw}]
  hostnames: [h07.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /other}}]
    backendRefs: [{name: web, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 8080}]
`
	res, err := resource.Parse("many.yaml", []byte(doc))
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("load: %v %v", err, res.Errors)
	}
	rc := Translate(res.Set, Options{}).Proxies[0].RouteConfigs[0]
	if rc.VirtualHosts.Len() != 2 {
		t.Fatalf("%d virtual hosts, want 2", rc.VirtualHosts.Len())
	}
	shared, split := rc.VirtualHosts.At(0), rc.VirtualHosts.At(1)
	if len(shared.Domains) != 15 || len(shared.Routes) != 16 {
		t.Errorf("shared virtual host %s: %d domains, %d routes; want 15 and 16", shared.Name, len(shared.Domains), len(shared.Routes))
	}
	if split.Name != "h07.example.com" || len(split.Domains) != 1 || len(split.Routes) != 17 {
		t.Errorf("virtual host %s: %v domains, %d routes; want h07.example.com alone with 17", split.Name, split.Domains, len(split.Routes))
	}
}
