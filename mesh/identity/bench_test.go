package identity

import (
	"context"
	"net"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
	"github.com/gantryproxy/gantry/xds/server/xdstest"
)

// The cost of authentication per new stream: each iteration is a new
// connection (TCP and, but for the baseline, TLS), an ADS stream, one
// request and its response. The difference to the baseline is what
// authentication costs.

func benchStreams(b *testing.B, f *xdsFixture, cert bool, token string) {
	b.Helper()
	c := clientCert(b, f.ca, "shop", kube.ResourceName("web"))
	if !cert {
		c = nil
	}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := f.ask(b, c, token, "gateway/shop/web", resource.ClusterType)
		if err != nil || len(resp.GetResources()) != 1 {
			b.Fatalf("%v %v", resp, err)
		}
	}
}

// BenchmarkNewStreamPlaintext is the baseline: no TLS, no authentication.
func BenchmarkNewStreamPlaintext(b *testing.B) {
	cch := cache.New(cache.Options{})
	if err := cch.SetSnapshot(cache.Key{Group: "gateway/shop/web", Flavor: cache.FlavorEnvoy}, xdstest.Simple("svc", 8080, "127.0.0.1:1"), cache.SetOptions{}); err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Options{Cache: cch, Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(context.Background())
		if err == nil {
			err = st.Send(&discoveryv3.DiscoveryRequest{Node: xdstest.Node("n", "gateway/shop/web", ""), TypeUrl: resource.ClusterType})
		}
		if err == nil {
			_, err = st.Recv()
		}
		_ = conn.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewStreamMTLS: TLS 1.3 handshake with a client certificate,
// its SPIFFE ID read, the group authorized.
func BenchmarkNewStreamMTLS(b *testing.B) {
	benchStreams(b, startXDS(b, nil), true, "")
}

// BenchmarkNewStreamToken: TLS without a client certificate and a
// ServiceAccount token checked by the real TokenReview API; "cached" is a
// token reviewed within the last minute, "reviewed" asks the API server
// every time.
func BenchmarkNewStreamToken(b *testing.B) {
	testAPI.Skip(b)
	cs, err := kubernetes.NewForConfig(testAPI.Config)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	sa := kube.ResourceName("web")
	if _, err := cs.CoreV1().ServiceAccounts("shop").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		b.Fatal(err)
	}
	tok := token(b, cs, "shop", sa, DefaultAudience)
	b.Run("cached", func(b *testing.B) {
		benchStreams(b, startXDS(b, NewTokenReviewer(cs.AuthenticationV1().TokenReviews(), TokenReviewOptions{})), false, tok)
	})
	b.Run("reviewed", func(b *testing.B) {
		now := time.Now()
		clock := func() time.Time { now = now.Add(time.Hour); return now } // every review expired
		benchStreams(b, startXDS(b, NewTokenReviewer(cs.AuthenticationV1().TokenReviews(), TokenReviewOptions{Now: clock})), false, tok)
	})
}
