package kube

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/test/envtest"
)

// One API server for the package's tests.
var testAPI envtest.Shared

// TestMain starts the API server with the Gateway API CRDs and XMesh's.
func TestMain(m *testing.M) {
	xmesh, err := envtest.XMeshCRD()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(envtest.MainWith(m, &testAPI, envtest.Options{ExtraCRDPaths: []string{xmesh}}))
}

// apiClient returns a client to the test API server, or skips.
func apiClient(t *testing.T) client.WithWatch {
	t.Helper()
	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return testAPI.Client(t, s)
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func gatewayClass(name, controller string) *gwapiv1.GatewayClass {
	return &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(controller)},
	}
}

func gateway(ns, name, class string) *gwapiv1.Gateway {
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwapiv1.GatewaySpec{
			GatewayClassName: gwapiv1.ObjectName(class),
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}},
		},
	}
}

func httpRoute(ns, name string, parents ...gwapiv1.ParentReference) *gwapiv1.HTTPRoute {
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: parents},
			Hostnames:       []gwapiv1.Hostname{"example.com"},
		},
	}
}

func parent(ns, name string) gwapiv1.ParentReference {
	n := gwapiv1.Namespace(ns)
	return gwapiv1.ParentReference{Name: gwapiv1.ObjectName(name), Namespace: &n}
}
