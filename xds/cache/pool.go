package cache

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
)

// pool shares marshalled resources across snapshots and keys. A message
// handed in again (the same pointer as a stored resource's) is neither
// marshalled nor hashed; a new message whose content equals a stored
// resource's is marshalled and hashed once, then shares the stored resource,
// so every group holding the same route configuration or cluster holds one
// copy of its bytes. Entries live while a stored snapshot holds them.
//
// Messages handed to the cache must not be modified afterwards.
type pool struct {
	byContent map[contentKey]*Resource
	byMessage map[types.Resource]*Resource
	// pieces are the marshalled virtual hosts and routes of the route
	// configurations held (splice.go).
	pieces *pieces
}

type contentKey struct {
	typeURL, name, hash string
}

func newPool() *pool {
	return &pool{byContent: map[contentKey]*Resource{}, byMessage: map[types.Resource]*Resource{}, pieces: newPieces()}
}

// intern returns the shared resource of msg, marshalling it only when the
// message is not already known; fresh lists the resources it created.
func (p *pool) intern(typeURL string, msg types.Resource, fresh *[]*Resource) (*Resource, error) {
	if r, ok := p.byMessage[msg]; ok {
		return r, nil
	}
	r, err := p.pieces.newResource(typeURL, msg)
	if err != nil {
		return nil, err
	}
	k := contentKey{typeURL: typeURL, name: r.Name, hash: r.Hash}
	if shared, ok := p.byContent[k]; ok {
		p.pieces.release(r)
		return shared, nil
	}
	p.byContent[k] = r
	p.byMessage[msg] = r
	*fresh = append(*fresh, r)
	return r, nil
}

// internAll interns a list of messages of one type.
func (p *pool) internAll(typeURL string, msgs []types.Resource, fresh *[]*Resource) ([]*Resource, error) {
	out := make([]*Resource, 0, len(msgs))
	for _, m := range msgs {
		r, err := p.intern(typeURL, m, fresh)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// retain counts one more stored type state holding r.
func (p *pool) retain(r *Resource) { r.held++ }

// release counts one less stored type state holding r, and forgets r when
// none does.
func (p *pool) release(typeURL string, r *Resource) {
	if r.held--; r.held <= 0 {
		p.forget(typeURL, r)
	}
}

// dropUnused forgets resources created for a snapshot that was refused.
func (p *pool) dropUnused(typeURL string, rs []*Resource) {
	for _, r := range rs {
		if r.held <= 0 {
			p.forget(typeURL, r)
		}
	}
}

func (p *pool) forget(typeURL string, r *Resource) {
	k := contentKey{typeURL: typeURL, name: r.Name, hash: r.Hash}
	if p.byContent[k] == r {
		delete(p.byContent, k)
	}
	if p.byMessage[r.Message] == r {
		delete(p.byMessage, r.Message)
	}
	p.pieces.release(r)
}

// size is the number of distinct resources held.
func (p *pool) size() int { return len(p.byContent) }
