package bootstrap

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Group roles: the first segment of a node's cluster.
const (
	RoleGateway = "gateway" // gateway/<namespace>/<name>: a Gateway's Envoy fleet
	RoleMesh    = "mesh"    // mesh/<namespace> or mesh/<namespace>/<service>: sidecars and proxyless clients
	RoleGRPC    = "grpc"    // grpc/<namespace>/<name>: a proxyless gRPC client group
)

// GroupForms lists the group forms Gantry serves, for help texts and errors.
const GroupForms = "gateway/<namespace>/<name>, mesh/<namespace>, mesh/<namespace>/<service> or grpc/<namespace>/<name>"

// ValidateGroup reports whether group is one of GroupForms: a known role, the
// number of segments that role takes, a namespace that is a DNS label and a
// name that is a DNS subdomain.
func ValidateGroup(group string) error {
	parts := strings.Split(group, "/")
	var ok bool
	switch parts[0] {
	case RoleGateway, RoleGRPC:
		ok = len(parts) == 3
	case RoleMesh:
		ok = len(parts) == 2 || len(parts) == 3
	default:
		if len(parts) > 1 {
			return fmt.Errorf("bootstrap: group %q: unknown role %q; want %s", group, parts[0], GroupForms)
		}
	}
	if !ok {
		return fmt.Errorf("bootstrap: group %q: want %s", group, GroupForms)
	}
	if errs := validation.IsDNS1123Label(parts[1]); len(errs) > 0 {
		return fmt.Errorf("bootstrap: group %q: namespace %q: %s", group, parts[1], strings.Join(errs, "; "))
	}
	if len(parts) == 3 {
		if errs := validation.IsDNS1123Subdomain(parts[2]); len(errs) > 0 {
			return fmt.Errorf("bootstrap: group %q: name %q: %s", group, parts[2], strings.Join(errs, "; "))
		}
	}
	return nil
}
