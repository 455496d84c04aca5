package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestCheckCSR(t *testing.T) {
	key := newKey(t)
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	isCA, err := asn1.Marshal(struct{ IsCA bool }{IsCA: true})
	if err != nil {
		t.Fatal(err)
	}
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	make := func(tmpl *x509.CertificateRequest, signer any) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	good := make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}}, key)
	tampered := []byte(strings.Replace(string(good), string(good[len(good)-60:len(good)-40]), strings.Repeat("A", 20), 1))
	cases := []struct {
		name, want string
		csr        []byte
	}{
		{name: "good", csr: good},
		{name: "with subject", csr: make(&x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}, URIs: []*url.URL{u(reviewsID)}}, key)},
		{name: "other identity", want: "is not the caller's identity", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u("spiffe://cluster.local/ns/shop/sa/x")}}, key)},
		{name: "two URIs", want: "2 URI SANs", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID), u("spiffe://cluster.local/ns/a/sa/b")}}, key)},
		{name: "no URI", want: "0 URI SANs", csr: make(&x509.CertificateRequest{}, key)},
		{name: "DNS", want: "DNS SANs", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}, DNSNames: []string{"reviews.shop"}}, key)},
		{name: "IP", want: "IP SANs", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}, key)},
		{name: "e-mail", want: "e-mail SANs", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}, EmailAddresses: []string{"a@b.c"}}, key)},
		{name: "CA", want: "asks to be a CA", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}, ExtraExtensions: []pkix.Extension{{Id: oidBasicConstraints, Critical: true, Value: isCA}}}, key)},
		{name: "small RSA", want: "at least 2048", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}}, smallRSA)},
		{name: "P-224", want: "P-256 or P-384", csr: make(&x509.CertificateRequest{URIs: []*url.URL{u(reviewsID)}}, p224)},
		{name: "tampered", want: "csr", csr: tampered},
		{name: "certificate block", want: "CERTIFICATE REQUEST", csr: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
		{name: "two blocks", want: "more than one", csr: append(append([]byte{}, good...), good...)},
		{name: "empty", want: "CERTIFICATE REQUEST", csr: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCSR(tc.csr, reviewsID)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
