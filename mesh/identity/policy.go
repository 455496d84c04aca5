package identity

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gantryproxy/gantry/gateway/infra/bootstrap"
	"github.com/gantryproxy/gantry/mesh/ca"
)

// Policy decides what an identity may receive over xDS:
//   - gateway/<ns>/<name>: only the Gateway's fleet, the ServiceAccount
//     FleetServiceAccount(<name>) of namespace <ns>, and then every secret
//     of that group (the Gateway's listener certificates belong to it);
//   - mesh/<ns>, mesh/<ns>/<service>, grpc/<ns>/<name>: only identities of
//     namespace <ns>. A mesh group is shared by every ServiceAccount of the
//     namespace, so its secrets are too (the trust bundle, file-backed
//     certificate references), except workload certificates, named
//     mesh/<ns>/<sa> (ca.Identity.SecretName), the only ones that may carry
//     a key: each goes to its own identity alone. A wildcard, which would
//     include them, is refused.
//
// Anything else is refused.
type Policy struct {
	// FleetServiceAccount names the ServiceAccount of a Gateway's Envoy
	// fleet from the Gateway's name.
	FleetServiceAccount func(gateway string) string
}

// AuthorizeGroup returns nil when id may receive group.
func (p Policy) AuthorizeGroup(id ca.Identity, group string) error {
	if group == "" {
		return errors.New("the node names no group (node.cluster is empty)")
	}
	if err := bootstrap.ValidateGroup(group); err != nil {
		return err
	}
	parts := strings.Split(group, "/")
	if parts[1] != id.Namespace {
		return fmt.Errorf("group of namespace %q, identity of namespace %q", parts[1], id.Namespace)
	}
	if parts[0] == bootstrap.RoleGateway {
		if want := p.FleetServiceAccount(parts[2]); id.ServiceAccount != want {
			return fmt.Errorf("only the Gateway's fleet (ServiceAccount %s/%s) receives this group", parts[1], want)
		}
	}
	return nil
}

// AuthorizeSecret returns nil when id, already allowed group, may receive
// the secret name ("" for every secret of the group).
func (p Policy) AuthorizeSecret(id ca.Identity, group, name string) error {
	if strings.HasPrefix(group, bootstrap.RoleGateway+"/") {
		return nil
	}
	switch {
	case name == "":
		return errors.New("a mesh group is shared by a namespace's workloads: subscribe to secrets by name")
	case isWorkloadSecret(name) && name != id.SecretName():
		return fmt.Errorf("a workload certificate goes to its own identity only (this identity's is %s)", id.SecretName())
	}
	return nil
}

// isWorkloadSecret reports whether name has the form of a workload
// certificate, mesh/<ns>/<sa>.
func isWorkloadSecret(name string) bool {
	rest, ok := strings.CutPrefix(name, "mesh/")
	return ok && strings.Count(rest, "/") == 1
}
