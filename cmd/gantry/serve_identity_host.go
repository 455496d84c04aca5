package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// hostCerts are the client certificates written for host Envoys
// (standalone), rewritten as they renew.
type hostCerts struct {
	mu      sync.Mutex
	written map[string]*ca.Workload // folder -> certificate written there
	ids     map[string]ca.Identity  // folder -> identity
}

// hostCredentials issues the identity that may receive group a client
// certificate and writes it into dir, for an Envoy started by the host
// infra; refreshHostCerts keeps it current.
func (s *xdsSecurity) hostCredentials(group, dir string) (*bootstrap.Credentials, error) {
	if s == nil || s.ca == nil {
		return nil, nil
	}
	id, err := groupIdentity(group, "default")
	if err != nil {
		return nil, err
	}
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	if s.host.written == nil {
		s.host.written, s.host.ids = map[string]*ca.Workload{}, map[string]ca.Identity{}
	}
	s.host.ids[dir] = id
	if err := s.writeHostCert(dir, id); err != nil {
		return nil, err
	}
	return &bootstrap.Credentials{CAFile: filepath.Join(dir, ca.CAFile), CertFile: filepath.Join(dir, ca.CertFile), KeyFile: filepath.Join(dir, ca.KeyFile)}, nil
}

// writeHostCert writes id's current certificate into dir when it differs
// from what is there; the certificate goes last and by rename, which is
// the move Envoy's watched directory reacts to. s.host.mu is held.
func (s *xdsSecurity) writeHostCert(dir string, id ca.Identity) error {
	w, err := s.ca.Certificate(id)
	if err != nil {
		return err
	}
	if s.host.written[dir] == w {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("host certificate: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ca.KeyFile, w.KeyPEM}, {ca.CAFile, s.ca.Bundle()}, {ca.CertFile, w.CertPEM}} {
		tmp := filepath.Join(dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return fmt.Errorf("host certificate: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("host certificate: %w", err)
		}
	}
	s.host.written[dir] = w
	return nil
}

// refreshHostCerts rewrites the host Envoys' certificates that renewed.
func (s *xdsSecurity) refreshHostCerts() {
	s.host.mu.Lock()
	defer s.host.mu.Unlock()
	for dir, id := range s.host.ids {
		if err := s.writeHostCert(dir, id); err != nil {
			s.log.Warn("host infra: renewing a client certificate failed", "identity", id.SPIFFEID(s.ca.TrustDomain()), "error", err)
		}
	}
}
