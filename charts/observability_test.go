package charts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/mesh/inject"
)

// TestPodMonitors: off by default; on, one PodMonitor per kind of proxy,
// on the port the proxies name, labelled gantry_proxy (and, for fleets,
// gateway) for the dashboards.
func TestPodMonitors(t *testing.T) {
	for _, o := range mustRender(t, nil).objects {
		if k := o.u.GetKind(); k == "PodMonitor" {
			t.Errorf("default values render %s", o.key())
		}
	}
	vals := `{metrics: {podMonitors: {fleets: true, sidecars: true, interval: 15s, labels: {release: prom}}}}`
	if msgs := lintChart(t, valuesFromYAML(t, vals)); len(msgs) > 0 {
		t.Errorf("helm lint --strict:\n%s", strings.Join(msgs, "\n"))
	}
	r := mustRender(t, valuesFromYAML(t, vals))
	for kind, want := range map[string]struct{ port, proxy string }{
		"fleets":   {port: "metrics", proxy: "fleet"},
		"sidecars": {port: inject.StatsPortName, proxy: "sidecar"},
	} {
		pm, ok := r.find("PodMonitor", releaseNS, "gantry-"+kind)
		if !ok {
			t.Fatalf("no PodMonitor gantry-%s: %v", kind, r.keys())
		}
		if pm.u.GetLabels()["release"] != "prom" {
			t.Errorf("%s: labels %v", kind, pm.u.GetLabels())
		}
		eps, _, _ := unstructuredSlice(pm.u.Object, "spec", "podMetricsEndpoints")
		if len(eps) != 1 || eps[0]["port"] != want.port || eps[0]["path"] != "/stats/prometheus" || eps[0]["interval"] != "15s" {
			t.Errorf("%s: endpoints %v", kind, eps)
		}
		data, _ := json.Marshal(eps)
		if !strings.Contains(string(data), `"replacement":"`+want.proxy+`","targetLabel":"gantry_proxy"`) {
			t.Errorf("%s: no gantry_proxy=%s relabeling: %s", kind, want.proxy, data)
		}
		// The gateway label comes from the pod label kube infra sets.
		gwMeta := "__meta_kubernetes_pod_label_" + strings.NewReplacer(".", "_", "/", "_", "-", "_").Replace(kube.LabelGatewayName)
		if kind == "fleets" && !strings.Contains(string(data), `"sourceLabels":["`+gwMeta+`"],"targetLabel":"gateway"`) {
			t.Errorf("fleets: no gateway relabeling from %s: %s", gwMeta, data)
		}
		if kind == "sidecars" && !strings.Contains(string(data), `"targetLabel":"source_workload"`) {
			t.Errorf("sidecars: no source_workload relabeling: %s", data)
		}
	}
}

// TestDashboardConfigMaps: off by default; on, one ConfigMap per
// dashboard file with the Grafana sidecar's label and the JSON intact.
func TestDashboardConfigMaps(t *testing.T) {
	for _, o := range mustRender(t, nil).objects {
		if strings.Contains(o.u.GetName(), "dashboard") {
			t.Errorf("default values render %s", o.key())
		}
	}
	vals := `{dashboards: {enabled: true, annotations: {grafana_folder: Gantry}}}`
	if msgs := lintChart(t, valuesFromYAML(t, vals)); len(msgs) > 0 {
		t.Errorf("helm lint --strict:\n%s", strings.Join(msgs, "\n"))
	}
	r := mustRender(t, valuesFromYAML(t, vals))
	for _, name := range []string{"control-plane", "edge", "mesh"} {
		cm := typedObject[*corev1.ConfigMap](t, r, "ConfigMap", releaseNS, "gantry-dashboard-"+name)
		if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "Gantry" {
			t.Errorf("%s: labels %v annotations %v", name, cm.Labels, cm.Annotations)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []any  `json:"panels"`
		}
		if err := json.Unmarshal([]byte(cm.Data["gantry-"+name+".json"]), &d); err != nil || d.UID != "gantry-"+name || len(d.Panels) == 0 {
			t.Errorf("%s: dashboard JSON: uid %q, %d panels, %v", name, d.UID, len(d.Panels), err)
		}
	}
	if msgs := lintChart(t, valuesFromYAML(t, `{dashboards: {label: "not a label!"}}`)); len(msgs) == 0 {
		t.Error("lint accepted a bad dashboard label")
	}
}

// TestMeshTelemetryValue: controller.meshTelemetry becomes --mesh-telemetry
// flags (sorted by key); an unknown key is refused by the schema.
func TestMeshTelemetryValue(t *testing.T) {
	r := mustRender(t, valuesFromYAML(t, `{controller: {meshTelemetry: {tracing: opentelemetry, accessLog: json, tracingCollector: "otel:4317"}}}`))
	_, c := deploymentOf(t, r)
	wantArgs(t, c, []string{"--mesh-telemetry=accessLog=json", "--mesh-telemetry=tracing=opentelemetry", "--mesh-telemetry=tracingCollector=otel:4317"})
	if msgs := lintChart(t, valuesFromYAML(t, `{controller: {meshTelemetry: {replicas: "2"}}}`)); len(msgs) == 0 {
		t.Error("lint accepted meshTelemetry.replicas")
	}
}

// TestMeshTelemetrySchemaKeys: the schema's list of keys is
// gateway/infra/params' list.
func TestMeshTelemetrySchemaKeys(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Controller struct {
				Properties struct {
					MeshTelemetry struct {
						PropertyNames struct {
							Enum []string `json:"enum"`
						} `json:"propertyNames"`
					} `json:"meshTelemetry"`
				} `json:"properties"`
			} `json:"controller"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	if got := schema.Properties.Controller.Properties.MeshTelemetry.PropertyNames.Enum; !slices.Equal(got, params.TelemetryKeys) {
		t.Errorf("schema keys %v, want params.TelemetryKeys %v", got, params.TelemetryKeys)
	}
}
