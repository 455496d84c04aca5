package resource

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// unknownFieldsError lists the field paths a strict decode did not recognise.
type unknownFieldsError struct {
	Fields []string
}

func (e *unknownFieldsError) Error() string {
	return "unknown fields: " + strings.Join(e.Fields, ", ")
}

// strictDecode makes the decoder track unknown fields too. typeCheck has
// already reported them with their lines, so the decoder is spared the work.
const strictDecode = false

// decodeInto converts an unstructured object into *T.
func decodeInto[T any](u map[string]any) (any, error) {
	obj := new(T)
	err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u, obj, strictDecode)
	if err == nil {
		return obj, nil
	}
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		out := &unknownFieldsError{}
		for _, e := range strict.Errors() {
			msg := e.Error()
			msg = strings.TrimPrefix(msg, "unknown field ")
			out.Fields = append(out.Fields, strings.Trim(msg, `"`))
		}
		return nil, out
	}
	return nil, err
}

// objectContext carries what is known about the object being read, for
// diagnostics.
type objectContext struct {
	file string
	node *yaml.Node
	key  Key
}

func (c objectContext) diag(field, format string, args ...any) Diagnostic {
	line := c.node.Line
	if field != "" {
		line = lookup(c.node, field)
	}
	return Diagnostic{
		Source:  Source{File: c.file, Line: line},
		Key:     c.key,
		Field:   field,
		Message: fmt.Sprintf(format, args...),
	}
}

// decodeObject turns one mapping node into a typed object, or the
// diagnostics that explain why it could not.
func decodeObject(ctx objectContext, u map[string]any) (obj any, warns, errs []Diagnostic) {
	apiVersion, _ := u["apiVersion"].(string)
	kind, _ := u["kind"].(string)
	if apiVersion == "" || kind == "" {
		return nil, nil, []Diagnostic{ctx.diag("", "object has no apiVersion or kind")}
	}
	group, version := splitAPIVersion(apiVersion)
	info := kindByGVK[group+"/"+version+"/"+kind]
	meta, _ := u["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	ctx.key = Key{Kind: kind, Namespace: namespace, Name: name}
	if info == nil {
		if k, ok := kindByName[kind]; ok && k.Group == group {
			return nil, nil, []Diagnostic{ctx.diag("apiVersion",
				"unsupported version %q of %s (supported: %s)", version, kind, strings.Join(k.Versions, ", "))}
		}
		return nil, []Diagnostic{ctx.diag("", "unknown kind %s %s: ignored", apiVersion, kind)}, nil
	}
	if name == "" {
		if raw, ok := meta["name"]; ok && raw != nil {
			return nil, nil, []Diagnostic{ctx.diag("metadata.name", "must be a string, got %s", describeValue(raw))}
		}
		return nil, nil, []Diagnostic{ctx.diag("metadata.name", "required value")}
	}
	if info.Namespaced && namespace == "" {
		namespace = "default"
		meta["namespace"] = namespace
		ctx.key.Namespace = namespace
	} else if !info.Namespaced && namespace != "" {
		ctx.key.Namespace = ""
		delete(meta, "namespace")
	}
	var problems []fieldError
	if info.CRD {
		v, err := schemas.validatorFor(info.CRDFile(), version)
		if err != nil {
			return nil, nil, []Diagnostic{ctx.diag("", "%v", err)}
		}
		v.Default(u)
		problems = v.Validate(u)
	}
	var typeErrs []fieldError
	typeCheck(u, info.typ, "", &typeErrs)
	for _, te := range typeErrs {
		if !coveredBy(te.Field, problems) {
			problems = append(problems, te)
		}
	}
	for _, p := range problems {
		errs = append(errs, ctx.diag(p.Field, "%s", p.Message))
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Source.Line < errs[j].Source.Line })
		return nil, nil, errs
	}
	obj, err := info.decode(u)
	if err != nil {
		var unknown *unknownFieldsError
		if errors.As(err, &unknown) {
			for _, f := range unknown.Fields {
				errs = append(errs, ctx.diag(f, "unknown field"))
			}
		} else {
			errs = append(errs, ctx.diag("", "%v", err))
		}
		return nil, nil, errs
	}
	return obj, nil, nil
}

// coveredBy reports whether a problem at field, or at a field above it, is
// already in list (the schema and the type check often see the same mistake).
func coveredBy(field string, list []fieldError) bool {
	for _, p := range list {
		if field == p.Field || strings.HasPrefix(field, p.Field+".") || strings.HasPrefix(field, p.Field+"[") {
			return true
		}
	}
	return false
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}
