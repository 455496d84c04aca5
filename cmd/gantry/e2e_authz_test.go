package main

// End to end authorization with grpc-go on both ends: the xDS gRPC server
// of Service greeter (mesh mTLS, certificates from gantry agent) receives
// its inbound Listener with the RBAC filters of the AuthorizationPolicies
// that target greeter; clients with the certificates of two ServiceAccounts
// call it. Policies change while the server and clients keep running.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// authzPolicyYAML is an AuthorizationPolicy of namespace default.
func authzPolicyYAML(name, action, targets, rules string) string {
	return fmt.Sprintf(`apiVersion: security.gantry.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: %s, namespace: default}
spec:
  action: %s
  targetRefs: %s
  rules: %s
`, name, action, targets, rules)
}

const greeterTarget = `[{group: "", kind: Service, name: greeter}]`

// callCode calls method on conn and returns the gRPC code (OK on success).
func callCode(conn *grpc.ClientConn, method string) (codes.Code, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []byte
	err := conn.Invoke(ctx, method, []byte("{}"), &out, grpc.ForceCodec(rawCodec{}), grpc.WaitForReady(true))
	return status.Code(err), err
}

// expectCodes checks, once, that each client gets the wanted code for the
// method.
func expectCodes(conns map[string]*grpc.ClientConn, method string, want map[string]codes.Code) error {
	for name, conn := range conns {
		got, err := callCode(conn, method)
		if got != want[name] {
			return fmt.Errorf("%s calling %s: %v (%v), want %v", name, method, got, err, want[name])
		}
	}
	return nil
}

func TestE2EMeshAuthorization(t *testing.T) {
	appLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	allowClient := authzPolicyYAML("greeter-callers", "ALLOW", greeterTarget,
		`[{sources: [{type: ServiceAccount, serviceAccount: {name: client}}], to: [{paths: [{value: /greeter.Greeter}]}]}]`)
	m := startMTLS(t, map[string]string{
		"greeter.yaml": greeterYAML(appLn.Addr().(*net.TCPAddr).Port),
		"policy.yaml":  allowClient,
	})
	g := startGreeter(t, appLn, m.grpcBootstrapFor(t, "greeter-0", m.runAgent(t, "greeter", "greeter-token")))
	conns := map[string]*grpc.ClientConn{}
	for _, sa := range []string{"client", "other"} {
		dir := m.runAgent(t, sa, sa+"-token")
		conns[sa] = xdsClientConn(t, m.grpcBootstrapFor(t, sa+"-0", dir), mtlsTarget, grpc.WithTransportCredentials(xdsClientCreds(t)))
	}
	const hello, admin = "/greeter.Greeter/Hello", "/greeter.Admin/Reset"

	// The server serves only once it has its Listener, and then with the
	// policy: the first calls already see it.
	if err := expectCodes(conns, hello, map[string]codes.Code{"client": codes.OK, "other": codes.PermissionDenied}); err != nil {
		t.Fatal(err)
	}
	before := g.count()
	if err := expectCodes(conns, admin, map[string]codes.Code{"client": codes.PermissionDenied, "other": codes.PermissionDenied}); err != nil {
		t.Fatal(err)
	}
	if g.count() != before {
		t.Fatal("the server handled a refused call")
	}
	// The status the control plane publishes for the policy: accepted on
	// Service greeter and enforced as written (mTLS verifies identities).
	if err := policyConditions(m.e2eEnv, "greeter-callers", "Accepted=True", "FullyEnforced=True"); err != nil {
		t.Fatal(err)
	}

	t.Run("policy changes live", func(t *testing.T) {
		m.write(t, "policy.yaml", authzPolicyYAML("greeter-callers", "ALLOW", greeterTarget,
			`[{sources: [{type: ServiceAccount, serviceAccount: {name: other}}]}]`))
		m.eventually(t, "other allowed, client refused", func() error {
			return expectCodes(conns, hello, map[string]codes.Code{"client": codes.PermissionDenied, "other": codes.OK})
		})
	})

	t.Run("deny before allow", func(t *testing.T) {
		m.write(t, "deny.yaml", authzPolicyYAML("no-admin", "DENY", greeterTarget,
			`[{to: [{paths: [{value: /greeter.Admin}]}]}]`))
		m.write(t, "policy.yaml", authzPolicyYAML("greeter-callers", "ALLOW", greeterTarget, `[{sources: [{type: Mesh}]}]`))
		m.eventually(t, "every mesh identity may say hello, nobody may reset", func() error {
			if err := expectCodes(conns, hello, map[string]codes.Code{"client": codes.OK, "other": codes.OK}); err != nil {
				return err
			}
			return expectCodes(conns, admin, map[string]codes.Code{"client": codes.PermissionDenied, "other": codes.PermissionDenied})
		})
	})

	t.Run("namespace default deny", func(t *testing.T) {
		m.write(t, "deny.yaml", "")
		m.write(t, "policy.yaml", `apiVersion: security.gantry.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: default-deny, namespace: default}
spec: {action: ALLOW}
`)
		m.eventually(t, "everything refused", func() error {
			return expectCodes(conns, hello, map[string]codes.Code{"client": codes.PermissionDenied, "other": codes.PermissionDenied})
		})
	})

	t.Run("no policy, no restriction", func(t *testing.T) {
		m.write(t, "policy.yaml", "")
		m.eventually(t, "everything allowed", func() error {
			return expectCodes(conns, admin, map[string]codes.Code{"client": codes.OK, "other": codes.OK})
		})
	})
}

