package params

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// KeyGatewayOverrides is the key, in a GatewayClass's parameters only, that
// lists the class-fixed keys (ClassFixedKeys) a Gateway's own parameters
// may set, comma-separated.
const KeyGatewayOverrides = "gatewayOverrides"

// ClassFixedKeys are the keys the class administrator decides: a Gateway's
// parameters may set them only when its class's gatewayOverrides lists
// them. Sorted.
var ClassFixedKeys = []string{KeyEnvoyImage, KeyLoadBalancerClass, KeyServiceType}

// parseOverrides reads a gatewayOverrides value.
func parseOverrides(v string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(ClassFixedKeys, k) {
			return nil, fmt.Errorf("%q is not a class-fixed key (%v)", k, ClassFixedKeys)
		}
		out = append(out, k)
	}
	return out, nil
}

// CheckGatewayKeys checks a Gateway's parameters ConfigMap against its
// class's (nil: the class has none): it may not hold gatewayOverrides, and
// may set a class-fixed key only when the class allows it.
func CheckGatewayKeys(class, gw *corev1.ConfigMap) error {
	where := func(key string) string {
		return fmt.Sprintf("ConfigMap %s/%s: data.%s", gw.Namespace, gw.Name, key)
	}
	if _, ok := gw.Data[KeyGatewayOverrides]; ok {
		return fmt.Errorf("%s: only a GatewayClass's parameters may say what Gateways override", where(KeyGatewayOverrides))
	}
	var allowed []string
	if class != nil {
		allowed, _ = parseOverrides(class.Data[KeyGatewayOverrides]) // validated with the class
	}
	for _, k := range ClassFixedKeys {
		if _, set := gw.Data[k]; set && !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: fixed by the GatewayClass (its parameters' %s does not list it)", where(k), KeyGatewayOverrides)
		}
	}
	return nil
}
