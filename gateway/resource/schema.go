package resource

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/gantryproxy/gantry/gateway/resource/crds"
)

// schemaValidator checks one kind and version against its CRD schema. It is
// built once per (CRD, version) and shared by every object of that kind.
type schemaValidator struct {
	schema   *spec.Schema
	defaults *defaultNode // schema defaults, status excluded
	compiled *schemaNode  // the schema, compiled for validation (status excluded)
	// validator is the generic OpenAPI validator of the same schema: the
	// reference the compiled one is tested against.
	validator *validate.SchemaValidator
	rules     *celNode // compiled x-kubernetes-validations rules
}

var sharedCELEnv = sync.OnceValues(celEnv)

// fieldError is a schema violation at a field path.
type fieldError struct {
	Field   string
	Message string
}

// crdFile is the part of a CustomResourceDefinition the loader reads.
type crdFile struct {
	Spec struct {
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

type schemaCache struct {
	mu    sync.Mutex
	byKey map[string]*schemaEntry // "<file>/<version>"
}

type schemaEntry struct {
	once sync.Once
	v    *schemaValidator
	err  error
}

var schemas = &schemaCache{byKey: map[string]*schemaEntry{}}

// validatorFor returns the cached validator of a CRD file's version, falling
// back to the first (storage, newest) version the CRD has when the requested
// one is not served by the standard channel.
func (c *schemaCache) validatorFor(file, version string) (*schemaValidator, error) {
	key := file + "/" + version
	c.mu.Lock()
	e, ok := c.byKey[key]
	if !ok {
		e = &schemaEntry{}
		c.byKey[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = buildValidator(file, version) })
	return e.v, e.err
}

func buildValidator(file, version string) (*schemaValidator, error) {
	data, err := crds.FS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	var crd crdFile
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return nil, fmt.Errorf("schema %s: %w", file, err)
	}
	if len(crd.Spec.Versions) == 0 {
		return nil, fmt.Errorf("schema %s: no versions", file)
	}
	raw := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			raw = v.Schema.OpenAPIV3Schema
			break
		}
	}
	s := new(spec.Schema)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("schema %s %s: %w", file, version, err)
	}
	defaults := *s
	defaults.Properties = make(map[string]spec.Schema, len(s.Properties))
	for name, p := range s.Properties {
		if name != "status" {
			defaults.Properties[name] = p
		}
	}
	env, err := sharedCELEnv()
	if err != nil {
		return nil, fmt.Errorf("schema %s %s: CEL environment: %w", file, version, err)
	}
	compiled, err := compileSchema(&defaults) // status is output: not validated
	if err != nil {
		return nil, fmt.Errorf("schema %s %s: %w", file, version, err)
	}
	return &schemaValidator{
		schema:    s,
		compiled:  compiled,
		defaults:  compileDefaults(&defaults),
		rules:     compileRules(env, &defaults),
		validator: validate.NewSchemaValidator(s, nil, "", strfmt.Default),
	}, nil
}

// Validate returns every schema violation of obj, sorted by field. The CEL
// rules and list uniqueness are checked only on an object that passed the
// schema, as in the API server.
func (v *schemaValidator) Validate(obj map[string]any) []fieldError {
	var out []fieldError
	v.compiled.validate(obj, make(pathStack, 0, 16), &out)
	if len(out) == 0 {
		v.rules.check(obj, make(pathStack, 0, 16), &out)
		return out
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// openAPIErrors turns a generic validator's result into field errors,
// without repeats.
func openAPIErrors(res *validate.Result) []fieldError {
	if res == nil || len(res.Errors) == 0 {
		return nil
	}
	out := make([]fieldError, 0, len(res.Errors))
	seen := map[fieldError]bool{}
	for _, err := range res.Errors {
		fe := fieldError{Message: err.Error()}
		if ve, ok := err.(*errors.Validation); ok {
			fe.Field = strings.TrimPrefix(ve.Name, ".")
			fe.Message = strings.TrimPrefix(fe.Message, ve.Name+" in body ")
			fe.Message = strings.TrimPrefix(fe.Message, fe.Field+" in body ")
			switch val := ve.Value.(type) {
			case string:
				fe.Message = fmt.Sprintf("invalid value %q: %s", val, fe.Message)
			case int64, float64, bool:
				fe.Message = fmt.Sprintf("invalid value %v: %s", val, fe.Message)
			}
		}
		if !seen[fe] {
			seen[fe] = true
			out = append(out, fe)
		}
	}
	return out
}

// Default fills in the schema's default values where obj lacks the field,
// as the API server does when the object is created. Status is output, so it
// is left alone.
// Nulls of fields that are not nullable are dropped first, as the API server
// does.
func (v *schemaValidator) Default(obj map[string]any) {
	v.compiled.pruneNulls(obj)
	v.defaults.apply(obj)
}

// defaultNode mirrors the part of a schema that declares defaults, built once
// per kind and version.
type defaultNode struct {
	values     map[string]any // property -> default
	props      map[string]*defaultNode
	items      *defaultNode
	additional *defaultNode
}

func compileDefaults(s *spec.Schema) *defaultNode {
	if s == nil {
		return nil
	}
	n := &defaultNode{}
	for name := range s.Properties {
		p := s.Properties[name]
		if p.Default != nil {
			if n.values == nil {
				n.values = map[string]any{}
			}
			n.values[name] = p.Default
		}
		if c := compileDefaults(&p); c != nil {
			if n.props == nil {
				n.props = map[string]*defaultNode{}
			}
			n.props[name] = c
		}
	}
	if s.Items != nil && s.Items.Schema != nil {
		n.items = compileDefaults(s.Items.Schema)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		n.additional = compileDefaults(s.AdditionalProperties.Schema)
	}
	if n.values == nil && n.props == nil && n.items == nil && n.additional == nil {
		return nil
	}
	return n
}

func (n *defaultNode) apply(x any) {
	if n == nil {
		return
	}
	switch val := x.(type) {
	case map[string]any:
		for name, def := range n.values {
			if _, ok := val[name]; !ok {
				val[name] = deepCopyJSON(def)
			}
		}
		for name, child := range n.props {
			if fv, ok := val[name]; ok {
				child.apply(fv)
			}
		}
		if n.additional != nil {
			for _, fv := range val {
				n.additional.apply(fv)
			}
		}
	case []any:
		if n.items != nil {
			for _, item := range val {
				n.items.apply(item)
			}
		}
	}
}

// deepCopyJSON copies a default value so objects never share it. Numbers are
// normalised to int64 where they are whole, as decoded YAML is.
func deepCopyJSON(x any) any {
	switch v := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = deepCopyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyJSON(e)
		}
		return out
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
		return v
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	default:
		return v
	}
}
