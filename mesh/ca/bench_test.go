package ca

import (
	"context"
	"testing"
	"time"
)

// BenchmarkIssue: one workload certificate from nothing (P-256 key, CSR,
// signature by the built-in root), as a renewal costs.
func BenchmarkIssue(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	id := Identity{Namespace: "shop", ServiceAccount: "web"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c.mu.Lock()
		_, err := c.issue(id, nil, now)
		c.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign: the CA's side of a workload's CSR (parse, check, sign).
func BenchmarkSign(b *testing.B) {
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	csr := csrFor(b, []string{"spiffe://cluster.local/ns/shop/sa/web"}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Sign(context.Background(), csr, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
