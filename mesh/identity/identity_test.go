package identity

import (
	"context"
	"fmt"
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"

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
		{"mesh/shop", "mesh/other/reviews", false},
		{"mesh/shop", "", false},
		{"mesh/shop", "mesh/workload", true},
		{"grpc/shop/client", "mesh/shop/ratings", false},
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

// countingReviews answers every TokenReview with "not authenticated" and
// counts the calls.
type countingReviews struct {
	authnclient.TokenReviewInterface
	calls int
}

func (c *countingReviews) Create(context.Context, *authnv1.TokenReview, metav1.CreateOptions) (*authnv1.TokenReview, error) {
	c.calls++
	return &authnv1.TokenReview{Status: authnv1.TokenReviewStatus{Error: "invalid bearer token"}}, nil
}

// TestTokenReviewsAreBounded: a flood of made-up tokens reaches the API
// server at most at the configured rate; the rest is refused Unavailable.
func TestTokenReviewsAreBounded(t *testing.T) {
	api := &countingReviews{}
	r := NewTokenReviewer(api, TokenReviewOptions{ReviewsPerSecond: 1, ReviewBurst: 5})
	a := &Authenticator{TrustDomain: "cluster.local", Tokens: r}
	var unavailable int
	for i := range 50 {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", fmt.Sprintf("Bearer made-up-%d", i)))
		_, _, err := a.Authenticate(ctx)
		switch status.Code(err) {
		case codes.Unavailable:
			unavailable++
		case codes.Unauthenticated:
		default:
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if api.calls > 6 || unavailable < 44 {
		t.Errorf("%d reviews reached the API server, %d refused as Unavailable; want at most the burst (5, +1 refill)", api.calls, unavailable)
	}
}
