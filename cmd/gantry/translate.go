package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/analyze"
	"github.com/gantryproxy/gantry/gateway/authz"
	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/envoy"
	"github.com/gantryproxy/gantry/xds/ir"
)

const translateLong = `Translate Gateway API YAML offline, with the controller's own code path.

Reads files, multi-document files and directories (recursively; "-" is stdin),
translates every Gateway of Gantry's GatewayClasses, and prints:
  xds     the Envoy resources of each Gateway's proxy (listeners, routes,
          clusters, endpoints, secrets)
  ir      Gantry's intermediate model of each proxy
  status  the status conditions of every GatewayClass, Gateway and route,
          and of every AuthorizationPolicy (as gantry serve computes them;
          --mesh-mtls as given to gantry serve)
  all     all three (the default)

Private keys are printed as "[redacted]" unless --show-secrets is given.
Malformed input is an error naming file:line; the exit code is then 4.
Exit codes: 0 translated, 2 usage error, 4 the input could not be read.`

type translateFlags struct {
	files       []string
	output      string
	outputType  string
	showSecrets bool
	controller  string
	flavor      string
	meshMTLS    bool
}

func newTranslateCmd() *cobra.Command {
	f := &translateFlags{}
	cmd := &cobra.Command{
		Use: "translate -f PATH... [-o yaml|json] [--output-type xds|ir|status|all]",
		Example: `  gantry translate -f examples/quickstart
  gantry translate -f examples/quickstart --output-type status -o json
  kubectl get gateway,httproute -A -o yaml | gantry translate -f - --output-type xds`,
		Short: "Translate Gateway API YAML to Envoy xDS, the IR and status, offline",
		Long:  translateLong,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTranslate(cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	addFilenameFlag(fl, &f.files, "input")
	addHiddenAlias(fl, "file", "filename")
	addOutputFlag(fl, &f.output, "yaml", translateFormats...)
	fl.StringVar(&f.outputType, "output-type", "all", "what to print: xds, ir, status or all")
	fl.BoolVar(&f.showSecrets, "show-secrets", false, "print private keys instead of [redacted]")
	fl.StringVar(&f.controller, "controller-name", translate.DefaultControllerName, "GatewayClass controllerName to act on")
	fl.StringVar(&f.flavor, "flavor", string(envoy.FlavorEnvoy), "xDS flavor: envoy or grpc")
	fl.BoolVar(&f.meshMTLS, "mesh-mtls", false, "AuthorizationPolicy status: gantry serve runs with --mesh-mtls (without it, ServiceAccount, Namespace and Mesh sources fail closed)")
	return cmd
}

// translateOutput is what gantry translate prints.
type translateOutput struct {
	XDS    []proxyXDS `json:"xds,omitempty"`
	IR     any        `json:"ir,omitempty"`
	Status any        `json:"status,omitempty"`
}

// proxyXDS is the xDS of one proxy, each resource in protojson form.
type proxyXDS struct {
	Name      string            `json:"name"`
	Listeners []json.RawMessage `json:"listeners,omitempty"`
	Routes    []json.RawMessage `json:"routes,omitempty"`
	Clusters  []json.RawMessage `json:"clusters,omitempty"`
	Endpoints []json.RawMessage `json:"endpoints,omitempty"`
	Secrets   []json.RawMessage `json:"secrets,omitempty"`
}

const redacted = "[redacted]"

// translateFormats are the encodings of translate's output.
var translateFormats = []string{"yaml", "json"}

func runTranslate(stdout, stderr io.Writer, f *translateFlags) error {
	if len(f.files) == 0 {
		return usageErr(errors.New("translate: -f PATH is required"))
	}
	wantXDS, wantIR, wantStatus, err := outputTypes(f.outputType)
	if err != nil {
		return usageErr(err)
	}
	if err := checkOutput(f.output, translateFormats...); err != nil {
		return err
	}
	res, err := resource.LoadWithDiagnostics(f.files...)
	if err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("translate: %w", err)}
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "warning:", w.String())
	}
	if len(res.Errors) > 0 {
		return &exitError{code: exitBadInput, err: fmt.Errorf("translate: invalid input:\n%w", &resource.DiagnosticsError{Diagnostics: res.Errors})}
	}
	set, err := checkClasses(stderr, res.Set, f.controller)
	if err != nil {
		return err
	}
	result := translate.Translate(set, translate.Options{ControllerName: f.controller})
	if len(result.Proxies) == 0 {
		fmt.Fprintf(stderr, "translate: nothing to translate: no Gateway of a GatewayClass with controllerName %s in the input (%d Gateway(s), %d GatewayClass(es) read); the xds and ir outputs are empty\n",
			f.controller, res.Set.Gateways.Len(), res.Set.GatewayClasses.Len())
	}
	programmed.Check(result) // status says Programmed only for what serve could serve
	var out translateOutput
	if wantStatus {
		result.Status.AuthorizationPolicies = authz.Status(set, authz.Options{MeshMTLS: f.meshMTLS, TrustDomain: ca.DefaultTrustDomain, ControllerName: f.controller})
		result.Status.Sort()
		out.Status = result.Status
	}
	if wantIR {
		out.IR = result.Proxies
		if !f.showSecrets {
			if out.IR, err = redactIR(result.Proxies); err != nil {
				return fmt.Errorf("translate: %w", err)
			}
		}
	}
	if wantXDS {
		for _, p := range result.Proxies {
			x, err := proxyResources(p, envoy.Options{Flavor: envoy.Flavor(f.flavor)}, f.showSecrets)
			if err != nil {
				return fmt.Errorf("translate: %w", err)
			}
			out.XDS = append(out.XDS, x)
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("translate: encoding output: %w", err)
	}
	if f.output == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("translate: encoding output: %w", err)
		}
	} else {
		data = append(data, '\n')
	}
	_, err = stdout.Write(data)
	return err
}

