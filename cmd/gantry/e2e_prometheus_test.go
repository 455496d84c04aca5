package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// prometheusBinary is Debian's prometheus (or GANTRY_PROMETHEUS); "" when
// absent.
func prometheusBinary() string {
	if p := os.Getenv("GANTRY_PROMETHEUS"); p != "" {
		return p
	}
	p, _ := exec.LookPath("prometheus")
	return p
}

// TestE2EPrometheusControlPlaneDashboard starts a real Prometheus on
// loopback that scrapes a running gantry serve (examples/quickstart, one
// proxy that acknowledges and one that rejects its listeners), then runs
// every query of the control-plane dashboard through Prometheus's HTTP API
// and wants a result from each.
func TestE2EPrometheusControlPlaneDashboard(t *testing.T) {
	bin := prometheusBinary()
	if bin == "" {
		t.Skip("prometheus is not installed (apt-get install prometheus, or set GANTRY_PROMETHEUS): the dashboard queries are only parsed (TestDashboardQueries)")
	}
	e := startQuickstart(t)
	xds := e.cp.xdsLn.Addr().String()
	rawADS(t, xds, "acking-envoy", quickstartGroup, "")
	rawADS(t, xds, "nacking-envoy", quickstartGroup, "listener rejected for the test")

	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n- job_name: gantry\n  static_configs: [{targets: [%q]}]\n",
		e.cp.metricLn.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	web := "127.0.0.1:" + strconv.Itoa(freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web, "--log.level=warn")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs.String())
		}
	})
	api := "http://" + web
	// Rates need two samples of every series: wait for a few scrapes.
	retryFor(t, 60*time.Second, "prometheus scraping gantry", func() error {
		n, err := promQuery(api, `count_over_time(up{job="gantry"}[1m])`)
		if err != nil {
			return err
		}
		if n < 1 {
			return fmt.Errorf("no scrape yet")
		}
		v, err := promScalar(api, `min(count_over_time(up{job="gantry"}[1m]))`)
		if err != nil || v < 4 {
			return fmt.Errorf("%v scrapes, %v", v, err)
		}
		return nil
	})
	queries := dashboardQueries(t)["control-plane.json"]
	if len(queries) < 10 {
		t.Fatalf("only %d control-plane queries", len(queries))
	}
	for _, q := range queries {
		n, err := promQuery(api, q.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", q.where, q.expr, err)
		} else if n == 0 {
			t.Errorf("%s: %q: empty result", q.where, q.expr)
		}
	}
	if v, err := promScalar(api, `sum(gantry_xds_nacks_total)`); err != nil || v < 1 {
		t.Errorf("the NACK is not counted: %v, %v", v, err)
	}
}

// promResponse is Prometheus's /api/v1/query answer.
type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

func promGet(api, expr string) (*promResponse, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r promResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	return &r, nil
}

// promQuery runs an instant query and returns the number of series.
func promQuery(api, expr string) (int, error) {
	r, err := promGet(api, expr)
	if err != nil {
		return 0, err
	}
	return len(r.Data.Result), nil
}

// promScalar runs an instant query with one series and returns its value.
func promScalar(api, expr string) (float64, error) {
	r, err := promGet(api, expr)
	if err != nil {
		return 0, err
	}
	if len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("%d series", len(r.Data.Result))
	}
	var s struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(r.Data.Result[0], &s); err != nil {
		return 0, err
	}
	str, _ := s.Value[1].(string)
	return strconv.ParseFloat(str, 64)
}
