package inject

import (
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // resolves the typed options in the bootstrap
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/internal/golden"
	"github.com/gantryproxy/gantry/mesh/agent"
	"github.com/gantryproxy/gantry/xds/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.patch.json from the current output")

// readCase reads testdata/<case>.pod.yaml and its "# namespaceLabels: k=v, ..." line.
func readCase(t testing.TB, path string) (*corev1.Pod, map[string]string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	for _, f := range golden.Header(data) {
		if f.Key == "namespaceLabels" {
			for _, kv := range strings.Split(f.Value, ",") {
				k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
				labels[k] = val
			}
		}
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pod, labels
}

// goldenPatch is the content of testdata/<case>.patch.json.
type goldenPatch struct {
	Decision Decision    `json:"decision"`
	Patch    []Operation `json:"patch"`
}

func TestGoldenPatches(t *testing.T) {
	cases := golden.Cases(t, "testdata", ".pod.yaml")
	if len(cases) < 5 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			pod, labels := readCase(t, c.Path)
			ops, d, err := Patch(pod, pod.Namespace, labels, Config{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(goldenPatch{Decision: d, Patch: ops}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata", c.Name+".patch.json"), got, *update)
			if *update {
				return
			}
			checkPatched(t, pod, ops, d)
		})
	}
}

// checkPatched applies the patch and checks its effect: the injected
// containers first among init containers, everything else kept but the
// rewritten probes, the pod not modified.
func checkPatched(t *testing.T, pod *corev1.Pod, ops []Operation, d Decision) {
	t.Helper()
	before, _ := json.Marshal(pod)
	if !d.Inject {
		if len(ops) != 0 {
			t.Fatalf("not injecting (%s) but %d operations", d.Reason, len(ops))
		}
		return
	}
	out, err := ApplyPatch(pod, ops)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(pod); string(after) != string(before) {
		t.Fatal("Patch modified the pod")
	}
	want := []string{CaptureContainerName, AgentInitContainerName, AgentContainerName, ContainerName}
	var got []string
	for _, c := range out.Spec.InitContainers {
		got = append(got, c.Name)
	}
	if len(got) != len(pod.Spec.InitContainers)+4 || !slices.Equal(got[:4], want) {
		t.Fatalf("init containers %v: want %v first, then the pod's own", got, want)
	}
	if diff := cmp.Diff(pod.Spec.InitContainers, out.Spec.InitContainers[4:], cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("existing init containers changed:\n%s", diff)
	}
	noProbes := cmpopts.IgnoreFields(corev1.Container{}, "LivenessProbe", "ReadinessProbe", "StartupProbe")
	if diff := cmp.Diff(pod.Spec.Containers, out.Spec.Containers, noProbes); diff != "" {
		t.Errorf("containers changed beyond their probes:\n%s", diff)
	}
	if diff := cmp.Diff(pod.Spec.Volumes, out.Spec.Volumes[:len(pod.Spec.Volumes)], cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("existing volumes changed:\n%s", diff)
	}
	for k, v := range pod.Annotations {
		if out.Annotations[k] != v {
			t.Errorf("annotation %s lost", k)
		}
	}
	if out.Annotations[StatusAnnotation] != DefaultImage {
		t.Errorf("status annotation = %q", out.Annotations[StatusAnnotation])
	}
	for _, c := range out.Spec.InitContainers[:4] {
		checkContainer(t, c)
	}
	checkBootstrap(t, out.Spec.InitContainers[3], pod.Namespace)
	checkSDS(t, out.Annotations[SDSAnnotation])
	probes := checkProbes(t, pod, out)
	checkVolumes(t, out)
	if _, ok := probes[agent.ProxyReadyPath]; !ok {
		t.Errorf("probe table %v lacks %s", slices.Sorted(maps.Keys(probes)), agent.ProxyReadyPath)
	}
}

// checkContainer checks the security of an injected container.
func checkContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privilege escalation or privileged allowed: %+v", c.Name, sc)
		return
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: drops %v, want ALL", c.Name, sc.Capabilities.Drop)
	}
	if c.Name == CaptureContainerName {
		if !slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN", "NET_RAW"}) || *sc.RunAsUser != 0 || *sc.RunAsNonRoot {
			t.Errorf("capture: %+v, want root with NET_ADMIN and NET_RAW only", sc)
		}
		if c.Args[0] != "capture" || c.Image != DefaultAgentImage {
			t.Errorf("capture runs %s %v", c.Image, c.Args)
		}
		return
	}
	if len(sc.Capabilities.Add) != 0 || *sc.RunAsUser != ProxyUID || *sc.RunAsGroup != ProxyGID || !*sc.RunAsNonRoot {
		t.Errorf("%s: %+v, want UID/GID %d, no capability", c.Name, sc, ProxyUID)
	}
	sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	if sidecar != (c.Name != AgentInitContainerName) {
		t.Errorf("%s: native sidecar = %v", c.Name, sidecar)
	}
}

