// Package certs is Gantry's workload certificate service: a workload sends a
// certificate signing request (CSR) for its own SPIFFE ID and gets back a
// certificate chain and the trust bundle. The private key never leaves the
// workload.
//
// The caller proves who it is through an Authenticator (a Kubernetes
// ServiceAccount token on first contact, or its current certificate over
// mTLS when it renews); the CSR must name exactly that identity and nothing
// else (one URI SAN, no DNS names, IP addresses or e-mail addresses, not a
// CA). A ca.Signer (the built-in root or cert-manager) signs it for a capped
// lifetime.
//
// The service is one unary gRPC method, gantry.certs.v1.Certificates/Sign,
// declared by hand (ServiceDesc) with google.protobuf.Struct messages: no
// generated code, no codec to register, and grpc's default protobuf codec
// carries it on the xDS server's port. The request holds the key "csr" (PEM
// "CERTIFICATE REQUEST"); the response holds "certificateChain" (PEM, leaf
// first) and "trustBundle" (PEM).
package certs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gantryproxy/gantry/mesh/ca"
)

// ServiceName and SignMethod name the gRPC method.
const (
	ServiceName = "gantry.certs.v1.Certificates"
	SignMethod  = "/" + ServiceName + "/Sign"
)

// Message keys.
const (
	keyCSR    = "csr"
	keyChain  = "certificateChain"
	keyBundle = "trustBundle"
)

// DefaultLifetime is the lifetime of issued certificates when Options leave
// it unset; MaxLifetime caps it.
const (
	DefaultLifetime = 24 * time.Hour
	MaxLifetime     = 7 * 24 * time.Hour
)

// Options configure a Service.
type Options struct {
	Signer        ca.Signer
	Authenticator Authenticator
	// TrustDomain of the SPIFFE IDs (default ca.DefaultTrustDomain).
	TrustDomain string
	// Lifetime of issued certificates (default DefaultLifetime, at most
	// MaxLifetime).
	Lifetime time.Duration
	// Observe, when set, is called once per request with the outcome:
	// "issued", "unauthenticated", "invalid" or "failed".
	Observe func(outcome string)
}

// Service signs workload CSRs.
type Service struct {
	opts Options
}

// New checks opts and returns a Service.
func New(opts Options) (*Service, error) {
	if opts.Signer == nil || opts.Authenticator == nil {
		return nil, errors.New("certs: a Signer and an Authenticator are required")
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = ca.DefaultTrustDomain
	}
	if opts.Lifetime == 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.Lifetime < 0 || opts.Lifetime > MaxLifetime {
		return nil, fmt.Errorf("certs: lifetime %s: want (0, %s]", opts.Lifetime, MaxLifetime)
	}
	if opts.Observe == nil {
		opts.Observe = func(string) {}
	}
	return &Service{opts: opts}, nil
}

// Register adds the service to s (the xDS server's gRPC server).
func (svc *Service) Register(s *grpc.Server) {
	s.RegisterService(&serviceDesc, svc)
}

// signer is the handler type of serviceDesc.
type signer interface {
	sign(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error)
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*signer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Sign",
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			req := &structpb.Struct{}
			if err := dec(req); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, r any) (any, error) {
				return srv.(signer).sign(ctx, r.(*structpb.Struct))
			}
			if icpt == nil {
				return call(ctx, req)
			}
			return icpt(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: SignMethod}, call)
		},
	}},
	Metadata: "gantry/certs/v1",
}

// sign authenticates the caller, checks its CSR and signs it.
func (svc *Service) sign(ctx context.Context, req *structpb.Struct) (*structpb.Struct, error) {
	id, err := svc.opts.Authenticator.Authenticate(ctx)
	if err != nil {
		svc.opts.Observe("unauthenticated")
		return nil, status.Errorf(codes.Unauthenticated, "certs: caller not authenticated: %v", err)
	}
	spiffeID := id.SPIFFEID(svc.opts.TrustDomain)
	csrPEM := []byte(req.GetFields()[keyCSR].GetStringValue())
	if err := CheckCSR(csrPEM, spiffeID); err != nil {
		svc.opts.Observe("invalid")
		return nil, status.Errorf(codes.PermissionDenied, "certs: %s: %v", spiffeID, err)
	}
	chain, bundle, err := svc.opts.Signer.Sign(ctx, csrPEM, svc.opts.Lifetime)
	if err != nil {
		svc.opts.Observe("failed")
		return nil, status.Errorf(codes.Internal, "certs: %s: signing failed: %v", spiffeID, err)
	}
	svc.opts.Observe("issued")
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		keyChain:  structpb.NewStringValue(string(chain)),
		keyBundle: structpb.NewStringValue(string(bundle)),
	}}, nil
}

// Sign calls the service on conn: csrPEM in, the PEM certificate chain
// (leaf first) and trust bundle out.
func Sign(ctx context.Context, conn grpc.ClientConnInterface, csrPEM []byte, opts ...grpc.CallOption) (chainPEM, bundlePEM []byte, err error) {
	req := &structpb.Struct{Fields: map[string]*structpb.Value{keyCSR: structpb.NewStringValue(string(csrPEM))}}
	resp := &structpb.Struct{}
	if err := conn.Invoke(ctx, SignMethod, req, resp, opts...); err != nil {
		return nil, nil, err
	}
	chain := resp.GetFields()[keyChain].GetStringValue()
	bundle := resp.GetFields()[keyBundle].GetStringValue()
	if chain == "" || bundle == "" {
		return nil, nil, errors.New("certs: response without a certificate chain or trust bundle")
	}
	return []byte(chain), []byte(bundle), nil
}
