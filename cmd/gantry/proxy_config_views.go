package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"
)

// proxyView is one per-type view of proxy-config: the resources of one xDS
// type a node was sent, as table rows.
type proxyView struct {
	name    string
	typeURL string
	header  string
	rows    func(res map[string]any) [][]string
}

// proxyViews is the ordered list of per-type subcommands.
var proxyViews = []proxyView{
	{name: "listeners", typeURL: resourcev3.ListenerType, header: "NAME\tADDRESS\tFILTER CHAINS", rows: listenerRows},
	{name: "routes", typeURL: resourcev3.RouteType, header: "ROUTE CONFIG\tVIRTUAL HOST\tDOMAINS\tMATCH\tROUTE\tACTION", rows: routeRows},
	{name: "clusters", typeURL: resourcev3.ClusterType, header: "NAME\tDISCOVERY\tLB POLICY", rows: clusterRows},
	{name: "endpoints", typeURL: resourcev3.EndpointType, header: "CLUSTER\tENDPOINT\tHEALTH", rows: endpointRows},
	{name: "secrets", typeURL: resourcev3.SecretType, header: "NAME\tKIND\tPRIVATE KEY", rows: secretRows},
}

// viewResource is one resource of a node in the json/yaml output.
type viewResource struct {
	Node     string         `json:"node"`
	Name     string         `json:"name"`
	Resource map[string]any `json:"resource"`
}

func newProxyViewCmd(f *proxyConfigFlags, v proxyView) *cobra.Command {
	return &cobra.Command{
		Use:   v.name + " [NODE]",
		Short: "Show the " + v.name + " a node (or every node) was sent",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			output := f.output
			if output == "" {
				output = "table"
			}
			if err := checkOutput(output, proxyConfigFormats...); err != nil {
				return err
			}
			base, stop, err := f.adminBase(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer stop()
			res, err := viewResources(base, args, v.typeURL)
			if err != nil {
				return err
			}
			if output != "table" {
				return printObjects(cmd.OutOrStdout(), output, res)
			}
			return printView(cmd.OutOrStdout(), v, res)
		},
	}
}

// viewResources fetches the resources of typeURL that the nodes (NODE, or
// every connected node) were sent, redacted by fetchAdmin.
func viewResources(base string, args []string, typeURL string) ([]viewResource, error) {
	nodes := args
	if len(nodes) == 0 {
		body, err := fetchAdmin(base + "/proxies")
		if err != nil {
			return nil, err
		}
		var rows []proxyRow
		if err := json.Unmarshal(body, &rows); err != nil {
			return nil, fmt.Errorf("proxy-config: decoding /proxies: %w", err)
		}
		for _, r := range rows {
			nodes = append(nodes, r.ID)
		}
		sort.Strings(nodes)
	}
	out := []viewResource{}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n] {
			continue
		}
		seen[n] = true
		body, err := fetchAdmin(base + "/proxies/" + url.PathEscape(n))
		if err != nil {
			return nil, err
		}
		var streams []struct {
			Types []struct {
				TypeURL   string `json:"typeUrl"`
				Resources []struct {
					Name     string         `json:"name"`
					Resource map[string]any `json:"resource"`
				} `json:"resources"`
			} `json:"types"`
		}
		if err := json.Unmarshal(body, &streams); err != nil {
			return nil, fmt.Errorf("proxy-config: decoding node %s: %w", n, err)
		}
		for _, s := range streams {
			for _, t := range s.Types {
				if t.TypeURL != typeURL {
					continue
				}
				for _, r := range t.Resources {
					out = append(out, viewResource{Node: n, Name: r.Name, Resource: r.Resource})
				}
			}
		}
	}
	return out, nil
}

func printView(w io.Writer, v proxyView, res []viewResource) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\t"+v.header)
	for _, r := range res {
		for _, row := range v.rows(r.Resource) {
			fmt.Fprintln(tw, r.Node+"\t"+strings.Join(row, "\t"))
		}
	}
	return tw.Flush()
}

// Field access on protojson maps.

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path ...string) string {
	switch v := field(m, path...).(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

func list(m map[string]any, path ...string) []map[string]any {
	raw, _ := field(m, path...).([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, e := range raw {
		if mm, ok := e.(map[string]any); ok {
			out = append(out, mm)
		}
	}
	return out
}

func listenerRows(l map[string]any) [][]string {
	addr := "api_listener (proxyless)"
	if sa := str(l, "address", "socketAddress", "address"); sa != "" {
		addr = sa + ":" + str(l, "address", "socketAddress", "portValue")
	}
	return [][]string{{str(l, "name"), addr, fmt.Sprint(len(list(l, "filterChains")))}}
}

func routeRows(rc map[string]any) [][]string {
	var rows [][]string
	for _, vh := range list(rc, "virtualHosts") {
		raw, _ := field(vh, "domains").([]any)
		domains := make([]string, 0, len(raw))
		for _, d := range raw {
			domains = append(domains, fmt.Sprint(d))
		}
		for _, r := range list(vh, "routes") {
			rows = append(rows, []string{str(rc, "name"), str(vh, "name"), strings.Join(domains, ","), routeMatch(r), dash(str(r, "name")), routeAction(r)})
		}
	}
	return rows
}

func routeMatch(r map[string]any) string {
	m, _ := field(r, "match").(map[string]any)
	var parts []string
	for _, k := range []string{"prefix", "path", "pathSeparatedPrefix"} {
		if v := str(m, k); v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	if v := str(m, "safeRegex", "regex"); v != "" {
		parts = append(parts, "regex "+v)
	}
	for _, h := range list(m, "headers") {
		parts = append(parts, "header "+str(h, "name"))
	}
	return strings.Join(parts, ", ")
}

func routeAction(r map[string]any) string {
	switch {
	case field(r, "redirect") != nil:
		return "redirect"
	case field(r, "directResponse") != nil:
		return "direct response " + str(r, "directResponse", "status")
	}
	if c := str(r, "route", "cluster"); c != "" {
		return c
	}
	var parts []string
	for _, c := range list(r, "route", "weightedClusters", "clusters") {
		parts = append(parts, fmt.Sprintf("%s (%s)", str(c, "name"), str(c, "weight")))
	}
	return strings.Join(parts, ", ")
}

func clusterRows(c map[string]any) [][]string {
	disc := str(c, "type")
	if disc == "" {
		disc = "EDS"
		if field(c, "edsClusterConfig") == nil {
			disc = "STATIC"
		}
	}
	lb := str(c, "lbPolicy")
	if lb == "" {
		lb = "ROUND_ROBIN"
	}
	return [][]string{{str(c, "name"), disc, lb}}
}

func endpointRows(cla map[string]any) [][]string {
	var rows [][]string
	for _, le := range list(cla, "endpoints") {
		for _, e := range list(le, "lbEndpoints") {
			addr := str(e, "endpoint", "address", "socketAddress", "address") + ":" + str(e, "endpoint", "address", "socketAddress", "portValue")
			health := str(e, "healthStatus")
			if health == "" {
				health = "UNKNOWN"
			}
			rows = append(rows, []string{str(cla, "clusterName"), addr, health})
		}
	}
	return rows
}

func secretRows(s map[string]any) [][]string {
	kind, key := "-", "-"
	switch {
	case field(s, "tlsCertificate") != nil:
		kind = "certificate"
		if field(s, "tlsCertificate", "privateKey") != nil {
			key = redacted
		}
	case field(s, "validationContext") != nil:
		kind = "CA bundle"
	}
	return [][]string{{str(s, "name"), kind, key}}
}
