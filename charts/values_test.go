package charts

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func deploymentOf(t *testing.T, r *rendered) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	d := typedObject[*appsv1.Deployment](t, r, "Deployment", releaseNS, "gantry")
	return d, controllerContainer(t, d)
}

func wantArgs(t *testing.T, c corev1.Container, present []string, absentPrefixes ...string) {
	t.Helper()
	for _, a := range present {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args lack %q: %v", a, c.Args)
		}
	}
	for _, p := range absentPrefixes {
		for _, a := range c.Args {
			if strings.HasPrefix(a, p) {
				t.Errorf("args have %q although they should not: %v", a, c.Args)
			}
		}
	}
}

// TestRenderValues renders with non-default values and checks what each one changes.
func TestRenderValues(t *testing.T) {
	cases := []struct {
		name   string
		values string
		check  func(t *testing.T, r *rendered)
	}{{
		name:   "replicas",
		values: `{replicaCount: 3}`,
		check: func(t *testing.T, r *rendered) {
			d, c := deploymentOf(t, r)
			if *d.Spec.Replicas != 3 {
				t.Errorf("replicas %d", *d.Spec.Replicas)
			}
			wantArgs(t, c, []string{"--leader-elect"})
		},
	}, {
		name:   "single replica without leader election",
		values: `{replicaCount: 1, controller: {leaderElection: {enabled: false}}, podDisruptionBudget: {enabled: false}}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			wantArgs(t, c, nil, "--leader-elect", "--leader-election-namespace")
			if _, ok := r.find("PodDisruptionBudget", releaseNS, "gantry"); ok {
				t.Error("PDB rendered although disabled")
			}
		},
	}, {
		name:   "GatewayClass disabled",
		values: `{gatewayClass: {create: false}}`,
		check: func(t *testing.T, r *rendered) {
			if gcs := r.ofKind("GatewayClass"); len(gcs) != 0 {
				t.Errorf("GatewayClass rendered although disabled: %v", gcs[0].key())
			}
			if !strings.Contains(r.notes, "create a GatewayClass with controllerName gantryproxy.io/gateway-controller") {
				t.Errorf("NOTES do not say to create a GatewayClass:\n%s", r.notes)
			}
		},
	}, {
		name:   "GatewayClass renamed, own controllerName",
		values: `{gatewayClass: {name: edge}, controller: {controllerName: example.com/edge-controller}}`,
		check: func(t *testing.T, r *rendered) {
			gc := typedObject[*gwapiv1.GatewayClass](t, r, "GatewayClass", "", "edge")
			if gc.Spec.ControllerName != "example.com/edge-controller" {
				t.Errorf("controllerName %q", gc.Spec.ControllerName)
			}
			_, c := deploymentOf(t, r)
			wantArgs(t, c, []string{"--controller-name=example.com/edge-controller"})
			if !strings.Contains(r.notes, "gatewayClassName: edge") {
				t.Errorf("NOTES do not use the class name:\n%s", r.notes)
			}
		},
	}, {
		name: "custom images",
		values: `{image: {repository: registry.example.com/gantry, tag: v9.8.7, pullPolicy: Always},
		          envoy: {image: "registry.example.com/envoy:v1.40.1"}, imagePullSecrets: [{name: regcred}]}`,
		check: func(t *testing.T, r *rendered) {
			d, c := deploymentOf(t, r)
			if c.Image != "registry.example.com/gantry:v9.8.7" || c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
			}
			wantArgs(t, c, []string{"--envoy-image=registry.example.com/envoy:v1.40.1"})
			if want := []corev1.LocalObjectReference{{Name: "regcred"}}; !cmp.Equal(d.Spec.Template.Spec.ImagePullSecrets, want) {
				t.Errorf("imagePullSecrets %v", d.Spec.Template.Spec.ImagePullSecrets)
			}
		},
	}, {
		name:   "image digest",
		values: `{image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			if want := "ghcr.io/gantryproxy/gantry@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; c.Image != want {
				t.Errorf("image %q, want %q", c.Image, want)
			}
		},
	}, {
		name:   "watch namespaces",
		values: `{controller: {watchNamespaces: [team-a, team-b]}}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			wantArgs(t, c, []string{"--watch-namespaces=team-a,team-b"})
			checkRBAC(t, r, []string{"team-a", "team-b"})
			if !strings.Contains(r.notes, "Only these namespaces are watched: team-a, team-b") {
				t.Errorf("NOTES do not list the watched namespaces:\n%s", r.notes)
			}
		},
	}, {
		name:   "resources",
		values: `{resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 2, memory: 1Gi}}}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			checkResources(t, c, "250m", "256Mi", "2", "1Gi")
		},
	}, {
		name:   "requests only",
		values: `{resources: {limits: null, requests: {cpu: 50m, memory: 64Mi}}}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			checkResources(t, c, "50m", "64Mi", "", "")
			if hasEnv(c, "GOMEMLIMIT") {
				t.Error("GOMEMLIMIT set without a memory limit")
			}
		},
	}, {
		name:   "service type",
		values: `{service: {type: LoadBalancer, annotations: {example.com/internal: "true"}}}`,
		check: func(t *testing.T, r *rendered) {
			svc := typedObject[*corev1.Service](t, r, "Service", releaseNS, "gantry")
			if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Annotations["example.com/internal"] != "true" {
				t.Errorf("service type %q annotations %v", svc.Spec.Type, svc.Annotations)
			}
		},
	}, {
		name:   "ports and cluster domain",
		values: `{xds: {port: 15010}, metrics: {port: 15014}, clusterDomain: corp.internal}`,
		check: func(t *testing.T, r *rendered) {
			_, c := deploymentOf(t, r)
			wantArgs(t, c, []string{"--xds-address=:15010", "--metrics-address=:15014",
				"--xds-service-address=gantry.gantry-system.svc.corp.internal:15010"})
			svc := typedObject[*corev1.Service](t, r, "Service", releaseNS, "gantry")
			if svc.Spec.Ports[0].Port != 15010 || svc.Spec.Ports[1].Port != 15014 {
				t.Errorf("service ports %+v", svc.Spec.Ports)
			}
		},
	}, {
		name:   "ServiceMonitor",
		values: `{metrics: {serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}}}}`,
		check: func(t *testing.T, r *rendered) {
			sm, ok := r.find("ServiceMonitor", releaseNS, "gantry")
			if !ok {
				t.Fatalf("no ServiceMonitor: %v", r.keys())
			}
			if sm.u.GetLabels()["release"] != "prom" {
				t.Errorf("labels %v", sm.u.GetLabels())
			}
			eps, _, _ := unstructuredSlice(sm.u.Object, "spec", "endpoints")
			if len(eps) != 1 || eps[0]["port"] != "http-metrics" || eps[0]["interval"] != "15s" {
				t.Errorf("endpoints %v", eps)
			}
		},
	}, {
		name: "log, extra args and env, scheduling",
		values: `{controller: {logLevel: debug, logFormat: text, extraArgs: [--foo=bar], extraEnv: [{name: X, value: "1"}]},
		          nodeSelector: {kubernetes.io/os: linux}, tolerations: [{key: k, operator: Exists}],
		          topologySpreadConstraints: [{maxSkew: 2, topologyKey: example.com/rack, whenUnsatisfiable: DoNotSchedule}]}`,
		check: func(t *testing.T, r *rendered) {
			d, c := deploymentOf(t, r)
			wantArgs(t, c, []string{"--log-level=debug", "--log-format=text", "--foo=bar"})
			if !hasEnv(c, "X") {
				t.Error("extraEnv X missing")
			}
			spec := d.Spec.Template.Spec
			if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 {
				t.Errorf("nodeSelector %v tolerations %v", spec.NodeSelector, spec.Tolerations)
			}
			if len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].TopologyKey != "example.com/rack" {
				t.Errorf("topology spread %+v", spec.TopologySpreadConstraints)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, valuesFromYAML(t, tc.values))
			tc.check(t, r)
			if tc.name != "watch namespaces" {
				checkRBAC(t, r, nil)
			}
			checkSecurity(t, typedObject[*appsv1.Deployment](t, r, "Deployment", releaseNS, "gantry"))
		})
	}
}

func unstructuredSlice(obj map[string]any, fields ...string) ([]map[string]any, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		cur = m[f]
	}
	list, ok := cur.([]any)
	if !ok {
		return nil, false, nil
	}
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, true, nil
}

// TestValuesSchemaRejects checks that values.schema.json refuses bad values
// with an error naming the field.
func TestValuesSchemaRejects(t *testing.T) {
	cases := []struct{ values, field string }{
		{`{replicaCount: two}`, "replicaCount"},
		{`{replicas: 2}`, "replicas"},
		{`{image: {pullPolicy: Sometimes}}`, "pullPolicy"},
		{`{image: {digest: "sha1:abc"}}`, "digest"},
		{`{image: {registry: x}}`, "registry"},
		{`{service: {type: Ingress}}`, "type"},
		{`{controller: {logLevel: trace}}`, "logLevel"},
		{`{controller: {watchNamespaces: [Team_A]}}`, "watchNamespaces"},
		{`{controller: {controllerName: "no-slash"}}`, "controllerName"},
		{`{xds: {port: 70000}}`, "port"},
		{`{gatewayClass: {create: "yes"}}`, "create"},
		{`{resources: {requests: {memory: lots}}}`, "memory"},
		{`{podDisruptionBudget: {maxUnavailable: "half"}}`, "maxUnavailable"},
		{`{metrics: {serviceMonitor: {interval: soon}}}`, "interval"},
	}
	for _, tc := range cases {
		t.Run(tc.values, func(t *testing.T) {
			_, err := renderChart(t, valuesFromYAML(t, tc.values))
			if err == nil {
				t.Fatalf("values %s were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error does not name the schema and %q: %v", tc.field, err)
			}
		})
	}
}

// TestCAValues: the CA Secret and issuer flags, and CertificateRequests
// granted only with the cert-manager issuer.
func TestCAValues(t *testing.T) {
	r := mustRender(t, nil)
	checkCARole(t, r, "gantry-ca", false)
	r = mustRender(t, valuesFromYAML(t, `{xds: {tokenAudience: mesh}, ca: {secretName: corp-ca, issuer: cert-manager, certManager: {issuerKind: ClusterIssuer, issuerName: corp}}}`))
	checkCARole(t, r, "corp-ca", true)
	_, c := deploymentOf(t, r)
	wantArgs(t, c, []string{"--ca-secret=corp-ca", "--xds-token-audience=mesh", "--ca-issuer=cert-manager", "--cert-manager-issuer-kind=ClusterIssuer", "--cert-manager-issuer-name=corp", "--cert-manager-issuer-group=cert-manager.io"})
}

// TestValuesRefusedByTemplates covers combinations the schema cannot express.
func TestValuesRefusedByTemplates(t *testing.T) {
	if _, err := renderChart(t, valuesFromYAML(t, `{ca: {issuer: cert-manager}}`)); err == nil || !strings.Contains(err.Error(), "ca.certManager.issuerName") {
		t.Errorf("cert-manager issuer without a name: err %v", err)
	}
	_, err := renderChart(t, valuesFromYAML(t, `{replicaCount: 2, controller: {leaderElection: {enabled: false}}}`))
	if err == nil || !strings.Contains(err.Error(), "leaderElection.enabled=false needs replicaCount: 1") {
		t.Errorf("two replicas without leader election: err %v", err)
	}
}