// checkClasses prints, as gantry analyze does, what is wrong with the
// GatewayClass of each Gateway (missing, another controller's, assumed),
// and returns set with the classes analyze assumes offline added, so both
// commands process the same Gateways.
func checkClasses(stderr io.Writer, set *resource.Set, controller string) (*resource.Set, error) {
	msgs, err := analyze.Analyze(set, analyze.Options{Analyzers: []string{"gateway-classes"}, ControllerName: controller})
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	if err := analyze.Write(stderr, msgs, analyze.FormatLog); err != nil {
		return nil, err
	}
	assumed, _ := analyze.AssumeClasses(set, controller)
	return assumed, nil
}

func outputTypes(t string) (xds, irOut, st bool, err error) {
	switch t {
	case "all":
		return true, true, true, nil
	case "xds":
		return true, false, false, nil
	case "ir":
		return false, true, false, nil
	case "status":
		return false, false, true, nil
	}
	return false, false, false, fmt.Errorf("translate: --output-type %q: want xds, ir, status or all", t)
}

// redactIR renders the proxies as JSON data with every secret's private
// key replaced by "[redacted]".
func redactIR(ps []*ir.Proxy) (any, error) {
	data, err := json.Marshal(ps)
	if err != nil {
		return nil, err
	}
	var v []map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	for _, p := range v {
		secrets, _ := p["secrets"].([]any)
		for _, s := range secrets {
			if m, ok := s.(map[string]any); ok && m["key"] != nil {
				m["key"] = redacted
			}
		}
	}
	return v, nil
}

// proxyResources builds the xDS of one proxy and encodes each resource.
func proxyResources(p *ir.Proxy, opts envoy.Options, showSecrets bool) (proxyXDS, error) {
	r, err := envoy.Build(p, opts)
	if err != nil {
		return proxyXDS{}, err
	}
	x := proxyXDS{Name: p.Name}
	lists := []struct {
		in  []types.Resource
		out *[]json.RawMessage
	}{
		{r.Listeners, &x.Listeners}, {r.Routes, &x.Routes}, {r.Clusters, &x.Clusters},
		{r.Endpoints, &x.Endpoints}, {r.Secrets, &x.Secrets},
	}
	for _, l := range lists {
		for _, res := range l.in {
			data, err := protojson.MarshalOptions{UseProtoNames: false}.Marshal(res)
			if err != nil {
				return proxyXDS{}, fmt.Errorf("proxy %s: encoding: %w", p.Name, err)
			}
			if l.out == &x.Secrets && !showSecrets {
				if data, err = redactPrivateKeys(data); err != nil {
					return proxyXDS{}, err
				}
			}
			*l.out = append(*l.out, json.RawMessage(data))
		}
	}
	return x, nil
}

// redactPrivateKeys replaces every "privateKey" value in a JSON document.
func redactPrivateKeys(data []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for k, val := range t {
				if k == "privateKey" {
					t[k] = map[string]any{"inlineString": redacted}
					continue
				}
				walk(val)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return json.Marshal(v)
}
