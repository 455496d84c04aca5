package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/xds/probe"
)

type probeFlags struct {
	group      string
	xdsAddress string
	nodeID     string
	host       string
	path       string
	headers    []string
	count      int
	timeout    time.Duration
	output     string
	// creds make the probe's node authenticate, as gantry bootstrap's.
	creds bootstrapCredentials
}

var probeFormats = []string{"table", "json", "yaml"}

func newProbeCmd() *cobra.Command {
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe [HOST[:PORT]][/PATH]",
		Short: "Send requests through a node group's xDS routing (proxyless gRPC) and show the route, backend and status",
		Long: `Sends requests the way a proxyless gRPC client inside the group would: grpc-go's
xDS client fetches the group's listener for HOST:PORT, its routes, clusters and
endpoints from Gantry, picks a route by host, path and headers, and calls a
backend. The call's method is PATH, so HTTPRoute path matches apply as they do
to HTTP traffic through Envoy. No Envoy is needed.

For every request it prints the route that matched, the cluster and backend
that answered (a gantry echo backend names itself; otherwise the peer address)
and the gRPC status. The route is resolved from the route configuration Gantry
sends the group (the probe asks for it over ADS as the same node), matched as
grpc-go matches it.

Exit codes: 0 every request succeeded, 1 a request failed or the xDS server
could not be reached, 2 usage error.`,
		Example: `  gantry probe app.example.com:8080/ --group gateway/default/quickstart
  gantry probe app.example.com:8080/v2/items --group gateway/default/quickstart
  gantry probe app.example.com:8080/ -H 'x-canary: true' -c 20 --group gateway/default/quickstart -o json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				host, path := splitProbeTarget(args[0])
				if f.host == "" {
					f.host = host
				}
				if f.path == "" {
					f.path = path
				}
			}
			return runProbe(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.group, "group", "", "node group whose routing to use: "+bootstrap.GroupForms+" (required)")
	fl.StringVar(&f.xdsAddress, "xds-address", "127.0.0.1:18000", "Gantry's xDS (ADS) address")
	fl.StringVar(&f.nodeID, "node-id", "", "node id of the probe (default <group>/probe-<hostname>)")
	fl.StringVar(&f.host, "host", "", "authority, host[:port] (overrides the argument's host)")
	fl.StringVar(&f.path, "path", "", "request path, the gRPC method (overrides the argument's path; default /)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, `request header "name: value" (repeatable)`)
	fl.IntVarP(&f.count, "count", "c", 1, "number of requests")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "timeout of each request and of fetching the configuration")
	addOutputFlag(fl, &f.output, "table", probeFormats...)
	addBootstrapCredentialFlags(fl, &f.creds)
	return cmd
}

// splitProbeTarget splits "host:port/path" (a leading scheme is dropped).
func splitProbeTarget(arg string) (host, path string) {
	if _, rest, ok := strings.Cut(arg, "://"); ok {
		arg = rest
	}
	host, path, _ = strings.Cut(arg, "/")
	return host, "/" + path
}

func parseProbeHeaders(raw []string) ([]probe.Header, error) {
	out := make([]probe.Header, 0, len(raw))
	for _, h := range raw {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			name, value, ok = strings.Cut(h, "=")
		}
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("-H %q: want \"name: value\"", h)
		}
		out = append(out, probe.Header{Name: name, Value: strings.TrimSpace(value)})
	}
	return out, nil
}

func runProbe(cmd *cobra.Command, f *probeFlags) error {
	if f.host == "" || f.group == "" {
		return usageErr(fmt.Errorf("probe: a host (argument HOST[:PORT][/PATH] or --host) and --group are required"))
	}
	if err := checkOutput(f.output, probeFormats...); err != nil {
		return err
	}
	headers, err := parseProbeHeaders(f.headers)
	if err != nil {
		return usageErr(err)
	}
	nodeID := f.nodeID
	if nodeID == "" {
		host, _ := os.Hostname()
		nodeID = f.group + "/probe-" + host
	}
	creds, err := f.creds.resolve(f.group, true)
	if err != nil {
		return usageErr(err)
	}
	boot, err := bootstrap.GRPC(bootstrap.Options{Group: f.group, NodeID: nodeID, XDSAddress: f.xdsAddress, Credentials: creds})
	if err != nil {
		return usageErr(err)
	}
	path := f.path
	if path == "" {
		path = "/"
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := cmd.OutOrStdout()
	var results []probe.Result
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if f.output == "table" {
		fmt.Fprintln(tw, "SEQ\tROUTE\tCLUSTER\tBACKEND\tSTATUS\tTIME")
	}
	err = probe.Run(ctx, probe.Options{
		Bootstrap: boot, Authority: f.host, Path: path, Headers: headers, Count: f.count, Timeout: f.timeout,
	}, func(r probe.Result) {
		results = append(results, r)
		if f.output == "table" {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%dms\n", r.Seq, dash(r.Route), dash(r.Cluster), dash(backendOrPeer(r)), statusText(r), r.LatencyMS)
		}
	})
	if f.output == "table" && len(results) > 0 {
		if ferr := tw.Flush(); ferr != nil {
			return ferr
		}
	}
	if err != nil {
		return err
	}
	if f.output != "table" {
		if err := printObjects(out, f.output, results); err != nil {
			return err
		}
	} else if len(results) > 1 {
		printProbeSummary(out, results)
	}
	return probeOutcome(results)
}

func probeOutcome(results []probe.Result) error {
	failed := 0
	for _, r := range results {
		if !r.OK() {
			failed++
		}
	}
	if failed > 0 {
		return &exitError{code: exitRuntime, err: fmt.Errorf("probe: %d of %d request(s) failed", failed, len(results))}
	}
	return nil
}

func printProbeSummary(w io.Writer, results []probe.Result) {
	counts := map[string]int{}
	for _, r := range results {
		counts[backendOrPeer(r)+" "+statusText(r)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	fmt.Fprintf(w, "\n%d requests: %s\n", len(results), strings.Join(parts, ", "))
}

func backendOrPeer(r probe.Result) string {
	if r.Backend != "" {
		return r.Backend
	}
	return r.Peer
}

func statusText(r probe.Result) string {
	if r.OK() || r.Message == "" {
		return r.Status
	}
	return r.Status + ": " + r.Message
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
