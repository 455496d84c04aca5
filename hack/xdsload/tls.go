package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/mesh/identity"
	"github.com/gantryproxy/gantry/xds/server"
)

// serverName is in the load server's certificate.
const serverName = "127.0.0.1"

// loadIdentity is the identity that may receive loadGroup: its fleet.
var loadIdentity = ca.Identity{Namespace: "load", ServiceAccount: kube.ResourceName("gw")}

// withCA makes the CA folder of a -tls run (o.caDir); cleanup removes it.
func withCA(o *loadOptions) (cleanup func(), err error) {
	if !o.tls {
		return func() {}, nil
	}
	if o.address != "" {
		return nil, fmt.Errorf("-tls runs the load tool's own server; not with -address")
	}
	dir, err := os.MkdirTemp("", "xdsload-ca-")
	if err != nil {
		return nil, err
	}
	if _, err := ca.Open(context.Background(), ca.Options{Store: ca.DirStore{Dir: dir}}); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	o.caDir = dir
	return func() { _ = os.RemoveAll(dir) }, nil
}

// secure sets the server's TLS and checks as gantry serve does: a serving
// certificate of the CA in caDir, clients proven by their certificate,
// authorized by the identity policy.
func secure(opts server.Options, caDir string) (server.Options, error) {
	c, err := ca.Open(context.Background(), ca.Options{Store: ca.DirStore{Dir: caDir}})
	if err != nil {
		return opts, fmt.Errorf("-tls: %w", err)
	}
	authn := &identity.Authenticator{TrustDomain: c.TrustDomain()}
	opts.Credentials = credentials.NewTLS(identity.ServerTLS(c, ca.Identity{Namespace: "load", ServiceAccount: "gantry"}, []string{serverName}))
	opts.Authenticator = authn.ForXDS()
	opts.Authorizer = identity.Policy{FleetServiceAccount: kube.ResourceName}.ForXDS()
	return opts, nil
}

// dialCreds are the clients' transport credentials: plaintext, or with
// caDir the fleet's client certificate (each client makes its own TLS
// handshake on its own connection).
func dialCreds(caDir string) (grpc.DialOption, error) {
	if caDir == "" {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	c, err := ca.Open(context.Background(), ca.Options{Store: ca.DirStore{Dir: caDir}})
	if err != nil {
		return nil, err
	}
	w, err := c.Certificate(loadIdentity)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(w.CertPEM, w.KeyPEM)
	if err != nil {
		return nil, err
	}
	cfg, err := identity.ClientTLS(c.Bundle(), serverName, &cert)
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}
