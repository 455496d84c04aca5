package identity

import (
	"context"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/test/envtest"
)

// One API server for the package's tests that need one.
var testAPI envtest.Shared

func TestMain(m *testing.M) { os.Exit(envtest.Main(m, &testAPI)) }

// token asks the TokenRequest API for a token of ns/sa with audience.
func token(t testing.TB, cs kubernetes.Interface, ns, sa, audience string) string {
	t.Helper()
	exp := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// TestTokenReviewOnTheAPIServer checks ServiceAccount tokens through the
// real TokenReview API, then what each identity may receive over xDS.
func TestTokenReviewOnTheAPIServer(t *testing.T) {
	c := testAPI.Client(t, scheme.Scheme)
	cs, err := kubernetes.NewForConfig(testAPI.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "shop"
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	fleetSA := kube.ResourceName("web")
	envtest.Create(t, c,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetSA}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reviews"}},
	)
	now := time.Now()
	clock := func() time.Time { return now }
	reviewer := NewTokenReviewer(cs.AuthenticationV1().TokenReviews(), TokenReviewOptions{Now: clock})

	good := token(t, cs, ns, fleetSA, DefaultAudience)
	id, err := reviewer.Review(context.Background(), good)
	if err != nil || id != (ca.Identity{Namespace: ns, ServiceAccount: fleetSA}) {
		t.Fatalf("token with Gantry's audience: %v %v", id, err)
	}
	if _, err := reviewer.Review(context.Background(), token(t, cs, ns, fleetSA, "https://kubernetes.default.svc")); err == nil {
		t.Error("a token for another audience was accepted")
	}
	if _, err := reviewer.Review(context.Background(), good+"x"); err == nil {
		t.Error("a forged token was accepted")
	}

	// Accepted reviews are cached for the TTL: the ServiceAccount's
	// deletion is seen once it has passed.
	if err := cs.CoreV1().ServiceAccounts(ns).Delete(context.Background(), fleetSA, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reviewer.Review(context.Background(), good); err != nil {
		t.Errorf("cached review: %v", err)
	}
	// The API server's own token cache and informers lag a few seconds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		now = now.Add(DefaultReviewTTL + time.Second)
		if _, err := reviewer.Review(context.Background(), good); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the token of a deleted ServiceAccount is still accepted 30 s after the deletion")
		}
		time.Sleep(500 * time.Millisecond)
	}
	envtest.Create(t, c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fleetSA}})

	f := startXDS(t, reviewer)
	fleet := token(t, cs, ns, fleetSA, DefaultAudience)
	resp, err := f.ask(t, nil, fleet, "gateway/shop/web", resource.SecretType, "shop/web-tls")
	wantServed(t, "fleet token: own listener key", resp, err, 1)
	resp, err = f.ask(t, nil, fleet, "gateway/shop/api", resource.SecretType, "shop/api-tls")
	wantRefused(t, "fleet token: another Gateway's key", resp, err, codes.PermissionDenied, `"gateway/shop/api"`)

	sidecar := token(t, cs, ns, "reviews", DefaultAudience)
	resp, err = f.ask(t, nil, sidecar, "mesh/shop", resource.SecretType, "mesh/shop/reviews")
	wantServed(t, "sidecar token: own key", resp, err, 1)
	resp, err = f.ask(t, nil, sidecar, "mesh/shop", resource.SecretType, "mesh/shop/ratings")
	wantRefused(t, "sidecar token: another ServiceAccount's key", resp, err, codes.PermissionDenied, "ns/shop/sa/reviews")
	resp, err = f.ask(t, nil, sidecar, "gateway/shop/web", resource.ListenerType)
	wantRefused(t, "sidecar token: the fleet's group", resp, err, codes.PermissionDenied)

	resp, err = f.ask(t, nil, token(t, cs, ns, "reviews", "other-audience"), "mesh/shop", resource.ListenerType)
	wantRefused(t, "token of another audience", resp, err, codes.Unauthenticated, "audience")
	resp, err = f.ask(t, nil, "", "mesh/shop", resource.ListenerType)
	wantRefused(t, "no credentials", resp, err, codes.Unauthenticated)
}
