package resource

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// structFields maps the JSON names of a struct's fields (inline structs
// flattened) to their types.
type structFields map[string]reflect.Type

var fieldCache sync.Map // reflect.Type -> structFields

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func fieldsOf(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	fields := structFields{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if sf.Anonymous && (name == "" || strings.Contains(opts, "inline")) && sf.Type.Kind() == reflect.Struct {
			for k, v := range fieldsOf(sf.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = sf.Type
	}
	fieldCache.Store(t, fields)
	return fields
}

// typeCheck compares decoded YAML with the Go type it will be decoded into
// and reports unknown fields and type mismatches with their paths, which the
// decoder itself does not give.
func typeCheck(v any, t reflect.Type, path string, out *[]fieldError) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // custom JSON forms (quantities, int-or-string, times): the decoder checks them
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			*out = append(*out, typeMismatch(path, "an object", v))
			return
		}
		fields := fieldsOf(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				*out = append(*out, fieldError{Field: joinPath(path, k), Message: "unknown field"})
				continue
			}
			typeCheck(m[k], ft, joinPath(path, k), out)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			*out = append(*out, typeMismatch(path, "an object", v))
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			typeCheck(m[k], t.Elem(), mapKeyPath(path, k), out)
		}
	case reflect.Slice:
		typeCheckSlice(v, t, path, out)
	case reflect.String:
		if _, ok := v.(string); !ok {
			*out = append(*out, typeMismatch(path, "a string", v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			*out = append(*out, typeMismatch(path, "a boolean", v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		typeCheckInt(v, t, path, out)
	case reflect.Float32, reflect.Float64:
		switch v.(type) {
		case int64, float64:
		default:
			*out = append(*out, typeMismatch(path, "a number", v))
		}
	}
}

func typeCheckSlice(v any, t reflect.Type, path string, out *[]fieldError) {
	if t.Elem().Kind() == reflect.Uint8 {
		s, ok := v.(string)
		if !ok {
			*out = append(*out, typeMismatch(path, "a base64 string", v))
			return
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			*out = append(*out, fieldError{Field: path, Message: "invalid base64: " + err.Error()})
		}
		return
	}
	items, ok := v.([]any)
	if !ok {
		*out = append(*out, typeMismatch(path, "a list", v))
		return
	}
	for i, item := range items {
		typeCheck(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
	}
}

func typeCheckInt(v any, t reflect.Type, path string, out *[]fieldError) {
	i, ok := v.(int64)
	if !ok {
		*out = append(*out, typeMismatch(path, "an integer", v))
		return
	}
	zero := reflect.New(t).Elem()
	var overflow bool
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		overflow = zero.OverflowInt(i)
	default:
		overflow = i < 0 || zero.OverflowUint(uint64(i))
	}
	if overflow {
		*out = append(*out, fieldError{Field: path, Message: fmt.Sprintf("integer %d out of range for %s", i, t.Kind())})
	}
}

func typeMismatch(path, want string, got any) fieldError {
	return fieldError{Field: path, Message: fmt.Sprintf("must be %s, got %s", want, describeValue(got))}
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64, float64:
		return fmt.Sprintf("number %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// mapKeyPath names a map entry; keys with dots go in brackets.
func mapKeyPath(path, key string) string {
	if strings.ContainsAny(key, ".[]") {
		return path + "[" + key + "]"
	}
	return joinPath(path, key)
}
