package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
)

// dashboardDir holds the chart's Grafana dashboards.
const dashboardDir = "../../charts/gantry/dashboards"

// envoyMetrics are the Prometheus names of the Envoy stats the dashboards
// may use. Source: Envoy's statistics reference (HTTP connection manager
// "downstream_*" stats, cluster "upstream_*" and "membership_*" stats,
// per-route stats vhost.<virtual host>.route.<route stat prefix>.upstream_rq_*,
// which are the virtual cluster stats, listener manager and cluster manager
// xDS update stats, server "live"), as Envoy's /stats/prometheus renders
// them: "envoy_" + the stat name with the default tag extractors applied
// (the HTTP manager's stat prefix becomes envoy_http_conn_manager_prefix,
// the cluster name envoy_cluster_name, the virtual host envoy_virtual_host,
// the route stat prefix envoy_route, 2xx..5xx envoy_response_code_class),
// dots as underscores, histograms with _bucket, _sum and _count. Every stat
// listed exists for the listeners, routes and clusters Gantry configures
// (HTTP managers with a stat prefix per listener, forwarding routes with a
// dot-free stat prefix in dot-free virtual hosts, EDS clusters).
var envoyMetrics = []string{
	"envoy_http_downstream_rq_total",
	"envoy_http_downstream_rq_xx",
	"envoy_http_downstream_rq_time",
	"envoy_http_downstream_cx_active",
	"envoy_vhost_route_upstream_rq_total",
	"envoy_vhost_route_upstream_rq_xx",
	"envoy_vhost_route_upstream_rq_time",
	"envoy_cluster_upstream_rq_total",
	"envoy_cluster_upstream_rq_xx",
	"envoy_cluster_upstream_rq_time",
	"envoy_cluster_upstream_rq_retry",
	"envoy_cluster_upstream_rq_timeout",
	"envoy_cluster_upstream_cx_active",
	"envoy_cluster_membership_healthy",
	"envoy_listener_manager_lds_update_rejected",
	"envoy_cluster_manager_cds_update_rejected",
	"envoy_server_live",
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
	Templ  struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // rows
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// query is one PromQL expression of a dashboard, with where it is.
type query struct {
	where, expr string
}

// dashboardQueries reads every dashboard file and returns its expressions:
// panel targets and the metric selectors of label_values() variables.
func dashboardQueries(t *testing.T) map[string][]query {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardDir, err)
	}
	out := map[string][]query{}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for i, tg := range p.Targets {
					out[name] = append(out[name], query{where: fmt.Sprintf("%s: panel %q target %d", name, p.Title, i), expr: tg.Expr})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, v := range d.Templ.List {
			q, _ := v.Query.(string)
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", name, v.Name, q)
				continue
			}
			out[name] = append(out[name], query{where: name + ": variable " + v.Name, expr: m[1]})
		}
	}
	return out
}

// metricNames parses expr and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := metricsql.Parse(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		me, ok := x.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, lfs := range me.LabelFilterss {
			for _, lf := range lfs {
				if lf.Label == "__name__" && !lf.IsRegexp && !lf.IsNegative {
					names = append(names, lf.Value)
				}
			}
		}
	})
	if len(names) == 0 {
		return nil, fmt.Errorf("selects no metric by name")
	}
	return names, nil
}

// exported lists every series name the control plane's registry exposes
// (histograms as _bucket, _sum and _count) plus the Envoy metrics.
func exported(t *testing.T) map[string]string {
	t.Helper()
	cp, err := newControlPlane(&serveOptions{xdsAddress: "127.0.0.1:0", adminAddress: "127.0.0.1:0", metricsAddress: "127.0.0.1:0",
		identity: identityOptions{caDir: t.TempDir()}},
		nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.closeListeners()
	fams, err := cp.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	add := func(name string, typ dto.MetricType, source string) {
		out[name] = source
		if typ == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[name+s] = source
			}
		}
	}
	for _, f := range fams {
		add(f.GetName(), f.GetType(), "control plane")
	}
	// gantry_xds_convergence_seconds is a histogram vector: it has series
	// only after a first ACK, so an idle registry does not list it.
	add("gantry_xds_convergence_seconds", dto.MetricType_HISTOGRAM, "control plane")
	for _, m := range envoyMetrics {
		typ := dto.MetricType_COUNTER
		if strings.HasSuffix(m, "_time") {
			typ = dto.MetricType_HISTOGRAM
		}
		add(m, typ, "envoy")
	}
	return out
}

// TestDashboardQueries parses every expression of every dashboard and
// fails on one that names a metric nothing exports.
func TestDashboardQueries(t *testing.T) {
	known := exported(t)
	total := 0
	for _, qs := range dashboardQueries(t) {
		for _, q := range qs {
			total++
			names, err := metricNames(q.expr)
			if err != nil {
				t.Errorf("%s: %q: %v", q.where, q.expr, err)
				continue
			}
			for _, n := range names {
				if _, ok := known[n]; !ok {
					t.Errorf("%s: %q names %s, which neither the control plane nor Envoy exports", q.where, q.expr, n)
				}
			}
		}
	}
	if total < 20 {
		t.Errorf("only %d expressions in the dashboards", total)
	}
	// The checker must be able to fail.
	if _, err := metricNames("sum(rate(gantry_xds_pushes_total[5m]"); err == nil {
		t.Error("a broken expression parsed")
	}
	if names, _ := metricNames(`rate(gantry_no_such_metric{a="b"}[5m])`); !slices.Contains(names, "gantry_no_such_metric") || known["gantry_no_such_metric"] != "" {
		t.Errorf("names of an unknown metric: %v", names)
	}
}
