package analyze

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gantryproxy/gantry/gateway/resource"
	"github.com/gantryproxy/gantry/xds/ir"
)

// shadowAnalyzer looks at the routing tables the translator generated, in
// the order the proxy evaluates them (first match wins), and finds matches
// that an earlier match makes unreachable. Because it reads the
// translator's output it follows Gantry's precedence exactly: a longer
// PathPrefix placed before a shorter one is not shadowed, an identical match
// from an older route is.
type shadowAnalyzer struct{}

func (shadowAnalyzer) Name() string { return "route-shadowing" }
func (shadowAnalyzer) Description() string {
	return "no match is unreachable because an earlier match in the generated routing table covers it"
}

// routeOrigin names the rule and match an IR route came from.
type routeOrigin struct {
	obj   resource.Key
	rule  string
	match string
}

func (o routeOrigin) where() string {
	s := "rules[" + o.rule + "]"
	if o.match != "" {
		s += ".matches[" + o.match + "]"
	}
	return s
}

func originOf(r *ir.Route) (routeOrigin, bool) {
	md := r.Metadata
	if md["kind"] == "" || md["name"] == "" {
		return routeOrigin{}, false
	}
	o := routeOrigin{obj: key(md["kind"], md["namespace"], md["name"]), rule: md["rule"]}
	if i := strings.LastIndex(r.Name, "/match/"); i >= 0 {
		o.match = r.Name[i+len("/match/"):]
	}
	return o, true
}

// appearance is one place (virtual host) a match was put, and what, if
// anything, makes it unreachable there.
type appearance struct {
	match   ir.RouteMatch
	by      *routeOrigin // the first earlier match that covers it; nil if none
	byMatch ir.RouteMatch
}

// A match is reported only when it is unreachable in every virtual host it
// was placed in: a route with a wildcard hostname may lose one host to a
// more specific route and still serve the others.
func (shadowAnalyzer) Run(ctx *Context) {
	var order []routeOrigin
	seen := map[routeOrigin][]appearance{}
	for _, p := range ctx.Proxies() {
		for _, rc := range p.RouteConfigs {
			for vh := range rc.VirtualHosts.Values() {
				for j, r := range vh.Routes {
					o, ok := originOf(r)
					if !ok {
						continue
					}
					if _, known := seen[o]; !known {
						order = append(order, o)
					}
					seen[o] = append(seen[o], shadowing(vh.Routes, j, o))
				}
			}
		}
	}
	for _, o := range order {
		apps := seen[o]
		if !slices.ContainsFunc(apps, func(a appearance) bool { return a.by == nil }) {
			reportShadowed(ctx, o, apps[0])
		}
	}
}

// shadowing finds the first route before routes[j] that covers it.
func shadowing(routes []*ir.Route, j int, later routeOrigin) appearance {
	app := appearance{match: routes[j].Match}
	for i := 0; i < j; i++ {
		if !covers(routes[i].Match, routes[j].Match) {
			continue
		}
		earlier, ok := originOf(routes[i])
		if ok && earlier != later {
			app.by, app.byMatch = &earlier, routes[i].Match
		}
		break
	}
	return app
}

func reportShadowed(ctx *Context, later routeOrigin, a appearance) {
	by := a.by.where()
	if a.by.obj != later.obj {
		by = fmt.Sprintf("%s of %s", by, a.by.obj)
	}
	if covers(a.match, a.byMatch) {
		ctx.Report(DuplicateMatch, later.obj, "%s (%s) duplicates %s, which takes precedence: it never matches", later.where(), describeMatch(a.match), by)
		return
	}
	ctx.Report(MatchShadowed, later.obj, "%s (%s) is shadowed by %s (%s), which comes first and matches every request it would", later.where(), describeMatch(a.match), by, describeMatch(a.byMatch))
}

// covers tells whether every request matching l also matches e.
func covers(e, l ir.RouteMatch) bool {
	if e.GRPC && !l.GRPC {
		return false
	}
	if e.Method != "" && e.Method != l.Method {
		return false
	}
	if !pathCovers(e, l) {
		return false
	}
	return subset(e.Headers, l.Headers, true) && subset(e.Query, l.Query, false)
}

func pathCovers(e, l ir.RouteMatch) bool {
	switch e.PathType {
	case ir.PathExact:
		return l.PathType == ir.PathExact && l.Path == e.Path
	case ir.PathPrefix, "":
		if l.PathType != ir.PathExact && l.PathType != ir.PathPrefix && l.PathType != "" {
			return false
		}
		return segmentPrefix(e.Path, l.Path)
	case ir.PathRegex:
		return l.PathType == ir.PathRegex && l.Path == e.Path
	}
	return false
}

// segmentPrefix tells whether path prefix p covers path q element-wise.
func segmentPrefix(p, q string) bool {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return true
	}
	q = strings.TrimSuffix(q, "/")
	return q == p || strings.HasPrefix(q, p+"/")
}

// subset tells whether every condition in a appears in b.
func subset(a, b []ir.StringMatch, foldName bool) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y ir.StringMatch) bool {
			sameName := x.Name == y.Name || (foldName && strings.EqualFold(x.Name, y.Name))
			return sameName && x.Type == y.Type && x.Value == y.Value && x.Invert == y.Invert
		}) {
			return false
		}
	}
	return true
}

func describeMatch(m ir.RouteMatch) string {
	pt := m.PathType
	if pt == "" {
		pt = ir.PathPrefix
	}
	parts := []string{fmt.Sprintf("%s %s", pt, m.Path)}
	if m.Method != "" {
		parts = append(parts, "method "+m.Method)
	}
	for _, h := range m.Headers {
		parts = append(parts, "header "+h.Name)
	}
	for _, q := range m.Query {
		parts = append(parts, "query "+q.Name)
	}
	return strings.Join(parts, ", ")
}
