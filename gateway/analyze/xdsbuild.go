package analyze

import (
	"errors"
	"strings"

	"github.com/gantryproxy/gantry/gateway/programmed"
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/envoy"
)

// xdsBuildAnalyzer builds each Gateway's xDS configuration as `gantry serve`
// does before serving it (both flavors: Envoy, and proxyless gRPC clients),
// so a configuration that would leave a Gateway's proxies on their previous
// configuration (Programmed=False) is found offline too.
type xdsBuildAnalyzer struct{}

func (xdsBuildAnalyzer) Name() string { return "xds-build" }
func (xdsBuildAnalyzer) Description() string {
	return "each Gateway's xDS configuration builds, validates and fits in one xDS message per resource type, for Envoy and for proxyless gRPC clients"
}

func (xdsBuildAnalyzer) Run(ctx *Context) {
	for _, px := range ctx.Result.Proxies {
		ns, name, ok := strings.Cut(strings.TrimPrefix(px.Name, "gateway/"), "/")
		if !ok {
			continue
		}
		for _, f := range []envoy.Flavor{envoy.FlavorEnvoy, envoy.FlavorGRPC} {
			_, err := programmed.Build(px, f)
			if err == nil {
				continue
			}
			code := ConfigBuildFailed
			var tooLarge *envoy.TooLargeError
			if errors.As(err, &tooLarge) {
				code = ConfigTooLarge
			}
			ctx.Report(code, key(resource.KindGateway, ns, name), "%s", err)
			break
		}
	}
}
