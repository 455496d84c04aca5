package charts

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
)

// lintChart runs the rules of `helm lint --strict` (Helm's own lint package)
// and returns every message above INFO. The only INFO Helm gives this chart is
// the missing icon.
func lintChart(t *testing.T, vals map[string]any) []string {
	t.Helper()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	linter := lint.RunAll(chartDir, vals, releaseNS, lint.WithKubeVersion(kv))
	var out []string
	for _, m := range linter.Messages {
		if m.Severity > support.InfoSev {
			out = append(out, m.Error())
		} else if !strings.Contains(m.Error(), "icon is recommended") {
			out = append(out, "unexpected info: "+m.Error())
		}
	}
	return out
}

func TestLint(t *testing.T) {
	cases := map[string]string{
		"defaults":        ``,
		"watchNamespaces": `{controller: {watchNamespaces: [team-a, team-b]}, gatewayClass: {create: false}}`,
		"serviceMonitor":  `{metrics: {serviceMonitor: {enabled: true, labels: {release: prom}}}, service: {type: LoadBalancer}}`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if msgs := lintChart(t, valuesFromYAML(t, doc)); len(msgs) > 0 {
				t.Errorf("helm lint --strict:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
	// The linter must be able to fail: a value the schema refuses.
	if msgs := lintChart(t, valuesFromYAML(t, `{replicaCount: two}`)); len(msgs) == 0 {
		t.Error("lint accepted replicaCount: two")
	}
}

func TestRenderDefaultObjects(t *testing.T) {
	r := mustRender(t, nil)
	want := []string{
		"ClusterRole/gantry",
		"ClusterRoleBinding/gantry",
		"Deployment/gantry-system/gantry",
		"GatewayClass/gantry",
		"MutatingWebhookConfiguration/gantry-inject",
		"PodDisruptionBudget/gantry-system/gantry",
		"Role/gantry-system/gantry-ca",
		"Role/gantry-system/gantry-leader-election",
		"RoleBinding/gantry-system/gantry-ca",
		"RoleBinding/gantry-system/gantry-leader-election",
		"Service/gantry-system/gantry",
		"ServiceAccount/gantry-system/gantry",
	}
	if diff := cmp.Diff(want, r.keys()); diff != "" {
		t.Errorf("rendered objects (-want +got):\n%s", diff)
	}
	for _, o := range r.objects {
		if o.typed == nil {
			t.Errorf("%s (%s) is not a known typed kind", o.key(), o.source)
		}
		if got := o.u.GetLabels()["app.kubernetes.io/instance"]; got != releaseName {
			t.Errorf("%s: instance label %q", o.key(), got)
		}
	}
	checkRBAC(t, r, nil)
}

// defaultArgs are the flags of contracts.md's `gantry serve` the chart passes by default.
var defaultArgs = []string{
	"serve",
	"--provider=kube",
	"--controller-name=gantryproxy.io/gateway-controller",
	"--xds-address=:18000",
	"--metrics-address=:19001",
	"--admin-address=127.0.0.1:19000",
	"--xds-service-address=gantry.gantry-system.svc.cluster.local:18000",
	"--envoy-image=" + infrakube.DefaultEnvoyImage,
	"--agent-image=ghcr.io/gantryproxy/gantry:0.1.0",
	"--xds-server-names=gantry.gantry-system.svc,gantry.gantry-system.svc.cluster.local",
	"--xds-token-audience=gantry",
	"--ca-secret=gantry-ca",
	"--trust-domain=cluster.local",
	"--cert-lifetime=24h",
	"--ca-issuer=builtin",
	"--webhook-address=:9443",
	"--webhook-config-name=gantry-inject",
	"--leader-elect",
	"--leader-election-namespace=gantry-system",
	"--log-level=info",
	"--log-format=json",
}

func controllerContainer(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("deployment has %d containers", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func TestRenderDefaultDeployment(t *testing.T) {
	r := mustRender(t, nil)
	d := typedObject[*appsv1.Deployment](t, r, "Deployment", releaseNS, "gantry")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	c := controllerContainer(t, d)
	if diff := cmp.Diff(defaultArgs, c.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if c.Image != "ghcr.io/gantryproxy/gantry:0.1.0" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "gantry" {
		t.Errorf("serviceAccountName %q", d.Spec.Template.Spec.ServiceAccountName)
	}
	checkSecurity(t, d)
	checkProbes(t, c)
	checkResources(t, c, "100m", "128Mi", "1", "512Mi")
	if !hasEnv(c, "GOMEMLIMIT") {
		t.Error("GOMEMLIMIT is not set from limits.memory")
	}
	checkSpread(t, d)
}

func checkSecurity(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec.SecurityContext
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot {
		t.Errorf("pod runAsNonRoot not set: %+v", pod)
	}
	if pod == nil || pod.RunAsUser == nil || *pod.RunAsUser == 0 {
		t.Errorf("pod runAsUser is root or unset: %+v", pod)
	}
	if pod == nil || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccomp: %+v", pod)
	}
	sc := controllerContainer(t, d).SecurityContext
	if sc == nil {
		t.Fatal("container has no securityContext")
	}
	checks := map[string]bool{
		"runAsNonRoot":                   sc.RunAsNonRoot != nil && *sc.RunAsNonRoot,
		"readOnlyRootFilesystem":         sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		"allowPrivilegeEscalation=false": sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		"privileged unset or false":      sc.Privileged == nil || !*sc.Privileged,
		"drop ALL, add none":             sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0,
		"seccomp RuntimeDefault":         sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("container securityContext: %s does not hold: %+v", name, sc)
		}
	}
}

func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	metricsPort := int32(0)
	for _, p := range c.Ports {
		if p.Name == "metrics" {
			metricsPort = p.ContainerPort
		}
	}
	if metricsPort != 19001 {
		t.Errorf("metrics container port = %d, want 19001", metricsPort)
	}
	for name, tc := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"liveness":  {probe: c.LivenessProbe, path: "/healthz"},
		"readiness": {probe: c.ReadinessProbe, path: "/readyz"},
		"startup":   {probe: c.StartupProbe, path: "/healthz"},
	} {
		if tc.probe == nil || tc.probe.HTTPGet == nil {
			t.Errorf("%s probe is not an HTTP GET: %+v", name, tc.probe)
			continue
		}
		g := tc.probe.HTTPGet
		if g.Path != tc.path || g.Port != intstr.FromString("metrics") {
			t.Errorf("%s probe = %s on %s, want %s on the metrics port", name, g.Path, g.Port.String(), tc.path)
		}
	}
}

func checkResources(t *testing.T, c corev1.Container, reqCPU, reqMem, limCPU, limMem string) {
	t.Helper()
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{},
		Limits:   corev1.ResourceList{},
	}
	for list, kv := range map[*corev1.ResourceList][2]string{
		&want.Requests: {reqCPU, reqMem},
		&want.Limits:   {limCPU, limMem},
	} {
		if kv[0] != "" {
			(*list)[corev1.ResourceCPU] = resource.MustParse(kv[0])
		}
		if kv[1] != "" {
			(*list)[corev1.ResourceMemory] = resource.MustParse(kv[1])
		}
	}
	if len(want.Limits) == 0 {
		want.Limits = nil
	}
	got := c.Resources
	if len(got.Limits) == 0 {
		got.Limits = nil
	}
	if !resourceListEqual(want.Requests, got.Requests) || !resourceListEqual(want.Limits, got.Limits) {
		t.Errorf("resources = %+v, want %+v", got, want)
	}
}

func resourceListEqual(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}

func hasEnv(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return true
		}
	}
	return false
}

