package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/ca/kubeca"
	"github.com/gantryproxy/gantry/mesh/identity"
)

// xdsCreds are the credentials of the Gateway fleet of ns/gateway: a client
// certificate issued from the controller's CA Secret (which the tool can
// read with the cluster's credentials), and the bundle to verify the
// controller, whose certificate must name the host of addr.
func xdsCreds(ctx context.Context, cfg *rest.Config, c config, ns, gateway string) (grpc.DialOption, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	store := kubeca.SecretStore{Secrets: cs.CoreV1().Secrets(c.caNamespace), Name: c.caSecret}
	if st, err := store.Load(ctx); err != nil || st == nil {
		return nil, fmt.Errorf("CA Secret %s/%s: not found (%v); is the controller running?", c.caNamespace, c.caSecret, err)
	}
	authority, err := ca.Open(ctx, ca.Options{Store: store})
	if err != nil {
		return nil, err
	}
	w, err := authority.Certificate(ca.Identity{Namespace: ns, ServiceAccount: kube.ResourceName(gateway)})
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(c.xdsAddress)
	if err != nil {
		return nil, err
	}
	tc, err := identity.ClientTLS(authority.Bundle(), host, &cert)
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(tc)), nil
}
