package charts

import (
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantryproxy/gantry/mesh/inject"
)

// TestWebhookConfiguration checks the injection webhook the chart installs:
// pods only, on CREATE, of labelled namespaces but the control plane's own
// and kube-system, never pods that opt out by label, no side effects, the
// failure policy and timeout of the values, and the controller's Service
// port that leads to gantry serve's --webhook-address.
func TestWebhookConfiguration(t *testing.T) {
	r := mustRender(t, nil)
	mwc := typedObject[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", "", "gantry-inject")
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks", len(mwc.Webhooks))
	}
	w := mwc.Webhooks[0]
	if *w.SideEffects != admissionregistrationv1.SideEffectClassNone || *w.FailurePolicy != admissionregistrationv1.Fail || *w.TimeoutSeconds != 10 {
		t.Errorf("sideEffects %v, failurePolicy %v, timeout %v", *w.SideEffects, *w.FailurePolicy, *w.TimeoutSeconds)
	}
	if !slices.Equal(w.AdmissionReviewVersions, []string{"v1"}) || w.ClientConfig.CABundle != nil {
		t.Errorf("review versions %v, caBundle %q (gantry serve writes it)", w.AdmissionReviewVersions, w.ClientConfig.CABundle)
	}
	svc := w.ClientConfig.Service
	if svc == nil || svc.Name != "gantry" || svc.Namespace != releaseNS || *svc.Path != "/inject" || *svc.Port != 443 {
		t.Fatalf("clientConfig.service %+v", svc)
	}
	if len(w.Rules) != 1 || !slices.Equal(w.Rules[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) ||
		!slices.Equal(w.Rules[0].Resources, []string{"pods"}) || !slices.Equal(w.Rules[0].APIGroups, []string{""}) {
		t.Errorf("rules %+v, want CREATE of core pods", w.Rules)
	}
	nsSel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
	if err != nil {
		t.Fatal(err)
	}
	objSel, err := metav1.LabelSelectorAsSelector(w.ObjectSelector)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"shop": true, "plain": false, releaseNS: false, "kube-system": false} {
		l := labels.Set{"kubernetes.io/metadata.name": ns}
		if ns != "plain" {
			l[inject.NamespaceLabel] = inject.NamespaceEnabled
		}
		if got := nsSel.Matches(l); got != want {
			t.Errorf("namespace %s %v: selected %v, want %v", ns, l, got, want)
		}
	}
	for l, want := range map[string]bool{"": true, "true": true, "false": false} {
		set := labels.Set{"app": "web"}
		if l != "" {
			set[inject.OptOut] = l
		}
		if got := objSel.Matches(set); got != want {
			t.Errorf("pod labels %v: selected %v, want %v", set, got, want)
		}
	}

	// The Service's 443 leads to the container port gantry serve listens on.
	service := typedObject[*corev1.Service](t, r, "Service", releaseNS, "gantry")
	d := typedObject[*appsv1.Deployment](t, r, "Deployment", releaseNS, "gantry")
	c := controllerContainer(t, d)
	var target string
	for _, p := range service.Spec.Ports {
		if p.Port == 443 {
			target = p.TargetPort.String()
		}
	}
	var port int32
	for _, p := range c.Ports {
		if p.Name == target {
			port = p.ContainerPort
		}
	}
	if port == 0 || !slices.Contains(c.Args, "--webhook-address=:"+itoa(port)) || !slices.Contains(c.Args, "--webhook-config-name=gantry-inject") {
		t.Errorf("Service 443 -> %q -> port %d; args %v", target, port, c.Args)
	}

	// The ClusterRole may update this configuration and no other.
	cr := typedObject[*rbacv1.ClusterRole](t, r, "ClusterRole", "", "gantry")
	for _, rule := range cr.Rules {
		if slices.Contains(rule.Resources, "mutatingwebhookconfigurations") && !slices.Equal(rule.ResourceNames, []string{"gantry-inject"}) {
			t.Errorf("webhook configuration rule %+v not limited to gantry-inject", rule)
		}
	}
	if !grants(cr.Rules, "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "update") {
		t.Error("the ClusterRole cannot update the webhook's caBundle")
	}
}

func TestWebhookValues(t *testing.T) {
	r := mustRender(t, valuesFromYAML(t, `{injection: {failurePolicy: Ignore, timeoutSeconds: 5, port: 15017, excludeNamespaces: [legacy]}}`))
	w := typedObject[*admissionregistrationv1.MutatingWebhookConfiguration](t, r, "MutatingWebhookConfiguration", "", "gantry-inject").Webhooks[0]
	if *w.FailurePolicy != admissionregistrationv1.Ignore || *w.TimeoutSeconds != 5 {
		t.Errorf("failurePolicy %v timeout %v", *w.FailurePolicy, *w.TimeoutSeconds)
	}
	if got := w.NamespaceSelector.MatchExpressions[1].Values; !slices.Equal(got, []string{releaseNS, "kube-system", "legacy"}) {
		t.Errorf("excluded namespaces %v", got)
	}
	_, c := deploymentOf(t, r)
	if !slices.Contains(c.Args, "--webhook-address=:15017") {
		t.Errorf("args %v", c.Args)
	}

	off := mustRender(t, valuesFromYAML(t, `{injection: {enabled: false}}`))
	if len(off.ofKind("MutatingWebhookConfiguration")) != 0 {
		t.Error("injection.enabled=false still installs the webhook")
	}
	_, c = deploymentOf(t, off)
	if strings.Contains(strings.Join(c.Args, " "), "--webhook") {
		t.Errorf("args %v", c.Args)
	}
	for _, bad := range []string{`{injection: {failurePolicy: Maybe}}`, `{injection: {timeoutSeconds: 31}}`, `{injection: {excludeNamespaces: [Bad_NS]}}`, `{injection: {typo: 1}}`} {
		if _, err := renderChart(t, valuesFromYAML(t, bad)); err == nil {
			t.Errorf("values %s accepted", bad)
		}
	}
}