// checkProbes checks that every HTTP, TCP and gRPC probe of the
// application points at the agent and that the agent's table holds its
// original target; it returns the table.
func checkProbes(t *testing.T, pod, out *corev1.Pod) agent.Probes {
	t.Helper()
	var env string
	for _, c := range out.Spec.InitContainers {
		for _, e := range c.Env {
			if c.Name == AgentContainerName && e.Name == agent.ProbesEnv {
				env = e.Value
			}
		}
	}
	table, err := agent.ParseProbes(env)
	if err != nil {
		t.Fatalf("the agent's probes: %v", err)
	}
	for i, c := range out.Spec.Containers {
		orig := pod.Spec.Containers[i]
		for _, k := range probeKinds {
			p, was := k.get(&c), k.get(&orig)
			if p == nil || was == nil {
				continue
			}
			if was.Exec != nil || (was.HTTPGet != nil && was.HTTPGet.Host != "") {
				if !cmp.Equal(p, was) {
					t.Errorf("%s %s: rewritten although it must stay", c.Name, k.field)
				}
				continue
			}
			if p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != agent.ProbePort {
				t.Errorf("%s %s: not rewritten to the agent: %+v", c.Name, k.field, p)
				continue
			}
			if _, ok := table[p.HTTPGet.Path]; !ok {
				t.Errorf("%s %s: path %s not in the agent's table", c.Name, k.field, p.HTTPGet.Path)
			}
			if p.PeriodSeconds != was.PeriodSeconds || p.FailureThreshold != was.FailureThreshold {
				t.Errorf("%s %s: timing changed", c.Name, k.field)
			}
		}
	}
	return table
}

// checkVolumes checks the token's audience and the xDS files' sources.
func checkVolumes(t *testing.T, out *corev1.Pod) {
	t.Helper()
	var token, sds bool
	for _, v := range out.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == DefaultAudience {
				token = true
			}
			if s.DownwardAPI != nil && strings.Contains(s.DownwardAPI.Items[0].FieldRef.FieldPath, SDSAnnotation) {
				sds = true
			}
		}
	}
	if !token || !sds {
		t.Errorf("volumes: token of audience %s %v, SDS file %v", DefaultAudience, token, sds)
	}
}

// checkSDS parses the SDS file: the agent's certificate and the CA.
func checkSDS(t *testing.T, sds string) {
	t.Helper()
	var file struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal([]byte(sds), &file); err != nil || len(file.Resources) != 2 {
		t.Fatalf("SDS file %q: %v", sds, err)
	}
	for _, r := range file.Resources {
		var a anypb.Any
		if err := protojson.Unmarshal(r, &a); err != nil {
			t.Fatalf("SDS resource: %v", err)
		}
		var sec tlsv3.Secret
		if err := a.UnmarshalTo(&sec); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sec.String(), CertDir) {
			t.Errorf("SDS secret %s does not read the agent's files in %s", sec.GetName(), CertDir)
		}
	}
}

