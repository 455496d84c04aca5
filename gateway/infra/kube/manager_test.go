package kube

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/internal/plist"
	"github.com/gantryproxy/gantry/test/envtest"
)

func assertOwned(t *testing.T, obj client.Object, gw *gwapiv1.Gateway) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != gw.UID || refs[0].Kind != "Gateway" || !ptr.Deref(refs[0].Controller, false) {
		t.Errorf("%T %s owner references = %+v, want the Gateway as controller", obj, obj.GetName(), refs)
	}
	if obj.GetNamespace() != gw.Namespace {
		t.Errorf("%T %s in namespace %s, want %s", obj, obj.GetName(), obj.GetNamespace(), gw.Namespace)
	}
}

func TestFleetObjects(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "fleet")
	ctrl := "gantryproxy.io/test-" + ns
	params := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "params"}, Data: map[string]string{
		KeyEnvoyImage: "example.com/envoy:test", KeyReplicas: "3", KeyServiceType: "LoadBalancer",
		KeyServiceAnnotations: "lb.example.com/scheme: internet-facing\n", KeyExternalTrafficPolicy: "Local",
		KeyLoadBalancerClass: "example.com/lb",
	}}
	gc := class("fleet-"+ns, ctrl)
	pns := gwapiv1.Namespace(ns)
	gc.Spec.ParametersRef = &gwapiv1.ParametersReference{Group: "", Kind: "ConfigMap", Name: "params", Namespace: &pns}
	mode := gwapiv1.TLSModeTerminate
	gw := gateway(ns, "web", gc.Name,
		gwapiv1.Listener{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType},
		gwapiv1.Listener{Name: "https", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: ptr.To(gwapiv1.Hostname("a.example.com")),
			TLS: &gwapiv1.ListenerTLSConfig{Mode: &mode, CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}},
		gwapiv1.Listener{Name: "https-b", Port: 443, Protocol: gwapiv1.HTTPSProtocolType, Hostname: ptr.To(gwapiv1.Hostname("b.example.com")),
			TLS: &gwapiv1.ListenerTLSConfig{Mode: &mode, CertificateRefs: []gwapiv1.SecretObjectReference{{Name: "cert"}}}},
		gwapiv1.Listener{Name: "dns", Port: 5353, Protocol: gwapiv1.UDPProtocolType},
	)
	gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
		Labels:      map[gwapiv1.LabelKey]gwapiv1.LabelValue{"team": "edge"},
		Annotations: map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{"example.com/note": "hello"},
	}
	gw.Spec.Addresses = []gwapiv1.GatewaySpecAddress{{Value: "10.1.2.3"}}
	envtest.Create(t, c, params, gc, gw)

	m := New(c, Options{ControllerName: ctrl, XDSServiceAddress: "gantry.gantry-system.svc:18000"})
	set := &resource.Set{GatewayClasses: plist.Of(gc), Gateways: plist.Of(gw), ConfigMaps: plist.Of(params)}
	ctx := testContext(t)
	if err := m.Reconcile(ctx, set); err != nil {
		t.Fatal(err)
	}
	name := ResourceName("web")

	var sa corev1.ServiceAccount
	get(t, c, ns, name, &sa)
	assertOwned(t, &sa, gw)
	if ptr.Deref(sa.AutomountServiceAccountToken, true) {
		t.Error("ServiceAccount mounts its token")
	}

	var cm corev1.ConfigMap
	get(t, c, ns, name, &cm)
	assertOwned(t, &cm, gw)
	if boot := cm.Data["envoy.yaml"]; !strings.Contains(boot, `"cluster": "gateway/`+ns+`/web"`) || !strings.Contains(boot, "gantry.gantry-system.svc") {
		t.Errorf("bootstrap lacks node.cluster or the xDS address:\n%s", boot)
	}

	var svc corev1.Service
	get(t, c, ns, name, &svc)
	assertOwned(t, &svc, gw)
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name+":"+p.TargetPort.String())
	}
	if want := []string{"tcp-80:80", "tcp-443:443", "udp-5353:5353"}; !slices.Equal(ports, want) {
		t.Errorf("Service ports = %v, want %v (one per distinct listener port)", ports, want)
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal ||
		ptr.Deref(svc.Spec.LoadBalancerClass, "") != "example.com/lb" || svc.Spec.LoadBalancerIP != "10.1.2.3" {
		t.Errorf("Service spec: type %s, externalTrafficPolicy %s, loadBalancerClass %v, loadBalancerIP %q",
			svc.Spec.Type, svc.Spec.ExternalTrafficPolicy, svc.Spec.LoadBalancerClass, svc.Spec.LoadBalancerIP)
	}
	if svc.Annotations["lb.example.com/scheme"] != "internet-facing" || svc.Annotations["example.com/note"] != "hello" || svc.Labels["team"] != "edge" {
		t.Errorf("Service labels %v annotations %v, want class and infrastructure ones", svc.Labels, svc.Annotations)
	}
	if want := map[string]string{LabelName: nameValue, LabelGatewayUID: string(gw.UID)}; !mapsEqual(svc.Spec.Selector, want) {
		t.Errorf("Service selector = %v, want %v", svc.Spec.Selector, want)
	}

	var dep appsv1.Deployment
	get(t, c, ns, name, &dep)
	assertOwned(t, &dep, gw)
	checkDeployment(t, &dep, ns)

	// GEP-1762: every generated object and the pods carry the Gateway's
	// and the GatewayClass's names under the well-known label keys.
	for what, labels := range map[string]map[string]string{
		"ServiceAccount": sa.Labels, "ConfigMap": cm.Labels, "Service": svc.Labels,
		"Deployment": dep.Labels, "pod template": dep.Spec.Template.Labels,
	} {
		if labels[gwapiv1.GatewayNameLabelKey] != "web" || labels[gwapiv1.GatewayClassNameLabelKey] != gc.Name {
			t.Errorf("%s labels %v lack %s=web or %s=%s", what, labels, gwapiv1.GatewayNameLabelKey, gwapiv1.GatewayClassNameLabelKey, gc.Name)
		}
	}

	// Nothing changed: nothing is applied again.
	rv := dep.ResourceVersion
	if err := m.Reconcile(ctx, set); err != nil {
		t.Fatal(err)
	}
	get(t, c, ns, name, &dep)
	if dep.ResourceVersion != rv {
		t.Error("an unchanged Gateway re-applied its Deployment")
	}
}

