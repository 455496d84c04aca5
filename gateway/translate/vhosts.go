package translate

import (
	"strconv"
	"strings"

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
	ids := map[*ir.Route]int{}
	authz := map[*ir.Authorization]int{} // hosts of different listeners' authorizations stay apart
	byKey := map[string]*ir.VirtualHost{}
	out := vhs[:0:0]
	var key strings.Builder
	for _, vh := range vhs {
		key.Reset()
		if vh.Authorization != nil {
			id, ok := authz[vh.Authorization]
			if !ok {
				id = len(authz)
				authz[vh.Authorization] = id
			}
			key.WriteString("a" + strconv.Itoa(id) + ";")
		}
		for _, r := range vh.Routes {
			id, ok := ids[r]
			if !ok {
				id = len(ids)
				ids[r] = id
			}
			key.WriteString(strconv.Itoa(id))
			key.WriteByte(',')
		}
		if first := byKey[key.String()]; first != nil {
			first.Domains = append(first.Domains, vh.Domains...)
			continue
		}
		byKey[key.String()] = vh
		out = append(out, vh)
	}
	return out
}
