// Package kubeca keeps the mesh CA in Kubernetes: its root in a Secret of
// the control plane's namespace (SecretStore), shared by every replica, and
// its trust bundle in a ConfigMap of every mesh namespace (Publisher).
package kubeca

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// AnnotationManaged marks a CA Secret whose root Gantry made and rotates.
// A Secret without it holds a root or intermediate brought by the user
// (kubernetes.io/tls: tls.crt, tls.key, and ca.crt for an intermediate),
// which Gantry uses and never rotates.
const AnnotationManaged = "gantry.io/ca-managed"

// SecretStore is a ca.Store in one Secret.
type SecretStore struct {
	Secrets corev1client.SecretInterface
	Name    string
}

var _ ca.Store = SecretStore{}

// Load implements ca.Store.
func (s SecretStore) Load(ctx context.Context) (*ca.Stored, error) {
	sec, err := s.Secrets.Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Secret %s: %w", s.Name, err)
	}
	return &ca.Stored{
		CertPEM:   sec.Data[corev1.TLSCertKey],
		KeyPEM:    sec.Data[corev1.TLSPrivateKeyKey],
		BundlePEM: sec.Data[corev1.ServiceAccountRootCAKey],
		Managed:   sec.Annotations[AnnotationManaged] == "true",
		Version:   sec.ResourceVersion,
	}, nil
}

func (s SecretStore) secret(st *ca.Stored) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, ResourceVersion: st.Version,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "gantry"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey: st.CertPEM, corev1.TLSPrivateKeyKey: st.KeyPEM, corev1.ServiceAccountRootCAKey: st.BundlePEM,
		},
	}
	if st.Managed {
		sec.Annotations = map[string]string{AnnotationManaged: "true"}
	}
	return sec
}

// Create implements ca.Store: it fails with ca.ErrExists when another
// replica created the Secret first.
func (s SecretStore) Create(ctx context.Context, st *ca.Stored) error {
	sec := s.secret(st)
	sec.ResourceVersion = ""
	out, err := s.Secrets.Create(ctx, sec, metav1.CreateOptions{FieldManager: "gantry"})
	if apierrors.IsAlreadyExists(err) {
		return ca.ErrExists
	}
	if err != nil {
		return fmt.Errorf("Secret %s: %w", s.Name, err)
	}
	st.Version = out.ResourceVersion
	return nil
}

// Update implements ca.Store: it fails with ca.ErrConflict when the Secret
// changed since it was loaded.
func (s SecretStore) Update(ctx context.Context, st *ca.Stored) error {
	out, err := s.Secrets.Update(ctx, s.secret(st), metav1.UpdateOptions{FieldManager: "gantry"})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return ca.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("Secret %s: %w", s.Name, err)
	}
	st.Version = out.ResourceVersion
	return nil
}
