package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
)

// oidBasicConstraints is the X.509 basic constraints extension.
var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// CheckCSR parses a PEM certificate signing request and checks that it is
// one a workload may have signed: a valid self-signature, an accepted key
// (ECDSA P-256 or P-384, RSA of at least 2048 bits, Ed25519), exactly one
// URI SAN equal to spiffeID, no DNS name, IP address or e-mail address, and
// no request to be a CA.
func CheckCSR(csrPEM []byte, spiffeID string) error {
	block, rest := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("csr: want one PEM CERTIFICATE REQUEST block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return errors.New("csr: more than one PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("csr: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("csr: signature: %w", err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return err
	}
	switch {
	case len(csr.URIs) != 1:
		return fmt.Errorf("csr: %d URI SANs, want exactly one (%s)", len(csr.URIs), spiffeID)
	case csr.URIs[0].String() != spiffeID:
		return fmt.Errorf("csr: URI SAN %s is not the caller's identity %s", csr.URIs[0], spiffeID)
	case len(csr.DNSNames) > 0:
		return fmt.Errorf("csr: DNS SANs %v are not allowed", csr.DNSNames)
	case len(csr.IPAddresses) > 0:
		return fmt.Errorf("csr: IP SANs %v are not allowed", csr.IPAddresses)
	case len(csr.EmailAddresses) > 0:
		return fmt.Errorf("csr: e-mail SANs %v are not allowed", csr.EmailAddresses)
	}
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidBasicConstraints) {
			continue
		}
		var bc struct {
			IsCA       bool `asn1:"optional"`
			MaxPathLen int  `asn1:"optional,default:-1"`
		}
		if _, err := asn1.Unmarshal(ext.Value, &bc); err != nil {
			return fmt.Errorf("csr: basic constraints: %w", err)
		}
		if bc.IsCA {
			return errors.New("csr: asks to be a CA")
		}
	}
	return nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("csr: ECDSA curve %s: want P-256 or P-384", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("csr: RSA key of %d bits: want at least 2048", k.N.BitLen())
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("csr: key type %T not accepted", pub)
	}
	return nil
}

// CreateCSR makes the PEM certificate signing request of a workload: key's
// public half and spiffeID as its only SAN.
func CreateCSR(key crypto.Signer, spiffeID string) ([]byte, error) {
	u, err := url.Parse(spiffeID)
	if err != nil {
		return nil, fmt.Errorf("csr: %s: %w", spiffeID, err)
	}
	der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{URIs: []*url.URL{u}}, key)
	if err != nil {
		return nil, fmt.Errorf("csr: %s: %w", spiffeID, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}