// checkBootstrap parses the sidecar's inline bootstrap as Envoy's proto and
// validates it: TLS to Gantry with the SDS file, admin on loopback.
func checkBootstrap(t *testing.T, c corev1.Container, namespace string) {
	t.Helper()
	var boot string
	for i, a := range c.Args {
		if a == "--config-yaml" && i+1 < len(c.Args) {
			boot = c.Args[i+1]
		}
	}
	if boot == "" {
		t.Fatalf("no --config-yaml in %v", c.Args)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal([]byte(boot), &b); err != nil {
		t.Fatalf("bootstrap is not an Envoy bootstrap: %v", err)
	}
	if err := bootstrap.Validate(&b); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if got := b.GetNode().GetCluster(); got != GroupPrefix+namespace {
		t.Errorf("node.cluster = %q, want mesh/%s", got, namespace)
	}
	if a := b.GetAdmin().GetAddress().GetSocketAddress().GetAddress(); a != "127.0.0.1" {
		t.Errorf("admin on %q, want loopback", a)
	}
	re2 := b.GetLayeredRuntime().GetLayers()[0].GetStaticLayer().GetFields()["re2.max_program_size.error_level"]
	if re2.GetNumberValue() != ir.MaxRegexProgramSize {
		t.Errorf("RE2 program size limit = %v, want %d (the one translation checks)", re2, ir.MaxRegexProgramSize)
	}
	xds := b.GetStaticResources().GetClusters()[0]
	sa := xds.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "gantry.gantry-system.svc" || sa.GetPortValue() != 18000 {
		t.Errorf("xDS address %s:%d", sa.GetAddress(), sa.GetPortValue())
	}
	var tlsCtx tlsv3.UpstreamTlsContext
	if err := xds.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tlsCtx); err != nil {
		t.Fatalf("xDS cluster without TLS: %v", err)
	}
	if tlsCtx.GetSni() != "gantry.gantry-system.svc" || !strings.Contains(tlsCtx.String(), XDSDir+"/"+XDSSDSFile) {
		t.Errorf("xDS TLS: SNI %q, SDS %s", tlsCtx.GetSni(), tlsCtx.String())
	}
}

func TestDecide(t *testing.T) {
	on := map[string]string{NamespaceLabel: NamespaceEnabled}
	pod := func(mut func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{}
		p.Name, p.Namespace = "p", "ns"
		p.Spec.Containers = []corev1.Container{{Name: "app"}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	cases := []struct {
		name   string
		pod    *corev1.Pod
		labels map[string]string
		want   bool
		reason string
	}{
		{name: "enabled namespace", pod: pod(nil), labels: on, want: true},
		{name: "no label", pod: pod(nil), labels: nil, reason: "not labelled"},
		{name: "label disabled", pod: pod(nil), labels: map[string]string{NamespaceLabel: "disabled"}, reason: "not labelled"},
		{name: "opt out", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{OptOut: "false"} }), labels: on, reason: "opted out (annotation"},
		{name: "opt out any case", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{OptOut: "False"} }), labels: on, reason: "opted out"},
		{name: "opt out label", pod: pod(func(p *corev1.Pod) { p.Labels = map[string]string{OptOut: "false"} }), labels: on, reason: "opted out (label"},
		{name: "annotation true is no opt out", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{OptOut: "true"} }), labels: on, want: true},
		{name: "status annotation", pod: pod(func(p *corev1.Pod) { p.Annotations = map[string]string{StatusAnnotation: "x"} }), labels: on, reason: "already injected"},
		{name: "agent present", pod: pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: AgentContainerName}}
		}), labels: on, reason: "already has the gantry-agent"},
		{name: "host network", pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), labels: on, reason: "host network"},
		{name: "already a container", pod: pod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: ContainerName})
		}), labels: on, reason: "already"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.pod, tc.labels)
			if d.Inject != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want inject=%v reason containing %q", d, tc.want, tc.reason)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name = "p"
	on := map[string]string{NamespaceLabel: NamespaceEnabled}
	cases := []struct {
		cfg  Config
		ns   string
		want string
	}{
		{cfg: Config{XDSAddress: "nohost"}, ns: "a", want: `xdsAddress "nohost"`},
		{cfg: Config{XDSAddress: "h:0"}, ns: "a", want: "port must be 1-65535"},
		{cfg: Config{AdminPort: -1}, ns: "a", want: "adminPort -1"},
		{cfg: Config{}, ns: "", want: "pod p: no namespace"},
	}
	for _, tc := range cases {
		_, _, err := Patch(pod, tc.ns, on, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Patch(%+v, ns %q) error %v, want %q", tc.cfg, tc.ns, err, tc.want)
		}
	}
	if _, _, err := Patch(nil, "a", on, Config{}); err == nil {
		t.Error("nil pod: no error")
	}
}
