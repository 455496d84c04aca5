package charts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	loaderv3 "helm.sh/helm/v3/pkg/chart/loader"
	chartutilv3 "helm.sh/helm/v3/pkg/chartutil"
	enginev3 "helm.sh/helm/v3/pkg/engine"
	lintv3 "helm.sh/helm/v3/pkg/lint"
	supportv3 "helm.sh/helm/v3/pkg/lint/support"
)

// renderChartHelm3 is renderChart through Helm 3's SDK (helm.sh/helm/v3).
func renderChartHelm3(t *testing.T, vals map[string]any) (*rendered, error) {
	t.Helper()
	ch, err := loaderv3.Load(chartDir)
	if err != nil {
		t.Fatalf("helm 3: load chart: %v", err)
	}
	kv, err := chartutilv3.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps := chartutilv3.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	if !chartutilv3.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, have %s", ch.Metadata.KubeVersion, caps.KubeVersion.String())
	}
	opts := chartutilv3.ReleaseOptions{Name: releaseName, Namespace: releaseNS, Revision: 1, IsInstall: true}
	renderVals, err := chartutilv3.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return nil, err
	}
	files, err := enginev3.Render(ch, renderVals)
	if err != nil {
		return nil, err
	}
	return assemble(files)
}

// TestHelm3SameOutput renders with Helm 3's and Helm 4's SDKs and requires
// the same objects and notes, for default and non-default values.
func TestHelm3SameOutput(t *testing.T) {
	for _, doc := range []string{
		``,
		`{replicaCount: 3, gatewayClass: {create: false}, service: {type: LoadBalancer}}`,
		`{controller: {watchNamespaces: [team-a, team-b]}, metrics: {serviceMonitor: {enabled: true}}}`,
		`{image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}, resources: {limits: null}}`,
	} {
		t.Run(doc, func(t *testing.T) {
			v4 := mustRender(t, valuesFromYAML(t, doc))
			v3, err := renderChartHelm3(t, valuesFromYAML(t, doc))
			if err != nil {
				t.Fatalf("helm 3 render: %v", err)
			}
			if diff := cmp.Diff(v4.keys(), v3.keys()); diff != "" {
				t.Fatalf("objects (-helm4 +helm3):\n%s", diff)
			}
			for i := range v4.objects {
				if diff := cmp.Diff(v4.objects[i].u.Object, v3.objects[i].u.Object); diff != "" {
					t.Errorf("%s (-helm4 +helm3):\n%s", v4.objects[i].key(), diff)
				}
			}
			if v4.notes != v3.notes {
				t.Errorf("NOTES differ:\nhelm 4:\n%s\nhelm 3:\n%s", v4.notes, v3.notes)
			}
		})
	}
}

// TestHelm3LintAndSchema runs Helm 3's lint rules and values schema check.
func TestHelm3LintAndSchema(t *testing.T) {
	kv, err := chartutilv3.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	linter := lintv3.AllWithKubeVersion(chartDir, nil, releaseNS, kv)
	for _, m := range linter.Messages {
		if m.Severity > supportv3.InfoSev || !strings.Contains(m.Error(), "icon is recommended") {
			t.Errorf("helm 3 lint: %s", m.Error())
		}
	}
	_, err = renderChartHelm3(t, valuesFromYAML(t, `{replicaCount: two}`))
	if err == nil || !strings.Contains(err.Error(), "replicaCount") {
		t.Errorf("helm 3 accepted replicaCount: two (err %v)", err)
	}
}
