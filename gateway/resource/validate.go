package resource

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"unicode/utf8"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
)

// schemaNode is a CRD schema compiled for fast validation: regular
// expressions compiled, limits unpacked, children indexed. Subschemas that
// combine schemas (oneOf, anyOf, allOf, not) are rare in the Gateway API
// CRDs and are checked by the generic OpenAPI validator instead.
type schemaNode struct {
	typ        string
	nullable   bool
	enum       []any
	pattern    *regexp.Regexp
	minLength  *int64
	maxLength  *int64
	minimum    *float64
	maximum    *float64
	minItems   *int64
	maxItems   *int64
	minProps   *int64
	maxProps   *int64
	required   []string
	props      map[string]*schemaNode
	propOrder  []string
	additional *schemaNode
	items      *schemaNode
	combined   *spec.Schema // has oneOf/anyOf/allOf/not: checked generically
}

func compileSchema(s *spec.Schema) (*schemaNode, error) {
	n := &schemaNode{
		nullable:  s.Nullable,
		enum:      s.Enum,
		minLength: s.MinLength,
		maxLength: s.MaxLength,
		minimum:   s.Minimum,
		maximum:   s.Maximum,
		minItems:  s.MinItems,
		maxItems:  s.MaxItems,
		minProps:  s.MinProperties,
		maxProps:  s.MaxProperties,
		required:  s.Required,
	}
	if len(s.Type) == 1 {
		n.typ = s.Type[0]
	}
	if s.Pattern != "" {
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", s.Pattern, err)
		}
		n.pattern = re
	}
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 || len(s.AllOf) > 0 || s.Not != nil {
		n.combined = s
	}
	for name := range s.Properties {
		p := s.Properties[name]
		c, err := compileSchema(&p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if n.props == nil {
			n.props = map[string]*schemaNode{}
		}
		n.props[name] = c
		n.propOrder = append(n.propOrder, name)
	}
	sort.Strings(n.propOrder)
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		c, err := compileSchema(s.AdditionalProperties.Schema)
		if err != nil {
			return nil, err
		}
		n.additional = c
	}
	if s.Items != nil && s.Items.Schema != nil {
		c, err := compileSchema(s.Items.Schema)
		if err != nil {
			return nil, err
		}
		n.items = c
	}
	return n, nil
}

// pruneNulls drops null values of fields that are not nullable, as the API
// server does before defaulting ("field:" with nothing after it).
func (n *schemaNode) pruneNulls(x any) {
	switch v := x.(type) {
	case map[string]any:
		for k, fv := range v {
			child := n.props[k]
			if child == nil {
				child = n.additional
			}
			if child == nil {
				continue
			}
			if fv == nil {
				if !child.nullable {
					delete(v, k)
				}
				continue
			}
			child.pruneNulls(fv)
		}
	case []any:
		if n.items != nil {
			for _, item := range v {
				if item != nil {
					n.items.pruneNulls(item)
				}
			}
		}
	}
}

// validate appends every violation of x at path.
func (n *schemaNode) validate(x any, path pathStack, out *[]fieldError) {
	if x == nil {
		if !n.nullable && n.typ != "" {
			*out = append(*out, fieldError{Field: path.String(), Message: "must be of type " + n.typ + ", got null"})
		}
		return
	}
	if !n.checkType(x, path, out) {
		return
	}
	if len(n.enum) > 0 && !enumHas(n.enum, x) {
		*out = append(*out, n.fail(path, x, "should be one of %v", n.enum))
	}
	switch v := x.(type) {
	case string:
		n.validateString(v, path, out)
	case int64:
		n.validateNumber(float64(v), x, path, out)
	case float64:
		n.validateNumber(v, x, path, out)
	case []any:
		n.validateList(v, path, out)
	case map[string]any:
		n.validateObject(v, path, out)
	}
	if n.combined != nil {
		// A validator per call: they carry their path and are cheap to make.
		v := validate.NewSchemaValidator(n.combined, nil, path.String(), strfmt.Default)
		*out = append(*out, openAPIErrors(v.Validate(x))...)
	}
}

