// Package echo is a small backend for demos and tests. It answers any path
// and method over HTTP/1.1, cleartext HTTP/2 (h2c) and gRPC with its own name
// and what it saw of the request, so a test can tell which backend served a
// call and how the proxy rewrote it. Standard gRPC clients reach it through
// grpc.health.v1 and the echo service (protobuf, see EchoMethod).
package echo

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// Header names the server sets or reads.
const (
	// HeaderName carries the server's name on every reply (and as a gRPC trailer).
	HeaderName = "x-echo-name"
	// HeaderStatus on a request asks for that HTTP status code in the reply.
	HeaderStatus = "x-echo-status"
	// HeaderGRPCStatus on a gRPC request asks for that grpc-status in the reply.
	HeaderGRPCStatus = "x-echo-grpc-status"
	// HeaderDelay on a request ("250ms", at most 30s) delays the reply, for
	// timeout tests. The delay ends early when the client goes away.
	HeaderDelay = "x-echo-delay"
)

const maxDelay = 30 * time.Second

// delay waits as the request's HeaderDelay asks, or until the client leaves.
func delay(r *http.Request) {
	d, err := time.ParseDuration(r.Header.Get(HeaderDelay))
	if err != nil || d <= 0 {
		return
	}
	t := time.NewTimer(min(d, maxDelay))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// Response is the JSON body of every reply (the message of a gRPC reply).
type Response struct {
	Name    string            `json:"name"`
	Path    string            `json:"path"`
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Proto   string            `json:"proto"`
	Headers map[string]string `json:"headers"`
}

// Server is one listening echo backend.
type Server struct {
	name string
	ln   net.Listener
	srv  *http.Server
	gs   *grpc.Server
	done chan struct{}
}

// Listen starts an echo server named name on addr ("127.0.0.1:0" picks a
// free port). It serves until Close.
func Listen(addr, name string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("echo %s: listen %s: %w", name, addr, err)
	}
	gs, err := newGRPCServer(name)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s := &Server{
		name: name,
		ln:   ln,
		gs:   gs,
		srv: &http.Server{
			Handler:           handler(name, gs),
			Protocols:         protocols,
			ReadHeaderTimeout: 10 * time.Second,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.gs.Stop()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// handler answers every request with name and what it saw. gRPC calls of
// the standard services (grpc.health.v1.Health, EchoService, server
// reflection) are served by gs with the protobuf codec; any other gRPC
// method gets one gRPC-framed JSON Response.
func handler(name string, gs *grpc.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		delay(r)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			if r.ProtoMajor == 2 && isStandardGRPC(r.URL.Path) {
				gs.ServeHTTP(w, r)
				return
			}
			serveGRPC(w, r, name)
			return
		}
		serveHTTP(w, r, name)
	})
}

func describe(r *http.Request, name string) Response {
	headers := make(map[string]string, len(r.Header))
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		headers[strings.ToLower(k)] = strings.Join(r.Header.Values(k), ",")
	}
	return Response{
		Name:    name,
		Path:    r.URL.RequestURI(),
		Host:    r.Host,
		Method:  r.Method,
		Proto:   r.Proto,
		Headers: headers,
	}
}

func serveHTTP(w http.ResponseWriter, r *http.Request, name string) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	body, err := json.Marshal(describe(r, name))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	code := http.StatusOK
	if s := r.Header.Get(HeaderStatus); s != "" {
		if c, err := strconv.Atoi(s); err == nil && c >= 200 && c <= 599 {
			code = c
		}
	}
	h := w.Header()
	h.Set(HeaderName, name)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// serveGRPC answers any gRPC method with one message: the JSON description.
// It reads only the first request message, so streaming calls work too.
func serveGRPC(w http.ResponseWriter, r *http.Request, name string) {
	var prefix [5]byte
	if _, err := io.ReadFull(r.Body, prefix[:]); err == nil {
		_, _ = io.CopyN(io.Discard, r.Body, int64(binary.BigEndian.Uint32(prefix[1:])))
	}
	body, err := json.Marshal(describe(r, name))
	status, message := "0", ""
	if err != nil {
		status, message = "13", err.Error()
	}
	if s := r.Header.Get(HeaderGRPCStatus); s != "" {
		if c, err := strconv.Atoi(s); err == nil && c > 0 && c <= 16 {
			status, message = s, "requested by "+HeaderGRPCStatus
		}
	}
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set(HeaderName, name)
	h.Set("Trailer", "Grpc-Status, Grpc-Message, "+HeaderName)
	w.WriteHeader(http.StatusOK)
	if status == "0" {
		frame := make([]byte, 5, 5+len(body))
		binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
		_, _ = w.Write(append(frame, body...))
	}
	h.Set("Grpc-Status", status)
	if message != "" {
		h.Set("Grpc-Message", message)
	}
	h.Set(HeaderName, name)
}
