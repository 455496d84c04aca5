package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/gantryproxy/gantry/mesh/capture"
)

func TestCaptureDryRun(t *testing.T) {
	stdout, stderr, code := runGantry(t, "capture", "--dry-run", "--exclude-outbound-ports", "5432", "--include-inbound-ports", "9080,9443")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"table ip gantry_capture {", "table ip6 gantry_capture {",
		"meta skuid 1337 return", "meta skgid 1337 return", `oifname "lo" return`,
		"tcp dport 5432 return", "meta l4proto tcp redirect to :15001",
		"tcp dport 15000-15099 return", "tcp dport 9080 meta l4proto tcp redirect to :15006",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCaptureUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--exclude-outbound-ports", "http"}, `--exclude-outbound-ports "http"`},
		{[]string{"--include-outbound-cidrs", "10.0.0.1/8"}, `--include-outbound-cidrs "10.0.0.1/8"`},
		{[]string{"--proxy-uid", "0"}, "--proxy-uid 0"},
		{[]string{"--outbound-port", "70000"}, "outbound-port"},
		{[]string{"--remove"}, "--remove and --dry-run"},
	} {
		_, stderr, code := runGantry(t, append([]string{"capture", "--dry-run"}, c.args...)...)
		if code != exitUsageError || !strings.Contains(stderr, c.want) {
			t.Errorf("capture %v: exit %d, want %d with %q: %s", c.args, code, exitUsageError, c.want, stderr)
		}
	}
}

// TestCaptureInstallRemove runs `gantry capture` and `gantry capture
// --remove` in a network namespace of their own and reads the kernel's
// tables back. (Where connections land is mesh/capture's TestCaptureNetns.)
func TestCaptureInstallRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("gantry capture needs root (CAP_NET_ADMIN) for a network namespace of its own; not root")
	}
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread and its namespace end with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- "skip: network namespaces are not available: " + err.Error()
			return
		}
		var problems []string
		report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
		for range 2 { // the second run replaces the first's tables
			if _, stderr, code := runGantry(t, "capture", "--exclude-outbound-cidrs", "169.254.169.254/32"); code != exitOK {
				report("capture: exit %d: %s", code, stderr)
			}
		}
		if got := captureTables(); got != "ip/gantry_capture ip6/gantry_capture" {
			report("after capture: tables %q", got)
		}
		if _, stderr, code := runGantry(t, "capture", "--remove"); code != exitOK {
			report("capture --remove: exit %d: %s", code, stderr)
		}
		if got := captureTables(); got != "" {
			report("after capture --remove: tables %q", got)
		}
		done <- strings.Join(problems, "\n")
	}()
	msg := <-done
	if got := captureTables(); got != "" { // the test's own namespace was not touched
		t.Errorf("the test's network namespace has %q", got)
	}
	if strings.HasPrefix(msg, "skip: ") {
		t.Skip(strings.TrimPrefix(msg, "skip: "))
	}
	if msg != "" {
		t.Error(msg)
	}
}

// captureTables lists the capture tables of the calling thread's network
// namespace as family/name.
func captureTables() string {
	conn, err := nftables.New()
	if err != nil {
		return err.Error()
	}
	tables, err := conn.ListTables()
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, tb := range tables {
		fam := map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6"}[tb.Family]
		if tb.Name == capture.TableName {
			out = append(out, fam+"/"+tb.Name)
		}
	}
	return strings.Join(out, " ")
}
