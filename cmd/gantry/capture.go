package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/mesh/capture"
)

func newCaptureCmd() *cobra.Command {
	var s capture.Settings
	var dryRun, remove bool
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Redirect the pod's TCP traffic to its sidecar proxy (the injected init container's job)",
		Long: `Installs nftables rules in the current network namespace (the pod's) that send
outbound TCP to the proxy's outbound capture port (--outbound-port, 15001) and inbound
TCP to its inbound capture port (--inbound-port, 15006). Never captured: connections of
the proxy's user or group (--proxy-uid, --proxy-gid: the proxy's own and the ones it
forwards, its xDS connection, gantry agent), loopback traffic (the application talking
to itself; the proxy handing inbound connections to the application), inbound connections
to the proxy's ports 15000-15099, and the excluded CIDRs and ports. Lists are
comma-separated; "*" means all.

The rules live in one table per address family (ip and ip6) named gantry_capture,
replaced whole in one transaction: running it again replaces its own rules and touches
nothing else. It needs CAP_NET_ADMIN in the pod's network namespace (the init container
adds NET_ADMIN and NET_RAW and drops everything else).

Exit codes: 0 installed (the rule set is printed), 1 the kernel refused the rules,
2 a bad flag or value (the message names the flag and the value).`,
		Example: `  gantry capture --dry-run
  gantry capture --exclude-outbound-cidrs 169.254.169.254/32 --exclude-inbound-ports 8081
  gantry capture --include-outbound-cidrs 10.96.0.0/12,fd00:10:96::/108
  gantry capture --remove`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if remove {
				if dryRun {
					return usageErr(errors.New("--remove and --dry-run: choose one"))
				}
				if err := capture.Remove(); err != nil {
					return captureErr(err)
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "removed the %s tables\n", capture.TableName)
				return err
			}
			o, err := capture.Parse(s)
			if err != nil {
				return usageErr(err)
			}
			rs := capture.Build(o)
			if !dryRun {
				if err := capture.Install(rs); err != nil {
					return captureErr(err)
				}
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), rs.String())
			return err
		},
	}
	f := cmd.Flags()
	s.AddFlags(f)
	f.BoolVar(&dryRun, "dry-run", false, "print the rule set it would install and exit")
	f.BoolVar(&remove, "remove", false, "delete the capture tables it installed and exit")
	return cmd
}

// captureErr adds what is missing when the kernel says no for lack of
// privilege.
func captureErr(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (gantry capture needs CAP_NET_ADMIN in the pod's network namespace)", err)
	}
	return err
}
