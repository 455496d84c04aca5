package kube

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/test/envtest"
)

func fleetIdentity(bundle string) *FleetIdentity {
	return &FleetIdentity{AgentImage: "ghcr.io/gantryproxy/gantry:test", Audience: "gantry", TrustDomain: "cluster.local",
		Bundle: func() []byte { return []byte(bundle) }}
}

// renderedAs decodes the rendered object of kind into out.
func renderedAs(t *testing.T, r *rendered, kind string, out any) {
	t.Helper()
	for _, obj := range r.Objects {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"kind":"`+kind+`"`) {
			if err := json.Unmarshal(data, out); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s rendered", kind)
}

func TestRenderFleetIdentity(t *testing.T) {
	gw := gateway("shop", "web", "gantry")
	gw.UID = "uid-1"
	in := renderInput{Gateway: gw, Ports: listenerPorts(gw, nil, nil), Params: DefaultParams(), ControllerName: DefaultControllerName,
		XDSAddress: "gantry.gantry-system.svc:18000", Identity: fleetIdentity("BUNDLE-1")}
	r, err := render(in)
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	renderedAs(t, r, "ConfigMap", &cm)
	if cm.Data[fleetXDSCAKey] != "BUNDLE-1" || !strings.Contains(cm.Data[fleetSDSKey], fleetCertDir+"/tls.key") ||
		!strings.Contains(cm.Data["envoy.yaml"], "envoy.transport_sockets.tls") {
		t.Fatalf("ConfigMap lacks the xDS TLS configuration: %v", cm.Data)
	}
	var dep appsv1.Deployment
	renderedAs(t, r, "Deployment", &dep)
	pod := dep.Spec.Template.Spec
	if len(pod.InitContainers) != 1 || !slices.Contains(pod.InitContainers[0].Args, "--once") || len(pod.Containers) != 2 || pod.Containers[1].Name != "gantry-agent" {
		t.Fatalf("want an init agent (--once) and a renewing agent beside Envoy: %+v %+v", pod.InitContainers, pod.Containers)
	}
	agent := strings.Join(pod.Containers[1].Args, " ")
	for _, w := range []string{"agent ", "--service-account gantry-web", "--namespace shop", "--token-file " + fleetTokenFile, "--server-name gantry.gantry-system.svc"} {
		if !strings.Contains(agent, w) {
			t.Errorf("agent args %q lack %q", agent, w)
		}
	}
	var token *corev1.ServiceAccountTokenProjection
	for _, v := range pod.Volumes {
		if v.Projected != nil {
			token = v.Projected.Sources[0].ServiceAccountToken
		}
		if v.Name == "gantry-certs" && (v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory) {
			t.Error("the certificate volume is not in memory")
		}
	}
	if token == nil || token.Audience != "gantry" {
		t.Fatalf("no projected token with Gantry's audience: %+v", pod.Volumes)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the API server token is mounted")
	}
	envoyMounts := pod.Containers[0].VolumeMounts
	if !slices.ContainsFunc(envoyMounts, func(m corev1.VolumeMount) bool { return m.Name == "gantry-certs" && m.ReadOnly }) ||
		slices.ContainsFunc(envoyMounts, func(m corev1.VolumeMount) bool { return m.Name == "gantry-token" }) {
		t.Errorf("Envoy must read the certificates and not see the token: %+v", envoyMounts)
	}

	// A new trust bundle is applied without restarting the fleet.
	in.Identity = fleetIdentity("BUNDLE-2")
	r2, err := render(in)
	if err != nil {
		t.Fatal(err)
	}
	var dep2 appsv1.Deployment
	renderedAs(t, r2, "Deployment", &dep2)
	if h := "gantry.io/bootstrap-hash"; dep.Spec.Template.Annotations[h] != dep2.Spec.Template.Annotations[h] {
		t.Error("a new trust bundle restarts the fleet")
	}

	// The API server accepts the objects (server-side dry run).
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "fleet-identity")
	gw.Namespace = ns
	r3, err := render(renderInput{Gateway: gw, Ports: listenerPorts(gw, nil, nil), Params: DefaultParams(), ControllerName: DefaultControllerName,
		XDSAddress: "gantry.gantry-system.svc:18000", Identity: fleetIdentity("B")})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range r3.Objects {
		if err := c.Apply(testContext(t), obj, client.FieldOwner("gantry"), client.DryRunAll); err != nil {
			t.Errorf("dry run: %v", err)
		}
	}
}

func TestBootstrapWithTLSIsValid(t *testing.T) {
	out, err := Bootstrap("gateway/apps/web", "gantry.gantry-system.svc:18000", true, fleetLimits(DefaultParams()))
	if err != nil {
		t.Fatal(err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("bootstrap does not parse: %v\n%s", err, out)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	ts := b.StaticResources.Clusters[0].GetTransportSocket()
	var tlsCtx tlsv3.UpstreamTlsContext
	if ts == nil || ts.GetTypedConfig().UnmarshalTo(&tlsCtx) != nil || tlsCtx.Sni != "gantry.gantry-system.svc" {
		t.Fatalf("xDS cluster without TLS to gantry.gantry-system.svc: %v", ts)
	}
	if err := tlsCtx.ValidateAll(); err != nil {
		t.Fatal(err)
	}
}
