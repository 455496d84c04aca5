package ca

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// fileManaged marks a DirStore root that Gantry manages. The other files
// have the names of files.go (the kubernetes.io/tls layout).
const fileManaged = "managed-by-gantry"

// DirStore keeps the root in a folder (standalone mode): tls.crt, tls.key
// (mode 0600), ca.crt, and a marker file when Gantry made the root and
// rotates it. A user brings a root or intermediate by writing tls.crt,
// tls.key (and ca.crt for an intermediate) into an empty folder.
type DirStore struct{ Dir string }

var _ Store = DirStore{}

// Load implements Store.
func (d DirStore) Load(context.Context) (*Stored, error) {
	cert, err := os.ReadFile(filepath.Join(d.Dir, CertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(filepath.Join(d.Dir, KeyFile))
	if err != nil {
		return nil, err
	}
	bundle, err := os.ReadFile(filepath.Join(d.Dir, CAFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, err = os.Stat(filepath.Join(d.Dir, fileManaged))
	return &Stored{CertPEM: cert, KeyPEM: key, BundlePEM: bundle, Managed: err == nil, Version: digest(cert)}, nil
}

// Create implements Store.
func (d DirStore) Create(ctx context.Context, s *Stored) error {
	if st, err := d.Load(ctx); err != nil || st != nil {
		return errors.Join(err, ErrExists)
	}
	return d.write(s)
}

// Update implements Store.
func (d DirStore) Update(ctx context.Context, s *Stored) error {
	st, err := d.Load(ctx)
	if err != nil {
		return err
	}
	if st == nil || st.Version != s.Version {
		return ErrConflict
	}
	return d.write(s)
}

// write replaces the files, each atomically; tls.crt goes last, so a
// reader never pairs a new certificate with an old key.
func (d DirStore) write(s *Stored) error {
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("ca: %s: %w", d.Dir, err)
	}
	managed := filepath.Join(d.Dir, fileManaged)
	if s.Managed {
		if err := writeFile(managed, []byte("this root is rotated by gantry\n"), 0o600); err != nil {
			return err
		}
	} else if err := os.Remove(managed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{KeyFile, s.KeyPEM}, {CAFile, s.BundlePEM}, {CertFile, s.CertPEM}} {
		if err := writeFile(filepath.Join(d.Dir, f.name), f.data, 0o600); err != nil {
			return err
		}
	}
	s.Version = digest(s.CertPEM)
	return nil
}

// writeFile writes data to a temporary file beside path and renames it.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("ca: %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("ca: %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("ca: %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("ca: %s: %w", path, err)
	}
	return nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}
