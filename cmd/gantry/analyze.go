package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
)

const analyzeLong = `Analyze Gateway API configuration the way Gantry's controller sees it.

analyze runs Gantry's real translator in-process over the input, reports every
negative status condition it would set, and adds checks of its own
(certificates, shadowed matches, backend ports, classes, CRD versions, pods).
"gantry analyze -L" lists the analyzers; docs/analyzers.md explains every code.

Input: -f FILE|DIR|- (repeatable; directories are read recursively, "-" is
stdin) analyzes offline. --use-kube reads the cluster of the current kubeconfig
context (the default when no -f is given); with both, the cluster is analyzed
as it would be with the files applied (files replace objects of the same kind,
namespace and name).

Messages: <Level> [<CODE>] (<Kind> <namespace/name> <file:line>) <message>

Exit codes:
  0  no message at or above --failure-threshold
  2  usage error (bad flag or argument)
  3  messages at or above --failure-threshold (whatever the output format)
  4  part of the input could not be read (missing file, malformed YAML, invalid
     object: GTY0507 messages; the rest is still analyzed), or the cluster could
     not be read`

type analyzeFlags struct {
	files         []string
	useKube       bool
	namespace     string
	allNamespaces bool
	output        string
	outThreshold  string
	failThreshold string
	suppress      []string
	list          bool
	analyzers     []string
	controller    string
	now           string
	kube          kubeFlags
}

// analyzeFormats are istioctl analyze's output formats.
var analyzeFormats = []string{"log", "json", "yaml"}

