// Package analyze checks a resource.Set the way the controller would see it:
// it runs the real translator and turns every negative status condition into
// a message, then adds checks of its own (certificates, shadowed matches,
// backend ports, classes, CRD versions, pods, injection).
//
// Analyzers are an explicit, ordered list (see All). Each message carries a
// stable code from the catalogue (see Catalogue), a level, the object and,
// when the object came from a file, its file:line.
package analyze

import (
	"fmt"
	"strings"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// Level is how serious a message is.
type Level int

// Levels, least serious first.
const (
	Info Level = iota
	Warning
	Error
)

var levelNames = []string{Info: "Info", Warning: "Warning", Error: "Error"}

func (l Level) String() string {
	if l < Info || l > Error {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel reads "Info", "Warning" or "Error" (any case).
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if strings.EqualFold(s, n) {
			return Level(i), nil
		}
	}
	return Info, fmt.Errorf("unknown level %q (want Info, Warning or Error)", s)
}

// MarshalText writes the level's name.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a level's name.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Code is a stable message code such as "GTY0101".
type Code string

// Message is one finding about one object.
type Message struct {
	Code      Code   `json:"code"`
	Level     Level  `json:"level"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// File and Line locate the object in the input; empty for objects read
	// from the API server.
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Key is the object the message is about.
func (m Message) Key() resource.Key {
	return resource.Key{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name}
}

// ObjectName is "namespace/name", or "name" for cluster-scoped objects.
func (m Message) ObjectName() string {
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// String is the log form:
// "<Level> [<CODE>] (<Kind> <namespace/name> <file:line>) <message>".
func (m Message) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] (%s %s", m.Level, m.Code, m.Kind, m.ObjectName())
	if m.File != "" {
		fmt.Fprintf(&b, " %s:%d", m.File, m.Line)
	}
	fmt.Fprintf(&b, ") %s", m.Message)
	return b.String()
}

// less orders messages: by file and line (objects without a file last), then
// object, code and text. The order is total, so output is deterministic.
func less(a, b Message) int {
	if (a.File == "") != (b.File == "") {
		if a.File == "" {
			return 1
		}
		return -1
	}
	if c := strings.Compare(a.File, b.File); c != 0 {
		return c
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	for _, c := range []int{
		strings.Compare(a.Kind, b.Kind),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Name, b.Name),
		strings.Compare(string(a.Code), string(b.Code)),
		strings.Compare(a.Message, b.Message),
	} {
		if c != 0 {
			return c
		}
	}
	return 0
}
