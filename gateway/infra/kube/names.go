package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Labels Gantry sets on everything it creates. User labels never override
// them (see userLabels).
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelName       = "app.kubernetes.io/name"
	LabelComponent  = "app.kubernetes.io/component"
	LabelGatewayUID = "gantry.io/gateway-uid"
	LabelController = "gantry.io/controller"
	// LabelGatewayName and LabelGatewayClassName are the Gateway API's
	// well-known labels of generated resources (GEP-1762): the Gateway's
	// and its GatewayClass's names, made valid label values.
	LabelGatewayName      = gwapiv1.GatewayNameLabelKey
	LabelGatewayClassName = gwapiv1.GatewayClassNameLabelKey

	managedByValue = "gantry"
	nameValue      = "gantry-envoy"
)

// reservedPrefixes are label/annotation key prefixes users may not set
// through spec.infrastructure.
var reservedPrefixes = []string{"gantry.io/", "app.kubernetes.io/", "kubernetes.io/", "k8s.io/"}

// ResourceName is the name of every object created for the Gateway named
// gateway: "gantry-" plus the name made a valid DNS-1035 label (lowercase
// alphanumerics and '-', at most 63 characters); names that had to change
// get a hash suffix so that two Gateways never share one.
func ResourceName(gateway string) string {
	return "gantry-" + dnsLabel(gateway, 63-len("gantry-"))
}

// dnsLabel maps s onto [a-z0-9-], at most max characters, not ending in
// '-'; a hash of s is appended when s had to change.
func dnsLabel(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == s && len(out) <= max && out != "" {
		return out
	}
	sum := shortHash(s)
	if len(out) > max-len(sum)-1 {
		out = out[:max-len(sum)-1]
	}
	out = strings.Trim(out, "-")
	if out == "" {
		return sum
	}
	return out + "-" + sum
}

// shortHash is the first 10 hex digits of s's SHA-256.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:5])
}

// controllerLabel is the label value naming a controller (a hash: names
// are not valid label values).
func controllerLabel(controllerName string) string {
	return shortHash(controllerName)
}

// labelValue makes s a valid label value (at most 63 characters).
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	return dnsLabel(s, 63)
}

// userLabels returns the user's labels that are valid and not reserved,
// and the keys that were dropped.
func userLabels[K, V ~string](in map[K]V) (map[string]string, []string) {
	return userMap(in, func(k, v string) bool {
		return len(validation.IsQualifiedName(k)) == 0 && len(validation.IsValidLabelValue(v)) == 0
	})
}

// userAnnotations is userLabels for annotations (any value, bounded size).
func userAnnotations[K, V ~string](in map[K]V) (map[string]string, []string) {
	return userMap(in, func(k, v string) bool {
		return len(validation.IsQualifiedName(k)) == 0 && len(v) <= 4096
	})
}

func userMap[K, V ~string](in map[K]V, valid func(k, v string) bool) (map[string]string, []string) {
	out := map[string]string{}
	var dropped []string
	for k, v := range in {
		key, val := string(k), string(v)
		if reserved(key) || !valid(key, val) {
			dropped = append(dropped, key)
			continue
		}
		out[key] = val
	}
	return out, dropped
}

func reserved(key string) bool {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(key, p) || strings.Contains(key, "."+p) {
			return true
		}
	}
	return false
}
