package identity

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
)

func TestFromServiceAccountUser(t *testing.T) {
	id, err := FromServiceAccountUser("system:serviceaccount:shop:web")
	if err != nil || id != (ca.Identity{Namespace: "shop", ServiceAccount: "web"}) {
		t.Fatalf("%v %v", id, err)
	}
	for _, u := range []string{"admin", "system:serviceaccount:shop", "system:serviceaccount::web", "system:serviceaccount:a/b:c", "system:node:n1"} {
		if _, err := FromServiceAccountUser(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

var policy = Policy{FleetServiceAccount: kube.ResourceName}

func TestPolicy(t *testing.T) {
	fleet := ca.Identity{Namespace: "shop", ServiceAccount: kube.ResourceName("web")}
	sidecar := ca.Identity{Namespace: "shop", ServiceAccount: "reviews"}
	for _, tc := range []struct {
		id    ca.Identity
		group string
		ok    bool
	}{
		{fleet, "gateway/shop/web", true},
		{fleet, "gateway/shop/other", false},
		{fleet, "gateway/other/web", false},
		{sidecar, "gateway/shop/web", false},
		{sidecar, "mesh/shop", true},
		{sidecar, "mesh/shop/reviews", true},
		{sidecar, "grpc/shop/client", true},
		{sidecar, "mesh/other", false},
		{sidecar, "grpc/other/client", false},
		{sidecar, "", false},
		{sidecar, "admin/shop", false},
		{sidecar, "mesh/shop/a/b", false},
	} {
		err := policy.AuthorizeGroup(tc.id, tc.group)
		if (err == nil) != tc.ok {
			t.Errorf("%v -> %q: %v, want allowed=%v", tc.id, tc.group, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		group, name string
		ok          bool
	}{
		{"gateway/shop/web", "", true},
		{"gateway/shop/web", "shop/web-cert", true},
		{"mesh/shop", ca.BundleSecret, true},
		{"mesh/shop", "mesh/shop/reviews", true},
		{"mesh/shop", "mesh/shop/ratings", false},
		{"mesh/shop", "", false},
		{"mesh/shop", "anything-else", false},
	} {
		err := policy.AuthorizeSecret(sidecar, tc.group, tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("secret %q of %q: %v, want allowed=%v", tc.name, tc.group, err, tc.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	a := &Authenticator{TrustDomain: "cluster.local"}
	for _, tc := range []struct {
		md   []string
		want string
	}{
		{nil, "no credentials"},
		{[]string{"authorization", "Basic abc"}, "Bearer"},
		{[]string{"authorization", "Bearer "}, "Bearer"},
		{[]string{"authorization", "Bearer a", "authorization", "Bearer b"}, "more than one"},
		{[]string{"authorization", "Bearer secret-token"}, "not accepted here"},
	} {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(tc.md...))
		_, _, err := a.Authenticate(ctx)
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want Unauthenticated %q", tc.md, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-token") {
			t.Errorf("error echoes the token: %v", err)
		}
	}
}
