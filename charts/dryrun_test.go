package charts

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gantryproxy/gantry/test/envtest"
)

// shared is the one envtest API server of this package's tests, started by
// the first test that needs it and stopped by TestMain.
var shared struct {
	once sync.Once
	env  *envtest.Env
	c    client.Client
	err  error
	skip string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startEnvtest returns a client of the shared API server with the chart's
// CRDs installed.
func startEnvtest(t *testing.T) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the server-side dry run needs kube-apiserver and etcd (envtest)")
	}
	shared.once.Do(func() {
		env, err := envtest.StartWith(envtest.Options{CRDPaths: []string{filepath.Join(chartDir, "crds")}})
		var un *envtest.ErrUnavailable
		if errors.As(err, &un) {
			shared.skip = "no envtest binaries: " + un.Reason
			return
		}
		if err != nil {
			shared.err = err
			return
		}
		shared.env = env
		if n := env.CRDCount(); n != 11 {
			shared.err = fmt.Errorf("installed %d CRDs from %s/crds, want 11 (10 Gateway API, 1 Gantry)", n, chartDir)
			return
		}
		shared.c, shared.err = client.New(env.Config, client.Options{Scheme: testScheme})
	})
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

func createNamespaces(ctx context.Context, t *testing.T, c client.Client, names ...string) {
	t.Helper()
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create namespace %s: %v", name, err)
		}
	}
}

// dryRunApply server-side applies u with dryRun=All.
func dryRunApply(ctx context.Context, c client.Client, u *unstructured.Unstructured) error {
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
		client.DryRunAll, client.FieldOwner("gantry-chart-test"), client.ForceOwnership)
}

