package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/gantryproxy/gantry/gateway/infra/host"
	"github.com/gantryproxy/gantry/gateway/infra/params"
	"github.com/gantryproxy/gantry/gateway/loop"
	"github.com/gantryproxy/gantry/gateway/translate"
	"github.com/gantryproxy/gantry/xds/cache"
	"github.com/gantryproxy/gantry/xds/server"
)

// providerEvent is one new input Set from a provider (gateway/loop).
type providerEvent = loop.Event

// provider produces input Sets until ctx ends (implemented by the file and
// kube wiring).
type provider interface {
	Run(ctx context.Context, out chan<- providerEvent) error
}

// shutdowner is a provider that owns something to stop once the pipeline no
// longer calls its sink (file: the host infra's Envoy processes). serve waits
// for shutdown before it returns.
type shutdowner interface {
	shutdown() error
}

// statusSink receives every published result (file: log + /status; kube:
// status writer + infra).
type statusSink = loop.Sink

// providerWiring is what a provider constructor returns.
type providerWiring struct {
	provider provider
	// sink may be nil.
	sink statusSink
}

// serveOptions are the flags of gantry serve.
type serveOptions struct {
	provider                string
	configDirs              []string
	xdsAddress              string
	adminAddress            string
	metricsAddress          string
	gcHeadroom              int
	controllerName          string
	watchNamespaces         []string
	leaderElect             bool
	leaderElectionNamespace string
	envoyImage              string
	xdsServiceAddress       string
	logLevel                string
	logFormat               string
	meshTelemetry           []string
	hostStatsIP             string
	kube                    kubeFlags
	envoyDownload           string
	envoyVersionsURL        string
	// identity: TLS and authentication of xDS, the CA (serve_identity.go).
	identity identityOptions
	meshTLS  meshTLSOptions // serve_certs.go
	webhook  webhookOptions // serve_webhook.go
	sidecar  sidecarOptions // serve_sidecar.go
	// hostStopTimeout is how long the host infra waits after SIGTERM
	// before SIGKILL (zero: 10 s); not a flag, tests shorten it.
	hostStopTimeout time.Duration
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane: providers, translation, xDS server, status, metrics and admin",
		Long: `Runs Gantry's control plane. With -f it runs standalone from a folder of
Gateway API YAML (edits apply live); otherwise it watches a Kubernetes cluster.
Envoy proxies and proxyless gRPC clients connect to --xds-address (ADS, state of
the world or delta); node.cluster names the group ("gateway/<ns>/<name>") and node
metadata gantry.flavor=grpc selects the gRPC flavor.

Standalone, serve starts one Envoy per Gateway with the envoy on PATH (or named
by GANTRY_ENVOY); with --envoy-download=auto it downloads the pinned Envoy
release with func-e into ~/.cache/gantry/envoy when there is none. Without
Envoy its log says how to send requests with gantry probe.`,
		Example: `  gantry serve -f examples/quickstart
  gantry serve -f examples/quickstart --envoy-download=auto
  gantry serve --provider kube --leader-elect`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.provider == "" {
				o.provider = "kube"
				if len(o.configDirs) > 0 {
					o.provider = "file"
				}
			}
			log, err := newLogger(cmd.ErrOrStderr(), o.logLevel, o.logFormat)
			if err != nil {
				return usageErr(err)
			}
			if err := validateEnvoyDownload(o.envoyDownload); err != nil {
				return usageErr(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, o, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.provider, "provider", "", "input provider: file or kube (default: file when -f is given, else kube)")
	f.StringArrayVarP(&o.configDirs, "filename", "f", nil, `file: a folder (read recursively) or file of Gateway API YAML, watched for changes; repeatable ("-" is not accepted: serve watches files)`)
	addHiddenAlias(f, "config-dir", "filename")
	f.StringVar(&o.xdsAddress, "xds-address", ":18000", "address of the xDS server (ADS, SotW and delta)")
	f.StringVar(&o.adminAddress, "admin-address", "127.0.0.1:19000", "address of the admin server (/status, /proxies, pprof); loopback by default")
	f.StringVar(&o.metricsAddress, "metrics-address", ":19001", "address of /metrics, /healthz and /readyz")
	f.IntVar(&o.gcHeadroom, "gc-headroom", 10, "once the first configuration is translated, the heap may exceed the live heap between collections by the share the start left, and by at least this percent of it (and 16 MiB): memory stays near its level after start; 0: the Go runtime's default, up to twice the live heap; GOGC in the environment turns this off")
	f.StringVar(&o.controllerName, "controller-name", translate.DefaultControllerName, "GatewayClass controllerName to act on")
	f.StringSliceVar(&o.watchNamespaces, "watch-namespaces", nil, "kube: namespaces to watch (default all)")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "kube: elect a leader among replicas for status writing and infra")
	f.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "", "kube: namespace of the leader election lease")
	o.kube.add(f)
	f.StringVar(&o.envoyImage, "envoy-image", "", "kube infra: Envoy image of the Gateway deployments")
	f.StringVar(&o.xdsServiceAddress, "xds-service-address", "", "address Envoy bootstraps dial to reach the xDS server")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.hostStatsIP, "host-stats-ip", "127.0.0.1", "standalone: IP of each local Envoy's Prometheus stats listener (a free port each, listed on /status); 0.0.0.0 exposes them, empty for none")
	f.StringArrayVar(&o.meshTelemetry, "mesh-telemetry", nil, "access log and tracing of every sidecar, KEY=VALUE with the parameters ConfigMap's telemetry keys (repeatable; see docs/observability.md)")
	f.StringVar(&o.envoyDownload, "envoy-download", envOr(envEnvoyDownload, downloadNever), "file: when no envoy is on PATH or named by GANTRY_ENVOY, download the pinned Envoy release with func-e (auto) or not (never); env "+envEnvoyDownload)
	f.StringVar(&o.envoyVersionsURL, "envoy-versions-url", envOr(envVersionsURL, ""), "file: func-e release list to download Envoy from (a mirror); env "+envVersionsURL)
	addIdentityFlags(f, &o.identity)
	addMeshTLSFlags(f, &o.meshTLS)
	addWebhookFlags(f, &o.webhook)
	addSidecarFlags(f, &o.sidecar)
	return cmd
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// selectProvider builds the provider named by --provider. Each provider's
// wiring lives in its own file (serve_file.go, serve_kube.go).
func selectProvider(ctx context.Context, o *serveOptions, log *slog.Logger) (providerWiring, error) {
	switch o.provider {
	case "file":
		return newFileProvider(ctx, o, log)
	case "kube":
		return newKubeProvider(ctx, o, log)
	}
	return providerWiring{}, usageErr(fmt.Errorf("--provider %q: want file or kube", o.provider))
}

