// Package host runs the Envoy fleet as local processes in standalone mode:
// one Envoy per proxy group (one per Gateway), each started from a generated
// bootstrap that dials Gantry's ADS server, restarted with backoff when it
// dies and stopped on shutdown. Each Envoy can get its own Prometheus stats
// listener on a free port (see Options.StatsHost). Without an envoy binary
// it does nothing and says so once.
package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
)

// EnvVar names the envoy binary to use instead of looking it up on PATH.
const EnvVar = "GANTRY_ENVOY"

// ErrEnvoyNotFound means no envoy binary is on PATH and GANTRY_ENVOY is unset.
var ErrEnvoyNotFound = errors.New("envoy not found: no envoy binary on PATH and " + EnvVar + " is unset; not starting Envoy processes (xDS is still served)")

// Options configure a Manager.
type Options struct {
	// XDSAddress is the ADS address the Envoys dial (host:port).
	XDSAddress string
	// EnvoyPath is the binary; empty means $GANTRY_ENVOY, then "envoy" on PATH.
	EnvoyPath string
	// WorkDir holds the generated bootstraps and admin address files; empty
	// means a new temporary folder, removed by Close.
	WorkDir string
	// Args are added to every Envoy command line (e.g. "--log-level", "warn").
	Args []string
	// Env is added to every Envoy's environment.
	Env []string
	// StatsHost, when set (an IP such as 127.0.0.1, or 0.0.0.0 to expose
	// it), gives every Envoy a listener on StatsHost and a free port that
	// serves only /stats/prometheus (bootstrap.StatsListener); its admin API
	// then gets a free loopback port, fixed in the bootstrap, for the
	// listener to forward to. Empty: no stats listener, and Envoy picks its
	// admin port itself. Status reports both addresses.
	StatsHost string
	// MinBackoff and MaxBackoff bound the wait before a restart (defaults
	// 500 ms and 30 s); the wait doubles after each quick death.
	MinBackoff, MaxBackoff time.Duration
	// StopTimeout is how long Close waits after SIGTERM before SIGKILL
	// (default 10 s).
	StopTimeout time.Duration
	// Output receives every Envoy's stdout and stderr (default os.Stderr).
	Output io.Writer
	Logger *slog.Logger
	// Credentials, when set, returns the credentials an Envoy of group uses
	// to authenticate to Gantry, with its certificate files kept in dir
	// (nil credentials: plaintext). Its SDS file is written beside.
	Credentials func(group, dir string) (*bootstrap.Credentials, error)
}

// Manager owns the Envoy processes. Its methods are safe for concurrent use.
type Manager struct {
	opts     Options
	log      *slog.Logger
	envoy    string
	findErr  error
	workDir  string
	ownsWork bool

	mu     sync.Mutex
	procs  map[string]*process
	warned bool
	closed bool
}

