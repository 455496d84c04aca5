package cmtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CA is a self-signed root made for one test.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA makes an ECDSA P-256 root valid for a day.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"gantry test"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &CA{
		Cert:    cert,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Secret is the kubernetes.io/tls Secret a CA issuer reads.
func (ca *CA) Secret(namespace, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       ca.CertPEM,
			corev1.TLSPrivateKeyKey: ca.KeyPEM,
		},
	}
}

// CreateIssuer creates the CA's Secret and a CA Issuer named name in
// namespace, and waits until cert-manager reports the Issuer Ready.
func CreateIssuer(ctx context.Context, c client.Client, ca *CA, namespace, name string) error {
	if err := c.Create(ctx, ca.Secret(namespace, name+"-ca")); err != nil {
		return fmt.Errorf("cmtest: CA secret: %w", err)
	}
	iss := &cmapi.Issuer{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: name + "-ca"}}},
	}
	if err := c.Create(ctx, iss); err != nil {
		return fmt.Errorf("cmtest: issuer: %w", err)
	}
	return waitReady(ctx, c, iss, func() []cmapi.IssuerCondition { return iss.Status.Conditions })
}

// CreateClusterIssuer creates the CA's Secret in the cluster resource
// namespace and a CA ClusterIssuer named name, and waits until cert-manager
// reports it Ready.
func CreateClusterIssuer(ctx context.Context, c client.Client, ca *CA, resourceNamespace, name string) error {
	if err := c.Create(ctx, ca.Secret(resourceNamespace, name+"-ca")); err != nil {
		return fmt.Errorf("cmtest: CA secret: %w", err)
	}
	iss := &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: name + "-ca"}}},
	}
	if err := c.Create(ctx, iss); err != nil {
		return fmt.Errorf("cmtest: cluster issuer: %w", err)
	}
	return waitReady(ctx, c, iss, func() []cmapi.IssuerCondition { return iss.Status.Conditions })
}

// waitReady polls obj until conditions() has Ready=True, for at most 60s.
func waitReady(ctx context.Context, c client.Client, obj client.Object, conditions func() []cmapi.IssuerCondition) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err
		}
		for _, cond := range conditions() {
			if cond.Type == cmapi.IssuerConditionReady {
				last = fmt.Sprintf("Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
				return cond.Status == cmmeta.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("cmtest: %T %s not Ready (last: %q): %w", obj, obj.GetName(), last, err)
	}
	return nil
}
