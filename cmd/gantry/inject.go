package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

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
		Use:   "inject -f pod.yaml",
		Short: "Add the gantry-proxy sidecar to a pod (what the admission webhook does)",
		Long: `Reads one Pod and prints it with Gantry's Envoy sidecar added, exactly as the
mutating admission webhook would patch it: a native sidecar (init container with
restartPolicy Always) named gantry-proxy whose bootstrap dials Gantry's xDS service
as node.cluster mesh/<namespace>.

The injection policy applies: the namespace must be labelled gantry.io/inject=enabled
(--namespace-labels, default that label), and a pod annotated gantry.io/inject: "false"
is printed unchanged. The reason is written to stderr.

No traffic is redirected to the sidecar (there is no iptables init container).`,
		Example: `  gantry inject -f pod.yaml
  gantry inject -f pod.yaml --patch              # the JSON patch instead of the pod
  kubectl get pod web -o yaml | gantry inject -f - --xds-address gantry.gantry-system.svc:18000`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, reason, err := runInject(o, cmd.InOrStdin())
			if err != nil {
				return usageErr(err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), reason)
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", `the Pod (YAML or JSON); "-" reads stdin (required)`)
	f.StringVarP(&o.namespace, "namespace", "n", "", "the pod's namespace (default: metadata.namespace, else default)")
	f.StringVar(&o.namespaceLabels, "namespace-labels", inject.NamespaceLabel+"="+inject.NamespaceEnabled, "labels of the pod's namespace, k=v[,k=v]")
	f.BoolVar(&o.patch, "patch", false, "print the JSON patch instead of the patched pod")
	f.StringVar(&o.cfg.Image, "image", inject.DefaultImage, "Envoy image of the sidecar")
	f.StringVar(&o.cfg.XDSAddress, "xds-address", inject.DefaultXDSAddress, "Gantry's xDS address as pods reach it")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// runInject reads the pod, applies the policy and returns what to print and
// the decision's reason.
func runInject(o *injectOptions, stdin io.Reader) ([]byte, string, error) {
	pod, err := readPod(o.file, stdin)
	if err != nil {
		return nil, "", err
	}
	labels, err := parseLabels(o.namespaceLabels)
	if err != nil {
		return nil, "", err
	}
	ns := o.namespace
	if ns == "" {
		ns = pod.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	ops, d, err := inject.Patch(pod, ns, labels, o.cfg)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", o.file, err)
	}
	reason := "not injected: " + d.Reason
	if d.Inject {
		reason = "injected: " + d.Reason
	}
	if o.patch {
		if ops == nil {
			ops = []inject.Operation{}
		}
		out, err := json.MarshalIndent(ops, "", "  ")
		return append(out, '\n'), reason, err
	}
	patched := pod
	if len(ops) > 0 {
		if patched, err = inject.ApplyPatch(pod, ops); err != nil {
			return nil, "", fmt.Errorf("%s: %w", o.file, err)
		}
	}
	out, err := yaml.Marshal(patched)
	return out, reason, err
}

func readPod(file string, stdin io.Reader) (*corev1.Pod, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if pod.Kind != "Pod" || (pod.APIVersion != "v1" && pod.APIVersion != "") {
		return nil, fmt.Errorf("%s: kind %q (apiVersion %q): want a v1 Pod", file, pod.Kind, pod.APIVersion)
	}
	return pod, nil
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
