package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

func newProxyConfigCmd() *cobra.Command {
	var admin, output string
	cmd := &cobra.Command{
		Use:   "proxy-config [NODE]",
		Short: "Show connected proxies: group, flavor, versions, ACK/NACK state and the resources they were sent",
		Long: `Reads the admin endpoint of a running gantry serve. Without NODE it lists every
connected node and the state of each resource type; with NODE it shows that node's
streams and every resource it was sent, as JSON or YAML.`,
		Example: `  gantry proxy-config
  gantry proxy-config envoy-1 -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" && output != "table" {
				return &exitError{code: 2, err: fmt.Errorf("-o %q: want json, yaml or table", output)}
			}
			base := admin
			if !strings.Contains(base, "://") {
				base = "http://" + base
			}
			path := "/proxies"
			if len(args) == 1 {
				path += "/" + url.PathEscape(args[0])
				if output == "" || output == "table" {
					output = "yaml"
				}
			}
			body, err := fetchAdmin(base + path)
			if err != nil {
				return err
			}
			return printProxyConfig(cmd.OutOrStdout(), body, output)
		},
	}
	cmd.Flags().StringVar(&admin, "admin-address", "127.0.0.1:19000", "admin address of gantry serve")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: table (list default), json or yaml (node default)")
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
	return body, nil
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
		_, err := w.Write(body)
		return err
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

func typeName(typeURL string) string {
	return typeURL[strings.LastIndex(typeURL, ".")+1:]
}
