package analyze

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/gateway/translate"
	meshtranslate "github.com/gantryproxy/gantry/mesh/translate"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Analyzer is one check over a Context.
type Analyzer interface {
	// Name is short and stable ("tls-secrets"); --analyzer selects by it.
	Name() string
	Description() string
	Run(ctx *Context)
}

// All returns every analyzer in the order they run. Analyzers that explain a
// problem in detail run before "status", which then leaves out the
// controller's generic condition for the same object (see
// statusRule.explainedBy).
func All() []Analyzer {
	return []Analyzer{
		gatewayClassAnalyzer{},
		crdVersionAnalyzer{},
		parentRefAnalyzer{},
		referenceGrantAnalyzer{},
		tlsSecretAnalyzer{},
		certCoalescingAnalyzer{},
		backendPortAnalyzer{},
		weightAnalyzer{},
		shadowAnalyzer{},
		serviceSelectorAnalyzer{},
		injectionAnalyzer{},
		meshSettingsAnalyzer{},
		xdsBuildAnalyzer{},
		authzAnalyzer{},
		statusAnalyzer{},
	}
}

// Context is what an analyzer sees.
type Context struct {
	// Set is the input; never modified.
	Set *resource.Set
	// Result is the edge translator's output for Set (configuration and
	// status).
	Result *translate.Result
	// Mesh is the mesh translator's output for Set: route tables of the
	// mesh clients and the status of routes whose parents are Services.
	Mesh *meshtranslate.Result
	// Now is the time certificates are checked against.
	Now time.Time
	// ControllerName is the GatewayClass controllerName Gantry runs as.
	ControllerName string
	// CRDs are the Gateway API CRDs found in the input or the cluster.
	CRDs []CRD
	// Live is set when the Set was read from a cluster: status written by
	// other controllers is meaningful and missing classes are real.
	Live bool
	// PodsComplete is set when Set holds every Pod, so a Service that
	// selects none has none (offline, only namespaces with Pods are checked).
	PodsComplete bool
	// AssumedClasses are GatewayClasses that Gateways in the input name but
	// the input lacks. Offline, Analyze adds them to Set as Gantry's classes
	// (the chart installs the class, so route files rarely carry it) and
	// says so (GTY0506).
	AssumedClasses []string

	messages       []Message
	seen           map[resource.Key]map[Code]bool
	missingParents map[resource.Key]map[string]bool
	idx            *index
	routeList      []route
}

// Report records a message about obj with code's catalogue level; the
// object's file:line comes from the Set's sources.
func (c *Context) Report(code Code, obj resource.Key, format string, args ...any) {
	src, _ := c.Set.SourceOf(obj)
	c.reportAt(code, obj, src, format, args...)
}

// reportAt is Report for objects outside the Set (CRDs).
func (c *Context) reportAt(code Code, obj resource.Key, src resource.Source, format string, args ...any) {
	e := mustLookup(code)
	m := Message{
		Code:      code,
		Level:     e.Level,
		Kind:      obj.Kind,
		Namespace: obj.Namespace,
		Name:      obj.Name,
		Message:   fmt.Sprintf(format, args...),
		File:      src.File,
		Line:      src.Line,
	}
	if src.File == "" {
		m.Line = 0
	}
	c.messages = append(c.messages, m)
	if c.seen == nil {
		c.seen = map[resource.Key]map[Code]bool{}
	}
	if c.seen[obj] == nil {
		c.seen[obj] = map[Code]bool{}
	}
	c.seen[obj][code] = true
}

// Proxies lists the edge and then the mesh proxies.
func (c *Context) Proxies() []*ir.Proxy {
	var out []*ir.Proxy
	if c.Result != nil {
		out = append(out, c.Result.Proxies...)
	}
	if c.Mesh != nil {
		out = append(out, c.Mesh.Proxies...)
	}
	return out
}

// Reports lists the edge and then the mesh status reports.
func (c *Context) Reports() []*status.Report {
	var out []*status.Report
	if c.Result != nil && c.Result.Status != nil {
		out = append(out, c.Result.Status)
	}
	if c.Mesh != nil && c.Mesh.Status != nil {
		out = append(out, c.Mesh.Status)
	}
	return out
}

// Reported tells whether an earlier analyzer reported any of codes for obj.
func (c *Context) Reported(obj resource.Key, codes ...Code) bool {
	for _, code := range codes {
		if c.seen[obj][code] {
			return true
		}
	}
	return false
}

// quoted tells whether a message about obj with one of codes contains text.
func (c *Context) quoted(obj resource.Key, text string, codes []Code) bool {
	for _, m := range c.messages {
		if m.Key() == obj && slices.Contains(codes, m.Code) && strings.Contains(m.Message, text) {
			return true
		}
	}
	return false
}

// prefixed tells whether a message about obj with one of codes starts with
// prefix (`listener "https": `).
func (c *Context) prefixed(obj resource.Key, prefix string, codes []Code) bool {
	for _, m := range c.messages {
		if m.Key() == obj && slices.Contains(codes, m.Code) && strings.HasPrefix(m.Message, prefix) {
			return true
		}
	}
	return false
}

// Options tune Analyze.
type Options struct {
	// Analyzers selects analyzers by name; empty means all.
	Analyzers []string
	// Now is the time certificates are checked against; zero means time.Now.
	Now time.Time
	// ControllerName defaults to translate.DefaultControllerName.
	ControllerName string
	CRDs           []CRD
	// Live: the Set was read from a cluster (see Context.Live).
	Live bool
	// PodsComplete: Set holds every Pod of the cluster (see Context).
	PodsComplete bool
}

// Analyze translates set and runs the selected analyzers over it. Messages
// come back sorted (see less). An unknown analyzer name is an error.
func Analyze(set *resource.Set, opts Options) ([]Message, error) {
	analyzers, err := Select(opts.Analyzers)
	if err != nil {
		return nil, err
	}
	if opts.ControllerName == "" {
		opts.ControllerName = translate.DefaultControllerName
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if set == nil {
		set = &resource.Set{}
	}
	var assumed []string
	if !opts.Live {
		set, assumed = AssumeClasses(set, opts.ControllerName)
	}
	ctx := &Context{
		Set:            set,
		AssumedClasses: assumed,
		Result:         translate.Translate(set, translate.Options{ControllerName: opts.ControllerName}),
		Mesh:           meshtranslate.Translate(set, meshtranslate.Options{ControllerName: opts.ControllerName}),
		Now:            opts.Now,
		ControllerName: opts.ControllerName,
		CRDs:           opts.CRDs,
		Live:           opts.Live,
		PodsComplete:   opts.PodsComplete,
	}
	for _, a := range analyzers {
		a.Run(ctx)
	}
	msgs := slices.CompactFunc(slices.SortedFunc(slices.Values(ctx.messages), less), func(a, b Message) bool { return a == b })
	return msgs, nil
}

// Select returns the named analyzers in their run order.
func Select(names []string) ([]Analyzer, error) {
	all := All()
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Analyzer
	for _, a := range all {
		if want[a.Name()] {
			out = append(out, a)
			delete(want, a.Name())
		}
	}
	if len(want) > 0 {
		unknown := make([]string, 0, len(want))
		for n := range want {
			unknown = append(unknown, n)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown analyzer %s (gantry analyze -L lists them)", strings.Join(unknown, ", "))
	}
	return out, nil
}