// TestServerSideDryRun applies every object `helm template` renders, for the
// default and several non-default values, to a real API server that has the
// chart's CRDs installed, as a server-side apply dry run: the API server runs
// its full validation (OpenAPI, CRD schemas and CEL, RBAC escalation checks)
// and stores nothing.
func TestServerSideDryRun(t *testing.T) {
	c := startEnvtest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createNamespaces(ctx, t, c, releaseNS, "team-a", "team-b")

	cases := []struct{ name, values string }{
		{name: "defaults", values: ``},
		{name: "watchNamespaces", values: `{controller: {watchNamespaces: [team-a, team-b]}, gatewayClass: {name: edge}}`},
		{name: "custom", values: `{replicaCount: 3, service: {type: LoadBalancer}, image: {repository: registry.example.com/gantry, tag: v1},
		                           podDisruptionBudget: {maxUnavailable: "50%"}, resources: {limits: null}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, valuesFromYAML(t, tc.values))
			if len(r.objects) < 9 {
				t.Fatalf("only %d objects rendered", len(r.objects))
			}
			for _, o := range r.objects {
				if err := dryRunApply(ctx, c, o.u); err != nil {
					t.Errorf("%s (%s) refused: %v", o.key(), o.source, err)
				}
			}
		})
	}

	t.Run("examples/bookinfo", func(t *testing.T) {
		dryRunExample(ctx, t, c, filepath.Join("..", "examples", "bookinfo"))
	})

	// The dry run must be able to fail: the GatewayClass CRD's validation
	// refuses a controllerName that is not a domain-prefixed path.
	r := mustRender(t, nil)
	gc, _ := r.find("GatewayClass", "", "gantry")
	bad := gc.u.DeepCopy()
	if err := unstructured.SetNestedField(bad.Object, "not a controller name", "spec", "controllerName"); err != nil {
		t.Fatal(err)
	}
	if err := dryRunApply(ctx, c, bad); err == nil {
		t.Error("the API server accepted a GatewayClass with controllerName \"not a controller name\"")
	}
	// Dry run stores nothing.
	var dep unstructured.Unstructured
	dep.SetAPIVersion("apps/v1")
	dep.SetKind("Deployment")
	if err := c.Get(ctx, client.ObjectKey{Namespace: releaseNS, Name: "gantry"}, &dep); err == nil {
		t.Error("the dry run created the Deployment")
	}
}

// TestRBACOnAPIServer installs the default RBAC for real and asks the API
// server (SubjectAccessReview) what the controller's ServiceAccount may do.
func TestRBACOnAPIServer(t *testing.T) {
	c := startEnvtest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	createNamespaces(ctx, t, c, releaseNS)
	r := mustRender(t, nil)
	for _, o := range r.objects {
		switch o.u.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.u.DeepCopy()), client.FieldOwner("gantry-chart-test")); err != nil {
				t.Fatalf("apply %s: %v", o.key(), err)
			}
		}
	}
	user := "system:serviceaccount:" + releaseNS + ":gantry"
	cases := []struct {
		group, resource, subresource, verb, namespace string
		allowed                                       bool
	}{
		{"gateway.networking.k8s.io", "httproutes", "", "watch", "", true},
		{"gateway.networking.k8s.io", "gateways", "status", "patch", "apps", true},
		{"gateway.networking.k8s.io", "gatewayclasses", "status", "update", "", true},
		{"discovery.k8s.io", "endpointslices", "", "list", "", true},
		{"", "secrets", "", "watch", "", true},
		{"", "pods", "", "watch", "", true},
		{"", "pods", "", "list", "apps", true},
		{"apps", "deployments", "", "create", "apps", true},
		{"", "serviceaccounts", "", "delete", "apps", true},
		{"coordination.k8s.io", "leases", "", "update", releaseNS, true},
		{"", "events", "", "create", "apps", true},
		{"authentication.k8s.io", "tokenreviews", "", "create", "", true},
		{"", "secrets", "", "create", releaseNS, true},
		// Not granted.
		{"cert-manager.io", "certificaterequests", "", "create", releaseNS, false},
		{"coordination.k8s.io", "leases", "", "update", "kube-system", false},
		{"", "secrets", "", "create", "apps", false},
		{"", "secrets", "", "delete", "apps", false},
		{"", "pods", "", "create", "apps", false},
		{"", "pods", "", "delete", "apps", false},
		{"", "pods", "status", "patch", "apps", false},
		{"gateway.networking.k8s.io", "httproutes", "", "update", "apps", false},
		{"gateway.networking.k8s.io", "gateways", "", "delete", "apps", false},
		{"rbac.authorization.k8s.io", "roles", "", "create", "apps", false},
		{"apps", "daemonsets", "", "create", "apps", false},
		{"", "namespaces", "", "create", "", false},
	}
	for _, tc := range cases {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user,
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: tc.group, Resource: tc.resource, Subresource: tc.subresource, Verb: tc.verb, Namespace: tc.namespace,
			},
		}}
		if err := c.Create(ctx, sar); err != nil {
			t.Fatalf("SubjectAccessReview: %v", err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s %s/%s/%s in %q: allowed=%v, want %v (%s)", tc.verb, tc.group, tc.resource, tc.subresource,
				tc.namespace, sar.Status.Allowed, tc.allowed, sar.Status.Reason)
		}
	}
}

// dryRunExample creates the example's Namespaces for real, then dry-runs
// every other object of its *.yaml files.
func dryRunExample(ctx context.Context, t *testing.T, c client.Client, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no YAML in %s (%v)", dir, err)
	}
	var objs []object
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := splitManifest(string(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		objs = append(objs, got...)
	}
	applied := 0
	for _, o := range objs {
		if o.u.GetKind() == "Namespace" {
			if err := c.Create(ctx, o.u.DeepCopy()); err != nil {
				t.Fatalf("create %s: %v", o.key(), err)
			}
			continue
		}
		if err := dryRunApply(ctx, c, o.u); err != nil {
			t.Errorf("%s refused: %v", o.key(), err)
		}
		applied++
	}
	if applied < 10 {
		t.Errorf("only %d objects in %s", applied, dir)
	}
}
