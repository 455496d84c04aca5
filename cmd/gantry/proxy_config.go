package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// proxyConfigFlags are shared by proxy-config and its per-type views.
type proxyConfigFlags struct {
	admin     string
	output    string
	namespace string
	kube      kubeFlags
}

var proxyConfigFormats = []string{"table", "json", "yaml"}

func (f *proxyConfigFlags) add(cmd *cobra.Command) {
	fl := cmd.PersistentFlags()
	fl.StringVar(&f.admin, "admin-address", "127.0.0.1:19000", "admin address of gantry serve (a local one, or the controller's own port with -n/--kubeconfig/--context)")
	addOutputFlag(fl, &f.output, "", proxyConfigFormats...)
	addNamespaceFlags(fl, &f.namespace, nil, "namespace of the controller in a cluster: reach it through a port-forward (default "+defaultControllerNamespace+" when --kubeconfig or --context is given)")
	f.kube.add(fl)
}

// inCluster reports whether the flags name a cluster to port-forward into.
func (f *proxyConfigFlags) inCluster() bool {
	return f.namespace != "" || f.kube.kubeconfig != "" || f.kube.context != ""
}

// adminBase is the URL of the admin server: the address given, or a
// port-forward to the controller's admin port (stop ends it).
func (f *proxyConfigFlags) adminBase(ctx context.Context, errOut io.Writer) (string, func(), error) {
	if !f.inCluster() {
		base := f.admin
		if !strings.Contains(base, "://") {
			base = "http://" + base
		}
		return base, func() {}, nil
	}
	_, portStr, err := net.SplitHostPort(f.admin)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil {
		return "", nil, usageErr(fmt.Errorf("--admin-address %q: want host:port", f.admin))
	}
	ns := f.namespace
	if ns == "" {
		ns = defaultControllerNamespace
	}
	local, stop, err := forwardToController(ctx, f.kube, ns, port, errOut)
	if err != nil {
		return "", nil, fmt.Errorf("proxy-config: %w", err)
	}
	return "http://" + local, stop, nil
}

func newProxyConfigCmd() *cobra.Command {
	f := &proxyConfigFlags{}
	cmd := &cobra.Command{
		Use:   "proxy-config [NODE]",
		Short: "Show connected proxies: group, flavor, versions, ACK/NACK state and the resources they were sent",
		Long: `Reads the admin endpoint of a running gantry serve. Without NODE it lists every
connected node and the state of each resource type; with NODE it shows that node's
streams and every resource it was sent, as JSON or YAML. The subcommands show one
type of resource (listeners, routes, clusters, endpoints, secrets) as a table.
Private keys are always printed as "[redacted]".

In a cluster (-n, --kubeconfig or --context), it port-forwards to a ready
controller pod (labels ` + controllerSelector + `) and reads its admin port, as
istioctl does with istiod.`,
		Example: `  gantry proxy-config
  gantry proxy-config envoy-1 -o yaml
  gantry proxy-config routes envoy-1
  gantry proxy-config clusters --context kind-gantry -n gantry-system`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			output := f.output
			if output != "" {
				if err := checkOutput(output, proxyConfigFormats...); err != nil {
					return err
				}
			}
			path := "/proxies"
			if len(args) == 1 {
				path += "/" + url.PathEscape(args[0])
				if output == "" || output == "table" {
					output = "yaml"
				}
			}
			base, stop, err := f.adminBase(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer stop()
			body, err := fetchAdmin(base + path)
			if err != nil {
				return err
			}
			return printProxyConfig(cmd.OutOrStdout(), body, output)
		},
	}
	f.add(cmd)
	for _, v := range proxyViews {
		cmd.AddCommand(newProxyViewCmd(f, v))
	}
	return cmd
}

func fetchAdmin(u string) ([]byte, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return nil, fmt.Errorf("proxy-config: %w (is gantry serve running with this --admin-address?)", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("proxy-config: reading %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("proxy-config: %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	// Whatever the admin server sends, keys are never printed.
	return redactPrivateKeys(body)
}

// proxyRow is what the table needs of /proxies.
type proxyRow struct {
	ID       string `json:"id"`
	Group    string `json:"group"`
	Flavor   string `json:"flavor"`
	Protocol string `json:"protocol"`
	Types    []struct {
		TypeURL string   `json:"typeUrl"`
		Sent    string   `json:"sent"`
		Acked   string   `json:"acked"`
		State   string   `json:"state"`
		Names   []string `json:"names"`
		NACK    *struct {
			Error string `json:"error"`
		} `json:"nack"`
	} `json:"types"`
}

func printProxyConfig(w io.Writer, body []byte, output string) error {
	switch output {
	case "json":
		return writeIndentedJSON(w, body)
	case "yaml":
		y, err := yaml.JSONToYAML(body)
		if err != nil {
			return fmt.Errorf("proxy-config: %w", err)
		}
		_, err = w.Write(y)
		return err
	}
	var rows []proxyRow
	if err := json.Unmarshal(body, &rows); err != nil {
		return fmt.Errorf("proxy-config: decoding /proxies: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tGROUP\tFLAVOR\tPROTOCOL\tTYPE\tSTATE\tSENT\tACKED\tRESOURCES\tERROR")
	for _, r := range rows {
		for _, t := range r.Types {
			errMsg := ""
			if t.NACK != nil && t.State == "NACK" {
				errMsg = t.NACK.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Group, r.Flavor, r.Protocol,
				typeName(t.TypeURL), t.State, t.Sent, t.Acked, len(t.Names), errMsg)
		}
		if len(r.Types) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t\t\t0\t\n", r.ID, r.Group, r.Flavor, r.Protocol)
		}
	}
	return tw.Flush()
}

func writeIndentedJSON(w io.Writer, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("proxy-config: %w", err)
	}
	return printObjects(w, "json", v)
}

func typeName(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
