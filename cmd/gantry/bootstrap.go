package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/mesh/ca"
)

func newBootstrapCmd() *cobra.Command {
	var opts bootstrap.Options
	var creds bootstrapCredentials
	var grpcFlavor bool
	var output string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Print an Envoy bootstrap (or a gRPC xDS bootstrap) that connects a node to Gantry",
		Long: `Prints the configuration a proxy starts from. The node's cluster is its group:
gateway/<namespace>/<gateway> for a Gateway's Envoy fleet (Gantry sends it that
Gateway's listeners, routes, clusters and endpoints over ADS), mesh/<namespace> for
the sidecars and proxyless clients of a namespace (mesh/<namespace>/<service> and
grpc/<namespace>/<name> are reserved for finer groups).

With --grpc it prints the xDS bootstrap JSON of a proxyless gRPC client
(GRPC_XDS_BOOTSTRAP), whose node metadata gantry.flavor=grpc selects the gRPC flavor.

The node connects over TLS and proves its identity: with --ca-file and a client
certificate (--cert-file/--key-file, which gantry agent keeps current) or, for gRPC
clients, a ServiceAccount token (--token-file). Without those flags, for local use, it
issues a client certificate for the group's identity from the CA folder of gantry serve
(--ca-dir) into --cert-dir. The Envoy flavor also writes the SDS file its xDS
connection reads the certificate from (--sds-file). --xds-insecure prints a plaintext
bootstrap, for gantry serve --xds-insecure.
It declares the certificate provider "gantry" (grpc-go's file_watcher on the files
gantry agent writes into --mesh-cert-dir), which mesh mTLS names, and the name template of
the inbound Listener an xDS gRPC server (xds.NewGRPCServer) asks for.`,
		Example: `  gantry bootstrap --group gateway/default/gw > envoy.yaml && envoy -c envoy.yaml
  gantry bootstrap --group mesh/shop --grpc --ca-file ca.crt --token-file /var/run/secrets/tokens/gantry
  gantry bootstrap --group gateway/default/gw --grpc > xds.json && GRPC_XDS_BOOTSTRAP=xds.json ./client
  gantry bootstrap --group mesh/default --grpc --node-id reviews-client-1 --xds-address gantry.gantry-system.svc:18000`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := creds.resolve(opts.Group, grpcFlavor)
			if err != nil {
				return usageErr(err)
			}
			opts.Credentials = c
			data, err := renderBootstrap(opts, grpcFlavor, output)
			if err != nil {
				return usageErr(err)
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Group, "group", "", "node group: "+bootstrap.GroupForms+" (required)")
	f.StringVar(&opts.NodeID, "node-id", "", "node id, unique per proxy (default <group>/<hostname>)")
	f.StringVar(&opts.XDSAddress, "xds-address", "127.0.0.1:18000", "Gantry's xDS (ADS) address")
	f.StringVar(&opts.AdminAddress, "admin-address", "127.0.0.1:9901", "Envoy admin address (loopback only)")
	f.StringVar(&opts.StatsAddress, "stats-address", "0.0.0.0:"+strconv.Itoa(bootstrap.DefaultStatsPort), "listener that serves only GET /stats/prometheus from the admin API (empty: none)")
	f.BoolVar(&grpcFlavor, "grpc", false, "print a gRPC xDS bootstrap for a proxyless gRPC client")
	f.StringVar(&opts.CertDir, "mesh-cert-dir", ca.DefaultCertDir, "--grpc: directory where gantry agent writes the workload certificate tls.crt, tls.key and ca.crt (read by the certificate provider "+bootstrap.CertProviderInstance+")")
	f.DurationVar(&opts.CertRefresh, "mesh-cert-refresh", bootstrap.DefaultCertRefresh, "--grpc: how often grpc-go re-reads those files")
	addOutputFlag(f, &output, "yaml", "yaml", "json")
	addBootstrapCredentialFlags(f, &creds)
	_ = cmd.MarkFlagRequired("group")
	return cmd
}

func renderBootstrap(opts bootstrap.Options, grpcFlavor bool, output string) ([]byte, error) {
	if grpcFlavor {
		return bootstrap.GRPC(opts)
	}
	b, err := bootstrap.Envoy(opts)
	if err != nil {
		return nil, err
	}
	switch output {
	case "yaml":
		return bootstrap.MarshalYAML(b)
	case "json":
		return bootstrap.MarshalJSON(b)
	}
	return nil, fmt.Errorf("bootstrap: unknown output %q (yaml or json)", output)
}
