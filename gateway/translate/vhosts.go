package translate

import (
	"encoding/binary"
	"reflect"

	"github.com/gantryproxy/gantry/xds/ir"
)

// mergeVirtualHosts joins the virtual hosts that hold the very same routes
// into one with all their domains, named after the first. A route with N
// hostnames used to be repeated in N virtual hosts, so a route table grew
// with hostnames times rules and could pass the xDS message limit; now it
// is sent once. Routes are shared pointers (compiled once per rule), so
// "the same routes" is identity of the lists, checked in linear time.
// Envoy picks a virtual host by domain, then routes within it: joining
// hosts with identical routes changes no decision. vhs is sorted by name
// and so is the result.
func mergeVirtualHosts(vhs []*ir.VirtualHost) []*ir.VirtualHost {
	groups := map[string][]*ir.VirtualHost{}
	var keys []string // in order of first host
	for _, vh := range vhs {
		k := mergeKey(vh)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], vh)
	}
	out := make([]*ir.VirtualHost, 0, len(keys))
	for _, k := range keys {
		out = append(out, merged(groups[k]))
	}
	return out
}

// mergeKey is equal for two virtual hosts that hold the very same routes
// (pointers) and authorization (hosts of different listeners'
// authorizations stay apart). It is valid while the routes are alive.
func mergeKey(vh *ir.VirtualHost) string {
	buf := make([]byte, 0, 8*len(vh.Routes)+9)
	if vh.Authorization != nil { // 8n+9 bytes, never the length of a key without
		buf = append(buf, 'a')
		buf = binary.LittleEndian.AppendUint64(buf, uint64(reflect.ValueOf(vh.Authorization).Pointer()))
	}
	for _, r := range vh.Routes {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(reflect.ValueOf(r).Pointer()))
	}
	return string(buf)
}

// merged is one virtual host for a group of hosts (sorted by name) with
// the same routes: the first itself when alone, otherwise a copy of it
// with every host's domains. The hosts are not modified.
func merged(group []*ir.VirtualHost) *ir.VirtualHost {
	if len(group) == 1 {
		return group[0]
	}
	out := *group[0]
	out.Domains = nil
	for _, vh := range group {
		out.Domains = append(out.Domains, vh.Domains...)
	}
	return &out
}
