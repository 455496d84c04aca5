package echo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func start(t *testing.T, name string) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func get(t *testing.T, client *http.Client, req *http.Request) (*http.Response, Response) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body Response
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("body %q: %v", data, err)
	}
	return resp, body
}

func TestHTTP1(t *testing.T) {
	s := start(t, "alpha")
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/some/path?q=1", strings.NewReader("payload"))
	req.Host = "example.com"
	req.Header.Set("X-Test", "yes")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, body := get(t, http.DefaultClient, req)
	if resp.StatusCode != 200 || resp.Header.Get(HeaderName) != "alpha" || resp.Proto != "HTTP/1.1" {
		t.Errorf("status %d header %q proto %s", resp.StatusCode, resp.Header.Get(HeaderName), resp.Proto)
	}
	want := Response{Name: "alpha", Path: "/some/path?q=1", Host: "example.com", Method: "POST", Proto: "HTTP/1.1"}
	if body.Name != want.Name || body.Path != want.Path || body.Host != want.Host || body.Method != want.Method || body.Proto != want.Proto {
		t.Errorf("body = %+v, want %+v", body, want)
	}
	if body.Headers["x-test"] != "yes" || body.Headers["x-multi"] != "a,b" {
		t.Errorf("headers = %v", body.Headers)
	}

	req, _ = http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/fail", nil)
	req.Header.Set(HeaderStatus, "503")
	resp, body = get(t, http.DefaultClient, req)
	if resp.StatusCode != 503 || body.Name != "alpha" {
		t.Errorf("requested status: got %d %+v", resp.StatusCode, body)
	}
}

func TestH2C(t *testing.T) {
	s := start(t, "beta")
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/h2", nil)
	resp, body := get(t, client, req)
	if resp.ProtoMajor != 2 || body.Proto != "HTTP/2.0" {
		t.Errorf("proto = %s / %s, want HTTP/2", resp.Proto, body.Proto)
	}
	if body.Name != "beta" || body.Path != "/h2" || resp.Header.Get(HeaderName) != "beta" {
		t.Errorf("body = %+v header %q", body, resp.Header.Get(HeaderName))
	}
}

// rawCodec passes bytes through, so any method can be invoked.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	*b = data.Materialize()
	return nil
}

func TestGRPC(t *testing.T) {
	s := start(t, "gamma")
	conn, err := grpc.NewClient(s.Addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, method := range []string{"/any.Service/Method", "/plain/http/path"} {
		in, out := []byte("request"), []byte(nil)
		var header, trailer metadata.MD
		ctx := metadata.AppendToOutgoingContext(ctx, "x-call", "1")
		if err := conn.Invoke(ctx, method, &in, &out, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		var body Response
		if err := json.Unmarshal(out, &body); err != nil {
			t.Fatalf("%s: reply %q: %v", method, out, err)
		}
		if body.Name != "gamma" || body.Path != method || body.Method != "POST" || body.Headers["x-call"] != "1" {
			t.Errorf("%s: body = %+v", method, body)
		}
		if got := header.Get(HeaderName); len(got) != 1 || got[0] != "gamma" {
			t.Errorf("%s: header %s = %v", method, HeaderName, got)
		}
		if got := trailer.Get(HeaderName); len(got) != 1 || got[0] != "gamma" {
			t.Errorf("%s: trailer %s = %v", method, HeaderName, got)
		}
	}

	in, out := []byte("x"), []byte(nil)
	ctx = metadata.AppendToOutgoingContext(ctx, HeaderGRPCStatus, "14")
	err = conn.Invoke(ctx, "/svc/Fail", &in, &out)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("requested grpc-status 14: err = %v", err)
	}
}

func TestDelay(t *testing.T) {
	s := start(t, "slow")
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/", nil)
	req.Header.Set(HeaderDelay, "300ms")
	began := time.Now()
	resp, body := get(t, http.DefaultClient, req)
	if d := time.Since(began); d < 300*time.Millisecond || resp.StatusCode != 200 || body.Name != "slow" {
		t.Errorf("delayed reply after %v: %d %+v", d, resp.StatusCode, body)
	}
	// A client that gives up does not keep the handler busy.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr()+"/", nil)
	req.Header.Set(HeaderDelay, "20s")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Error("request with a 100ms deadline and a 20s delay succeeded")
	}
	closed := time.Now()
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if d := time.Since(closed); d > 5*time.Second {
		t.Errorf("Close waited %v for an abandoned delayed request", d)
	}
}

func TestListenError(t *testing.T) {
	s := start(t, "taken")
	if _, err := Listen(s.Addr(), "again"); err == nil || !strings.Contains(err.Error(), "echo again: listen") {
		t.Errorf("second listen on %s: err = %v", s.Addr(), err)
	}
	if _, _, err := net.SplitHostPort(s.Addr()); err != nil {
		t.Error(err)
	}
}
