package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	infrakube "github.com/gantryproxy/gantry/gateway/infra/kube"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// bootstrapCredentials are the flags that make a bootstrap authenticate.
type bootstrapCredentials struct {
	insecure       bool
	files          bootstrap.Credentials
	caDir, certDir string
	serviceAccount string
}

func addBootstrapCredentialFlags(f *pflag.FlagSet, c *bootstrapCredentials) {
	f.BoolVar(&c.insecure, "xds-insecure", false, "plaintext, no credentials (for gantry serve --xds-insecure)")
	f.StringVar(&c.files.CAFile, "ca-file", "", "PEM bundle that verifies Gantry's serving certificate (with --cert-file/--key-file or --token-file)")
	f.StringVar(&c.files.CertFile, "cert-file", "", "the node's client certificate (kept current by gantry agent)")
	f.StringVar(&c.files.KeyFile, "key-file", "", "its private key")
	f.StringVar(&c.files.TokenFile, "token-file", "", "gRPC only: ServiceAccount token with Gantry's audience")
	f.StringVar(&c.files.ServerName, "server-name", "", "name in Gantry's serving certificate (default: the xDS host)")
	f.StringVar(&c.files.SDSFile, "sds-file", "", "Envoy: where to write the SDS file of the xDS connection (default: beside the certificate)")
	f.StringVar(&c.caDir, "ca-dir", defaultCADir(), "standalone: without the file flags, issue the node a client certificate from the CA in this folder (gantry serve's --ca-dir)")
	f.StringVar(&c.certDir, "cert-dir", "", "standalone: folder for the issued tls.crt, tls.key and ca.crt (default <ca-dir>/../clients/<namespace>_<service account>)")
	f.StringVar(&c.serviceAccount, "service-account", "default", "standalone: service account of a mesh or grpc group's identity (a Gateway's fleet is gantry-<gateway>)")
}

// resolve returns the credentials of the bootstrap of group (nil with
// --xds-insecure), issuing a local client certificate when no file flag
// is given, and writes Envoy's SDS file.
func (c *bootstrapCredentials) resolve(group string, grpcFlavor bool) (*bootstrap.Credentials, error) {
	if c.insecure {
		return nil, nil
	}
	creds := c.files
	if creds.CAFile == "" && creds.CertFile == "" && creds.TokenFile == "" {
		issued, err := c.issueLocal(group)
		if err != nil {
			return nil, err
		}
		creds = *issued
	}
	if grpcFlavor || creds.CertFile == "" {
		return &creds, nil
	}
	if creds.SDSFile == "" {
		creds.SDSFile = filepath.Join(filepath.Dir(filepath.Dir(creds.CertFile)), filepath.Base(filepath.Dir(creds.CertFile))+".sds.json")
	}
	sds, err := bootstrap.EnvoySDS(&creds)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(creds.SDSFile, sds, 0o644); err != nil {
		return nil, fmt.Errorf("--sds-file: %w", err)
	}
	return &creds, nil
}

// groupIdentity is the identity that may receive group: a Gateway's fleet,
// or serviceAccount in the group's namespace.
func groupIdentity(group, serviceAccount string) (ca.Identity, error) {
	if err := bootstrap.ValidateGroup(group); err != nil {
		return ca.Identity{}, err
	}
	parts := strings.Split(group, "/")
	if parts[0] == bootstrap.RoleGateway {
		return ca.Identity{Namespace: parts[1], ServiceAccount: infrakube.ResourceName(parts[2])}, nil
	}
	return ca.Identity{Namespace: parts[1], ServiceAccount: serviceAccount}, nil
}

// issueLocal issues a client certificate for group's identity from the CA
// folder (which gantry serve created) and writes it to the cert folder.
func (c *bootstrapCredentials) issueLocal(group string) (*bootstrap.Credentials, error) {
	id, err := groupIdentity(group, c.serviceAccount)
	if err != nil {
		return nil, err
	}
	st, err := (ca.DirStore{Dir: c.caDir}).Load(context.Background())
	if err != nil || st == nil {
		return nil, errors.Join(fmt.Errorf("--ca-dir %s: no CA there (start gantry serve --config-dir first), or pass --ca-file with --cert-file/--key-file or --token-file, or --xds-insecure", c.caDir), err)
	}
	authority, err := ca.Open(context.Background(), ca.Options{Store: ca.DirStore{Dir: c.caDir}})
	if err != nil {
		return nil, fmt.Errorf("--ca-dir %s: %w", c.caDir, err)
	}
	w, err := authority.Certificate(id)
	if err != nil {
		return nil, err
	}
	dir := c.certDir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(c.caDir), "clients", id.Namespace+"_"+id.ServiceAccount)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--cert-dir: %w", err)
	}
	out := &bootstrap.Credentials{CAFile: filepath.Join(dir, ca.CAFile), CertFile: filepath.Join(dir, ca.CertFile), KeyFile: filepath.Join(dir, ca.KeyFile), ServerName: c.files.ServerName}
	for path, data := range map[string][]byte{out.KeyFile: w.KeyPEM, out.CAFile: authority.Bundle(), out.CertFile: w.CertPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("--cert-dir: %w", err)
		}
	}
	return out, nil
}
