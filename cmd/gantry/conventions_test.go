package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// sharedFlags is what one command offers of the shared flags.
type sharedFlags struct {
	filename  string   // "" none, else the flag's type (stringArray; inject reads one Pod: string)
	namespace bool     // -n/--namespace
	all       bool     // -A/--all-namespaces
	output    []string // -o formats, first is the default... order as in help
	kube      bool     // --kubeconfig, --context
}

// sharedFlagTable lists every command. A command missing here fails the
// test, so a new command has to decide which conventions it follows.
var sharedFlagTable = map[string]sharedFlags{
	"gantry":                 {output: versionFormats},
	"serve":                  {filename: "stringArray", namespace: true, kube: true},
	"translate":              {filename: "stringArray", output: translateFormats},
	"analyze":                {filename: "stringArray", namespace: true, all: true, output: analyzeFormats, kube: true},
	"proxy-config":           {namespace: true, output: proxyConfigFormats, kube: true},
	"proxy-config listeners": {namespace: true, output: proxyConfigFormats, kube: true},
	"proxy-config routes":    {namespace: true, output: proxyConfigFormats, kube: true},
	"proxy-config clusters":  {namespace: true, output: proxyConfigFormats, kube: true},
	"proxy-config endpoints": {namespace: true, output: proxyConfigFormats, kube: true},
	"proxy-config secrets":   {namespace: true, output: proxyConfigFormats, kube: true},
	"inject":                 {filename: "string", namespace: true},
	"bootstrap":              {output: []string{"yaml", "json"}},
	"probe":                  {output: probeFormats},
	"dashboard":              {namespace: true, kube: true},
	"echo":                   {},
	"agent":                  {namespace: true},
	"capture":                {},
	"version":                {output: versionFormats},
}

func walkCommands(c *cobra.Command, visit func(path string, c *cobra.Command)) {
	path := strings.TrimPrefix(c.CommandPath(), "gantry ")
	visit(path, c)
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		walkCommands(sub, visit)
	}
}

// TestSharedFlags checks every subcommand: the shared flags it declares
// exist with the same name, shorthand, type and help, and no command uses
// -f, -n, -o or -A for anything else.
func TestSharedFlags(t *testing.T) {
	seen := map[string]bool{}
	walkCommands(newRootCmd(), func(path string, c *cobra.Command) {
		seen[path] = true
		want, ok := sharedFlagTable[path]
		if !ok {
			t.Errorf("command %q is not in sharedFlagTable", path)
			return
		}
		c.InheritedFlags() // merges the persistent flags into c.Flags()
		c.LocalFlags()
		fs := c.Flags()
		for short, name := range map[string]string{"f": "filename", "n": "namespace", "o": "output", "A": "all-namespaces"} {
			if fl := fs.ShorthandLookup(short); fl != nil && fl.Name != name {
				t.Errorf("%s: -%s is --%s, want --%s", path, short, fl.Name, name)
			}
		}
		check := func(name, short, typ string, present bool, usage string) {
			fl := fs.Lookup(name)
			if !present {
				if fl != nil {
					t.Errorf("%s: has --%s, not in the table", path, name)
				}
				return
			}
			if fl == nil {
				t.Errorf("%s: no --%s", path, name)
				return
			}
			if fl.Shorthand != short || fl.Value.Type() != typ || !strings.Contains(fl.Usage, usage) {
				t.Errorf("%s: --%s is -%s %s %q, want -%s %s with %q", path, name, fl.Shorthand, fl.Value.Type(), fl.Usage, short, typ, usage)
			}
		}
		check("filename", "f", want.filename, want.filename != "", `"-"`)
		check("namespace", "n", "string", want.namespace, "namespace")
		check("all-namespaces", "A", "bool", want.all, "every namespace")
		check("output", "o", "string", len(want.output) > 0, "output format: "+strings.Join(want.output, ", "))
		check("kubeconfig", "", "string", want.kube, "kubeconfig file")
		check("context", "", "string", want.kube, "kubeconfig context")
	})
	for path := range sharedFlagTable {
		if !seen[path] {
			t.Errorf("sharedFlagTable lists %q, which is not a command", path)
		}
	}
}

// TestUsageExitCodes: the same usage mistakes give exit code 2 in every
// command: an unknown flag, an -o format the command does not print, and
// an argument a command without arguments does not take.
func TestUsageExitCodes(t *testing.T) {
	walkCommands(newRootCmd(), func(path string, c *cobra.Command) {
		args := strings.Fields(path)
		if path == "gantry" {
			args = nil
		}
		if _, stderr, code := runGantry(t, append(args, "--no-such-flag")...); code != exitUsageError {
			t.Errorf("%s --no-such-flag: exit %d, want %d (%s)", path, code, exitUsageError, stderr)
		}
		if f := sharedFlagTable[path]; len(f.output) > 0 && slices.Contains([]string{"gantry", "version", "translate", "probe", "proxy-config"}, path) {
			extra := map[string][]string{"translate": {"-f", "../../examples/quickstart"}, "probe": {"h:1/", "--group", "gateway/default/x"}, "gantry": {"--version"}}[path]
			if _, stderr, code := runGantry(t, append(append(args, extra...), "-o", "bogus")...); code != exitUsageError {
				t.Errorf("%s -o bogus: exit %d, want %d (%s)", path, code, exitUsageError, stderr)
			}
		}
		if c.Args != nil && c.Args(c, []string{"a", "b", "c"}) != nil {
			if _, _, code := runGantry(t, append(args, "a", "b", "c")...); code != exitUsageError {
				t.Errorf("%s a b c: exit %d, want %d", path, code, exitUsageError)
			}
		}
	})
}

// TestOldFlagSpellings: spellings scripts may use still work, unlisted.
func TestOldFlagSpellings(t *testing.T) {
	stdout, stderr, code := runGantry(t, "translate", "--file", "../../examples/quickstart", "--output-type", "status")
	if code != 0 || !strings.Contains(stdout, "quickstart") {
		t.Errorf("translate --file: exit %d\n%s", code, stderr)
	}
	serve := newServeCmd()
	if err := serve.ParseFlags([]string{"--config-dir", "a", "-f", "b"}); err != nil {
		t.Fatal(err)
	}
	if got := serve.Flags().Lookup("filename").Value.String(); got != "[a,b]" {
		t.Errorf("serve --config-dir a -f b: folders %s", got)
	}
	for _, c := range []struct {
		cmd  *cobra.Command
		flag string
	}{{newTranslateCmd(), "file"}, {serve, "config-dir"}} {
		if fl := c.cmd.Flags().Lookup(c.flag); fl == nil || !fl.Hidden {
			t.Errorf("%s --%s: not a hidden alias", c.cmd.Name(), c.flag)
		}
	}
}

func TestVersionOutput(t *testing.T) {
	for _, args := range [][]string{{"version", "-o", "json"}, {"--version", "-o", "json"}} {
		stdout, _, code := runGantry(t, args...)
		if code != 0 || !strings.Contains(stdout, `"version": "`+version+`"`) || !strings.Contains(stdout, `"envoy": "`) {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
	if stdout, _, code := runGantry(t, "--version"); code != 0 || !strings.HasPrefix(stdout, "gantry "+version) {
		t.Errorf("--version: exit %d %q", code, stdout)
	}
}
