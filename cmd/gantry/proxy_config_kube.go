package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	//lint:ignore SA1019 client-go v0.37's portforward still takes this package's Dialer
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// Where proxy-config finds the controller in a cluster (the Helm chart's
// defaults).
const (
	defaultControllerNamespace = "gantry-system"
	controllerSelector         = "app.kubernetes.io/name=gantry,app.kubernetes.io/component=controller"
)

// forwardToController port-forwards a local loopback port to the admin
// port of a controller pod (kubectl port-forward: websocket, falling back
// to SPDY) and returns the local address and a stop function.
func forwardToController(ctx context.Context, k kubeFlags, ns string, adminPort int, errOut io.Writer) (string, func(), error) {
	cfg, err := k.clientConfig().ClientConfig()
	if err != nil {
		return "", nil, fmt.Errorf("kubeconfig: %w", err)
	}
	p, err := controllerPod(ctx, cfg, ns, controllerSelector)
	if err != nil {
		return "", nil, err
	}
	pod := p.Name
	dialer, err := portForwardDialer(cfg, p)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward: %w", err)
	}
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", adminPort)}, stop, ready, io.Discard, errOut)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", ns, pod, err)
	case <-ctx.Done():
		close(stop)
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stop)
		return "", nil, errors.Join(errors.New("port-forward: no local port"), err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0].Local), func() { close(stop) }, nil
}

// portForwardDialer dials the pod's portforward subresource: websocket,
// falling back to SPDY, as kubectl port-forward does.
func portForwardDialer(cfg *rest.Config, pod *corev1.Pod) (httpstream.Dialer, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}
