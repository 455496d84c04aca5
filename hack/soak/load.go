package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

const (
	className      = "gantry-soak"
	gatewayName    = "gw"
	controllerName = "gantryproxy.io/gateway-controller"
)

// load creates and changes the objects the controller works on.
type load struct {
	c   client.Client
	ns  string
	cfg *rest.Config // for the CA Secret (creds.go)
}

func (l *load) setup(ctx context.Context) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l.ns}},
		&gwapiv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: className}, Spec: gwapiv1.GatewayClassSpec{ControllerName: controllerName}},
		&gwapiv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: l.ns, Name: gatewayName}, Spec: gwapiv1.GatewaySpec{
			GatewayClassName: className,
			Listeners:        []gwapiv1.Listener{{Name: "http", Port: 80, Protocol: gwapiv1.HTTPProtocolType}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: l.ns, Name: "backend"}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}},
		&discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: l.ns, Name: "backend-1", Labels: map[string]string{discoveryv1.LabelServiceName: "backend"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, Zone: ptr.To("z1"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		},
	}
	for _, o := range objs {
		if err := l.c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

func routeName(i int) string { return fmt.Sprintf("r-%05d", i) }

func (l *load) route(i int, prefix string) *gwapiv1.HTTPRoute {
	return &gwapiv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: l.ns, Name: routeName(i)},
		Spec: gwapiv1.HTTPRouteSpec{
			CommonRouteSpec: gwapiv1.CommonRouteSpec{ParentRefs: []gwapiv1.ParentReference{{Name: gatewayName}}},
			Hostnames:       []gwapiv1.Hostname{gwapiv1.Hostname(routeName(i) + ".example.com")},
			Rules: []gwapiv1.HTTPRouteRule{{
				Matches: []gwapiv1.HTTPRouteMatch{{Path: &gwapiv1.HTTPPathMatch{Type: ptr.To(gwapiv1.PathMatchPathPrefix), Value: ptr.To(prefix)}}},
				BackendRefs: []gwapiv1.HTTPBackendRef{{BackendRef: gwapiv1.BackendRef{BackendObjectReference: gwapiv1.BackendObjectReference{
					Name: "backend", Port: ptr.To(gwapiv1.PortNumber(8080))}}}},
			}},
		},
	}
}

// parallel runs fn for 0..n-1 on 16 workers and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func (l *load) createRoutes(ctx context.Context, n int) error {
	return parallel(n, func(i int) error {
		err := l.c.Create(ctx, l.route(i, "/"))
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

func (l *load) deleteRoutes(ctx context.Context, n int) error {
	return parallel(n, func(i int) error {
		return client.IgnoreNotFound(l.c.Delete(ctx, l.route(i, "/")))
	})
}

// setPrefix rewrites route i's path prefix.
func (l *load) setPrefix(ctx context.Context, i int, prefix string) error {
	patch := fmt.Sprintf(`{"spec":{"rules":[{"matches":[{"path":{"type":"PathPrefix","value":%q}}],"backendRefs":[{"name":"backend","port":8080}]}]}}`, prefix)
	return l.c.Patch(ctx, l.route(i, prefix), client.RawPatch(types.MergePatchType, []byte(patch)))
}

// waitAccepted waits until n routes carry an Accepted=True parent status
// from Gantry.
func (l *load) waitAccepted(ctx context.Context, n int, within time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		var list gwapiv1.HTTPRouteList
		if err := l.c.List(ctx, &list, client.InNamespace(l.ns)); err != nil {
			return 0, err
		}
		accepted := 0
		for _, r := range list.Items {
			for _, p := range r.Status.Parents {
				if p.ControllerName == controllerName && hasTrue(p.Conditions, "Accepted") {
					accepted++
					break
				}
			}
		}
		if accepted >= n {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return 0, fmt.Errorf("%d of %d routes Accepted after %v", accepted, n, within)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func hasTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ && c.Status == metav1.ConditionTrue {
			return true
		}
	}
	return false
}
