package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/mesh/agent"
	"github.com/gantryproxy/gantry/mesh/ca"
)

func newAgentCmd() *cobra.Command {
	o := agent.Options{}
	var once bool
	var probeAddress string
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Obtain and renew the workload's certificate from Gantry, written to files for Envoy or grpc-go",
		Long: `Runs next to a proxy (in Envoy's container) or a proxyless gRPC application. It
generates the workload's private key (which never leaves it), sends Gantry's certificate
service a CSR for spiffe://<trust domain>/ns/<namespace>/sa/<service account>, and writes
tls.crt (chain), tls.key and ca.crt (trust bundle) into --output-dir, switched atomically
through a ..data link as Kubernetes volumes are. It renews them once half of their
lifetime has passed.

Exit codes: 1 when Gantry refuses it (the message names the identity) or a file cannot be
written, 2 for a bad flag or a missing option.

It proves its identity with its current certificate while it has a valid one, else with
the ServiceAccount token of --token-file (a projected token with Gantry's audience),
re-read on every request. It exits with status 1 and names the identity when Gantry
refuses it.`,
		Example: `  gantry agent --xds-address gantry.gantry-system.svc:18000 --ca-file /var/run/gantry/xds-ca.crt \
    --token-file /var/run/secrets/tokens/gantry --namespace shop --service-account reviews \
    --output-dir /var/run/gantry/certs`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return usageErr(err)
			}
			o.Logger = log
			if o.Identity.Namespace == "" {
				o.Identity.Namespace = os.Getenv("POD_NAMESPACE")
			}
			if o.Insecure {
				log.Warn("talking to the control plane in plaintext (--insecure): for local development only")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if once {
				issued, err := agent.Fetch(ctx, o)
				if err != nil {
					return agentError(err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (valid until %s) to %s\n", issued.SPIFFEID, issued.NotAfter.UTC().Format("2006-01-02T15:04:05Z"), o.Dir)
				return err
			}
			if probeAddress != "" {
				return runAgentWithProbes(ctx, o, probeAddress)
			}
			return agentError(agent.Run(ctx, o, nil))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Address, "xds-address", "127.0.0.1:18000", "Gantry's xDS address, which also serves the certificate service")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM bundle that verifies Gantry's serving certificate")
	f.StringVar(&o.ServerName, "server-name", "", "name Gantry's serving certificate must carry (default: the host of --xds-address)")
	f.BoolVar(&o.Insecure, "insecure", false, "talk to Gantry in plaintext (local development only)")
	f.StringVar(&o.TokenFile, "token-file", "", "projected ServiceAccount token with Gantry's audience (first certificate)")
	f.StringVar(&o.Dir, "output-dir", ca.DefaultCertDir, "directory that receives tls.crt, tls.key and ca.crt")
	addNamespaceFlags(f, &o.Identity.Namespace, nil, "workload namespace (default $POD_NAMESPACE)")
	f.StringVar(&o.Identity.ServiceAccount, "service-account", os.Getenv("POD_SERVICE_ACCOUNT"), "workload service account (default $POD_SERVICE_ACCOUNT)")
	f.StringVar(&o.TrustDomain, "trust-domain", ca.DefaultTrustDomain, "SPIFFE trust domain")
	f.BoolVar(&once, "once", false, "write one certificate and exit (an init container's job)")
	f.StringVar(&probeAddress, "probe-address", "", "serve the rewritten kubelet probes recorded in $"+agent.ProbesEnv+" on this address (the injected sidecar uses :15020)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// agentError maps a refusal to exit status 1 with its message, and bad
// options to status 2.
func agentError(err error) error {
	var authErr *agent.AuthError
	var optErr *agent.OptionsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &authErr):
		return &exitError{code: exitRuntime, err: fmt.Errorf("cannot authenticate to the control plane: %w", err)}
	case errors.As(err, &optErr):
		return usageErr(err)
	}
	return err
}

// runAgentWithProbes runs the agent and its probe proxy on address until
// ctx ends or one of them fails.
func runAgentWithProbes(ctx context.Context, o agent.Options, address string) error {
	probes, err := agent.ParseProbes(os.Getenv(agent.ProbesEnv))
	if err != nil {
		return usageErr(fmt.Errorf("$%s: %w", agent.ProbesEnv, err))
	}
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return usageErr(fmt.Errorf("--probe-address %s: %w", address, err))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Whichever ends first (the agent refused, the probe server failed)
	// ends the other.
	errs := make(chan error, 2)
	go func() { errs <- agent.ServeProbes(ctx, ln, probes) }()
	go func() { errs <- agentError(agent.Run(ctx, o, nil)) }()
	err = <-errs
	cancel()
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}
