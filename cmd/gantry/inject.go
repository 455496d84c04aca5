package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/mesh/inject"
)

type injectOptions struct {
	file            string
	namespace       string
	namespaceLabels string
	patch           bool
	cfg             inject.Config
}

func newInjectCmd() *cobra.Command {
	o := &injectOptions{}
	cmd := &cobra.Command{
		Use:   "inject -f workloads.yaml",
		Short: "Add Gantry's sidecar to pods and workloads (what the admission webhook does)",
		Long: `Reads a file of one or more YAML documents and prints them with Gantry's sidecar
added to every Pod and to the pod template of every Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob (also inside a v1 List), exactly as the mutating admission webhook
patches a pod: the gantry-capture init container (traffic redirection), gantry agent
(the workload's certificate, once then beside Envoy, and the probe proxy on 15020),
and Envoy (gantry-proxy) reaching Gantry's xDS service over TLS as node.cluster
mesh/<namespace>. Every other document is printed unchanged.

The injection policy applies: the namespace must be labelled gantry.io/inject=enabled
(--namespace-labels, default that label), and a pod annotated or labelled
sidecar.gantry.io/inject: "false" is printed unchanged. One line per injected kind
goes to stderr with the reason.

The namespace is the object's; -n gives one to objects without, and an object whose
namespace differs from -n is refused (exit 4, naming it and file:line). Malformed
documents and invalid traffic.gantry.io/* annotations exit 4 the same way.`,
		Example: `  gantry inject -f deployment.yaml | kubectl apply -f -
  gantry inject -f pod.yaml --patch              # the JSON patch of a single Pod
  kubectl get deploy reviews -o yaml | gantry inject -f - --xds-address gantry.gantry-system.svc:18000`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInject(o, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", `YAML documents (Pods, workloads, anything else passed through); "-" reads stdin (required)`)
	f.StringVarP(&o.namespace, "namespace", "n", "", "namespace of objects without one (default: default); objects in another namespace are refused")
	f.StringVar(&o.namespaceLabels, "namespace-labels", inject.NamespaceLabel+"="+inject.NamespaceEnabled, "labels of the objects' namespace, k=v[,k=v]")
	f.BoolVar(&o.patch, "patch", false, "print the JSON patch of a single Pod instead of the patched Pod")
	f.StringVar(&o.cfg.Image, "image", inject.DefaultImage, "Envoy image of the sidecar")
	f.StringVar(&o.cfg.AgentImage, "agent-image", defaultAgentImage(), "Gantry's image, which runs gantry capture and gantry agent")
	f.StringVar(&o.cfg.XDSAddress, "xds-address", inject.DefaultXDSAddress, "Gantry's xDS address as pods reach it")
	f.StringVar(&o.cfg.TrustDomain, "trust-domain", "cluster.local", "SPIFFE trust domain of workload identities")
	f.StringVar(&o.cfg.Audience, "token-audience", inject.DefaultAudience, "audience of the agent's projected ServiceAccount token (gantry serve --xds-token-audience)")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// runInject reads the documents, injects every pod and pod template, and
// writes them to out and one line per object to errOut.
func runInject(o *injectOptions, stdin io.Reader, out, errOut io.Writer) error {
	labels, err := parseLabels(o.namespaceLabels)
	if err != nil {
		return usageErr(err)
	}
	data, err := readFileOrStdin(stdin, o.file)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	docs := splitYAMLDocuments(data)
	if o.patch {
		return printPodPatch(o, docs, labels, out, errOut)
	}
	var results []string
	for _, d := range docs {
		r, err := injectDocument(o, d, labels)
		if err != nil {
			return &exitError{code: exitBadInput, err: err}
		}
		for _, note := range r.notes {
			fmt.Fprintln(errOut, note)
		}
		if !strings.HasSuffix(r.text, "\n") {
			r.text += "\n"
		}
		results = append(results, r.text)
	}
	_, err = io.WriteString(out, strings.Join(results, "---\n"))
	return err
}

// printPodPatch prints the JSON patch of the file's single Pod.
func printPodPatch(o *injectOptions, docs []yamlDocument, labels map[string]string, out, errOut io.Writer) error {
	if len(docs) != 1 {
		return usageErr(fmt.Errorf("--patch: %s holds %d documents, want one Pod", o.file, len(docs)))
	}
	w, err := decodeWorkload(o.file, docs[0])
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	if w == nil || w.kind != "Pod" {
		return usageErr(fmt.Errorf("--patch: %s:%d: want a Pod", o.file, docs[0].line))
	}
	ns, err := w.namespaceFor(o)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	ops, d, err := inject.Patch(w.pod, ns, labels, o.cfg)
	if err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("%s: %s: %w", w.where, w.name(ns), err)}
	}
	fmt.Fprintf(errOut, "%s: %s\n", w.name(ns), decisionText(d))
	if ops == nil {
		ops = []inject.Operation{}
	}
	data, err := json.MarshalIndent(ops, "", "  ")
	if err != nil {
		return err
	}
	_, err = out.Write(append(data, '\n'))
	return err
}

func decisionText(d inject.Decision) string {
	if d.Inject {
		return "injected: " + d.Reason
	}
	return "not injected: " + d.Reason
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--namespace-labels: %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
