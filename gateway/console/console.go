// Package console renders Gantry's read-only web console: one server-side
// HTML page (html/template, embedded) showing Gateways and their listeners
// with every status condition, routes and their parents, a graph of
// Gateway → listener → route → Service → endpoints and of mesh Service →
// route → Service, the connected proxies with the version each
// acknowledged and its last NACK, and the current analyzer findings.
//
// It is fed the state the admin endpoints serve (Input) and renders no key
// material: it reads no secret from the IR, and every text it shows passes
// Redact, which blanks PEM private-key blocks wherever they come from (a
// NACK message, a diagnostic).
package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryproxy/gantry/gateway/status"
	"github.com/gantryproxy/gantry/xds/ir"
)

// Input is the state the console shows.
type Input struct {
	// Ready is false until the first translation.
	Ready       bool
	Diagnostics []string
	Status      *status.Report
	// Proxies are the translated node groups (gateway/..., mesh/...).
	Proxies   []*ir.Proxy
	Connected []ConnectedProxy
	// HostEnvoys are the Envoy processes gantry serve runs on this host
	// (standalone host infra); none otherwise.
	HostEnvoys []HostEnvoy
	Findings   []Finding
	Now        time.Time
}

// HostEnvoy is one local Envoy process with its admin and stats listeners.
type HostEnvoy struct {
	Group                      string
	PID, Starts                int
	Running                    bool
	LastExit                   string
	AdminAddress, StatsAddress string
}

// ConnectedProxy is one xDS stream.
type ConnectedProxy struct {
	ID, Group, Flavor, Protocol string
	Since                       time.Time
	Types                       []ProxyType
}

// ProxyType is what one stream was sent of one resource type and what it
// answered.
type ProxyType struct {
	Type, Sent, Acked, State string
	// NACKError and NACKAt describe the last rejection; empty when none.
	NACKError string
	NACKAt    time.Time
	NACKCount int
}

// Finding is one analyzer message.
type Finding struct {
	Level, Code, Object, Location, Message string
}

// Page is what the template renders.
type Page struct {
	Input
	Gateways []gatewayView
	Routes   []routeView
	Edge     []graphGateway
	Mesh     []meshService
	NACKs    int
}

type gatewayView struct {
	Name       string
	Conditions []conditionView
	Listeners  []listenerView
}

type listenerView struct {
	Name       string
	Attached   int32
	Conditions []conditionView
}

type routeView struct {
	Kind, Name string
	Parents    []parentView
}

type parentView struct {
	Ref        string
	Conditions []conditionView
}

type conditionView struct {
	Type, Status, Reason, Message string
	// Good tells whether this condition reads as healthy.
	Good bool
}

// badWhenTrue are condition types whose True is a problem.
var badWhenTrue = []string{"Conflicted", "OverlappingTLSConfig"}

func conditions(in []metav1.Condition) []conditionView {
	out := make([]conditionView, 0, len(in))
	for _, c := range in {
		good := c.Status == metav1.ConditionTrue
		if slices.Contains(badWhenTrue, c.Type) {
			good = c.Status == metav1.ConditionFalse
		}
		out = append(out, conditionView{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: Redact(c.Message), Good: good})
	}
	return out
}

// Build turns the input into the page's views.
func Build(in Input) Page {
	p := Page{Input: in}
	if in.Status != nil {
		for _, g := range in.Status.Gateways {
			gv := gatewayView{Name: g.Namespace + "/" + g.Name, Conditions: conditions(g.Status.Conditions)}
			for _, l := range g.Status.Listeners {
				gv.Listeners = append(gv.Listeners, listenerView{Name: string(l.Name), Attached: l.AttachedRoutes, Conditions: conditions(l.Conditions)})
			}
			p.Gateways = append(p.Gateways, gv)
		}
		for _, r := range in.Status.Routes {
			rv := routeView{Kind: r.Kind, Name: r.Namespace + "/" + r.Name}
			for _, ps := range r.Parents {
				rv.Parents = append(rv.Parents, parentView{Ref: parentRef(ps.ParentRef, r.Namespace), Conditions: conditions(ps.Conditions)})
			}
			p.Routes = append(p.Routes, rv)
		}
	}
	p.Edge = edgeGraph(in.Proxies)
	p.Mesh = meshGraph(in.Proxies)
	for _, c := range in.Connected {
		for _, t := range c.Types {
			if t.NACKError != "" {
				p.NACKs++
			}
		}
	}
	return p
}

// Render writes the page.
func Render(w io.Writer, in Input) error {
	var buf bytes.Buffer
	if err := page.Execute(&buf, Build(in)); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

//go:embed templates/page.html
var files embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"redact": Redact,
	"ago":    ago,
	"short":  shortType,
	"join":   strings.Join,
}).ParseFS(files, "templates/page.html"))

// privateKey matches a PEM private-key block (any key type), also cut off.
var privateKey = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END ([A-Z0-9 ]*)PRIVATE KEY-----|$)`)

// Redact blanks PEM private-key blocks in s.
func Redact(s string) string {
	return privateKey.ReplaceAllString(s, "[private key redacted]")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}

// shortType is the last part of a type URL ("Listener", "Cluster").
func shortType(url string) string {
	return url[strings.LastIndex(url, ".")+1:]
}