func newAnalyzeCmd() *cobra.Command {
	var f analyzeFlags
	cmd := &cobra.Command{
		Use:   "analyze [-f FILE|DIR|-]... [--use-kube]",
		Short: "Find problems in Gateway API configuration, offline or in a cluster",
		Long:  analyzeLong,
		Example: `  gantry analyze -f examples/quickstart
  kubectl get gateway,httproute -A -o yaml | gantry analyze -f -
  gantry analyze --use-kube -f new-route.yaml -o json
  gantry analyze -f . -S 'GTY0301=HTTPRoute default/legacy-*' --failure-threshold Warning`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr(fmt.Errorf("unexpected arguments %q: input files go after -f", args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAnalyze(cmd, &f)
		},
	}
	fl := cmd.Flags()
	addFilenameFlag(fl, &f.files, "input to analyze offline")
	fl.BoolVar(&f.useKube, "use-kube", false, "read the cluster of the current kubeconfig context (default when no -f is given)")
	addNamespaceFlags(fl, &f.namespace, &f.allNamespaces, "report only objects in this namespace (and cluster-scoped ones); -A (the default offline) reports every namespace")
	addOutputFlag(fl, &f.output, "log", analyzeFormats...)
	fl.StringVar(&f.outThreshold, "output-threshold", "Info", "lowest level shown: Info, Warning or Error")
	fl.StringVar(&f.failThreshold, "failure-threshold", "Error", "lowest level that makes the exit code 3: Info, Warning or Error")
	fl.StringArrayVarP(&f.suppress, "suppress", "S", nil, `hide messages: "CODE=Kind namespace/name" (globs allowed); repeatable`)
	fl.BoolVarP(&f.list, "list-analyzers", "L", false, "list the analyzers and their codes, then exit")
	fl.StringArrayVar(&f.analyzers, "analyzer", nil, "run only this analyzer (repeatable; see -L)")
	fl.StringVar(&f.controller, "controller-name", translate.DefaultControllerName, "the GatewayClass controllerName Gantry runs as")
	fl.StringVar(&f.now, "now", "", "check certificates as of this RFC 3339 time instead of the current time")
	f.kube.add(fl)
	return cmd
}

// analyzeRun is the validated form of the flags.
type analyzeRun struct {
	format  analyze.Format
	filter  analyze.Filter
	fail    analyze.Level
	options analyze.Options
}

func parseAnalyzeFlags(cmd *cobra.Command, f *analyzeFlags) (*analyzeRun, error) {
	r := &analyzeRun{}
	var err error
	if r.format, err = analyze.ParseFormat(f.output); err != nil {
		return nil, usageErr(err)
	}
	if r.filter.MinLevel, err = analyze.ParseLevel(f.outThreshold); err != nil {
		return nil, usageErr(fmt.Errorf("--output-threshold: %w", err))
	}
	if r.fail, err = analyze.ParseLevel(f.failThreshold); err != nil {
		return nil, usageErr(fmt.Errorf("--failure-threshold: %w", err))
	}
	for _, s := range f.suppress {
		sup, err := analyze.ParseSuppression(s)
		if err != nil {
			return nil, usageErr(err)
		}
		r.filter.Suppressions = append(r.filter.Suppressions, sup)
	}
	if _, err := analyze.Select(f.analyzers); err != nil {
		return nil, usageErr(err)
	}
	if f.namespace != "" && f.allNamespaces {
		return nil, usageErr(errors.New("-n and -A cannot be used together"))
	}
	if !cmd.Flags().Changed("use-kube") {
		f.useKube = len(f.files) == 0
	}
	if !f.useKube && len(f.files) == 0 {
		return nil, usageErr(errors.New("nothing to analyze: give -f FILE|DIR|- or --use-kube"))
	}
	r.filter.Namespace = f.namespace
	r.options = analyze.Options{Analyzers: f.analyzers, ControllerName: f.controller, Live: f.useKube}
	if f.now != "" {
		if r.options.Now, err = time.Parse(time.RFC3339, f.now); err != nil {
			return nil, usageErr(fmt.Errorf("--now: %w", err))
		}
	}
	return r, nil
}

func runAnalyze(cmd *cobra.Command, f *analyzeFlags) error {
	if f.list {
		return listAnalyzers(cmd.OutOrStdout())
	}
	r, err := parseAnalyzeFlags(cmd, f)
	if err != nil {
		return err
	}
	var set *resource.Set
	var problems []analyze.Message
	if len(f.files) > 0 {
		in := readAnalyzeInputs(cmd.InOrStdin(), cmd.ErrOrStderr(), f.files)
		set = in.set
		r.options.CRDs = in.crds
		problems = analyze.InputMessages(in.problems)
	}
	if f.useKube {
		live, err := readCluster(cmd, f)
		if err != nil {
			// json and yaml stay parsable: an empty list, the error on stderr.
			_ = analyze.Write(cmd.OutOrStdout(), problems, r.format)
			return &exitError{code: exitBadInput, err: err}
		}
		if set != nil {
			set = analyze.Overlay(live.set, set)
		} else {
			set = live.set
		}
		r.options.CRDs = mergeCRDs(live.crds, r.options.CRDs)
		r.options.PodsComplete = true
		if f.namespace == "" && !f.allNamespaces {
			r.filter.Namespace = live.namespace
		}
	}
	msgs, err := analyze.Analyze(set, r.options)
	if err != nil {
		return usageErr(err)
	}
	msgs = analyze.Merge(msgs, problems)
	return reportAnalysis(cmd, r, msgs, len(problems), len(set.Objects()))
}

// reportAnalysis prints the messages r's filter shows, says how many -S
// hid, and returns the exit status: bad input (4) when part of the input
// could not be read, else findings (3) at or above the failure threshold.
func reportAnalysis(cmd *cobra.Command, r *analyzeRun, msgs []analyze.Message, problems, objects int) error {
	shown := r.filter
	counted := r.filter
	counted.MinLevel = analyze.Info
	visible := shown.Apply(msgs)
	if err := analyze.Write(cmd.OutOrStdout(), visible, r.format); err != nil {
		return err
	}
	unsuppressed := shown
	unsuppressed.Suppressions = nil
	suppressed := len(unsuppressed.Apply(msgs)) - len(visible)
	if suppressed > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d message(s) suppressed by -S.\n", suppressed)
	}
	if len(visible) == 0 && r.format == analyze.FormatLog {
		fmt.Fprintf(cmd.ErrOrStderr(), "No messages at or above %s (%d objects analyzed).\n", shown.MinLevel, objects)
	}
	if problems > 0 {
		return &exitError{code: exitBadInput, err: fmt.Errorf("analyze: %d part(s) of the input could not be read (%s messages)", problems, analyze.InvalidObject)}
	}
	failing := 0
	for _, m := range counted.Apply(msgs) {
		if m.Level >= r.fail {
			failing++
		}
	}
	if failing > 0 {
		return &exitError{code: exitFindings, err: fmt.Errorf("analyze: %d message(s) at or above %s", failing, r.fail)}
	}
	return nil
}

