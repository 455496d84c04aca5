package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func metav1AddToGroupVersion(s *runtime.Scheme) { metav1.AddToGroupVersion(s, GroupVersion) }

// AuthorizationPolicy says who may send which requests to its targets:
// Services (their workloads' inbound side in the mesh), Gateways or one
// Gateway listener. Without targetRefs it applies to every workload and
// every Gateway of its namespace. DENY policies are checked before ALLOW
// policies; once any ALLOW policy applies to a target, requests no ALLOW
// rule matches are refused.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=gantry,shortName=authzpolicy
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AuthorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AuthorizationPolicySpec `json:"spec"`
	// Status lists, per target, whether the policy is accepted and enforced
	// (Gateway API's PolicyStatus).
	Status gwapiv1.PolicyStatus `json:"status,omitempty"`
}

// AuthorizationPolicyList is a list of AuthorizationPolicies.
//
// +kubebuilder:object:root=true
type AuthorizationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AuthorizationPolicy `json:"items"`
}

// Action is what a policy does with the requests its rules match.
//
// +kubebuilder:validation:Enum=ALLOW;DENY
type Action string

const (
	// ActionAllow lets matching requests through; once an ALLOW policy
	// applies to a target, the target refuses what no ALLOW rule matches.
	ActionAllow Action = "ALLOW"
	// ActionDeny refuses matching requests, before any ALLOW policy.
	ActionDeny Action = "DENY"
)

// AuthorizationPolicySpec is what a policy applies to and what it allows or
// denies.
//
// +kubebuilder:validation:XValidation:rule="self.action == 'ALLOW' || (has(self.rules) && size(self.rules) > 0)",message="a DENY policy needs at least one rule"
type AuthorizationPolicySpec struct {
	// TargetRefs are the Services, Gateways or Gateway listeners (Gateway
	// with sectionName) of the policy's namespace it applies to. Empty: every
	// workload and Gateway of the namespace (the namespace default).
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, (r.group == '' && r.kind == 'Service') || (r.group == 'gateway.networking.k8s.io' && r.kind == 'Gateway'))",message="targetRefs: kind must be Service (group \"\") or Gateway (group gateway.networking.k8s.io)"
	// +kubebuilder:validation:XValidation:rule="self.all(r, r.kind == 'Gateway' || !has(r.sectionName))",message="targetRefs: sectionName names a Gateway listener and is allowed only with kind Gateway"
	// +kubebuilder:validation:XValidation:rule="self.all(r1, self.exists_one(r2, r1.group == r2.group && r1.kind == r2.kind && r1.name == r2.name && (has(r1.sectionName) ? (has(r2.sectionName) && r1.sectionName == r2.sectionName) : !has(r2.sectionName))))",message="targetRefs must be unique"
	TargetRefs []gwapiv1.LocalPolicyTargetReferenceWithSectionName `json:"targetRefs,omitempty"`

	// Action is ALLOW or DENY.
	Action Action `json:"action"`

	// Rules match requests: a request matches a rule when one of its
	// sources and one of its "to" entries match. An ALLOW policy without
	// rules allows nothing (a default deny when it has no targetRefs).
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Rules []AuthorizationRule `json:"rules,omitempty"`
}

// AuthorizationRule is who (sources) may send what (to). An empty list
// matches anything.
type AuthorizationRule struct {
	// Sources are alternatives: one must match.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Sources []AuthorizationSource `json:"sources,omitempty"`
	// To are alternatives: one must match.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	To []RequestMatch `json:"to,omitempty"`
}

// SourceType is how a source is identified.
//
// +kubebuilder:validation:Enum=ServiceAccount;Namespace;Mesh;CIDR;ClientCertificate
type SourceType string

const (
	// SourceServiceAccount is a workload's ServiceAccount, proven by its mesh
	// certificate (SPIFFE ID spiffe://<trust domain>/ns/<ns>/sa/<name>).
	SourceServiceAccount SourceType = "ServiceAccount"
	// SourceNamespace is every workload of a namespace, proven by its mesh
	// certificate.
	SourceNamespace SourceType = "Namespace"
	// SourceMesh is any workload with a mesh certificate.
	SourceMesh SourceType = "Mesh"
	// SourceCIDR is the peer address of the connection.
	SourceCIDR SourceType = "CIDR"
	// SourceClientCertificate is a subject alt name of a client certificate
	// the listener verified.
	SourceClientCertificate SourceType = "ClientCertificate"
)

