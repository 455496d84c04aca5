package certs

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/gantryproxy/gantry/internal/benchcpu"
	"github.com/gantryproxy/gantry/mesh/certs/certstest"
)

// BenchmarkServerSign is the service's own work per certificate:
// authenticate (a token table), check the CSR, sign (ECDSA P-256).
func BenchmarkServerSign(b *testing.B) {
	signer, err := certstest.New("bench root")
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(Options{Signer: signer, Authenticator: tokenAuth{"good": reviews}, Lifetime: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	req := &structpb.Struct{Fields: map[string]*structpb.Value{keyCSR: structpb.NewStringValue(string(csrFor(b, newKey(b), reviewsID)))}}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer good"))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := svc.sign(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue is one issuance as gantry agent does it, both ends on this
// machine: a new P-256 key and CSR, a new TLS connection to the service on
// loopback, the call (token, check, signing), the connection closed.
func BenchmarkIssue(b *testing.B) {
	f := start(b, time.Hour)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		conn := f.dial(b, nil)
		if _, _, err := Sign(withToken("good"), conn, csrFor(b, newKey(b), reviewsID)); err != nil {
			b.Fatal(err)
		}
		_ = conn.Close()
	}
}

// BenchmarkIssueOnOpenConnection is the same over one open connection
// (what a renewal costs without the TLS handshake).
func BenchmarkIssueOnOpenConnection(b *testing.B) {
	f := start(b, time.Hour)
	conn := f.dial(b, nil)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, _, err := Sign(withToken("good"), conn, csrFor(b, newKey(b), reviewsID)); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time (all threads, client and server
// together) per operation, which other load on the machine does not
// inflate the way it inflates wall time. Call the result when done.
func reportCPU(b *testing.B) func() {
	start := benchcpu.Time()
	return func() {
		b.ReportMetric(float64((benchcpu.Time()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
