package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumBinary is Debian's chromium (or GANTRY_CHROMIUM); "" when absent.
func chromiumBinary() string {
	if p := os.Getenv("GANTRY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestE2EConsoleInBrowser opens the console of a running gantry serve on
// examples/quickstart, with one proxy that rejects its listeners, in a
// headless Chromium; it checks the Gateway, its routes and the NACK are on
// the page and saves a screenshot (GANTRY_SCREENSHOT_DIR, or the test's
// temporary folder).
func TestE2EConsoleInBrowser(t *testing.T) {
	bin := chromiumBinary()
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium, or set GANTRY_CHROMIUM): the console is only checked as HTML (TestE2EConsolePage)")
	}
	e := startQuickstart(t)
	rawADS(t, e.cp.xdsLn.Addr().String(), "nacking-envoy", quickstartGroup, "listener default/quickstart/8080: unknown filter")
	waitForConsole(t, e, "unknown filter")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	url := "http://" + e.cp.adminLn.Addr().String() + "/"
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#proxies"))); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("chromium: page text: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	for _, want := range []string{
		// A node of the Gateway rejects its listeners: the console shows
		// why the Gateway is not programmed.
		"Gateway default/quickstart", "Accepted=True", "Programmed=False Rejected",
		"HTTPRoute", "default/app", "Gateway default/quickstart",
		"nacking-envoy", "NACK", "unknown filter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q:\n%s", want, text)
		}
	}
	dir := os.Getenv("GANTRY_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "console.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}

// TestE2EConsolePage checks the console's HTML without a browser: served on
// the admin address only, with the quickstart's Gateway, routes and a NACK.
func TestE2EConsolePage(t *testing.T) {
	e := startQuickstart(t)
	rawADS(t, e.cp.xdsLn.Addr().String(), "nacking-envoy", quickstartGroup, "listener rejected: unknown filter")
	body := waitForConsole(t, e, "listener rejected: unknown filter")
	for _, want := range []string{"Gateway <code>default/quickstart</code>", "default/app", "nacking-envoy", "listener rejected: unknown filter", "Analyzer findings"} {
		if !strings.Contains(body, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if code, _ := httpGet(t, "http://"+e.cp.metricLn.Addr().String()+"/"); code != http.StatusNotFound {
		t.Errorf("console on the metrics address: %d, want 404 (admin only)", code)
	}
}

// waitForConsole reads the console until it shows want (the server records a
// NACK after rawADS has sent it) and returns the page.
func waitForConsole(t *testing.T, e *e2eEnv, want string) string {
	t.Helper()
	var body string
	retryFor(t, 10*time.Second, "the console showing "+want, func() error {
		code, b := httpGet(t, "http://"+e.cp.adminLn.Addr().String()+"/")
		if code != http.StatusOK {
			return fmt.Errorf("console: %d", code)
		}
		if body = b; !strings.Contains(body, want) {
			return fmt.Errorf("console lacks %q", want)
		}
		return nil
	})
	return body
}