// New returns a Manager. It finds the envoy binary once; Available reports
// the outcome.
func New(opts Options) *Manager {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Output == nil {
		opts.Output = os.Stderr
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{opts: opts, log: log, procs: map[string]*process{}}
	m.envoy, m.findErr = findEnvoy(opts.EnvoyPath)
	return m
}

func findEnvoy(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(EnvVar)
	}
	if explicit != "" {
		p, err := exec.LookPath(explicit)
		if err != nil {
			return "", fmt.Errorf("envoy %q (from %s or options) is not runnable: %w", explicit, EnvVar, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return "", ErrEnvoyNotFound
	}
	return p, nil
}

// Available returns the envoy binary in use, or why there is none
// (ErrEnvoyNotFound, or a GANTRY_ENVOY that cannot run).
func (m *Manager) Available() (string, error) { return m.envoy, m.findErr }

// Reconcile makes the running processes match groups: it starts an Envoy for
// each new group and stops those whose group is gone. Without an envoy binary
// it logs that once and returns nil.
func (m *Manager) Reconcile(groups []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("host infra: manager is closed")
	}
	if m.findErr != nil {
		if !m.warned {
			m.warned = true
			m.log.Warn("host infra disabled", "reason", m.findErr)
		}
		return nil
	}
	if err := m.ensureWorkDir(); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, g := range groups {
		want[g] = true
	}
	for _, g := range sortedKeys(m.procs) {
		if !want[g] {
			m.procs[g].stop(m.opts.StopTimeout)
			delete(m.procs, g)
		}
	}
	var errs []error
	for _, g := range sortedKeys(want) {
		if _, ok := m.procs[g]; ok {
			continue
		}
		p, err := m.newProcess(g)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.procs[g] = p
		go p.supervise()
	}
	return errors.Join(errs...)
}

func (m *Manager) ensureWorkDir() error {
	if m.workDir != "" {
		return nil
	}
	if m.opts.WorkDir != "" {
		if err := os.MkdirAll(m.opts.WorkDir, 0o755); err != nil {
			return fmt.Errorf("host infra: %w", err)
		}
		m.workDir = m.opts.WorkDir
		return nil
	}
	dir, err := os.MkdirTemp("", "gantry-envoy-")
	if err != nil {
		return fmt.Errorf("host infra: %w", err)
	}
	m.workDir, m.ownsWork = dir, true
	return nil
}

// credentials returns the group's credentials (nil: plaintext) with its
// SDS file written.
func (m *Manager) credentials(group, base string) (*bootstrap.Credentials, error) {
	if m.opts.Credentials == nil {
		return nil, nil
	}
	creds, err := m.opts.Credentials(group, filepath.Join(m.workDir, base+".certs"))
	if err != nil || creds == nil {
		return nil, err
	}
	creds.SDSFile = filepath.Join(m.workDir, base+".sds.json")
	sds, err := bootstrap.EnvoySDS(creds)
	if err != nil {
		return nil, err
	}
	return creds, os.WriteFile(creds.SDSFile, sds, 0o600)
}

// newProcess writes the group's bootstrap and prepares its supervisor.
func (m *Manager) newProcess(group string) (*process, error) {
	base := fileSafe(group)
	creds, err := m.credentials(group, base)
	if err != nil {
		return nil, fmt.Errorf("host infra: %s: %w", group, err)
	}
	bo := bootstrap.Options{
		Group:        group,
		NodeID:       group + "/host-" + hostname(),
		XDSAddress:   m.opts.XDSAddress,
		AdminAddress: "127.0.0.1:0",
		Credentials:  creds,
	}
	if m.opts.StatsHost != "" {
		admin, stats, err := m.freePorts()
		if err != nil {
			return nil, fmt.Errorf("host infra: %s: %w", group, err)
		}
		bo.AdminAddress, bo.StatsAddress = admin, stats
	}
	b, err := bootstrap.Envoy(bo)
	if err != nil {
		return nil, fmt.Errorf("host infra: %s: %w", group, err)
	}
	data, err := bootstrap.MarshalJSON(b)
	if err != nil {
		return nil, fmt.Errorf("host infra: %s: %w", group, err)
	}
	cfg := filepath.Join(m.workDir, base+".bootstrap.json")
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		return nil, fmt.Errorf("host infra: %s: %w", group, err)
	}
	adminFile := filepath.Join(m.workDir, base+".admin")
	args := []string{
		"-c", cfg,
		"--use-dynamic-base-id",
		"--admin-address-path", adminFile,
	}
	args = append(args, m.opts.Args...)
	ctx, cancel := context.WithCancel(context.Background())
	return &process{
		group:     group,
		stats:     bo.StatsAddress,
		admin:     bo.AdminAddress,
		bin:       m.envoy,
		args:      args,
		env:       m.opts.Env,
		output:    m.opts.Output,
		adminFile: adminFile,
		minWait:   m.opts.MinBackoff,
		maxWait:   m.opts.MaxBackoff,
		log:       m.log.With("group", group),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
	}, nil
}

// Status is the state of one group's Envoy.
type Status struct {
	Group    string `json:"group"`
	PID      int    `json:"pid,omitempty"`
	Starts   int    `json:"starts"`
	Running  bool   `json:"running"`
	LastExit string `json:"lastExit,omitempty"`
	// AdminAddress is Envoy's admin listener once Envoy has written it.
	AdminAddress string `json:"adminAddress,omitempty"`
	// StatsAddress is the listener that serves only /stats/prometheus
	// (empty without Options.StatsHost).
	StatsAddress string `json:"statsAddress,omitempty"`
}

// Statuses lists every managed group, sorted.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.procs))
	for _, g := range sortedKeys(m.procs) {
		out = append(out, m.procs[g].status())
	}
	return out
}

// Close stops every Envoy (SIGTERM, then SIGKILL after StopTimeout) and
// removes the temporary work folder.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	var wg sync.WaitGroup
	for _, p := range m.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(m.opts.StopTimeout)
		}()
	}
	wg.Wait()
	m.procs = map[string]*process{}
	if m.ownsWork {
		return os.RemoveAll(m.workDir)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fileSafe turns a group name into a file name.
func fileSafe(group string) string {
	return strings.NewReplacer("/", "_", string(os.PathSeparator), "_", ":", "_").Replace(group)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
