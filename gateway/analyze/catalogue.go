package analyze

import (
	"fmt"
	"slices"
	"strings"
)

// Entry describes one message code: docs/analyzers.md is generated from the
// catalogue (go test ./gateway/analyze -update) and a test fails when the two
// differ.
type Entry struct {
	Code  Code
	Level Level
	// Title is a short CamelCase name for the code.
	Title string
	// Analyzer is the name of the analyzer that reports it.
	Analyzer string
	Meaning  string
	Fix      string
}

// Codes, grouped by area: 01xx references and attachment, 02xx listeners and
// TLS, 03xx routes and rules, 04xx backends and Services, 05xx classes and
// CRDs, 06xx mesh, 07xx authorization.
const (
	RouteNotAccepted           Code = "GTY0101"
	NoMatchingListenerHostname Code = "GTY0102"
	NoMatchingParent           Code = "GTY0103"
	RefNotPermitted            Code = "GTY0104"
	ReferenceGrantNoEffect     Code = "GTY0105"
	ParentNotFound             Code = "GTY0106"

	ListenerConflicted     Code = "GTY0201"
	InvalidCertificateRef  Code = "GTY0202"
	ListenerNotAccepted    Code = "GTY0203"
	InvalidRouteKinds      Code = "GTY0204"
	GatewayNotAccepted     Code = "GTY0205"
	OverlappingTLSConfig   Code = "GTY0206"
	ConfigBuildFailed      Code = "GTY0207"
	ConfigTooLarge         Code = "GTY0208"
	TLSSecretNotFound      Code = "GTY0210"
	TLSSecretMalformed     Code = "GTY0211"
	CertificateExpired     Code = "GTY0212"
	CertificateKeyMismatch Code = "GTY0213"
	CertificateExpiresSoon Code = "GTY0214"
	CertificateHostname    Code = "GTY0215"
	CertificateCoalescing  Code = "GTY0216"

	MatchShadowed    Code = "GTY0301"
	DuplicateMatch   Code = "GTY0302"
	UnsupportedValue Code = "GTY0303"
	PartiallyInvalid Code = "GTY0304"
	ZeroWeights      Code = "GTY0305"

	BackendNotFound      Code = "GTY0401"
	BackendPortNotFound  Code = "GTY0402"
	BackendPortMissing   Code = "GTY0403"
	InvalidBackend       Code = "GTY0404"
	ServiceSelectsNoPods Code = "GTY0405"
	BackendTLSPolicyBad  Code = "GTY0406"

	GatewayClassNotAccepted     Code = "GTY0501"
	GatewayClassNotFound        Code = "GTY0502"
	GatewayClassNoController    Code = "GTY0503"
	GatewayClassOtherController Code = "GTY0504"
	CRDBundleTooOld             Code = "GTY0505"
	GatewayClassAssumed         Code = "GTY0506"
	InvalidObject               Code = "GTY0507"

	InjectionWithoutSidecars Code = "GTY0601"
	MeshSettingUnknown       Code = "GTY0602"

	AuthzTargetNotFound  Code = "GTY0701"
	AuthzNotAccepted     Code = "GTY0702"
	AuthzNeverMatches    Code = "GTY0703"
	AuthzShadowed        Code = "GTY0704"
	AuthzOpenedByDefault Code = "GTY0705"
	AuthzFailsClosed     Code = "GTY0706"
)

