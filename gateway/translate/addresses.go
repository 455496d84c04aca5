package translate

import (
	"fmt"
	"net/netip"
	"strings"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/status"
)

// checkAddresses validates spec.addresses. Gantry binds IP addresses (the
// infrastructure asks the load balancer for them; an empty value lets it
// pick one). Other address types, or an IPAddress value that is not an IP,
// make the Gateway Accepted=False with reason UnsupportedAddress. Which
// addresses were actually assigned is reported by the infrastructure.
func checkAddresses(gw *gwapiv1.Gateway, st *status.Gateway) {
	var bad []string
	for i, a := range gw.Spec.Addresses {
		t := gwapiv1.IPAddressType
		if a.Type != nil {
			t = *a.Type
		}
		switch {
		case t != gwapiv1.IPAddressType:
			bad = append(bad, fmt.Sprintf("addresses[%d]: type %q is not supported (IPAddress only)", i, t))
		case a.Value != "":
			if _, err := netip.ParseAddr(a.Value); err != nil {
				bad = append(bad, fmt.Sprintf("addresses[%d]: %q is not an IP address", i, a.Value))
			}
		}
	}
	if len(bad) == 0 {
		return
	}
	st.Status.Conditions = status.SetCondition(st.Status.Conditions, status.Condition(gwapiv1.GatewayConditionAccepted, false,
		gwapiv1.GatewayReasonUnsupportedAddress, strings.Join(bad, "; "), gw.Generation))
}