func checkSpread(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	tsc := d.Spec.Template.Spec.TopologySpreadConstraints
	keys := []string{}
	for _, c := range tsc {
		keys = append(keys, c.TopologyKey)
		if c.LabelSelector == nil || !cmp.Equal(c.LabelSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
			t.Errorf("spread on %s selects %+v, want the pod selector %v", c.TopologyKey, c.LabelSelector, d.Spec.Selector.MatchLabels)
		}
	}
	if want := []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"}; !slices.Equal(keys, want) {
		t.Errorf("topology spread keys %v, want %v", keys, want)
	}
}

func TestRenderDefaultServiceAndClass(t *testing.T) {
	r := mustRender(t, nil)
	d := typedObject[*appsv1.Deployment](t, r, "Deployment", releaseNS, "gantry")
	svc := typedObject[*corev1.Service](t, r, "Service", releaseNS, "gantry")
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service type %q", svc.Spec.Type)
	}
	if !cmp.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("service selects %v, deployment pods %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod template lacks selector label %s=%s", k, v)
		}
	}
	ports := map[string]string{}
	for _, p := range svc.Spec.Ports {
		tp := p.TargetPort
		ports[p.Name] = tp.String() + "@" + itoa(p.Port)
	}
	wantPorts := map[string]string{"grpc-xds": "xds@18000", "http-metrics": "metrics@19001", "https-webhook": "webhook@443"}
	if !cmp.Equal(ports, wantPorts) {
		t.Errorf("service ports %v, want %v", ports, wantPorts)
	}
	gc := typedObject[*gwapiv1.GatewayClass](t, r, "GatewayClass", "", "gantry")
	if gc.Spec.ControllerName != "gantryproxy.io/gateway-controller" {
		t.Errorf("GatewayClass controllerName %q", gc.Spec.ControllerName)
	}
	pdb := typedObject[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", releaseNS, "gantry")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !cmp.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB spec %+v", pdb.Spec)
	}
	for _, want := range []string{"gatewayClassName: gantry", "status.addresses", "kubectl -n gantry-system rollout status deployment/gantry"} {
		if !strings.Contains(r.notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, r.notes)
		}
	}
}

func itoa(i int32) string {
	v := intstr.FromInt32(i)
	return v.String()
}
