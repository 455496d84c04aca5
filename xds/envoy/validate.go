package envoy

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	udpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Validate checks r the way a client would before accepting it:
//   - every resource passes its ValidateAll(), and so does every message
//     packed in a google.protobuf.Any anywhere inside it (typed_config,
//     typed_per_filter_config, extension protocol options, transport
//     sockets...), which ValidateAll does not unpack by itself;
//   - names are set and unique per kind;
//   - references resolve: every RDS name of a listener (api_listener
//     managers included) has a RouteConfiguration, every cluster named by a
//     route, TCP or UDP proxy or mirror exists, every EDS cluster has a
//     ClusterLoadAssignment, every SDS secret exists.
func Validate(r *Resources) error {
	if r == nil {
		return fmt.Errorf("validate: nil resources")
	}
	refs := &references{}
	names := map[string]map[string]bool{}
	kinds := []struct {
		kind string
		list []types.Resource
		want func(types.Resource) bool
	}{
		{kind: "listener", list: r.Listeners, want: is[*listenerv3.Listener]},
		{kind: "route config", list: r.Routes, want: is[*routev3.RouteConfiguration]},
		{kind: "cluster", list: r.Clusters, want: is[*clusterv3.Cluster]},
		{kind: "endpoints", list: r.Endpoints, want: is[*endpointv3.ClusterLoadAssignment]},
		{kind: "secret", list: r.Secrets, want: is[*tlsv3.Secret]},
	}
	var errs []error
	for _, k := range kinds {
		names[k.kind] = map[string]bool{}
		for i, res := range k.list {
			if rc, ok := res.(*RouteConfiguration); ok {
				res = rc.Message() // a Builder's: validated as the flat message
			}
			name := resourceName(res)
			if !k.want(res) {
				errs = append(errs, fmt.Errorf("%s %q: unexpected type %T", k.kind, name, res))
				continue
			}
			if name == "" {
				errs = append(errs, fmt.Errorf("%s #%d: empty name", k.kind, i))
				continue
			}
			if names[k.kind][name] {
				errs = append(errs, fmt.Errorf("%s %s: duplicate name", k.kind, name))
			}
			names[k.kind][name] = true
			refs.from = k.kind + " " + name
			if err := validateMessage(res, refs); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", k.kind, name, pinpoint(res, err)))
			}
		}
	}
	errs = append(errs, refs.check(names)...)
	return errors.Join(errs...)
}

func is[T types.Resource](r types.Resource) bool {
	_, ok := r.(T)
	return ok
}

// validateMessage runs m's ValidateAll and then every Any inside it.
func validateMessage(m proto.Message, refs *references) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return err
		}
	}
	return walk(m.ProtoReflect(), refs)
}

// walk visits every message under m (records references) and validates the
// content of every Any. It only descends into fields whose type can hold an
// Any or a reference (see mayHold).
func walk(m protoreflect.Message, refs *references) error {
	refs.visit(m.Interface())
	for _, fd := range interestingFields(m.Descriptor()) {
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			if err := walkMap(fd, v.Map(), refs); err != nil {
				return err
			}
		case fd.IsList():
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				if err := visitValue(list.Get(i).Message(), refs); err != nil {
					return fmt.Errorf("%s[%d]: %w", fd.Name(), i, err)
				}
			}
		default:
			if err := visitValue(v.Message(), refs); err != nil {
				return fmt.Errorf("%s: %w", fd.Name(), err)
			}
		}
	}
	return nil
}

// walkMap visits map values in key order, so the first error is stable.
func walkMap(fd protoreflect.FieldDescriptor, mp protoreflect.Map, refs *references) error {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		if err := visitValue(mp.Get(k).Message(), refs); err != nil {
			return fmt.Errorf("%s[%s]: %w", fd.Name(), k.String(), err)
		}
	}
	return nil
}

// fieldsCache caches interestingFields per message type.
var fieldsCache sync.Map // protoreflect.FullName -> []protoreflect.FieldDescriptor

// interestingFields are the message, list and map fields of md whose values
// can hold an Any or a reference.
func interestingFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	if v, ok := fieldsCache.Load(md.FullName()); ok {
		return v.([]protoreflect.FieldDescriptor)
	}
	var out []protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		value := fd
		if fd.IsMap() {
			value = fd.MapValue()
		}
		if value.Message() != nil && mayHold(value.Message()) {
			out = append(out, fd)
		}
	}
	fieldsCache.Store(md.FullName(), out)
	return out
}

var anyName = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()

// referenceTypes are the messages references.visit looks at.
var referenceTypes = fullNames(
	&hcmv3.Rds{}, &hcmv3.HttpConnectionManager{}, &routev3.RouteAction{},
	&routev3.WeightedCluster_ClusterWeight{}, &routev3.RouteAction_RequestMirrorPolicy{},
	&tcpproxyv3.TcpProxy{}, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{},
	&udpproxyv3.Route{}, &tlsv3.SdsSecretConfig{}, &clusterv3.Cluster{},
	&corev3.GrpcService_EnvoyGrpc{}, &tracev3.ZipkinConfig{},
)