// AuthorizationSource is one sender; the field named by type is set.
//
// +kubebuilder:validation:XValidation:rule="(self.type == 'ServiceAccount') == has(self.serviceAccount)",message="serviceAccount is set exactly when type is ServiceAccount"
// +kubebuilder:validation:XValidation:rule="(self.type == 'Namespace') == has(self.namespace)",message="namespace is set exactly when type is Namespace"
// +kubebuilder:validation:XValidation:rule="(self.type == 'CIDR') == has(self.cidr)",message="cidr is set exactly when type is CIDR"
// +kubebuilder:validation:XValidation:rule="(self.type == 'ClientCertificate') == has(self.clientCertificate)",message="clientCertificate is set exactly when type is ClientCertificate"
type AuthorizationSource struct {
	Type SourceType `json:"type"`
	// +optional
	ServiceAccount *ServiceAccountSource `json:"serviceAccount,omitempty"`
	// Namespace is the name of a namespace.
	//
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace *string `json:"namespace,omitempty"`
	// CIDR is an IPv4 or IPv6 range ("10.0.0.0/8", "2001:db8::/32").
	//
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be an IP range such as 10.0.0.0/8"
	CIDR *string `json:"cidr,omitempty"`
	// +optional
	ClientCertificate *ClientCertificateSource `json:"clientCertificate,omitempty"`
}

// ServiceAccountSource names a ServiceAccount.
type ServiceAccountSource struct {
	// Namespace of the ServiceAccount; empty: the policy's namespace.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$`
	Namespace string `json:"namespace,omitempty"`
	// Name of the ServiceAccount.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// SANType is the kind of a subject alt name.
//
// +kubebuilder:validation:Enum=DNS;URI
type SANType string

const (
	SANTypeDNS SANType = "DNS"
	SANTypeURI SANType = "URI"
)

// ClientCertificateSource is a subject alt name a verified client
// certificate carries, matched exactly.
type ClientCertificateSource struct {
	Type SANType `json:"type"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[^\s]+$`
	Value string `json:"value"`
}

// RequestMatch is what a request asks for; it matches when every list that
// is set has a matching entry.
//
// +kubebuilder:validation:XValidation:rule="has(self.paths) || has(self.methods) || has(self.headers) || has(self.ports)",message="a to entry needs paths, methods, headers or ports"
type RequestMatch struct {
	// Paths are alternatives.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Paths []PathMatch `json:"paths,omitempty"`
	// Methods are alternatives (HTTP methods; every gRPC call is a POST).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=9
	Methods []gwapiv1.HTTPMethod `json:"methods,omitempty"`
	// Headers must all match.
	//
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Headers []HeaderMatch `json:"headers,omitempty"`
	// Ports are alternatives: the port the request was sent to (the
	// workload's port in the mesh, the listener's port at the edge).
	//
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Ports []Port `json:"ports,omitempty"`
}

// Port is a TCP port number.
//
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=65535
type Port int32

// PathMatchType is how a path is compared.
//
// +kubebuilder:validation:Enum=Exact;PathPrefix
type PathMatchType string

const (
	PathMatchExact      PathMatchType = "Exact"
	PathMatchPathPrefix PathMatchType = "PathPrefix"
)

// PathMatch compares the request path (without the query): Exact, or
// PathPrefix by whole segments ("/api" matches "/api" and "/api/x", not
// "/apix"). A gRPC method's path is "/package.Service/Method".
type PathMatch struct {
	// +optional
	// +kubebuilder:default=PathPrefix
	Type PathMatchType `json:"type,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[^?#\s]*$`
	Value string `json:"value"`
}

// HeaderMatchType is how a header is compared.
//
// +kubebuilder:validation:Enum=Exact;Prefix;Present
type HeaderMatchType string

const (
	HeaderMatchExact   HeaderMatchType = "Exact"
	HeaderMatchPrefix  HeaderMatchType = "Prefix"
	HeaderMatchPresent HeaderMatchType = "Present"
)

// HeaderMatch compares one request header.
//
// +kubebuilder:validation:XValidation:rule="self.type == 'Present' ? !has(self.value) : has(self.value)",message="value is set unless type is Present"
type HeaderMatch struct {
	Name gwapiv1.HTTPHeaderName `json:"name"`
	// +optional
	// +kubebuilder:default=Exact
	Type HeaderMatchType `json:"type,omitempty"`
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Value *string `json:"value,omitempty"`
}