func checkDeployment(t *testing.T, dep *appsv1.Deployment, ns string) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	if ptr.Deref(dep.Spec.Replicas, 0) != 3 || len(pod.Containers) != 1 {
		t.Fatalf("Deployment replicas %v, %d containers", dep.Spec.Replicas, len(pod.Containers))
	}
	ctr := pod.Containers[0]
	if ctr.Image != "example.com/envoy:test" {
		t.Errorf("image = %q", ctr.Image)
	}
	if !slices.Contains(ctr.Args, "$(POD_NAME)") || !slices.Contains(ctr.Args, "gateway/"+ns+"/web") {
		t.Errorf("args = %v, want node id from the pod name and node cluster gateway/%s/web", ctr.Args, ns)
	}
	if len(ctr.Env) == 0 || ctr.Env[0].Name != "POD_NAME" || ctr.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("env = %+v", ctr.Env)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" || p.HTTPGet.Port.String() != "ready" {
		t.Errorf("readiness probe = %+v", p)
	}
	if l := ctr.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Sleep == nil || l.PreStop.Sleep.Seconds != 15 ||
		ptr.Deref(pod.TerminationGracePeriodSeconds, 0) <= 15 {
		t.Errorf("preStop = %+v, grace %v: want a 15s drain within the grace period", l, pod.TerminationGracePeriodSeconds)
	}
	for _, p := range ctr.Ports {
		if p.ContainerPort == AdminPort {
			t.Error("the admin port is a container port")
		}
	}
	checkScrape(t, dep.Spec.Template.Annotations, ctr.Ports)
	sc := ctr.SecurityContext
	if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
		t.Errorf("container security context = %+v", sc)
	}
	if psc := pod.SecurityContext; psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) {
		t.Errorf("pod security context = %+v", psc)
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v", ctr.Resources)
	}
	if dep.Spec.Template.Labels["team"] != "edge" || dep.Spec.Template.Labels[LabelName] != nameValue {
		t.Errorf("pod labels = %v", dep.Spec.Template.Labels)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestGatewayCannotCreateAnythingElse tries to abuse a Gateway's name and
// infrastructure labels/annotations, and checks the guard on tampered
// objects.
func TestGatewayCannotCreateAnythingElse(t *testing.T) {
	c := apiClient(t)
	ns := envtest.NewNamespace(t, c, "abuse")
	victim := envtest.NewNamespace(t, c, "victim")
	ctrl := "gantryproxy.io/test-" + ns
	gc := class("abuse-"+ns, ctrl)
	long := strings.Repeat("x.", 100) + "kube-system"
	gw := gateway(ns, long, gc.Name)
	gw.Spec.Infrastructure = &gwapiv1.GatewayInfrastructure{
		Labels: map[gwapiv1.LabelKey]gwapiv1.LabelValue{
			LabelName: "hijack", LabelGatewayUID: "someone-else", LabelManagedBy: "me",
			"kubernetes.io/metadata.name": gwapiv1.LabelValue(victim), "ok": "yes",
		},
		Annotations: map[gwapiv1.AnnotationKey]gwapiv1.AnnotationValue{
			"gantry.io/bootstrap-hash": "x", "example.com/fine": "yes",
		},
	}
	envtest.Create(t, c, gc, gw)
	m := New(c, Options{ControllerName: ctrl})
	ctx := testContext(t)
	if err := m.Reconcile(ctx, &resource.Set{GatewayClasses: plist.Of(gc), Gateways: plist.Of(gw)}); err != nil {
		t.Fatal(err)
	}
	name := ResourceName(long)
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		t.Errorf("resource name %q: %v", name, errs)
	}
	created := 0
	for _, list := range []client.ObjectList{&corev1.ServiceAccountList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{},
		&appsv1.DeploymentList{}, &corev1.SecretList{}, &corev1.PodList{}} {
		if err := c.List(ctx, list, client.MatchingLabels{LabelManagedBy: managedByValue}); err != nil {
			t.Fatal(err)
		}
		items, _ := metaItems(list)
		if _, isOther := list.(*corev1.SecretList); isOther || isPodList(list) {
			if n := listLen(list); n != 0 {
				t.Errorf("%T: %d objects created", list, n)
			}
			continue
		}
		for _, o := range items {
			if o.GetLabels()[LabelController] != controllerLabel(ctrl) {
				continue
			}
			created++
			assertOwned(t, o, gw)
			if o.GetName() != name {
				t.Errorf("%T named %q, want %q", o, o.GetName(), name)
			}
			l := o.GetLabels()
			if l[LabelName] != nameValue || l[LabelGatewayUID] != string(gw.UID) || l[LabelManagedBy] != managedByValue || l["ok"] != "yes" {
				t.Errorf("%T labels = %v: reserved labels overridden or user label lost", o, l)
			}
			if _, ok := l["kubernetes.io/metadata.name"]; ok {
				t.Errorf("%T carries a reserved kubernetes.io label", o)
			}
		}
	}
	if created != 4 {
		t.Errorf("%d objects created, want exactly 4", created)
	}
	var dep appsv1.Deployment
	get(t, c, ns, name, &dep)
	if dep.Spec.Template.Annotations["gantry.io/bootstrap-hash"] == "x" || dep.Annotations["example.com/fine"] != "yes" {
		t.Errorf("annotations: template %v, deployment %v", dep.Spec.Template.Annotations, dep.Annotations)
	}

	// The guard refuses anything but the four kinds, elsewhere, or not
	// controlled by the Gateway.
	r, err := render(renderInput{Gateway: gw, Ports: listenerPorts(gw, nil, nil), Params: DefaultParams(), ControllerName: ctrl, XDSAddress: DefaultXDSServiceAddress})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range r.Objects {
		if _, err := guard(gw, obj); err != nil {
			t.Errorf("guard refused a rendered object: %v", err)
		}
	}
	for _, tc := range tamperCases(gw, name, victim) {
		if _, err := guard(gw, tc.obj); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: guard error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func isPodList(l client.ObjectList) bool { _, ok := l.(*corev1.PodList); return ok }

func listLen(l client.ObjectList) int {
	switch x := l.(type) {
	case *corev1.SecretList:
		return len(x.Items)
	case *corev1.PodList:
		return len(x.Items)
	}
	return -1
}

func TestParamsErrorsNameTheConfigMap(t *testing.T) {
	for key, val := range map[string]string{
		KeyReplicas: "many", KeyServiceType: "ExternalName", KeyExternalTrafficPolicy: "Nearest",
		KeyServiceAnnotations: "[1, 2]", "rbac": "admin",
	} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Data: map[string]string{key: val}}
		_, err := DefaultParams().Apply(cm)
		if err == nil || !strings.Contains(err.Error(), "ConfigMap ns/p: data."+key) {
			t.Errorf("%s=%q: error = %v, want one naming ConfigMap ns/p: data.%s", key, val, err, key)
		}
	}
}
