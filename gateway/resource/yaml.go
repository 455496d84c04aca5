package resource

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Document is one YAML document of a file and the line it starts on.
type Document struct {
	// Data is the document's bytes, a part of the file's.
	Data []byte
	// Line is the 1-based line of Data's first byte in the file.
	Line int
}

// splitDocuments cuts a multi-document YAML file on its "---" separators so
// that a syntax error in one document does not lose the others. Only the
// lines that start with "---" or "..." can be separators: it jumps from
// one such line to the next and counts the lines between them, so a file
// of 10,000 documents costs a few scans of its bytes and one list.
func splitDocuments(data []byte) []Document {
	docs := make([]Document, 0, bytes.Count(data, []byte("\n---"))+2)
	start, startLine := 0, 1
	line, at := 1, 0 // line is the line number of data[at]
	cands := separatorCandidates{data: data, dash: -1, dot: -1}
	for pos := 0; pos < len(data); pos = cands.after(pos) {
		line += bytes.Count(data[at:pos], []byte("\n"))
		at = pos
		next := len(data)
		if end := bytes.IndexByte(data[pos:], '\n'); end >= 0 {
			next = pos + end + 1
		}
		text := data[pos:next]
		if !isSeparator(text) {
			continue
		}
		docs = append(docs, Document{Data: data[start:pos], Line: startLine})
		start, startLine = next, line+1
		if rest := bytes.TrimSpace(text[3:]); len(rest) > 0 && rest[0] != '#' && text[0] == '-' {
			// "--- {...}": the document starts on the separator's line.
			start, startLine = pos+3, line
		}
	}
	return append(docs, Document{Data: data[start:], Line: startLine})
}

// separatorCandidates finds the next line that starts with "---" or "...",
// remembering where each of the two was found last so that data is
// scanned once for each.
type separatorCandidates struct {
	data      []byte
	dash, dot int // the index of the last "\n---" and "\n..." found, -1 before
}

// after is the start of the first line after the line starting at pos
// that starts with "---" or "...", or past len(data) when there is none.
func (c *separatorCandidates) after(pos int) int {
	c.dash = nextAt(c.data, pos, c.dash, "\n---")
	c.dot = nextAt(c.data, pos, c.dot, "\n...")
	return min(c.dash, c.dot) + 1
}

// nextAt is the index of sep ("\n" and three bytes) in data at pos or
// after: last when it is there already, else found anew (len(data) when
// absent). It looks for sep's second byte with IndexByte, which scans many
// bytes at a time, and checks the rest where it finds one.
func nextAt(data []byte, pos, last int, sep string) int {
	if last >= pos {
		return last
	}
	for from := pos + 1; from < len(data); {
		i := bytes.IndexByte(data[from:], sep[1])
		if i < 0 {
			break
		}
		at := from + i - 1
		if data[at] == '\n' && bytes.HasPrefix(data[at:], []byte(sep)) {
			return at
		}
		from += i + 1
	}
	return len(data)
}

// lastLine is the file line of the document's last line (the parser may
// report the end of the stream, one line past it).
func (d Document) lastLine() int {
	n := bytes.Count(d.Data, []byte("\n"))
	if len(d.Data) > 0 && d.Data[len(d.Data)-1] != '\n' {
		n++
	}
	return d.Line + max(n, 1) - 1
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) && !bytes.HasPrefix(line, []byte("...")) {
		return false
	}
	rest := line[3:]
	return len(bytes.TrimSpace(rest)) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '#'
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the problems the YAML parser (not its scanner)
// reports. For these the library prints a 0-based line (the line of the
// construct the parser was in), one less than the file's line; scanner
// problems carry a 1-based line.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// errorLine is the 1-based line, within its document, of a problem the
// parser reported on line n.
func errorLine(n int, problem string) int {
	if slices.Contains(parserProblems, problem) {
		return n + 1
	}
	return n
}

// parseDocument parses one document into its root node. Errors carry the
// absolute line in the file when the parser reports one.
func parseDocument(doc Document) (*yaml.Node, int, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc.Data, &root); err != nil {
		msg := err.Error()
		line := doc.Line
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
			line = min(doc.Line+errorLine(n, msg)-1, doc.lastLine())
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		return nil, line, fmt.Errorf("malformed YAML: %s", msg)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, 0, nil // empty document
	}
	shiftLines(&root, doc.Line-1)
	return root.Content[0], 0, nil
}

func shiftLines(n *yaml.Node, by int) {
	if by == 0 {
		return
	}
	n.Line += by
	for _, c := range n.Content {
		shiftLines(c, by)
	}
}

// Limits that keep aliases from expanding without bound (a cycle, or an
// "exponential entity" document).
const (
	maxDepth  = 200
	maxValues = 1 << 18
)

// converter turns nodes into plain values within the limits.
type converter struct {
	values int
}

// toValue converts a node into the plain values of decoded JSON
// (map[string]any, []any, string, int64, float64, bool, nil).
func toValue(n *yaml.Node) (any, error) {
	c := &converter{}
	return c.value(n, 0)
}

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("line %d: nested more than %d levels (recursive alias?)", n.Line, maxDepth)
	}
	if c.values++; c.values > maxValues {
		return nil, fmt.Errorf("line %d: document expands to more than %d values (aliases?)", n.Line, maxValues)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth+1)
	case yaml.AliasNode:
		return c.value(n.Alias, depth+1)
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func (c *converter) mapping(n *yaml.Node, depth int) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged, err := c.value(v, depth+1)
			if err != nil {
				return nil, err
			}
			if m, ok := merged.(map[string]any); ok {
				for mk, mv := range m {
					if _, exists := out[mk]; !exists {
						out[mk] = mv
					}
				}
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: mapping keys must be strings", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
		}
		val, err := c.value(v, depth+1)
		if err != nil {
			return nil, err
		}
		out[k.Value] = val
	}
	return out, nil
}

func scalarValue(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			var f float64
			if ferr := n.Decode(&f); ferr == nil {
				return f, nil
			}
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return i, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return f, nil
	default:
		return n.Value, nil
	}
}

// lookup returns the line of the node a field path such as
// "spec.rules[0].matches[1].path" points to, or of the closest ancestor that
// exists. The root's own line is returned when nothing matches.
func lookup(root *yaml.Node, path string) int {
	n := root
	for _, seg := range splitPath(path) {
		next := child(n, seg)
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

func child(n *yaml.Node, seg string) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if idx, err := strconv.Atoi(seg); err == nil && n.Kind == yaml.SequenceNode {
		if idx >= 0 && idx < len(n.Content) {
			return n.Content[idx]
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == seg {
			// Point at the key's line: that is where the reader looks.
			if n.Content[i+1].Kind == yaml.MappingNode || n.Content[i+1].Kind == yaml.SequenceNode {
				v := *n.Content[i+1]
				v.Line = n.Content[i].Line
				return &v
			}
			return n.Content[i]
		}
	}
	return nil
}

// splitPath turns "a.b[2].c" (or "a.b.2.c", or "data[tls.crt]") into its
// segments.
func splitPath(path string) []string {
	var segs []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			segs = append(segs, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(path[i:], ']')
			if end < 0 {
				segs = append(segs, path[i+1:])
				return segs
			}
			segs = append(segs, path[i+1:i+end])
			i += end
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return segs
}
