// Package translate turns a resource.Set into proxy configuration (xds/ir) for
// every Gateway Gantry controls, and the Gateway API status of every input.
//
// Translation is a pure function: no clients, goroutines, clock, randomness
// or logging. The same Set, in any order, gives byte-identical output, and
// the Set is never mutated.
package translate

import (
	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// DefaultControllerName is the GatewayClass controllerName Gantry accepts.
const DefaultControllerName = "gantryproxy.io/gateway-controller"

// Options tune a translation.
type Options struct {
	// ControllerName selects the GatewayClasses to act on; empty means
	// DefaultControllerName.
	ControllerName string
}

// Result is the output of one translation.
type Result struct {
	// Proxies holds one entry per Gateway of an accepted class, sorted by
	// Name ("gateway/<namespace>/<name>").
	Proxies []*ir.Proxy `json:"proxies"`
	// Status is the status of every input object of Gantry's classes.
	Status *status.Report `json:"status"`
}

// ProxyName is the node group name of a Gateway's Envoy fleet.
func ProxyName(namespace, name string) string {
	return "gateway/" + namespace + "/" + name
}

// Translate computes the configuration and status for set.
func Translate(set *resource.Set, opts Options) *Result {
	if opts.ControllerName == "" {
		opts.ControllerName = DefaultControllerName
	}
	return &Result{Status: &status.Report{}}
}
