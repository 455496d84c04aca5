package kube

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	providerkube "github.com/gantryproxy/gantry/gateway/provider/kube"
	"github.com/gantryproxy/gantry/test/envtest"
)

// One API server for the package's tests.
var testAPI envtest.Shared

func TestMain(m *testing.M) { os.Exit(envtest.Main(m, &testAPI)) }

func apiClient(t *testing.T) client.Client {
	t.Helper()
	s, err := providerkube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	return testAPI.Client(t, s)
}

func get(t *testing.T, c client.Client, ns, name string, obj client.Object) {
	t.Helper()
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func class(name, controller string) *gwapiv1.GatewayClass {
	return &gwapiv1.GatewayClass{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       gwapiv1.GatewayClassSpec{ControllerName: gwapiv1.GatewayController(controller)},
	}
}

func gateway(ns, name, class string, listeners ...gwapiv1.Listener) *gwapiv1.Gateway {
	if len(listeners) == 0 {
		listeners = []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}
	}
	return &gwapiv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       gwapiv1.GatewaySpec{GatewayClassName: gwapiv1.ObjectName(class), Listeners: listeners},
	}
}
