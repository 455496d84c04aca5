package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickstartStep is one line of the README's step-by-step block.
type quickstartStep struct {
	command    string
	background bool   // ends with &
	wantOut    string // "# -> X": the command prints X
	wantLog    string // "# log: X": serve logs X after the command
}

var stepCommentRe = regexp.MustCompile(`^(.*?)\s+#\s*(->|log:)\s*(.+?)\s*$`)

// readQuickstartSteps reads the first sh block after the "step by step"
// heading of examples/quickstart/README.md.
func readQuickstartSteps(t *testing.T) []quickstartStep {
	t.Helper()
	data, err := os.ReadFile("../../examples/quickstart/README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "## The quickstart step by step")
	if i < 0 {
		t.Fatal("examples/quickstart/README.md has no \"## The quickstart step by step\" section")
	}
	start := strings.Index(text[i:], "```sh\n")
	if start < 0 {
		t.Fatal("the step-by-step section has no ```sh block")
	}
	body := text[i+start+len("```sh\n"):]
	body = body[:strings.Index(body, "```")]
	var steps []quickstartStep
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		s := quickstartStep{command: line}
		if m := stepCommentRe.FindStringSubmatch(line); m != nil {
			s.command = m[1]
			if m[2] == "->" {
				s.wantOut = m[3]
			} else {
				s.wantLog = m[3]
			}
		}
		if strings.HasSuffix(s.command, "&") {
			s.background = true
			s.command = strings.TrimSpace(strings.TrimSuffix(s.command, "&"))
		}
		steps = append(steps, s)
	}
	return steps
}

// TestReadmeQuickstart runs the step-by-step block of
// examples/quickstart/README.md as a user types it (so the docs and the
// behaviour cannot drift apart): build, echo backends, serve, probes, a
// live edit, a broken file. Only what the machine needs changes: the
// binary and the example folder are copies under a temporary folder, every
// port is a free one, serve gets free admin and metrics ports, probe the
// xDS address, and no Envoy is started or downloaded.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds gantry and runs the README's commands: not in -short")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed to run the README's commands")
	}
	steps := readQuickstartSteps(t)
	if len(steps) < 6 {
		t.Fatalf("only %d steps in the README block", len(steps))
	}
	checkReadmeProbes(t, steps)
	work := t.TempDir()
	ports := map[string]string{}
	for _, p := range []string{"18000", "18081", "18082", "18083"} {
		ports[p] = fmt.Sprint(freePort(t))
	}
	example := filepath.Join(work, "quickstart")
	copyWithPorts(t, "../../examples/quickstart", example, ports)
	bin := filepath.Join(work, "bin", "gantry")
	xds := "127.0.0.1:" + ports["18000"]
	rewrite := func(cmd string) string {
		cmd = strings.ReplaceAll(cmd, "bin/gantry", bin)
		cmd = strings.ReplaceAll(cmd, "examples/quickstart", example)
		for from, to := range ports {
			cmd = strings.ReplaceAll(cmd, from, to)
		}
		switch {
		case strings.Contains(cmd, bin+" serve "):
			cmd += fmt.Sprintf(" --admin-address 127.0.0.1:%d --metrics-address 127.0.0.1:%d", freePort(t), freePort(t))
		case strings.Contains(cmd, bin+" probe ") && !strings.Contains(cmd, "--xds-address"):
			cmd += " --xds-address " + xds
		}
		return cmd
	}
	logs := &syncBuffer{}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("background logs:\n%s", logs.String())
		}
	}()
	for _, s := range steps {
		cmd := rewrite(s.command)
		mark := len(logs.String())
		if s.background {
			startBackground(t, repo, cmd, logs)
			continue
		}
		runStep(t, repo, cmd, s.wantOut)
		if s.wantLog != "" {
			retryFor(t, 20*time.Second, fmt.Sprintf("%q logs %q", s.command, s.wantLog), func() error {
				if !strings.Contains(logs.String()[mark:], s.wantLog) {
					return fmt.Errorf("not logged yet")
				}
				return nil
			})
		}
	}
}

// checkReadmeProbes: every probe command README.md shows is one of the
// steps this test runs.
func checkReadmeProbes(t *testing.T, steps []quickstartStep) {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "bin/gantry probe ") {
			continue
		}
		found++
		if !slices.ContainsFunc(steps, func(s quickstartStep) bool { return s.command == line }) {
			t.Errorf("README.md shows %q, which examples/quickstart/README.md's steps do not run", line)
		}
	}
	if found == 0 {
		t.Error("README.md shows no probe command")
	}
}

// copyWithPorts copies the example folder, replacing its loopback ports.
func copyWithPorts(t *testing.T, from, to string, ports map[string]string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(from, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("example files: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for p, q := range ports {
			data = bytes.ReplaceAll(data, []byte(p), []byte(q))
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func stepEnv() []string {
	return append(os.Environ(), "GANTRY_HOST_INFRA=off", "GANTRY_ENVOY_DOWNLOAD=never")
}

// startBackground starts cmd in its own process group, stopped when the
// test ends.
func startBackground(t *testing.T, dir, cmd string, logs *syncBuffer) {
	t.Helper()
	c := exec.Command("bash", "-c", "exec "+cmd)
	c.Dir, c.Env, c.Stdout, c.Stderr = dir, stepEnv(), logs, logs
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// runStep runs cmd until it succeeds and prints want (a user waits a
// moment for serve to start or pick up an edit), for at most 30 s.
func runStep(t *testing.T, dir, cmd, want string) {
	t.Helper()
	timeout := 30 * time.Second
	if strings.HasPrefix(cmd, "go build") {
		timeout = 10 * time.Minute
	}
	retryFor(t, timeout, cmd, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c := exec.CommandContext(ctx, "bash", "-c", cmd)
		c.Dir, c.Env = dir, stepEnv()
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v:\n%s", err, out)
		}
		if !strings.Contains(string(out), want) {
			return fmt.Errorf("output lacks %q:\n%s", want, out)
		}
		return nil
	})
}