// catalogue is ordered by code.
var catalogue = []Entry{
	{Code: RouteNotAccepted, Level: Error, Title: "RouteNotAccepted", Analyzer: "status",
		Meaning: "A parent (Gateway or listener) did not accept the route, for example because the listener's allowedRoutes do not admit the route's namespace or kind. The route is not served through that parent.",
		Fix:     "Check the listener's allowedRoutes (namespaces, kinds) and the route's parentRefs; the message quotes the controller's reason."},
	{Code: NoMatchingListenerHostname, Level: Error, Title: "NoMatchingListenerHostname", Analyzer: "status",
		Meaning: "None of the route's hostnames intersects the hostname of any listener it attaches to, so it receives no traffic.",
		Fix:     "Make a route hostname match a listener hostname (exactly or through a listener wildcard), or remove the route's hostnames."},
	{Code: NoMatchingParent, Level: Error, Title: "NoMatchingParent", Analyzer: "status",
		Meaning: "The route's parentRef names a sectionName or port that no listener of the parent has.",
		Fix:     "Correct the parentRef's sectionName or port, or add the listener to the Gateway."},
	{Code: RefNotPermitted, Level: Error, Title: "RefNotPermitted", Analyzer: "status",
		Meaning: "A reference crosses namespaces (route to backend, listener to certificate Secret) and no ReferenceGrant in the target namespace allows it. The reference is treated as unresolved.",
		Fix:     "Create a ReferenceGrant in the namespace of the referenced object whose from lists the referring kind and namespace and whose to lists the referenced kind."},
	{Code: ReferenceGrantNoEffect, Level: Warning, Title: "ReferenceGrantNoEffect", Analyzer: "reference-grants",
		Meaning: "A ReferenceGrant lists its own namespace in from. References within one namespace need no grant, so this entry allows nothing; usually the grant was created in the referring namespace instead of the referenced one.",
		Fix:     "Move the ReferenceGrant to the namespace of the objects it should expose (the to side) and list the referring namespace in from."},
	{Code: ParentNotFound, Level: Error, Title: "ParentNotFound", Analyzer: "parent-refs",
		Meaning: "A route's parentRef names a Gateway or ListenerSet that does not exist in the analyzed input.",
		Fix:     "Create the parent or correct the parentRef's name and namespace."},

	{Code: ListenerConflicted, Level: Error, Title: "ListenerConflicted", Analyzer: "status",
		Meaning: "Two listeners on one port conflict (same hostname, or protocols that cannot share the port). The conflicting listener is not programmed.",
		Fix:     "Give the listeners distinct hostnames or ports, and one protocol per port."},
	{Code: InvalidCertificateRef, Level: Error, Title: "InvalidCertificateRef", Analyzer: "status",
		Meaning: "The controller could not use a listener's certificateRef (missing, unsupported kind, or unusable content), so the listener serves no TLS.",
		Fix:     "Point certificateRefs at a kubernetes.io/tls Secret with valid tls.crt and tls.key."},
	{Code: ListenerNotAccepted, Level: Error, Title: "ListenerNotAccepted", Analyzer: "status",
		Meaning: "A listener was not accepted (unsupported protocol, unavailable port, unsupported value). It is left out of the proxy configuration.",
		Fix:     "Use a protocol and options Gantry supports; the message quotes the controller's reason."},
	{Code: InvalidRouteKinds, Level: Warning, Title: "InvalidRouteKinds", Analyzer: "status",
		Meaning: "A listener's allowedRoutes.kinds names a route kind that the listener's protocol cannot carry; that kind is ignored.",
		Fix:     "List only route kinds that match the protocol (HTTPRoute and GRPCRoute for HTTP/HTTPS, TLSRoute for TLS, TCPRoute for TCP, UDPRoute for UDP)."},
	{Code: GatewayNotAccepted, Level: Error, Title: "GatewayNotAccepted", Analyzer: "status",
		Meaning: "The controller did not accept the Gateway itself (invalid parameters, unsupported addresses, no valid listener).",
		Fix:     "Fix what the message names; listener problems are reported separately."},
	{Code: OverlappingTLSConfig, Level: Warning, Title: "OverlappingTLSConfig", Analyzer: "status",
		Meaning: "The controller found listeners whose hostnames or certificates overlap, so HTTP/2 clients may reuse a connection for the wrong listener.",
		Fix:     "Use distinct certificates per listener, or merge the listeners."},
	{Code: ConfigBuildFailed, Level: Error, Title: "ConfigBuildFailed", Analyzer: "xds-build",
		Meaning: "The xDS configuration translated for the Gateway does not build or does not pass validation, so gantry serve keeps its proxies on their previous configuration and reports Programmed=False (reason BuildFailed). Translation drops every rule it knows Envoy would refuse, so this points at a gap in those checks.",
		Fix:     "Remove or fix the object the message names, and report the input: every invalid object should be rejected in its own status instead."},
	{Code: ConfigTooLarge, Level: Error, Title: "ConfigTooLarge", Analyzer: "xds-build",
		Meaning: "One resource type of the Gateway's xDS configuration (usually its route tables) is larger than one xDS message may carry: 64 MiB for Envoy, 4 MiB for proxyless gRPC clients (grpc-go's receive limit). gantry serve keeps the proxies on their previous configuration and reports Programmed=False (reason ConfigurationTooLarge).",
		Fix:     "Split the routes across Gateways or listeners, or reduce matches repeated across many rules; the message names the largest resources."},
	{Code: TLSSecretNotFound, Level: Error, Title: "TLSSecretNotFound", Analyzer: "tls-secrets",
		Meaning: "A listener's certificateRef names a Secret that does not exist.",
		Fix:     "Create the Secret (type kubernetes.io/tls) or correct the reference."},
	{Code: TLSSecretMalformed, Level: Error, Title: "TLSSecretMalformed", Analyzer: "tls-secrets",
		Meaning: "The certificate Secret lacks tls.crt or tls.key, or they do not hold a PEM certificate and private key.",
		Fix:     "Store a PEM certificate chain in tls.crt and its PEM private key in tls.key."},
	{Code: CertificateExpired, Level: Error, Title: "CertificateExpired", Analyzer: "tls-secrets",
		Meaning: "The listener's certificate has expired or is not valid yet; clients reject the handshake.",
		Fix:     "Renew the certificate (cert-manager renews automatically) and update the Secret."},
	{Code: CertificateKeyMismatch, Level: Error, Title: "CertificateKeyMismatch", Analyzer: "tls-secrets",
		Meaning: "The private key in tls.key does not belong to the certificate in tls.crt; the proxy cannot use the pair.",
		Fix:     "Store the key that was used to request the certificate, or reissue the certificate."},
	{Code: CertificateExpiresSoon, Level: Warning, Title: "CertificateExpiresSoon", Analyzer: "tls-secrets",
		Meaning: "The listener's certificate expires within 30 days.",
		Fix:     "Renew the certificate before it expires."},
	{Code: CertificateHostname, Level: Warning, Title: "CertificateHostnameMismatch", Analyzer: "tls-secrets",
		Meaning: "The listener's hostname is not covered by any DNS name of its certificate; clients that verify the name reject it.",
		Fix:     "Issue a certificate whose subject alternative names include the listener's hostname."},
	{Code: CertificateCoalescing, Level: Warning, Title: "CertificateCoalescing", Analyzer: "cert-coalescing",
		Meaning: "One certificate is served on several HTTPS listeners (of one or more Gateways) and is valid for names that different listeners serve (a listener's exact hostname, or a name under a wildcard or catch-all listener that no more specific listener claims). HTTP/2 clients reuse a connection for every name the certificate covers, so requests for one listener's hosts may reach another listener and get 404 (or 421).",
		Fix:     "Use one listener (with a wildcard or no hostname) for the names a certificate covers, or a separate certificate per listener."},

	{Code: MatchShadowed, Level: Warning, Title: "MatchShadowed", Analyzer: "route-shadowing",
		Meaning: "In the routing table the controller generates, an earlier match covers every request this match accepts, so it never receives traffic.",
		Fix:     "Remove the shadowed match, or make it more specific than the earlier one (path, method, headers, query)."},
	{Code: DuplicateMatch, Level: Warning, Title: "DuplicateMatch", Analyzer: "route-shadowing",
		Meaning: "Two matches for the same host are identical; the one listed later in the generated table (per Gateway API precedence: older route first, then by namespace/name, then rule order) never receives traffic.",
		Fix:     "Remove one of the duplicates or tell them apart with a header, query or method condition."},
	{Code: UnsupportedValue, Level: Error, Title: "UnsupportedValue", Analyzer: "status",
		Meaning: "The route uses a value or filter combination Gantry does not support; the controller rejected the route (or the rule).",
		Fix:     "Use supported values; the message quotes the field and reason."},
	{Code: PartiallyInvalid, Level: Warning, Title: "PartiallyInvalid", Analyzer: "status",
		Meaning: "Some rules of the route are invalid and were dropped; the remaining rules are served.",
		Fix:     "Fix the rules the message names."},
	{Code: ZeroWeights, Level: Warning, Title: "ZeroWeights", Analyzer: "weights",
		Meaning: "Every backendRef of a rule has weight 0, so the rule answers every request with an error (500) instead of forwarding it.",
		Fix:     "Give at least one backendRef a positive weight, or remove the rule."},

	{Code: BackendNotFound, Level: Error, Title: "BackendNotFound", Analyzer: "status",
		Meaning: "A backendRef names an object that does not exist; its share of traffic gets 500.",
		Fix:     "Create the Service or correct the backendRef's name and namespace."},
	{Code: BackendPortNotFound, Level: Error, Title: "BackendPortNotFound", Analyzer: "backend-ports",
		Meaning: "A backendRef's port is not one of the Service's ports; requests to that backend fail.",
		Fix:     "Use a port listed in the Service's spec.ports (the Service port, not the targetPort)."},
	{Code: BackendPortMissing, Level: Error, Title: "BackendPortMissing", Analyzer: "backend-ports",
		Meaning: "A backendRef to a Service has no port. The Gateway API requires one; with a multi-port Service it is also ambiguous.",
		Fix:     "Set backendRefs[].port to one of the Service's ports."},
	{Code: InvalidBackend, Level: Error, Title: "InvalidBackend", Analyzer: "status",
		Meaning: "A backendRef names an unsupported kind, or a Service port whose appProtocol the route cannot use.",
		Fix:     "Reference a core Service (group \"\", kind Service) with a compatible appProtocol."},
	{Code: ServiceSelectsNoPods, Level: Warning, Title: "ServiceSelectsNoPods", Analyzer: "service-selectors",
		Meaning: "A Service's selector matches none of the Pods in its namespace, so it has no endpoints and its routes answer 503.",
		Fix:     "Correct the selector or the Pod labels."},
	{Code: BackendTLSPolicyBad, Level: Error, Title: "BackendTLSPolicyInvalid", Analyzer: "status",
		Meaning: "The controller did not accept a BackendTLSPolicy or could not resolve its CA certificate references.",
		Fix:     "Fix what the message names (target, CA certificate ConfigMap or Secret, hostname)."},

	{Code: GatewayClassNotAccepted, Level: Error, Title: "GatewayClassNotAccepted", Analyzer: "status",
		Meaning: "Gantry did not accept a GatewayClass it controls (for example invalid parametersRef); its Gateways are not programmed.",
		Fix:     "Fix the class's parameters; the message quotes the reason."},
	{Code: GatewayClassNotFound, Level: Error, Title: "GatewayClassNotFound", Analyzer: "gateway-classes",
		Meaning: "A Gateway names a gatewayClassName for which no GatewayClass exists (in a cluster; offline: none in the input while a class of a near name is, so the name is likely a typo, which the message points out with \"did you mean\"); no controller will program it. gantry translate prints the same message and leaves the Gateway out.",
		Fix:     "Create the GatewayClass or correct gatewayClassName."},
	{Code: GatewayClassNoController, Level: Warning, Title: "GatewayClassNoController", Analyzer: "gateway-classes",
		Meaning: "No controller has accepted the GatewayClass: the cluster shows no Accepted=True condition on it, or (offline) it names no controller. Gateways of this class stay unprogrammed.",
		Fix:     "Install and run the controller named in spec.controllerName, or switch the class to gantryproxy.io/gateway-controller."},
	{Code: GatewayClassOtherController, Level: Warning, Title: "GatewayClassOtherController", Analyzer: "gateway-classes",
		Meaning: "A Gateway's GatewayClass belongs to another controller; Gantry does not program the Gateway, and it and its routes are not analyzed (gantry translate prints the same message and leaves it out). Reported on each such Gateway.",
		Fix:     "Nothing, if intended. Otherwise set gatewayClassName to one of Gantry's classes, or the class's spec.controllerName to Gantry's controller name."},
	{Code: CRDBundleTooOld, Level: Error, Title: "CRDBundleTooOld", Analyzer: "crd-version",
		Meaning: "The Gateway API CRDs (installed, or in the input) are from a bundle older than the one Gantry supports; fields Gantry relies on may be dropped by the API server.",
		Fix:     "Install the Gateway API CRDs shipped with Gantry's chart (or a newer bundle of the same major version)."},
	{Code: GatewayClassAssumed, Level: Warning, Title: "GatewayClassAssumed", Analyzer: "gateway-classes",
		Meaning: "Offline, a Gateway names a GatewayClass that is not in the input, and no class in the input has a near name. Gantry's chart installs its class in the cluster, so analyze and gantry translate both assume the class is Gantry's and process the Gateway and its routes (the message names a near class name, when there is one, with \"did you mean\"). In a cluster (--use-kube) a missing class is GTY0502.",
		Fix:     "Nothing, if the class exists in the cluster; add the GatewayClass to the input to analyze it too."},
	{Code: InvalidObject, Level: Error, Title: "InvalidObject", Analyzer: "crd-version",
		Meaning: "Part of the input could not be read: a file that cannot be opened, malformed YAML (the document is skipped), an object that fails its CRD schema (the message names the field, at the field's own line), or a second object with the same kind, namespace and name. That object is left out and the rest of the input is still analyzed; gantry analyze then exits with code 4.",
		Fix:     "Correct what the message names at its file:line."},

	{Code: InjectionWithoutSidecars, Level: Warning, Title: "InjectionWithoutSidecars", Analyzer: "sidecar-injection",
		Meaning: "The namespace is labelled gantry.io/inject=enabled but some of its Pods that the injection policy selects (not opted out with the annotation or label sidecar.gantry.io/inject: \"false\", not on the host network) have no gantry-proxy container: they were created before the label, or the injection webhook is not running. They are outside the mesh.",
		Fix:     "Make sure the injection webhook runs, then restart the workloads (kubectl rollout restart)."},
	{Code: MeshSettingUnknown, Level: Warning, Title: "MeshSettingUnknown", Analyzer: "mesh-settings",
		Meaning: "A Namespace or Pod sets security.gantry.io/mtls-mode (annotation or label) to a value other than strict or permissive, or a Namespace sets the annotation traffic.gantry.io/outbound-policy to a value other than allow-any or registry-only. The mesh reads such a value in the safe direction: the mode as strict (plaintext clients are refused), the policy as registry-only (destinations outside the mesh are refused).",
		Fix:     "Set strict or permissive (mtls-mode), allow-any or registry-only (outbound-policy)."},
	{Code: AuthzTargetNotFound, Level: Error, Title: "AuthorizationTargetNotFound", Analyzer: "authorization",
		Meaning: "An AuthorizationPolicy's targetRef names a Service, Gateway or Gateway listener (sectionName) that does not exist in the policy's namespace. The policy protects nothing there; once the target appears it applies.",
		Fix:     "Correct the targetRef's name (targetRefs are local: the target must be in the policy's namespace), or create the target."},
	{Code: AuthzNotAccepted, Level: Error, Title: "AuthorizationPolicyNotAccepted", Analyzer: "authorization",
		Meaning: "The controller does not apply the AuthorizationPolicy to a target: the policy is invalid (what the API server's validation or the proxies refuse, read from a file). It is left out there.",
		Fix:     "Fix what the message names."},
	{Code: AuthzNeverMatches, Level: Warning, Title: "AuthorizationSourceNeverMatches", Analyzer: "authorization",
		Meaning: "A source of an AuthorizationPolicy rule can match no caller: a ServiceAccount no Pod of its namespace runs as (checked when the namespace's Pods are known), or a namespace that does not exist (when namespaces are known). An ALLOW rule with it lets nobody in; a DENY rule with it refuses nobody.",
		Fix:     "Correct the ServiceAccount or namespace name (a ServiceAccount source without namespace means the policy's namespace), or remove the source."},
	{Code: AuthzShadowed, Level: Warning, Title: "AuthorizationPolicyShadowed", Analyzer: "authorization",
		Meaning: "Another policy on the same target makes this ALLOW policy pointless: a DENY policy with a rule matching every request (no sources, no to) refuses everything first, or another ALLOW policy with such a rule already lets everything in.",
		Fix:     "Remove or narrow the policy with the catch-all rule, or remove this one."},
	{Code: AuthzOpenedByDefault, Level: Warning, Title: "AuthorizationOpenedByNamespaceDefault", Analyzer: "authorization",
		Meaning: "A target has its own ALLOW policy, and a namespace default (an ALLOW policy without targetRefs) with rules applies to it too. ALLOW policies of a target add up, so callers the default allows get in even when the target's own policy does not list them.",
		Fix:     "Make the namespace default a default deny (ALLOW without rules) and list every target's callers in its own policy, or accept the wider access."},
	{Code: AuthzFailsClosed, Level: Warning, Title: "AuthorizationFailsClosed", Analyzer: "authorization",
		Meaning: "Part of an AuthorizationPolicy cannot be checked where it applies, so it fails closed: an identity source (ServiceAccount, Namespace, Mesh) on a Gateway listener or without mesh mTLS, a ClientCertificate source on a listener that does not require client certificates, or paths, methods or headers on a TCP listener. In an ALLOW rule that part matches nothing; a DENY rule then applies to every peer. Offline analysis assumes mesh mTLS is on.",
		Fix:     "Use sources the target can verify (CIDR at the edge, client certificates where the listener validates them, mesh identities with mesh mTLS on), or move the rule to a target that can check it."},
}

// Catalogue returns every code, ordered by code.
func Catalogue() []Entry { return slices.Clone(catalogue) }

// Lookup returns the catalogue entry for code.
func Lookup(code Code) (Entry, bool) {
	i, ok := slices.BinarySearchFunc(catalogue, code, func(e Entry, c Code) int {
		return strings.Compare(string(e.Code), string(c))
	})
	if !ok {
		return Entry{}, false
	}
	return catalogue[i], true
}

func mustLookup(code Code) Entry {
	e, ok := Lookup(code)
	if !ok {
		panic(fmt.Sprintf("analyze: code %s is not in the catalogue", code))
	}
	return e
}
