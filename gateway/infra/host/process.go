package host

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stableAfter is how long a process must run for its restart backoff to reset.
const stableAfter = 10 * time.Second

// process supervises one group's Envoy.
type process struct {
	group     string
	admin     string // fixed admin address when there is a stats listener
	stats     string // stats listener address, "" for none
	bin       string
	args      []string
	env       []string
	output    io.Writer
	adminFile string
	minWait   time.Duration
	maxWait   time.Duration
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}

	mu       sync.Mutex
	cmd      *exec.Cmd
	starts   int
	running  bool
	lastExit string
}

// supervise starts Envoy and restarts it with backoff until stop.
func (p *process) supervise() {
	defer close(p.done)
	wait := p.minWait
	for {
		started := time.Now()
		err := p.runOnce()
		if p.ctx.Err() != nil {
			return
		}
		if time.Since(started) > stableAfter {
			wait = p.minWait
		}
		p.log.Warn("envoy exited, restarting", "error", err, "after", wait)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, p.maxWait)
	}
}

// runOnce starts Envoy and waits for it to exit.
func (p *process) runOnce() error {
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = p.output
	cmd.Stderr = p.output
	// Own process group, so stop reaches Envoy's children too; and if
	// Gantry dies, the kernel stops Envoy.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		return p.ctx.Err()
	}
	_ = os.Remove(p.adminFile)
	if err := cmd.Start(); err != nil {
		p.lastExit = err.Error()
		p.mu.Unlock()
		return err
	}
	p.cmd, p.running = cmd, true
	p.starts++
	p.mu.Unlock()
	if p.stats != "" {
		p.log.Info("envoy started", "pid", cmd.Process.Pid, "binary", p.bin, "stats", "http://"+p.stats+"/stats/prometheus")
	} else {
		p.log.Info("envoy started", "pid", cmd.Process.Pid, "binary", p.bin)
	}

	err := cmd.Wait()
	p.mu.Lock()
	p.running = false
	if err != nil {
		p.lastExit = err.Error()
	} else {
		p.lastExit = "exit status 0"
	}
	p.mu.Unlock()
	return err
}

// stop ends supervision: SIGTERM to the process group, SIGKILL after timeout.
func (p *process) stop(timeout time.Duration) {
	p.mu.Lock()
	p.cancel()
	cmd, running := p.cmd, p.running
	p.mu.Unlock()
	if running && cmd != nil && cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(timeout):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	<-p.done
	if running && cmd != nil && cmd.Process != nil {
		// Envoy is reaped; anything it left in its process group (a child
		// forked as the SIGTERM arrived) goes too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	p.log.Info("envoy stopped")
}

func (p *process) status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{Group: p.group, Starts: p.starts, Running: p.running, LastExit: p.lastExit, StatsAddress: p.stats}
	if p.running && p.cmd != nil && p.cmd.Process != nil {
		s.PID = p.cmd.Process.Pid
	}
	if data, err := os.ReadFile(p.adminFile); err == nil {
		s.AdminAddress = strings.TrimSpace(string(data))
	}
	return s
}