// controlPlane is everything gantry serve runs, built by newControlPlane so
// tests can run the real wiring on loopback ports.
type controlPlane struct {
	cache    *cache.Cache
	xds      *server.Server
	security *xdsSecurity
	loop     *loop.Loop
	registry *prometheus.Registry
	log      *slog.Logger
	// controllerName is --controller-name (the console's analysis).
	controllerName string
	xdsLn          net.Listener
	adminLn        net.Listener
	metricLn       net.Listener
	// hostEnvoys lists the local Envoy processes on /status (nil: none).
	hostEnvoys func() []host.Status
	// webhook is the sidecar injection webhook (nil: not served).
	webhook *webhookServer
}

// newControlPlane listens on the three addresses and wires the cache, the
// xDS server and the control loop.
func newControlPlane(o *serveOptions, sink statusSink, log *slog.Logger) (*controlPlane, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every snapshot comes from envoy.Build, which has already validated it
	// (ValidateAll inside every Any, references); the cache keeps its own
	// reference check, so a second full Validate here would only cost time.
	c := cache.New(cache.Options{})
	sec, err := newXDSSecurity(o, log)
	if err != nil {
		return nil, err
	}
	cp := &controlPlane{cache: c, registry: reg, log: log, security: sec, controllerName: o.controllerName}
	o.identity.security = sec
	o.meshTLS.useSecurity(sec, o.identity)
	meshTel, err := params.ParseTelemetry(o.meshTelemetry)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--mesh-telemetry: %w", err)}
	}
	outboundPolicy, err := o.sidecar.policy()
	if err != nil {
		return nil, err
	}
	cp.loop = loop.New(loop.Options{
		Cache: c, ControllerName: o.controllerName, Sink: countStatus(reg, sink), Logger: log, Registry: reg, MeshTelemetry: meshTel,
		MeshSecrets: sec.meshSecrets, MeshTLS: o.meshTLS.translateOptions(), MeshOutboundPolicy: outboundPolicy,
	})
	registerCerts, err := o.meshTLS.certService(reg)
	if err != nil {
		return nil, err
	}
	xs, err := server.New(sec.serverOptions(server.Options{Cache: c, Registry: reg, Logger: log, OnNewKey: cp.loop.NeedKey, OnKeyGone: cp.loop.KeyGone,
		OnNACKChange: cp.loop.NACKChanged, Register: registerCerts}))
	if err != nil {
		return nil, err
	}
	cp.xds = xs
	cp.loop.UseServer(xs)
	if cp.webhook, err = newWebhook(o, sec, log); err != nil {
		return nil, err
	}
	lns := []struct {
		addr string
		ln   *net.Listener
		what string
	}{{o.xdsAddress, &cp.xdsLn, "xds"}, {o.adminAddress, &cp.adminLn, "admin"}, {o.metricsAddress, &cp.metricLn, "metrics"}}
	for _, l := range lns {
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			cp.closeListeners()
			if cp.webhook != nil {
				_ = cp.webhook.ln.Close()
			}
			return nil, fmt.Errorf("--%s-address %s: %w", l.what, l.addr, err)
		}
		*l.ln = ln
	}
	return cp, nil
}

