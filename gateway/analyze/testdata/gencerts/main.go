// Command gencerts writes the certificate Secrets the analyze golden tests
// use, as YAML documents on stdout. The tests check certificates as of
// 2026-06-01T00:00:00Z. Run: go run ./gateway/analyze/testdata/gencerts
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"time"
)

type spec struct {
	secret    string
	names     []string
	notBefore string
	notAfter  string
	wrongKey  bool
}

func main() {
	specs := []spec{
		{secret: "valid", names: []string{"www.example.com"}, notBefore: "2026-01-01", notAfter: "2036-01-01"},
		{secret: "wildcard", names: []string{"*.example.com"}, notBefore: "2026-01-01", notAfter: "2036-01-01"},
		{secret: "other", names: []string{"b.example.com"}, notBefore: "2026-01-01", notAfter: "2036-01-01"},
		{secret: "expired", names: []string{"www.example.com"}, notBefore: "2025-01-01", notAfter: "2026-03-01"},
		{secret: "future", names: []string{"www.example.com"}, notBefore: "2026-09-01", notAfter: "2036-01-01"},
		{secret: "soon", names: []string{"www.example.com"}, notBefore: "2026-01-01", notAfter: "2026-06-15"},
		{secret: "mismatch", names: []string{"www.example.com"}, notBefore: "2026-01-01", notAfter: "2036-01-01", wrongKey: true},
	}
	for i, s := range specs {
		crt, key, err := generate(s, int64(i+1))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: default\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n",
			s.secret, base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))
	}
}

func generate(s spec, serial int64) (crtPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	nb, _ := time.Parse(time.DateOnly, s.notBefore)
	na, _ := time.Parse(time.DateOnly, s.notAfter)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: s.names[0]},
		DNSNames:     s.names,
		NotBefore:    nb,
		NotAfter:     na,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if s.wrongKey {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, nil, err
		}
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
