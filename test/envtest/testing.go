package envtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Shared is one API server for all tests of a package, started and stopped
// by Main.
type Shared struct {
	Env        *Env         // nil when the binaries are unavailable
	Config     *rest.Config // Env.Config, or nil
	SkipReason string       // why Env is nil
}

// Main starts the shared API server, runs the package's tests and stops it;
// it returns the exit code for os.Exit. Unavailable binaries make the tests
// skip (see Skip), except under CI (CI set), where they fail the run.
func Main(m *testing.M, s *Shared) int { return MainWith(m, s, Options{}) }

// MainWith is Main with the CRDs the options name; before stopping the API
// server it runs each cleanup (for processes that use the API server).
func MainWith(m *testing.M, s *Shared, o Options, cleanup ...func()) int {
	env, err := StartWith(o)
	var un *ErrUnavailable
	switch {
	case errors.As(err, &un):
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "CI must run the envtest tests:", err)
			return 1
		}
		s.SkipReason = un.Reason
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	default:
		s.Env, s.Config = env, env.Config
	}
	code := m.Run()
	for _, c := range cleanup {
		c()
	}
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "envtest stop:", err)
		}
	}
	return code
}

// Skip skips t when there is no shared API server.
func (s *Shared) Skip(t testing.TB) {
	t.Helper()
	if s.Config == nil {
		t.Skip("no API server for the Kubernetes tests: " + s.SkipReason)
	}
}

// Client returns a client of the shared API server for scheme, or skips t
// when there is none.
func (s *Shared) Client(t testing.TB, scheme *runtime.Scheme) client.WithWatch {
	t.Helper()
	s.Skip(t)
	c, err := client.NewWithWatch(s.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewNamespace creates a namespace named prefix-<random suffix> for one
// test and returns its name.
func NewNamespace(t testing.TB, c client.Client, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Create(t, c, ns)
	return ns.Name
}

// Create creates objs in order, failing t on the first error.
func Create(t testing.TB, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("create %T %s/%s: %v", o, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// StartT starts an API server for one test and stops it when the test ends.
// Unavailable binaries skip the test, except under CI (CI set), where they
// fail it.
func StartT(t testing.TB) *Env { return StartTWith(t, Options{}) }

// StartTWith is StartT with the CRDs the options name.
func StartTWith(t testing.TB, o Options) *Env {
	t.Helper()
	env, err := StartWith(o)
	var un *ErrUnavailable
	if errors.As(err, &un) && os.Getenv("CI") == "" {
		t.Skip("no API server for the Kubernetes tests: " + un.Reason)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("envtest stop: %v", err)
		}
	})
	return env
}