// mergeCRDs keeps the CRDs of the files and adds the cluster's others.
func mergeCRDs(cluster, files []analyze.CRD) []analyze.CRD {
	names := map[string]bool{}
	for _, c := range files {
		names[c.Name] = true
	}
	out := append([]analyze.CRD(nil), files...)
	for _, c := range cluster {
		if !names[c.Name] {
			out = append(out, c)
		}
	}
	return out
}

type analyzeInputs struct {
	set  *resource.Set
	crds []analyze.CRD
	// problems are what could not be read (files, documents, objects),
	// reported as messages; the rest is analyzed.
	problems []resource.Diagnostic
}

// readAnalyzeInputs reads every file once: the loader builds the Set and
// analyze scans the same bytes for Gateway API CRDs. Loader errors (a file
// that cannot be read, malformed YAML, invalid objects, duplicates) leave
// out what they concern and are returned as problems; warnings go to
// stderr.
func readAnalyzeInputs(stdin io.Reader, stderr io.Writer, paths []string) *analyzeInputs {
	in := &analyzeInputs{}
	var files []string
	for _, p := range paths {
		expanded, err := resource.ExpandPaths([]string{p})
		if err != nil {
			in.problems = append(in.problems, resource.Diagnostic{Source: resource.Source{File: p}, Message: err.Error()})
			continue
		}
		for _, f := range expanded {
			if !slices.Contains(files, f) { // a file named twice is read once
				files = append(files, f)
			}
		}
	}
	var objs []resource.Object
	ignored := map[string]int{}
	for _, name := range files {
		data, err := readFileOrStdin(stdin, name)
		if err != nil {
			in.problems = append(in.problems, resource.Diagnostic{Source: resource.Source{File: name}, Message: err.Error()})
			continue
		}
		res, err := resource.Parse(name, data)
		if err != nil {
			in.problems = append(in.problems, resource.Diagnostic{Source: resource.Source{File: name}, Message: err.Error()})
			continue
		}
		crds := analyze.ScanCRDs(name, data)
		in.crds = append(in.crds, crds...)
		for _, w := range res.Warnings {
			switch {
			case w.Key.Kind == "CustomResourceDefinition":
			case strings.Contains(w.Message, "unknown kind"):
				ignored[w.Key.Kind]++
			default:
				fmt.Fprintln(stderr, "Warning:", w.String())
			}
		}
		in.problems = append(in.problems, res.Errors...)
		objs = append(objs, res.Objects...)
	}
	if len(ignored) > 0 {
		fmt.Fprintln(stderr, "Note: ignored objects of kinds analyze does not use:", countKinds(ignored))
	}
	set, _, dups := resource.BuildSet(objs)
	in.problems = append(in.problems, dups...)
	in.set = set
	return in
}

// countKinds is "Deployment (3), ServiceAccount (2)", sorted by kind.
func countKinds(m map[string]int) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for i, k := range kinds {
		kinds[i] = fmt.Sprintf("%s (%d)", k, m[k])
	}
	return strings.Join(kinds, ", ")
}

func readFileOrStdin(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

func listAnalyzers(w io.Writer) error {
	codes := map[string][]string{}
	for _, e := range analyze.Catalogue() {
		codes[e.Analyzer] = append(codes[e.Analyzer], string(e.Code))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ANALYZER\tCHECKS\tCODES")
	for _, a := range analyze.All() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name(), a.Description(), strings.Join(codes[a.Name()], ","))
	}
	return tw.Flush()
}
