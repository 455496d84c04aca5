// Package benchserve runs a gantry serve subprocess and state-of-the-world
// ADS clients of it, for the end-to-end measurements in hack/loopbench and
// hack/meshbench.
package benchserve

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is the gantry serve subprocess.
type Server struct {
	cmd *exec.Cmd
	// XDS is the xDS address.
	XDS string
	log *tail
	// admin is the admin address (pprof).
	admin string
}

// Build builds ./cmd/gantry (run from the repository root) into dir and
// returns the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "gantry")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gantry")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gantry (run from the repository root): %w", err)
	}
	return bin, nil
}

// Start runs bin serve on configDir (state under workDir) and waits until
// it is ready.
func Start(bin, configDir, workDir string) (*Server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	cmd := exec.Command(bin, "serve", "-f", configDir, "--xds-insecure", "--log-level", "warn",
		"--xds-address", addr(ports[0]), "--admin-address", addr(ports[1]), "--metrics-address", addr(ports[2]),
		"--ca-dir", workDir+"/ca")
	s := &Server{cmd: cmd, XDS: addr(ports[0]), admin: addr(ports[1]), log: &tail{}}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr(ports[2]) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("gantry serve not ready within 2m: %s", s.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop interrupts the server and waits (then kills it after 10 s).
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// LogTail is the end of the server's log.
func (s *Server) LogTail() string { return s.log.String() }

// Stats reads the server's CPU time (user + system) and RSS in MB.
func (s *Server) Stats() (time.Duration, float64, error) {
	pid := strconv.Itoa(s.cmd.Process.Pid)
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(stat)[strings.LastIndex(string(stat), ")")+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	cpu := time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, 0, err
	}
	var rss float64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rss = kb / 1024
		}
	}
	return cpu, rss, nil
}

func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// tail keeps the last 4 kB of the server's log.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// HeapProfile writes the server's heap profile (after a GC) to path.
func (s *Server) HeapProfile(path string) error {
	if err := s.Fetch("/debug/pprof/heap?gc=1", path); err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return nil
}

// Fetch writes what the admin endpoint serves at uri to path.
func (s *Server) Fetch(uri, path string) error {
	resp, err := http.Get("http://" + s.admin + uri)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", uri, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
