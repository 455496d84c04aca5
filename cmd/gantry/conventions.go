package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// Exit codes, the same for every subcommand (documented in
// docs/user-guide.md and in each command's help).
const (
	exitOK         = 0 // success
	exitRuntime    = 1 // the command ran and failed (unreachable server, failed request, I/O)
	exitUsageError = 2 // bad flag or argument
	exitFindings   = 3 // analyze: messages at or above --failure-threshold
	exitBadInput   = 4 // the input could not be read (missing file, malformed YAML, invalid object)
)

// printObjects writes v as JSON (indented) or YAML.
func printObjects(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	if format == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// The shared flags, registered by these helpers only, so each means the
// same in every command (TestSharedFlags checks every subcommand).

// addFilenameFlag registers -f/--filename: a file, a folder (recursive) or
// "-" for stdin; repeatable.
func addFilenameFlag(fs *pflag.FlagSet, p *[]string, what string) {
	fs.StringArrayVarP(p, "filename", "f", nil, what+`: a file, a folder (read recursively) or "-" for stdin; repeatable`)
}

// addOutputFlag registers -o/--output with the formats the command prints.
func addOutputFlag(fs *pflag.FlagSet, p *string, def string, formats ...string) {
	fs.StringVarP(p, "output", "o", def, "output format: "+strings.Join(formats, ", "))
}

// checkOutput is the usage error for a format the command does not print.
func checkOutput(value string, formats ...string) error {
	if slices.Contains(formats, value) {
		return nil
	}
	return usageErr(fmt.Errorf("-o %q: want %s", value, strings.Join(formats, ", ")))
}

// addNamespaceFlags registers -n/--namespace and, when all is set,
// -A/--all-namespaces.
func addNamespaceFlags(fs *pflag.FlagSet, ns *string, all *bool, what string) {
	fs.StringVarP(ns, "namespace", "n", "", what)
	if all != nil {
		fs.BoolVarP(all, "all-namespaces", "A", false, "every namespace")
	}
}

// kubeFlags are --kubeconfig and --context.
type kubeFlags struct {
	kubeconfig string
	context    string
}

func (k *kubeFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.context, "context", "", "kubeconfig context (default: the current context)")
}

// clientConfig loads the kubeconfig the flags name.
func (k kubeFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
}

// addHiddenAlias registers alias, an old spelling of the flag target that
// scripts may still use: it sets the very same value and is not shown in
// help.
func addHiddenAlias(fs *pflag.FlagSet, alias, target string) {
	fs.AddFlag(&pflag.Flag{Name: alias, Usage: "old spelling of --" + target, Value: fs.Lookup(target).Value, Hidden: true})
}

// usageErr marks err as a usage error (exit code 2).
func usageErr(err error) error { return &exitError{code: exitUsageError, err: err} }

// usageArgs makes a positional-argument check's errors usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErr(err)
		}
		return nil
	}
}
