package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// Files the agent writes into its output directory, in the names of a
// Kubernetes TLS Secret. Each is a symbolic link through DataLink, so a
// reader (grpc-go's file_watcher, Envoy's watched directory, a projected
// volume reader) never sees a certificate of one issuance with the key of
// another: a new issuance is written to a fresh directory and DataLink is
// switched to it with one rename.
const (
	CertFile = ca.CertFile
	KeyFile  = ca.KeyFile
	CAFile   = ca.CAFile
	DataLink = "..data" // symbolic link to the current issuance's directory
)

// issuancePrefix starts the directory of each issuance.
const issuancePrefix = "..issued-"

// writeFiles publishes cert, key and bundle into dir atomically: they go to a
// new directory dir/..issued-*, the link dir/..data is replaced by a rename,
// and the public names (tls.crt, tls.key, ca.crt) are links through ..data.
// Earlier issuance directories are removed afterwards.
func writeFiles(dir string, cert, key, bundle []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output dir %s: %w", dir, err)
	}
	issued, err := os.MkdirTemp(dir, issuancePrefix)
	if err != nil {
		return fmt.Errorf("output dir %s: %w", dir, err)
	}
	if err := os.Chmod(issued, 0o755); err != nil {
		return fmt.Errorf("output dir %s: %w", issued, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{CertFile, cert, 0o644}, {KeyFile, key, 0o600}, {CAFile, bundle, 0o644}} {
		if err := writeSynced(filepath.Join(issued, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	tmpLink := filepath.Join(dir, DataLink+"_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(issued), tmpLink); err != nil {
		return fmt.Errorf("output dir %s: %w", dir, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, DataLink)); err != nil {
		return fmt.Errorf("output dir %s: switch %s: %w", dir, DataLink, err)
	}
	for _, name := range []string{CertFile, KeyFile, CAFile} {
		if err := ensureLink(filepath.Join(dir, name), filepath.Join(DataLink, name)); err != nil {
			return err
		}
	}
	return removeOld(dir, filepath.Base(issued))
}

func writeSynced(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ensureLink makes path a symbolic link to target unless it already is one.
func ensureLink(path, target string) error {
	if got, err := os.Readlink(path); err == nil && got == target {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Symlink(target, path); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

// removeOld deletes issuance directories other than keep.
func removeOld(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("output dir %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), issuancePrefix) && e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("output dir %s: %w", dir, err)
			}
		}
	}
	return nil
}
