// Package envoytest helps tests run a real Envoy on what xds/envoy builds:
// it finds the binary and turns built resources into a bootstrap with
// everything static.
package envoytest

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// EnvVar names an Envoy binary; without it, envoy on PATH is used.
const EnvVar = "GANTRY_ENVOY"

// Binary is $GANTRY_ENVOY or envoy on PATH; empty when there is neither.
func Binary() string {
	if p := os.Getenv(EnvVar); p != "" {
		return p
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return ""
	}
	return p
}

// Resources are built xDS resources, by kind.
type Resources struct {
	Listeners, Routes, Clusters, Endpoints, Secrets []types.Resource
}

// StaticBootstrap turns built resources into a bootstrap with everything
// static: route configurations inlined into their managers, EDS clusters
// made static with their assignment, SDS references pointing at static
// secrets. API listeners are left out (Envoy servers do not take them).
func StaticBootstrap(res Resources, node *corev3.Node) (*bootstrapv3.Bootstrap, error) {
	routes := map[string]*routev3.RouteConfiguration{}
	for _, r := range res.Routes {
		rc := r.(*routev3.RouteConfiguration)
		routes[rc.Name] = rc
	}
	cla := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, e := range res.Endpoints {
		c := e.(*endpointv3.ClusterLoadAssignment)
		cla[c.ClusterName] = c
	}
	sr := &bootstrapv3.Bootstrap_StaticResources{}
	for _, r := range res.Listeners {
		l := proto.Clone(r).(*listenerv3.Listener)
		if l.ApiListener != nil {
			continue
		}
		chains := l.FilterChains
		if l.DefaultFilterChain != nil {
			chains = append(chains[:len(chains):len(chains)], l.DefaultFilterChain)
		}
		for _, fc := range chains {
			if err := staticChain(fc, routes); err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		sr.Listeners = append(sr.Listeners, l)
	}
	for _, r := range res.Clusters {
		c := proto.Clone(r).(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_EDS {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
			c.EdsClusterConfig = nil
			c.LoadAssignment = cla[c.Name]
			if c.LoadAssignment == nil {
				c.LoadAssignment = &endpointv3.ClusterLoadAssignment{ClusterName: c.Name}
			}
		}
		if err := staticSDS(c.TransportSocket, &tlsv3.UpstreamTlsContext{}); err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		sr.Clusters = append(sr.Clusters, c)
	}
	for _, s := range res.Secrets {
		sr.Secrets = append(sr.Secrets, s.(*tlsv3.Secret))
	}
	return &bootstrapv3.Bootstrap{Node: node, StaticResources: sr}, nil
}

// staticChain inlines the route configuration of a chain's HTTP manager and
// makes its TLS read static secrets.
func staticChain(fc *listenerv3.FilterChain, routes map[string]*routev3.RouteConfiguration) error {
	for _, f := range fc.Filters {
		if f.Name != "envoy.filters.network.http_connection_manager" {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
			return err
		}
		if rds := hcm.GetRds(); rds != nil {
			rc := routes[rds.RouteConfigName]
			if rc == nil {
				return fmt.Errorf("filter chain %s names missing route config %q", fc.Name, rds.RouteConfigName)
			}
			hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
		}
		a, err := anypb.New(hcm)
		if err != nil {
			return err
		}
		f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
	}
	return staticSDS(fc.TransportSocket, &tlsv3.DownstreamTlsContext{})
}

// staticSDS drops the ADS source of every SDS reference in a TLS transport
// socket, which makes it name a static secret.
func staticSDS(ts *corev3.TransportSocket, ctx proto.Message) error {
	if ts == nil {
		return nil
	}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return err
	}
	var common *tlsv3.CommonTlsContext
	switch c := ctx.(type) {
	case *tlsv3.DownstreamTlsContext:
		common = c.GetCommonTlsContext()
	case *tlsv3.UpstreamTlsContext:
		common = c.GetCommonTlsContext()
	}
	for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
		s.SdsConfig = nil
	}
	if s := common.GetValidationContextSdsSecretConfig(); s != nil {
		s.SdsConfig = nil
	}
	if s := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig(); s != nil {
		s.SdsConfig = nil
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return err
	}
	ts.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: a}
	return nil
}
