package charts

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

type stage struct {
	from  string // image reference
	name  string // AS name
	instr []instruction
}

// parseDockerfile splits a Dockerfile into stages. It understands what the
// project's Dockerfile uses: comments, parser directives, backslash
// continuations, FROM [--platform=...] image [AS name].
func parseDockerfile(t *testing.T, text string) []stage {
	t.Helper()
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			fields := strings.Fields(in.args)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			st := stage{}
			if len(fields) > 0 {
				st.from = fields[0]
			}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Errorf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instr = append(last.instr, in)
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if body, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, string(data))
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a builder and a final stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build.from, "golang:1.26") || build.name == "" {
		t.Errorf("builder stage FROM %q AS %q, want golang:1.26 AS <name>", build.from, build.name)
	}
	var goBuild string
	for _, in := range build.instr {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			goBuild = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-o /out/gantry", "./cmd/gantry", "main.version="} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("builder's go build %q lacks %q", goBuild, want)
		}
	}
	checkFinalStage(t, final, build.name)
}

// reporter is the part of testing.T the final-stage checks use.
type reporter interface {
	Errorf(format string, args ...any)
}

// recorder collects errors instead of failing a test.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func checkFinalStage(t reporter, final stage, builder string) {
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.HasSuffix(final.from, ":nonroot") {
		t.Errorf("final stage FROM %q, want a distroless static :nonroot image", final.from)
	}
	var user, entrypoint string
	copied := false
	for _, in := range final.instr {
		switch in.cmd {
		case "RUN", "SHELL", "ONBUILD":
			t.Errorf("Dockerfile:%d: %s in the final stage (it has no shell)", in.line, in.cmd)
		case "CMD":
			if !strings.HasPrefix(in.args, "[") {
				t.Errorf("Dockerfile:%d: shell-form CMD %q needs a shell", in.line, in.args)
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			if strings.Contains(in.args, "--from="+builder) && strings.HasSuffix(in.args, " /gantry") {
				copied = true
			}
		case "ADD":
			t.Errorf("Dockerfile:%d: ADD in the final stage; copy from the builder instead", in.line)
		}
	}
	if !copied {
		t.Errorf("the final stage does not COPY --from=%s ... /gantry", builder)
	}
	uid, gid, _ := strings.Cut(user, ":")
	if uid != "65532" || (gid != "" && gid != "65532") {
		t.Errorf("USER %q, want 65532 (the distroless nonroot user)", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || ep[0] != "/gantry" {
		t.Errorf("ENTRYPOINT %s, want the exec form [\"/gantry\"] (err %v)", entrypoint, err)
	}
}

// TestDockerfileParserCatches feeds the checks a bad final stage.
func TestDockerfileParserCatches(t *testing.T) {
	bad := "FROM golang:1.26 AS build\nRUN go build -o /out/gantry ./cmd/gantry\n" +
		"FROM debian:12\nRUN apt-get update && \\\n  apt-get install -y curl\nCOPY --from=build /out/gantry /gantry\nENTRYPOINT /gantry\n"
	stages := parseDockerfile(t, bad)
	if len(stages) != 2 || len(stages[1].instr) != 3 || stages[1].instr[0].line != 4 {
		t.Fatalf("parsed %+v", stages)
	}
	ft := &recorder{}
	checkFinalStage(ft, stages[1], "build")
	if len(ft.errs) < 4 { // base image, RUN, USER, ENTRYPOINT form
		t.Errorf("bad final stage gave only %d errors: %v", len(ft.errs), ft.errs)
	}
}

// TestDockerignoreKeepsBuildInputs checks that .dockerignore leaves in every
// Go and embedded file of the packages ./cmd/gantry is built from.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf(".dockerignore exception %q: the test's matcher does not handle them", line)
			}
			patterns = append(patterns, path.Clean(line))
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "cmd/gantry/main.go"} {
		if p := ignoredBy(patterns, keep); p != "" {
			t.Errorf(".dockerignore pattern %q drops %s", p, keep)
		}
	}
	cmd := exec.Command("go", "list", "-e", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}{{end}}`,
		"./cmd/gantry")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		rel, err := filepath.Rel(root, fields[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields[1:] {
			file := filepath.ToSlash(filepath.Join(rel, f))
			n++
			if p := ignoredBy(patterns, file); p != "" {
				t.Errorf(".dockerignore pattern %q drops %s, which ./cmd/gantry is built from", p, file)
			}
		}
	}
	if n == 0 {
		t.Error("go list found no files of ./cmd/gantry")
	}
}

// ignoredBy returns the pattern that excludes file (slash-separated, relative
// to the context root), or "". A pattern excludes a path when it matches the
// path or one of its parent folders; "**/" matches any number of folders.
func ignoredBy(patterns []string, file string) string {
	parts := strings.Split(file, "/")
	for _, p := range patterns {
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if rest, ok := strings.CutPrefix(p, "**/"); ok {
				if ok, _ := path.Match(rest, parts[i-1]); ok {
					return p
				}
				continue
			}
			if ok, _ := path.Match(p, prefix); ok {
				return p
			}
		}
	}
	return ""
}