func (cp *controlPlane) closeListeners() {
	for _, ln := range []net.Listener{cp.xdsLn, cp.adminLn, cp.metricLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// run serves until ctx ends, reading events from p.
func (cp *controlPlane) run(ctx context.Context, p provider) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 5)
	if l, ok := p.(hostEnvoyLister); ok {
		cp.hostEnvoys = l.hostEnvoys
	}
	admin := newAdminServer(cp)
	metrics := newMetricsServer(cp)
	go func() { errs <- cp.xds.Serve(cp.xdsLn) }()
	go cp.security.run(ctx)
	if cp.webhook != nil {
		go func() { errs <- cp.webhook.run(ctx) }()
	}
	go func() { errs <- serveHTTP(admin, cp.adminLn) }()
	go func() { errs <- serveHTTP(metrics, cp.metricLn) }()
	events := make(chan providerEvent, 16)
	go func() {
		if err := p.Run(ctx, events); err != nil {
			errs <- fmt.Errorf("provider: %w", err)
		}
	}()
	if s, ok := p.(conditionStamper); ok {
		cp.loop.SetStamp(s.stampConditions)
	}
	go cp.loop.Run(ctx, events)
	cp.log.Info("gantry serving", "xds", cp.xdsLn.Addr().String(), "admin", cp.adminLn.Addr().String(), "metrics", cp.metricLn.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer stopCancel()
	cp.xds.Stop(stopCtx)
	_ = admin.Shutdown(stopCtx)
	_ = metrics.Shutdown(stopCtx)
	cp.loop.Wait()
	// The pipeline no longer calls the sinks: stop what the provider owns
	// (host infra) and wait, so no child process outlives serve.
	if s, ok := p.(shutdowner); ok {
		if serr := s.shutdown(); serr != nil {
			cp.log.Warn("shutdown", "error", serr)
		}
	}
	return err
}

func runServe(ctx context.Context, o *serveOptions, log *slog.Logger) error {
	if err := checkGCHeadroom(o.gcHeadroom); err != nil {
		return err
	}
	w, err := selectProvider(ctx, o, log)
	if err != nil {
		return err
	}
	cp, err := newControlPlane(o, w.sink, log)
	if err != nil {
		return err
	}
	startGCHeadroom(ctx, o.gcHeadroom, func() bool { return cp.loop.State().Ready }, log)
	if err := cp.run(ctx, w.provider); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
