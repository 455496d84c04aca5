package resource

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// celNode mirrors the part of a schema that carries x-kubernetes-validations
// rules, compiled once per kind and version.
type celNode struct {
	rules      []celRule
	props      map[string]*celNode
	propOrder  []string // sorted keys of props
	items      *celNode
	additional *celNode
	// listType and mapKeys are x-kubernetes-list-type and
	// x-kubernetes-list-map-keys: "set" and "map" lists hold unique entries.
	listType string
	mapKeys  []string
}

type celRule struct {
	prog      cel.Program
	message   string
	fieldPath string
}

// celEnv is the environment the rules compile in: standard CEL, the string
// extensions, isIP and isCIDR, with self dynamically typed.
func celEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("self", cel.DynType),
		ext.Strings(),
		cel.Function("isIP",
			cel.Overload("isIP_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.Value().(string)
					return types.Bool(ok && net.ParseIP(s) != nil)
				}))),
		cel.Function("isCIDR",
			cel.Overload("isCIDR_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					s, ok := v.Value().(string)
					_, _, err := net.ParseCIDR(s)
					return types.Bool(ok && err == nil)
				}))),
	)
}

// compileRules builds the rule tree of s. Rules that compare with the old
// object (transition rules) or do not compile are left out: they are the API
// server's business.
func compileRules(env *cel.Env, s *spec.Schema) *celNode {
	if s == nil {
		return nil
	}
	n := &celNode{}
	for _, r := range ruleList(s) {
		rule, _ := r["rule"].(string)
		if rule == "" || strings.Contains(rule, "oldSelf") {
			continue
		}
		ast, iss := env.Compile(rule)
		if iss != nil && iss.Err() != nil {
			continue
		}
		prog, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.OptimizeRegex(interpreter.MatchesRegexOptimization))
		if err != nil {
			continue
		}
		msg, _ := r["message"].(string)
		if msg == "" {
			msg = "failed rule: " + rule
		}
		fp, _ := r["fieldPath"].(string)
		n.rules = append(n.rules, celRule{prog: prog, message: msg, fieldPath: fp})
	}
	for name, p := range s.Properties {
		if c := compileRules(env, &p); c != nil {
			if n.props == nil {
				n.props = map[string]*celNode{}
			}
			n.props[name] = c
			n.propOrder = append(n.propOrder, name)
		}
	}
	sort.Strings(n.propOrder)
	if s.Items != nil && s.Items.Schema != nil {
		n.items = compileRules(env, s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		n.additional = compileRules(env, s.AdditionalProperties.Schema)
	}
	if lt, _ := s.Extensions["x-kubernetes-list-type"].(string); lt == "set" || lt == "map" {
		n.listType = lt
		if keys, ok := s.Extensions["x-kubernetes-list-map-keys"].([]any); ok {
			for _, k := range keys {
				if ks, ok := k.(string); ok {
					n.mapKeys = append(n.mapKeys, ks)
				}
			}
		}
	}
	if len(n.rules) == 0 && n.props == nil && n.items == nil && n.additional == nil && n.listType == "" {
		return nil
	}
	return n
}

// checkUnique reports repeated entries of a "set" or "map" list, as the API
// server does.
func (n *celNode) checkUnique(items []any, path pathStack, out *[]fieldError) {
	seen := make(map[string]bool, len(items))
	for i, item := range items {
		var key string
		if n.listType == "map" {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			parts := make([]string, 0, len(n.mapKeys))
			for _, k := range n.mapKeys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
			}
			key = strings.Join(parts, ", ")
		} else {
			key = fmt.Sprintf("%#v", item)
		}
		if seen[key] {
			msg := "duplicate entry"
			if n.listType == "map" {
				msg = "duplicate entry with " + key
			} else if str, ok := item.(string); ok {
				msg = fmt.Sprintf("duplicate value %q", str)
			}
			*out = append(*out, fieldError{Field: append(path, i).String(), Message: msg})
		}
		seen[key] = true
	}
}

func ruleList(s *spec.Schema) []map[string]any {
	raw, ok := s.Extensions["x-kubernetes-validations"].([]any)
	if !ok {
		return nil
	}
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// selfActivation binds the one variable the rules read.
type selfActivation struct{ self any }

func (a selfActivation) ResolveName(name string) (any, bool) {
	if name == "self" {
		return a.self, true
	}
	return nil, false
}

func (selfActivation) Parent() interpreter.Activation { return nil }

// pathStack is the field path being checked, rendered only when a rule fails.
type pathStack []any // string field names and int indexes

func (p pathStack) String() string {
	var b strings.Builder
	for _, seg := range p {
		switch v := seg.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// check evaluates the rules against x at path, appending violations. A rule
// that cannot be evaluated on this input (a missing field it reads without
// has()) is skipped rather than reported.
func (n *celNode) check(x any, path pathStack, out *[]fieldError) {
	if n == nil || x == nil {
		return
	}
	for _, r := range n.rules {
		val, _, err := r.prog.Eval(selfActivation{self: x})
		if err != nil {
			continue
		}
		if ok, isBool := val.Value().(bool); isBool && !ok {
			*out = append(*out, fieldError{Field: joinPath(path.String(), r.fieldPath), Message: r.message})
		}
	}
	switch v := x.(type) {
	case map[string]any:
		for _, k := range n.propOrder {
			if fv, ok := v[k]; ok {
				n.props[k].check(fv, append(path, k), out)
			}
		}
		if n.additional != nil {
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				n.additional.check(v[k], append(path, k), out)
			}
		}
	case []any:
		if n.listType != "" {
			n.checkUnique(v, path, out)
		}
		if n.items != nil {
			for i, item := range v {
				n.items.check(item, append(path, i), out)
			}
		}
	}
}

func joinPath(path, field string) string {
	field = strings.TrimPrefix(field, ".")
	switch {
	case field == "":
		return path
	case path == "":
		return field
	case strings.HasPrefix(field, "["):
		return path + field
	}
	return path + "." + field
}
