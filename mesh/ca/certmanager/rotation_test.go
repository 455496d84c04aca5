package certmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"
	"testing"
	"time"
)

// rotating holds the current certificate of one side.
type rotating struct {
	mu   sync.Mutex
	cert *tls.Certificate
}

func (r *rotating) get() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert
}

func (r *rotating) set(c *tls.Certificate) {
	r.mu.Lock()
	r.cert = c
	r.mu.Unlock()
}

// renew signs a new key for id through s and installs it in r.
func renew(s *Signer, id string, lifetime time.Duration, r *rotating) error {
	key, csr, err := makeCSR(id)
	if err != nil {
		return err
	}
	chain, _, err := s.Sign(context.Background(), csr, lifetime)
	if err != nil {
		return fmt.Errorf("renew %s: %w", id, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(chain, pemBlock("PRIVATE KEY", der))
	if err != nil {
		return err
	}
	r.set(&cert)
	return nil
}

// TestGRPCRotation: both sides renew short-lived certificates through
// cert-manager while a client makes a stream of calls, each on a new
// connection (a new handshake); no call fails and the server sees several
// client certificates.
func TestGRPCRotation(t *testing.T) {
	c := certManager(t)
	newIssuer(t, c, approvedNS, "rotation-ca")
	s := signerFor(t, c, "rotation-ca")
	const lifetime, every, run = 8 * time.Second, time.Second, 6 * time.Second

	var server, client rotating
	for _, side := range []struct {
		id string
		r  *rotating
	}{{serverID, &server}, {clientID, &client}} {
		if err := renew(s, side.id, lifetime, side.r); err != nil {
			t.Fatal(err)
		}
	}
	_, bundle := issue(t, s, "spiffe://cluster.local/ns/shop/sa/bundle-probe")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)

	var mu sync.Mutex
	serials := map[string]bool{}
	addr := serve(t, &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return server.get(), nil },
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      roots,
		MinVersion:     tls.VersionTLS13,
	}, func(id, serial string) {
		mu.Lock()
		serials[serial] = id == clientID
		mu.Unlock()
	})

	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	renewErr := make(chan error, 1)
	go func() {
		defer close(renewErr)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, side := range []struct {
				id string
				r  *rotating
			}{{serverID, &server}, {clientID, &client}} {
				if err := renew(s, side.id, lifetime, side.r); err != nil {
					renewErr <- err
					return
				}
			}
		}
	}()
	calls, failed := 0, 0
	for ctx.Err() == nil {
		calls++
		if err := call(addr, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return client.get(), nil }, roots); err != nil {
			failed++
			t.Errorf("call %d: %v", calls, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := <-renewErr; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for serial, ok := range serials {
		if !ok {
			t.Errorf("certificate %s was not the client's", serial)
		}
	}
	t.Logf("%d calls, %d failed, %d client certificates seen", calls, failed, len(serials))
	if failed > 0 || len(serials) < 3 {
		t.Fatalf("%d of %d calls failed, %d client certificates seen (want 0 failed, >= 3 certificates)", failed, calls, len(serials))
	}
}
