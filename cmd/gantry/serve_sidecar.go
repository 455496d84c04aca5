package main

import (
	"fmt"

	"github.com/spf13/pflag"

	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// sidecarOptions configure what Envoy sidecars do (docs/mesh.md, "Envoy
// sidecars: the data path").
type sidecarOptions struct {
	outboundPolicy string
}

func addSidecarFlags(f *pflag.FlagSet, o *sidecarOptions) {
	f.StringVar(&o.outboundPolicy, "mesh-outbound-policy", "allow-any",
		"mesh: what sidecars do with connections to destinations no Service names: allow-any (pass them through) or registry-only (close them); a Namespace's annotation "+meshtranslate.OutboundPolicyKey+" overrides it")
}

// policy is --mesh-outbound-policy, checked (a usage error names the flag);
// empty (options built without flags) is the default, allow-any.
func (o *sidecarOptions) policy() (ir.OutboundPolicy, error) {
	if o.outboundPolicy == "" {
		return ir.OutboundAllowAny, nil
	}
	p, ok := meshtranslate.ParseOutboundPolicy(o.outboundPolicy)
	if !ok {
		return "", &exitError{code: 2, err: fmt.Errorf("--mesh-outbound-policy %q: want allow-any or registry-only", o.outboundPolicy)}
	}
	return p, nil
}