func fullNames(msgs ...proto.Message) map[protoreflect.FullName]bool {
	out := make(map[protoreflect.FullName]bool, len(msgs))
	for _, m := range msgs {
		out[m.ProtoReflect().Descriptor().FullName()] = true
	}
	return out
}

// holds caches mayHold per message type.
var holds sync.Map // protoreflect.FullName -> bool

// mayHold tells whether a message of type md can contain, at any depth, an
// Any or a message that references another resource. walk skips the others
// (matchers, durations, header values...), which is most of a route table.
func mayHold(md protoreflect.MessageDescriptor) bool {
	if v, ok := holds.Load(md.FullName()); ok {
		return v.(bool)
	}
	seen := map[protoreflect.FullName]bool{}
	var reach func(protoreflect.MessageDescriptor) bool
	reach = func(d protoreflect.MessageDescriptor) bool {
		if d.FullName() == anyName || referenceTypes[d.FullName()] {
			return true
		}
		if seen[d.FullName()] {
			return false
		}
		seen[d.FullName()] = true
		fields := d.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.IsMap() {
				fd = fd.MapValue()
			}
			if fd.Message() != nil && reach(fd.Message()) {
				return true
			}
		}
		return false
	}
	v := reach(md)
	holds.Store(md.FullName(), v)
	return v
}

func visitValue(m protoreflect.Message, refs *references) error {
	if m.Descriptor().FullName() != anyName {
		return walk(m, refs)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("unexpected Any implementation %T", m.Interface())
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		if errors.Is(err, protoregistry.NotFound) {
			return fmt.Errorf("any %s: type not registered", a.GetTypeUrl())
		}
		return fmt.Errorf("any %s: %w", a.GetTypeUrl(), err)
	}
	if err := validateMessage(inner, refs); err != nil {
		return fmt.Errorf("(%s): %w", a.GetTypeUrl(), err)
	}
	return nil
}

// references collects what each resource names, for the consistency check.
type references struct {
	from string
	list []reference
}

type reference struct {
	from, kind, name string
}

func (r *references) add(kind, name string) {
	r.list = append(r.list, reference{from: r.from, kind: kind, name: name})
}

func (r *references) visit(m proto.Message) {
	switch v := m.(type) {
	case *hcmv3.Rds:
		r.add("route config", v.GetRouteConfigName())
	case *hcmv3.HttpConnectionManager:
		if v.GetRouteSpecifier() == nil {
			r.add("route config", "") // a manager must name its routes
		}
	case *routev3.RouteAction:
		if c := v.GetCluster(); c != "" {
			r.add("cluster", c)
		}
	case *routev3.WeightedCluster_ClusterWeight:
		r.add("cluster", v.GetName())
	case *routev3.RouteAction_RequestMirrorPolicy:
		r.add("cluster", v.GetCluster())
	case *tcpproxyv3.TcpProxy:
		if c := v.GetCluster(); c != "" {
			r.add("cluster", c)
		}
	case *tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight:
		r.add("cluster", v.GetName())
	case *udpproxyv3.Route:
		r.add("cluster", v.GetCluster())
	case *corev3.GrpcService_EnvoyGrpc:
		r.add("cluster", v.GetClusterName())
	case *tracev3.ZipkinConfig:
		r.add("cluster", v.GetCollectorCluster())
	case *tlsv3.SdsSecretConfig:
		r.add("secret", v.GetName())
	case *clusterv3.Cluster:
		if v.GetType() == clusterv3.Cluster_EDS {
			name := v.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = v.GetName()
			}
			r.add("endpoints", name)
		}
	}
}

func (r *references) check(names map[string]map[string]bool) []error {
	var errs []error
	seen := map[reference]bool{}
	for _, ref := range r.list {
		if names[ref.kind][ref.name] || seen[ref] {
			continue
		}
		seen[ref] = true
		errs = append(errs, fmt.Errorf("%s: references %s %q, which does not exist", ref.from, ref.kind, ref.name))
	}
	sort.Slice(errs, func(i, j int) bool { return strings.Compare(errs[i].Error(), errs[j].Error()) < 0 })
	return errs
}

// pinpoint names the virtual host and route of a route configuration that
// failed validation, which the generated error only gives by index.
func pinpoint(res types.Resource, err error) error {
	rc, ok := res.(*routev3.RouteConfiguration)
	if !ok {
		return err
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if e := validateMessage(r, &references{}); e != nil {
				return fmt.Errorf("virtual host %s: route %s: %w", vh.GetName(), r.GetName(), e)
			}
		}
		if e := vh.ValidateAll(); e != nil {
			return fmt.Errorf("virtual host %s: %w", vh.GetName(), e)
		}
	}
	return err
}
