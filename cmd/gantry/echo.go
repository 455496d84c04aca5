package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/internal/echo"
)

func newEchoCmd() *cobra.Command {
	var name string
	var listens []string
	cmd := &cobra.Command{
		Use:   "echo",
		Short: "Run echo backends that answer any path with their name, the path, host, method and headers",
		Long: `Runs one echo backend per --listen address. Each answers HTTP/1.1, h2c and gRPC
(any method) with a JSON body {name, path, host, method, headers} and the header
x-echo-name. A listener may carry its own name: --listen name=127.0.0.1:8081.

Standard gRPC clients (the protobuf codec, nothing special) can call:
  grpc.health.v1.Health/Check           SERVING for "" and gantry.echo.v1.Echo
  gantry.echo.v1.Echo/Echo              google.protobuf.Struct in, Struct out:
                                        {name, path, host, peer, headers, request}
  grpc.reflection.v1.ServerReflection   so grpcurl can list and describe them
Any other gRPC method gets one gRPC frame holding the JSON body above.

Request headers steer the reply: x-echo-status: 503 (HTTP status),
x-echo-grpc-status: 14 (gRPC status), x-echo-delay: 250ms (answer later).`,
		Example: `  gantry echo --name v1 --listen 127.0.0.1:18081
  gantry echo --listen v1=127.0.0.1:18081 --listen v2=127.0.0.1:18082
  grpcurl -plaintext -d '{"hi": 1}' 127.0.0.1:18081 gantry.echo.v1.Echo/Echo`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			specs, err := parseEchoListens(name, listens)
			if err != nil {
				return usageErr(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runEcho(ctx, specs)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name reported by listeners that do not name themselves (default: the host name)")
	cmd.Flags().StringArrayVar(&listens, "listen", nil, "address to listen on, [name=]host:port (repeatable)")
	return cmd
}

type echoSpec struct{ name, addr string }

func parseEchoListens(defaultName string, listens []string) ([]echoSpec, error) {
	if len(listens) == 0 {
		return nil, errors.New("echo: at least one --listen address is required")
	}
	if defaultName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "echo"
		}
		defaultName = host
	}
	specs := make([]echoSpec, 0, len(listens))
	for _, l := range listens {
		spec := echoSpec{name: defaultName, addr: l}
		if n, addr, ok := strings.Cut(l, "="); ok {
			if n == "" || addr == "" {
				return nil, fmt.Errorf("echo: --listen %q: want [name=]host:port", l)
			}
			spec = echoSpec{name: n, addr: addr}
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

func runEcho(ctx context.Context, specs []echoSpec) error {
	servers := make([]*echo.Server, 0, len(specs))
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	for _, spec := range specs {
		s, err := echo.Listen(spec.addr, spec.name)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		slog.Info("echo backend listening", "name", spec.name, "address", s.Addr())
	}
	<-ctx.Done()
	slog.Info("echo backends stopping")
	return nil
}
