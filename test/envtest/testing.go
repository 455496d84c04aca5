package envtest

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/rest"
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
func Main(m *testing.M, s *Shared) int {
	env, err := Start()
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

// StartT starts an API server for one test and stops it when the test ends.
// Unavailable binaries skip the test, except under CI (CI set), where they
// fail it.
func StartT(t testing.TB) *Env {
	t.Helper()
	env, err := Start()
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