// TestE2EMeshAuthorizationWildcard: a gRPC server listening on every
// address (":port", the usual way) asks for the wildcard inbound Listener,
// which every workload of the namespace with that port shares; its Service's
// policy applies by destination address (the endpoint 127.0.0.1).
func TestE2EMeshAuthorizationWildcard(t *testing.T) {
	appLn, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	m := startMTLS(t, map[string]string{
		"greeter.yaml": greeterYAML(appLn.Addr().(*net.TCPAddr).Port),
		"policy.yaml": authzPolicyYAML("greeter-callers", "ALLOW", greeterTarget,
			`[{sources: [{type: ServiceAccount, serviceAccount: {name: client}}]}]`),
	})
	startGreeter(t, appLn, m.grpcBootstrapFor(t, "greeter-0", m.runAgent(t, "greeter", "greeter-token")))
	conns := map[string]*grpc.ClientConn{}
	for _, sa := range []string{"client", "other"} {
		dir := m.runAgent(t, sa, sa+"-token")
		conns[sa] = xdsClientConn(t, m.grpcBootstrapFor(t, sa+"-0", dir), mtlsTarget, grpc.WithTransportCredentials(xdsClientCreds(t)))
	}
	if err := expectCodes(conns, "/greeter.Greeter/Hello", map[string]codes.Code{"client": codes.OK, "other": codes.PermissionDenied}); err != nil {
		t.Fatal(err)
	}
}

// policyConditions checks the published status of AuthorizationPolicy
// default/name: one ancestor with the conditions given as Type=Status.
func policyConditions(e *e2eEnv, name string, want ...string) error {
	res := e.cp.loop.State().Result
	if res == nil || res.Status == nil {
		return fmt.Errorf("no status published")
	}
	for _, p := range res.Status.AuthorizationPolicies {
		if p.Namespace != "default" || p.Name != name {
			continue
		}
		if len(p.Status.Ancestors) != 1 {
			return fmt.Errorf("policy %s: %d ancestors", name, len(p.Status.Ancestors))
		}
		var got []string
		for _, c := range p.Status.Ancestors[0].Conditions {
			got = append(got, c.Type+"="+string(c.Status))
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("policy %s: conditions %v, want %v", name, got, want)
		}
		return nil
	}
	return fmt.Errorf("policy %s: no status", name)
}
