package identity

import (
	"context"

	"github.com/gantryproxy/gantry/mesh/ca"
	"github.com/gantryproxy/gantry/xds/server"
)

// ForXDS adapts a to the xDS server's Authenticator.
func (a *Authenticator) ForXDS() server.Authenticator {
	return server.AuthenticatorFunc(func(ctx context.Context) (server.Identity, error) {
		id, method, err := a.Authenticate(ctx)
		return server.Identity{Namespace: id.Namespace, ServiceAccount: id.ServiceAccount, Method: method}, err
	})
}

// ForXDS adapts p to the xDS server's Authorizer.
func (p Policy) ForXDS() server.Authorizer { return xdsPolicy{p} }

type xdsPolicy struct{ p Policy }

func caIdentity(id server.Identity) ca.Identity {
	return ca.Identity{Namespace: id.Namespace, ServiceAccount: id.ServiceAccount}
}

func (x xdsPolicy) AuthorizeGroup(id server.Identity, group string) error {
	return x.p.AuthorizeGroup(caIdentity(id), group)
}

func (x xdsPolicy) AuthorizeSecret(id server.Identity, group, name string) error {
	return x.p.AuthorizeSecret(caIdentity(id), group, name)
}