// checkType reports whether x has the schema's type, recording a violation
// when it has not.
func (n *schemaNode) checkType(x any, path pathStack, out *[]fieldError) bool {
	ok := true
	switch n.typ {
	case "object":
		_, ok = x.(map[string]any)
	case "array":
		_, ok = x.([]any)
	case "string":
		_, ok = x.(string)
	case "boolean":
		_, ok = x.(bool)
	case "integer":
		switch v := x.(type) {
		case int64:
		case float64:
			ok = v == math.Trunc(v)
		default:
			ok = false
		}
	case "number":
		switch x.(type) {
		case int64, float64:
		default:
			ok = false
		}
	}
	if !ok {
		*out = append(*out, fieldError{Field: path.String(), Message: fmt.Sprintf("must be of type %s, got %s", n.typ, describeValue(x))})
	}
	return ok
}

func (n *schemaNode) validateString(v string, path pathStack, out *[]fieldError) {
	if n.minLength != nil || n.maxLength != nil {
		l := int64(utf8.RuneCountInString(v))
		if n.minLength != nil && l < *n.minLength {
			*out = append(*out, n.fail(path, v, "should be at least %d chars long", *n.minLength))
		}
		if n.maxLength != nil && l > *n.maxLength {
			*out = append(*out, n.fail(path, v, "should be at most %d chars long", *n.maxLength))
		}
	}
	if n.pattern != nil && !n.pattern.MatchString(v) {
		*out = append(*out, n.fail(path, v, "should match '%s'", n.pattern.String()))
	}
}

func (n *schemaNode) validateNumber(f float64, x any, path pathStack, out *[]fieldError) {
	if n.minimum != nil && f < *n.minimum {
		*out = append(*out, n.fail(path, x, "should be greater than or equal to %v", *n.minimum))
	}
	if n.maximum != nil && f > *n.maximum {
		*out = append(*out, n.fail(path, x, "should be less than or equal to %v", *n.maximum))
	}
}

func (n *schemaNode) validateList(v []any, path pathStack, out *[]fieldError) {
	l := int64(len(v))
	if n.minItems != nil && l < *n.minItems {
		*out = append(*out, fieldError{Field: path.String(), Message: fmt.Sprintf("should have at least %d items", *n.minItems)})
	}
	if n.maxItems != nil && l > *n.maxItems {
		*out = append(*out, fieldError{Field: path.String(), Message: fmt.Sprintf("should have at most %d items", *n.maxItems)})
	}
	if n.items != nil {
		for i, item := range v {
			n.items.validate(item, append(path, i), out)
		}
	}
}

func (n *schemaNode) validateObject(v map[string]any, path pathStack, out *[]fieldError) {
	l := int64(len(v))
	if n.minProps != nil && l < *n.minProps {
		*out = append(*out, fieldError{Field: path.String(), Message: fmt.Sprintf("should have at least %d properties", *n.minProps)})
	}
	if n.maxProps != nil && l > *n.maxProps {
		*out = append(*out, fieldError{Field: path.String(), Message: fmt.Sprintf("should have at most %d properties", *n.maxProps)})
	}
	for _, r := range n.required {
		if _, ok := v[r]; !ok {
			*out = append(*out, fieldError{Field: append(path, r).String(), Message: "required value"})
		}
	}
	for _, k := range n.propOrder {
		if fv, ok := v[k]; ok {
			n.props[k].validate(fv, append(path, k), out)
		}
	}
	if n.additional != nil {
		keys := make([]string, 0, len(v))
		for k := range v {
			if _, known := n.props[k]; !known {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.additional.validate(v[k], append(path, k), out)
		}
	}
}

// fail builds a violation that shows the offending scalar.
func (n *schemaNode) fail(path pathStack, x any, format string, args ...any) fieldError {
	msg := fmt.Sprintf(format, args...)
	switch v := x.(type) {
	case string:
		msg = fmt.Sprintf("invalid value %q: %s", v, msg)
	case int64, float64, bool:
		msg = fmt.Sprintf("invalid value %v: %s", v, msg)
	}
	return fieldError{Field: path.String(), Message: msg}
}

func enumHas(enum []any, x any) bool {
	for _, e := range enum {
		if jsonEqual(e, x) {
			return true
		}
	}
	return false
}

// jsonEqual compares decoded JSON scalars, numbers by value.
func jsonEqual(a, b any) bool {
	af, aNum := asFloat(a)
	bf, bNum := asFloat(b)
	if aNum || bNum {
		return aNum && bNum && af == bf
	}
	return a == b
}

func asFloat(x any) (float64, bool) {
	switch v := x.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}
